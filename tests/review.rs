//! The review queue: items wait for an editor; approve, edit, reject, schedule, expire.

mod common;

use chrono::{Duration, Utc};
use common::{rss, source, FeedServer, ManualClock, Route, Workdir};

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");
const C: (&str, &str, &str) = ("c", "https://comune.example.it/notizie/c/", "Avviso C");

fn ids(list: &str) -> Vec<String> {
    list.lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn editors_approve_edit_and_reject_from_the_command_line() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let work = Workdir::new(
        "",
        &source("comune", &server.url("/feed"), "forward = \"review\""),
    );
    work.once().await;
    server.set("/feed", Route::feed(rss(&[C, B, A])));
    work.once().await;
    assert!(
        work.messages().is_empty(),
        "reviewed sources send nothing by themselves"
    );
    let list = String::from_utf8_lossy(&work.run(&["queue", "list"]).await.stdout).into_owned();
    assert!(
        list.contains("Avviso B") && list.contains("Avviso C"),
        "{list}"
    );
    let ids = ids(&list);
    let (b, c) = if list.lines().next().unwrap().contains("Avviso B") {
        (&ids[0], &ids[1])
    } else {
        (&ids[1], &ids[0])
    };

    // An edit that drops the official link is refused.
    let bad = work
        .run(&[
            "queue",
            "edit",
            b,
            "--title",
            "Avviso B",
            "--text",
            "senza link",
        ])
        .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must stay in the text"));
    let text = format!(
        "*Avviso B (corretto)*\n\nTesto rivisto dalla redazione.\n\n{}",
        B.1
    );
    let ok = work
        .run(&[
            "queue",
            "edit",
            b,
            "--title",
            "Avviso B (corretto)",
            "--text",
            &text,
        ])
        .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(work.run(&["queue", "approve", b]).await.status.success());
    assert!(work.run(&["queue", "reject", c]).await.status.success());
    // Approving queues; the command line delivers nothing by itself: the next cycle does.
    assert!(work.messages().is_empty());
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["title"], "Avviso B (corretto)");
    assert_eq!(m[0]["text"], text);
    let list = String::from_utf8_lossy(&work.run(&["queue", "list"]).await.stdout).into_owned();
    assert_eq!(list.trim(), "nothing waits for review");
    // Nothing comes back on the next poll.
    work.once().await;
    assert_eq!(work.messages().len(), 1);
}

#[tokio::test]
async fn scheduled_items_go_out_on_time_and_forgotten_ones_expire() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let work = Workdir::new(
        "review_expiry = \"48h\"",
        &source("comune", &server.url("/feed"), "forward = \"review\""),
    );
    let clock = ManualClock::at(Utc::now());
    let config = banditore::config::Config::load(&work.config()).unwrap();
    let app =
        banditore::daemon::App::build(config, &work.path().join("data"), clock.clone()).unwrap();
    app.once().await.unwrap();
    server.set("/feed", Route::feed(rss(&[C, B, A])));
    app.once().await.unwrap();
    let pending = app.pending().unwrap();
    assert_eq!(pending.len(), 2);
    let b = pending
        .iter()
        .find(|i| i.message.title == "Avviso B")
        .unwrap()
        .message
        .id
        .clone();
    let at = banditore::schedule::Clock::now(&*clock) + Duration::hours(2);
    app.approve(&b, "redazione", Some(at)).unwrap();
    app.once().await.unwrap();
    assert!(work.messages().is_empty(), "not before its time");
    clock.advance(Duration::hours(3));
    app.once().await.unwrap();
    assert_eq!(work.messages().len(), 1, "sent when due");
    clock.advance(Duration::hours(48));
    app.once().await.unwrap();
    assert!(app.pending().unwrap().is_empty(), "C expired");
    assert_eq!(work.messages().len(), 1);
    let audit = app.store().recent_audit(10).unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.label().en()).collect();
    assert_eq!(actions, ["expire", "send-scheduled", "schedule"]);
    assert_eq!(audit[2].who, "redazione");
}
