//! Whatever the input, no panic: every fixture document (and the shared corpus when present),
//! truncated at many points and with bytes flipped, goes through every parser. Deterministic:
//! the "random" flips come from a fixed linear congruential sequence.

use std::path::{Path, PathBuf};

use banditore::config::SourceKind;

fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut roots = vec![root.join("fixtures")];
    let corpus = root.join("../shared/corpus");
    if corpus.is_dir() {
        roots.push(corpus);
    }
    let mut files = Vec::new();
    while let Some(dir) = roots.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                roots.push(path);
            } else if path.extension().is_some_and(|e| e != "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn variants(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![bytes.to_vec()];
    let n = bytes.len();
    for cut in [1, 7, 64, n / 3, n / 2, n.saturating_sub(3)] {
        out.push(bytes[..cut.min(n)].to_vec());
    }
    let mut seed: u64 = 0x5eed;
    for _ in 0..4 {
        let mut flipped = bytes.to_vec();
        for _ in 0..8 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if !flipped.is_empty() {
                let i = (seed >> 33) as usize % flipped.len();
                flipped[i] = (seed >> 13) as u8;
            }
        }
        out.push(flipped);
    }
    out
}

/// Where a panic happened: the hook sees every panic, also those that `guarded` turns into an
/// error, so a panic in our own code cannot hide behind it.
static PANICS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

#[test]
fn no_document_makes_a_parser_panic() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| l.file().to_owned())
            .unwrap_or_default();
        PANICS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(location);
    }));
    let base = url::Url::parse("https://www.comune.example.it/novita/").unwrap();
    let settings = banditore::config::Settings::default();
    let now = chrono::Utc::now();
    let mut checked = 0;
    for doc in documents() {
        let bytes = std::fs::read(&doc).unwrap();
        for variant in variants(&bytes) {
            for kind in [
                SourceKind::Feed,
                SourceKind::Page,
                SourceKind::Cap,
                SourceKind::Quake,
            ] {
                let src = banditore::config::SourceConfig::adhoc("x", kind, base.clone());
                let result = std::panic::catch_unwind(|| {
                    let _ = banditore::pipeline::preview::preview(
                        &variant,
                        None,
                        &src,
                        &settings,
                        Some(base.clone()),
                        banditore::pipeline::preview::Filters::Source,
                        now,
                    );
                });
                assert!(
                    result.is_ok(),
                    "{} ({kind:?}, {} bytes) panicked",
                    doc.display(),
                    variant.len()
                );
                checked += 1;
            }
        }
    }
    let _ = std::panic::take_hook();
    let panics = PANICS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // A third-party parser may panic (guarded turns that into an error for one document);
    // our own code never.
    let ours: Vec<&String> = panics.iter().filter(|f| f.starts_with("src/")).collect();
    assert!(ours.is_empty(), "panics in banditore's own code: {ours:?}");
    assert!(checked > 500, "{checked}");
}
