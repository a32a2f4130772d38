//! The foundation pipeline, end to end: the real binary against a loopback feed server.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::{rss, source, stop, wait_for, FeedServer, Route, Workdir};

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");
const C: (&str, &str, &str) = (
    "c",
    "https://comune.example.it/notizie/c/?utm_source=rss",
    "Nuovo avviso C",
);

#[tokio::test]
async fn baseline_then_one_message_then_nothing_after_restart() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[B, A])));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));

    work.once().await;
    assert!(
        work.messages().is_empty(),
        "the first poll must send nothing"
    );

    server.set("/feed", Route::feed(rss(&[C, B, A])));
    work.once().await;
    let messages = work.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["url"], "https://comune.example.it/notizie/c/");
    assert_eq!(m["source"], "comune");
    assert_eq!(m["title"], "Nuovo avviso C");
    let text = m["text"].as_str().unwrap();
    assert!(text.starts_with("*Nuovo avviso C*\n\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "https://comune.example.it/notizie/c/"),
        "{text}"
    );

    // A new process (a restart) polling the same feed sends nothing again.
    work.once().await;
    work.once().await;
    assert_eq!(work.messages().len(), 1);
}

#[tokio::test]
async fn changed_guid_or_scheme_with_same_page_sends_nothing() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    work.once().await;
    // The CMS was migrated: new guid, http instead of https, a tracking parameter.
    let moved = (
        "wp-9911",
        "http://comune.example.it/notizie/a?utm_campaign=x",
        "Avviso A (aggiornato)",
    );
    server.set("/feed", Route::feed(rss(&[moved])));
    work.once().await;
    assert!(work.messages().is_empty(), "{:?}", work.messages());
}

#[tokio::test]
async fn conditional_get_is_used_and_304_honoured() {
    let server = FeedServer::start().await;
    let mut route = Route::feed(rss(&[A]));
    route.etag = Some("\"v1\"".into());
    route.last_modified = Some("Tue, 25 Nov 2025 10:00:00 GMT".into());
    server.set("/feed", route);
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    work.once().await;
    work.once().await;
    let requests = server.requests("/feed");
    assert_eq!(requests.len(), 2);
    assert!(requests[0].get("if-none-match").is_none());
    assert_eq!(requests[1].get("if-none-match").unwrap(), "\"v1\"");
    assert_eq!(
        requests[1].get("if-modified-since").unwrap(),
        "Tue, 25 Nov 2025 10:00:00 GMT"
    );
    let ua = requests[0].get("user-agent").unwrap().to_str().unwrap();
    assert!(ua.starts_with("banditore/"), "{ua}");
    let list = work.run(&["source", "list"]).await;
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("comune [feed] ok"), "{list}");
}

#[tokio::test]
async fn bad_sources_are_reported_and_do_not_stop_the_others() {
    let server = FeedServer::start().await;
    server.set("/good", Route::feed(rss(&[A])));
    server.set("/500", Route::status(500));
    let mut html = Route::feed("<!DOCTYPE html><html><head><link rel=\"alternate\" type=\"application/rss+xml\" href=\"/feed/\"></head></html>");
    html.content_type = "text/html".into();
    server.set("/html", html);
    server.set("/broken", Route::feed("<rss><channel><item><title>x</tit"));
    server.set("/empty", Route::feed(""));
    server.set(
        "/huge",
        Route::feed(format!(
            "<rss><channel>{}</channel></rss>",
            "x".repeat(300_000)
        )),
    );
    server.set("/xxe", Route::feed(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><rss><channel><item><title>&x;</title></item></channel></rss>",
    ));
    let mut sources = source("good", &server.url("/good"), "");
    for name in ["500", "html", "broken", "empty", "huge", "xxe", "missing"] {
        sources.push_str(&source(name, &server.url(&format!("/{name}")), ""));
    }
    let work = Workdir::new("max_body_bytes = 100000", &sources);
    work.once().await;
    server.set("/good", Route::feed(rss(&[B, A])));
    let out = work.once().await;
    assert_eq!(
        work.messages().len(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let list = work.run(&["source", "list"]).await;
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    for (name, reason) in [
        ("500", "the server answered 500"),
        (
            "html",
            "this is an HTML page, not a feed (its feed seems to be",
        ),
        ("broken", "not a valid feed"),
        ("empty", "the document is empty"),
        ("huge", "larger than the 100000-byte limit"),
        ("xxe", "declares XML entities"),
        ("missing", "the server answered 404"),
    ] {
        let block = list
            .split(&format!("\n{name} [feed]"))
            .nth(1)
            .unwrap_or_else(|| panic!("{name} missing in {list}"));
        assert!(block.starts_with(" FAILING"), "{name}: {block}");
        let first_error = block.lines().find(|l| l.contains("last error")).unwrap();
        assert!(first_error.contains(reason), "{name}: {first_error}");
        assert!(
            first_error.contains("(2 in a row)"),
            "{name}: {first_error}"
        );
    }
}

#[tokio::test]
async fn a_hanging_source_does_not_delay_the_others() {
    let server = FeedServer::start().await;
    server.set("/good", Route::feed(rss(&[A])));
    server.set("/hang", Route::hang());
    let sources = format!(
        "{}{}",
        source("good", &server.url("/good"), ""),
        source("hang", &server.url("/hang"), "timeout = \"5m\"")
    );
    let work = Workdir::new("", &sources);
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    // Wait until the good source has its baseline, then publish.
    wait_for(|| work_has_baseline(&server)).await;
    server.set("/good", Route::feed(rss(&[B, A])));
    wait_for(|| !work.messages().is_empty()).await;
    assert!(
        server.in_flight() >= 1,
        "the hanging request should still be pending"
    );
    assert_eq!(work.messages()[0]["url"], B.1);
    stop(&mut daemon).await;
}

fn work_has_baseline(server: &FeedServer) -> bool {
    server.requests("/good").len() >= 2
}

#[tokio::test]
async fn run_stops_cleanly_on_sigterm() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    wait_for(|| !server.requests("/feed").is_empty()).await;
    // The baseline is committed (a request seen is not yet a poll done).
    for _ in 0..300 {
        let out = work.run(&["source", "list"]).await;
        if String::from_utf8_lossy(&out.stdout).contains("comune [feed] ok") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = stop(&mut daemon).await;
    assert!(status.success(), "{status:?}");
    // The store was flushed and closed: another process can open it and knows the baseline.
    server.set("/feed", Route::feed(rss(&[B, A])));
    work.once().await;
    assert_eq!(work.messages().len(), 1);
}

/// A source with a baseline and one new item, and a `once` killed with SIGKILL at `failpoint`.
async fn killed_at(failpoint: &str) -> (FeedServer, Workdir) {
    killed_with(failpoint, &[B, A]).await
}

/// A source with the baseline `[A]` that then publishes `items`, and a `once` killed with
/// SIGKILL at `failpoint`.
async fn killed_with(failpoint: &str, items: &[(&str, &str, &str)]) -> (FeedServer, Workdir) {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    work.once().await;
    server.set("/feed", Route::feed(rss(items)));
    let out = work
        .command(&["once"])
        .env("BANDITORE_FAILPOINT", failpoint)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    (server, work)
}

#[tokio::test]
async fn killed_between_enqueue_and_delivery_delivers_exactly_once() {
    let (_server, work) = killed_at("after-enqueue").await;
    assert!(work.messages().is_empty());

    work.once().await;
    work.once().await;
    let messages = work.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["url"], B.1);
}

#[tokio::test]
async fn killed_after_sending_does_not_send_twice() {
    let (_server, work) = killed_at("after-send").await;
    assert_eq!(
        work.messages().len(),
        1,
        "the line was written before the kill"
    );

    work.once().await;
    assert_eq!(work.messages().len(), 1, "no duplicate after the restart");
    let log = work.run(&["log"]).await;
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("out: sent (confirmed after a restart)"),
        "{log}"
    );
}

#[tokio::test]
async fn killed_after_intent_sends_once_after_restart() {
    let (_server, work) = killed_at("after-intent").await;
    assert!(work.messages().is_empty());
    work.once().await;
    assert_eq!(work.messages().len(), 1);
}

/// The file sink writes a pass's messages together: a crash between their intents and their
/// lines, or between their lines and their outcomes, still gives each message exactly once.
#[tokio::test]
async fn killed_mid_group_delivers_each_message_once() {
    for failpoint in ["after-intent", "after-send"] {
        let (_server, work) = killed_with(failpoint, &[C, B, A]).await;
        let written = work.messages().len();
        assert_eq!(written, if failpoint == "after-send" { 2 } else { 0 });
        work.once().await;
        work.once().await;
        let mut urls: Vec<String> = work
            .messages()
            .iter()
            .map(|m| m["url"].as_str().unwrap().to_owned())
            .collect();
        urls.sort();
        assert_eq!(
            urls,
            [B.1, "https://comune.example.it/notizie/c/"],
            "{failpoint}"
        );
    }
}

#[tokio::test]
async fn source_add_detects_previews_and_keeps_comments() {
    let server = FeedServer::start().await;
    server.set("/feed.xml", Route::feed(rss(&[A])));
    let mut page = Route::feed(format!(
        "<!DOCTYPE html><html><head><link rel=\"alternate\" type=\"application/rss+xml\" href=\"{}\"></head><body></body></html>",
        server.url("/feed.xml")
    ));
    page.content_type = "text/html".into();
    server.set("/", page);
    let work = Workdir::new(
        "# il fuso orario del comune\ntimezone = \"Europe/Rome\"",
        "",
    );
    let out = work
        .run(&["source", "add", &server.url("/"), "--name", "notizie"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("notizie: kind feed at ") && stdout.contains("*Avviso A*"),
        "{stdout}"
    );
    let config = std::fs::read_to_string(work.config()).unwrap();
    assert!(config.contains("# il fuso orario del comune"), "{config}");
    assert!(
        config.contains(&format!("url = \"{}\"", server.url("/feed.xml"))),
        "{config}"
    );
    assert!(work.run(&["check"]).await.status.success());
    // The same name again is refused and the file is left as it was.
    let again = work
        .run(&[
            "source",
            "add",
            &server.url("/feed.xml"),
            "--name",
            "notizie",
        ])
        .await;
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(work.config()).unwrap(), config);
}

/// A source whose baseline is `[A]` and whose one new item, B, went out.
async fn one_item_sent() -> (FeedServer, Workdir) {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    work.once().await;
    server.set("/feed", Route::feed(rss(&[B, A])));
    work.once().await;
    assert_eq!(work.messages().len(), 1);
    (server, work)
}

/// A backup taken while the daemon runs, restored into a new data directory: the restored
/// store knows what was seen and sent, so only what is new afterwards goes out.
#[tokio::test]
async fn a_backup_restored_elsewhere_carries_on_where_it_was() {
    let (server, work) = one_item_sent().await;

    let mut daemon = work.command(&["run"]).spawn().unwrap();
    let socket = work.path().join("data").join("control.sock");
    wait_for(|| socket.exists()).await;
    let out = work.run(&["store", "export"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stop(&mut daemon).await.success());
    let export = String::from_utf8(out.stdout).unwrap();
    assert!(export.starts_with("{\"banditore_export\":1"), "{export}");
    assert!(export.contains("\"tree\":\"seen_by_source\""), "{export}");
    assert!(export
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("{\"banditore_export_end\""));
    let backup = work.path().join("backup.jsonl");
    std::fs::write(&backup, &export).unwrap();
    let backup = backup.to_str().unwrap();

    // A mistyped data directory is not an empty backup.
    let typo = work.path().join("dta");
    let out = work
        .run(&["store", "export", "--data", typo.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no store"));
    assert!(!typo.exists());

    // A cut backup loads nothing; a store with records takes no import.
    let cut = work.path().join("cut.jsonl");
    std::fs::write(&cut, &export[..export.len() / 2]).unwrap();
    let elsewhere = work.path().join("elsewhere");
    let elsewhere = elsewhere.to_str().unwrap();
    let out = work
        .run(&[
            "store",
            "import",
            cut.to_str().unwrap(),
            "--data",
            elsewhere,
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    let out = work.run(&["store", "import", backup]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "the original store is not empty"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    let restored = work.path().join("restored");
    let restored = restored.to_str().unwrap();
    let out = work
        .run(&["store", "import", backup, "--data", restored])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.set("/feed", Route::feed(rss(&[C, B, A])));
    let out = work.run(&["once", "--data", restored]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = work.messages();
    assert_eq!(m.len(), 2, "only the new item, no baseline: {m:?}");
    assert_eq!(m[1]["title"], C.2);
}

/// A store sled cannot open, or one that came back empty beside snapshots of a full one:
/// the daemon refuses to start and says which snapshot restores it and how; done as it says,
/// the daemon carries on where the snapshot was, sending nothing twice.
#[tokio::test]
async fn a_damaged_store_names_the_snapshot_that_restores_it() {
    let (server, work) = one_item_sent().await;
    let data = work.path().join("data");
    assert!(data.join("snapshots").read_dir().unwrap().next().is_some());

    let refused = |out: &std::process::Output| {
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let at = err.find("banditore store import ").expect(&err);
        let command: Vec<String> = err[at..]
            .split('`')
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect();
        command
    };
    // sled's files damaged: its configuration record unreadable.
    std::fs::write(data.join("store/conf"), b"\x00garbage\xff").unwrap();
    let import = refused(&work.run(&["once"]).await);
    // Or come back empty (sled silently drops a log it cannot read).
    std::fs::rename(data.join("store"), work.path().join("damaged")).unwrap();
    assert_eq!(refused(&work.run(&["once"]).await), import);

    // As the message says: the store aside, the snapshot imported.
    std::fs::rename(data.join("store"), work.path().join("empty")).unwrap();
    let args: Vec<&str> = import.iter().map(String::as_str).collect();
    let out = work.run(&args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The snapshot is older than B's sending: the first poll sends nothing again.
    server.set("/feed", Route::feed(rss(&[C, B, A])));
    work.once().await;
    assert_eq!(work.messages().len(), 1, "nothing sent twice");
    const D: (&str, &str, &str) = ("d", "https://comune.example.it/notizie/d/", "Avviso D");
    server.set("/feed", Route::feed(rss(&[D, C, B, A])));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 2, "then what is new: {m:?}");
    assert_eq!(m[1]["title"], D.2);
}
