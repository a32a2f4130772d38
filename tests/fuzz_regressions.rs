//! What the fuzz targets (`fuzz/`, see its README) found, kept: every input in
//! `fuzz/regressions/TARGET/` goes the way its target sends it (a document through
//! `banditore preview`, a configuration through `banditore check`, a webhook body through the
//! readers of `http::inbound`) and must end in a message or a clear refusal, never a panic.
//! The test binaries are debug builds, so the formatter's promises are asserted too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The inputs kept for `target`.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new(); // nothing found yet for this target
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn banditore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_banditore"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Exit 0 (messages or none) or 2 (refused, with a reason): anything else, or a panic, fails.
fn assert_clear(input: &Path, out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    let at = input.display();
    assert!(!err.contains("panicked"), "{at}: {err}");
    assert!(
        matches!(out.status.code(), Some(0) | Some(2)),
        "{at}: exit {:?}: {err}",
        out.status.code()
    );
}

#[test]
fn documents_the_fuzzers_found_preview_cleanly() {
    let mut seen = 0;
    for kind in ["feed", "page", "cap", "quake"] {
        for input in inputs(kind) {
            let path = input.to_str().unwrap();
            let out = banditore(&[
                "preview",
                path,
                "--kind",
                kind,
                "--base-url",
                "https://www.comune.example.it/notizie/",
            ]);
            assert_clear(&input, &out);
            seen += 1;
        }
    }
    assert!(seen > 0, "no regression input found");
}

#[test]
fn configurations_the_fuzzer_found_are_checked_cleanly() {
    for input in inputs("config") {
        let out = banditore(&["check", "--config", input.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{}: {err}", input.display());
        assert!(out.status.code().is_some(), "{}: killed", input.display());
    }
}

#[test]
fn webhook_bodies_the_fuzzer_found_are_read_cleanly() {
    use banditore::http::inbound;
    for input in inputs("webhook") {
        let body = std::fs::read(&input).unwrap();
        if let Ok(event) = inbound::cloud_event(&body) {
            for message in &event.messages {
                let _ = inbound::intent(&message.text);
            }
        }
        let _ = inbound::gateway_ack(&body);
        let _ = inbound::intent(&String::from_utf8_lossy(&body));
    }
}
