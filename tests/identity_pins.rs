//! The identities of every item of every real document are pinned: a dependency upgrade (a
//! feed parser that reads ids, links or dates differently, an HTML parser that finds other
//! elements) that changed an item's primary id or dedupe keys would make a running
//! installation re-send whole feeds. Each document in `fixtures/` and, when present, the
//! shared corpus beside the checkout is parsed with every kind, without filters, and each
//! item's primary id and keys are compared with `tests/identity-pins.txt`.
//!
//! After a deliberate change (and a store migration, see `src/ident/mod.rs`) regenerate with
//! `UPDATE_PINS=1 cargo test --test identity_pins` and review the diff.

use std::path::{Path, PathBuf};

use banditore::config::SourceKind;
use banditore::ident::Identity;
use banditore::source::{self, ParseContext, ParseError};

const PINS: &str = "tests/identity-pins.txt";

/// `(name in the pins, path)` of every document; `corpus` is `None` when it is missing.
fn documents(root: &Path, corpus: Option<&Path>) -> Vec<(String, PathBuf)> {
    let mut roots = vec![("fixtures".to_owned(), root.join("fixtures"))];
    if let Some(corpus) = corpus {
        roots.push(("corpus".to_owned(), corpus.to_owned()));
    }
    let mut files = Vec::new();
    while let Some((name, dir)) = roots.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let child = format!("{name}/{}", entry.file_name().to_string_lossy());
            if path.is_dir() {
                roots.push((child, path));
            } else if path.extension().is_some_and(|e| e != "md") {
                files.push((child, path));
            }
        }
    }
    files.sort();
    files
}

fn error_kind(e: &ParseError) -> &'static str {
    // The variant only: messages may be a dependency's words.
    match e {
        ParseError::Empty => "Empty",
        ParseError::NotAFeed { .. } => "NotAFeed",
        ParseError::Hostile(_) => "Hostile",
        ParseError::Malformed(_) => "Malformed",
        ParseError::NothingMatched { .. } => "NothingMatched",
    }
}

/// One line per item (or per failed parse) of the document, for every kind.
fn pins_of(name: &str, bytes: &[u8]) -> Vec<String> {
    let base = url::Url::parse("https://www.comune.example.it/novita/").unwrap();
    let ctx = ParseContext::new(Some(base), chrono_tz::Europe::Rome);
    let mut lines = Vec::new();
    for kind in [
        SourceKind::Feed,
        SourceKind::Page,
        SourceKind::Cap,
        SourceKind::Quake,
    ] {
        // As `pipeline::preview` decodes it.
        let text = if kind == SourceKind::Page {
            banditore::charset::decode(bytes, None)
        } else {
            banditore::charset::decode_xml(bytes, None)
        };
        let result = source::parse(kind, &text, &ctx);
        let kind = kind.as_str();
        match result {
            Err(e) => lines.push(format!("{name}\t{kind}\terror {}", error_kind(&e))),
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    let id = Identity::of(item);
                    let keys: Vec<String> = id
                        .keys
                        .iter()
                        .map(|k| format!("{}:{}", k.kind as char, hex::encode(k.hash)))
                        .collect();
                    lines.push(format!(
                        "{name}\t{kind}\t{i}\t{:?}\t{}",
                        id.primary,
                        keys.join(",")
                    ));
                }
                if items.is_empty() {
                    lines.push(format!("{name}\t{kind}\tno items"));
                }
            }
        }
    }
    lines
}

#[test]
fn item_identities_are_unchanged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/corpus");
    let corpus = corpus.is_dir().then_some(corpus.as_path());
    let mut actual = Vec::new();
    for (name, path) in documents(root, corpus) {
        actual.extend(pins_of(&name, &std::fs::read(&path).unwrap()));
    }
    let pins = root.join(PINS);
    if std::env::var_os("UPDATE_PINS").is_some() {
        assert!(
            corpus.is_some(),
            "the pins are made with the shared corpus present"
        );
        std::fs::write(&pins, actual.join("\n") + "\n").unwrap();
        return;
    }
    let expected: Vec<String> = std::fs::read_to_string(&pins)
        .unwrap()
        .lines()
        .filter(|l| corpus.is_some() || !l.starts_with("corpus/"))
        .map(str::to_owned)
        .collect();
    let missing: Vec<&String> = expected.iter().filter(|l| !actual.contains(l)).collect();
    let extra: Vec<&String> = actual.iter().filter(|l| !expected.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && actual.len() == expected.len(),
        "item identities changed ({} pinned lines gone, {} new):\n- {}\n+ {}",
        missing.len(),
        extra.len(),
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n- "),
        extra
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n+ "),
    );
    assert!(actual.len() > 100, "{}", actual.len());
}
