//! A full disk, for real: the file sink's file on a small tmpfs filled to the brim. The
//! write fails, nothing half-written stays, the message waits; when space returns it is
//! written once and the file is valid JSON lines. Mounting needs root (or a user namespace):
//! where the machine does not allow it, the test says so and passes (`src/sink/file.rs`
//! simulates the failing write in its unit tests either way).

mod common;

use std::path::Path;
use std::process::Command;

use common::{rss, source, FeedServer, Route, Workdir};

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped.
struct Tmpfs<'a>(&'a Path);

impl<'a> Tmpfs<'a> {
    fn mount(dir: &'a Path, size: &str) -> Option<Tmpfs<'a>> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

/// Fills the file system holding `dir` until a write of one more byte fails.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![b'x'; 4096];
    while filler.write_all(&block).is_ok() {}
    while filler.write_all(b"x").is_ok() {}
    let _ = filler.flush();
}

#[tokio::test]
async fn a_full_disk_loses_nothing_and_leaves_no_half_line() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let probe = tempfile::tempdir().unwrap();
    let disk = probe.path().join("disk");
    let path = disk.join("messages.jsonl");
    let sink = format!(
        "[[sink]]\nname = \"disco\"\nkind = \"file\"\npath = \"{}\"\n",
        path.display()
    );
    let work = Workdir::with_sinks("", &source("comune", &feeds.url("/feed"), ""), &sink);
    let Some(_mounted) = Tmpfs::mount(&disk, "256k") else {
        eprintln!("skipped: this machine does not allow mounting a tmpfs");
        return;
    };
    work.once().await; // the baseline
    fill(&disk);

    feeds.set("/feed", Route::feed(rss(&[B, A])));
    let out = work.run(&["once"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        std::fs::read(&path).unwrap_or_default(),
        b"",
        "nothing half-written: {err}"
    );
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(
        !log.contains("disco: unknown"),
        "a write that failed is not sent: {log}"
    );

    std::fs::remove_file(disk.join("filler")).unwrap();
    work.once().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a whole JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["url"], B.1);
}
