//! The Telegram sink against a loopback mock of the Bot API, built from its documentation
//! (core.telegram.org/bots/api: `POST /bot<token>/sendMessage` and `/sendPhoto` with JSON
//! bodies; answers `{"ok": true, "result": {"message_id": …}}` or `{"ok": false,
//! "error_code", "description", "parameters": {"retry_after"}}`): the request's shape, HTML
//! escaping with WhatsApp's markup turned into tags, a 429 waited out once, a bot removed from
//! the channel pausing the sink without losing the message (`sink resume`), news at night
//! posted without a sound, the token never in a log line.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use common::{rss, source, FeedServer, Route, Workdir};
use serde_json::{json, Value};

const TOKEN: &str = "123456:ABC-segreto-del-bot";

#[derive(Clone, Default)]
struct MockTelegram {
    /// (method, body) of every request.
    sent: Arc<Mutex<Vec<(String, Value)>>>,
    /// Answers to give before the usual success: (status, body).
    script: Arc<Mutex<VecDeque<(u16, Value)>>>,
    violations: Arc<Mutex<Vec<String>>>,
}

async fn bot_api(
    State(mock): State<MockTelegram>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut problems = Vec::new();
    if bot != format!("bot{TOKEN}") {
        problems.push(format!("wrong token path {bot}"));
    }
    if body["chat_id"] != "@comune_prova" {
        problems.push(format!("chat_id: {body}"));
    }
    if body["parse_mode"] != "HTML" {
        problems.push(format!("parse_mode: {body}"));
    }
    match method.as_str() {
        "sendMessage" if body["text"].is_string() => {}
        "sendPhoto" if body["photo"].is_string() && body["caption"].is_string() => {}
        "editMessageText" if body["message_id"].is_i64() && body["text"].is_string() => {}
        other => problems.push(format!("bad {other}: {body}")),
    }
    mock.violations.lock().unwrap().extend(problems);
    let n = {
        let mut sent = mock.sent.lock().unwrap();
        sent.push((method, body));
        sent.len()
    };
    if let Some((status, answer)) = mock.script.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), Json(answer)).into_response();
    }
    Json(json!({"ok": true, "result": {"message_id": 100 + n, "chat": {"id": -1001, "type": "channel"}, "date": 1764072000}}))
        .into_response()
}

impl MockTelegram {
    async fn start() -> (MockTelegram, std::net::SocketAddr) {
        let mock = MockTelegram::default();
        let app = Router::new()
            .route("/{bot}/{method}", post(bot_api))
            .with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (mock, addr)
    }

    fn sent(&self) -> Vec<(String, Value)> {
        self.sent.lock().unwrap().clone()
    }
}

fn telegram_sink(addr: std::net::SocketAddr) -> String {
    format!(
        "[[sink]]\nname = \"telegram\"\nkind = \"telegram\"\napi_base = \"http://{addr}\"\n\
         token_env = \"TELEGRAM_TOKEN\"\nchat_id = \"@comune_prova\"\n"
    )
}

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");

async fn once(work: &Workdir) -> String {
    let out = work
        .command(&["once"])
        .env("TELEGRAM_TOKEN", TOKEN)
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(
        !log.contains("segreto-del-bot"),
        "the token in a log line: {log}"
    );
    log
}

/// A feed with one item followed by "comune", a Telegram sink (with `extra` keys) on the
/// mock, and the first poll done (the baseline: nothing sent).
async fn baselined(extra: &str) -> (FeedServer, MockTelegram, Workdir) {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let (mock, addr) = MockTelegram::start().await;
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), ""),
        &format!("{}{extra}", telegram_sink(addr)),
    );
    once(&work).await;
    (feeds, mock, work)
}

#[tokio::test]
async fn news_reaches_the_telegram_channel_escaped_and_once() {
    let (feeds, mock, work) = baselined("").await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            (
                "b",
                "https://comune.example.it/notizie/b/",
                "Lavori &amp;amp; chiusure: 3 &amp;lt; 5",
            ),
            A,
        ])),
    );
    // The first answer asks to wait a second: waited, then sent.
    mock.script.lock().unwrap().push_back((
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    ));
    once(&work).await;
    let sent = mock.sent();
    assert_eq!(sent.len(), 2, "once refused, once sent: {sent:?}");
    let text = sent[1].1["text"].as_str().unwrap();
    assert!(
        text.starts_with("<b>Lavori &amp; chiusure: 3 &lt; 5</b>"),
        "{text}"
    );
    assert!(
        text.contains("https://comune.example.it/notizie/b/"),
        "{text}"
    );
    assert!(
        mock.violations.lock().unwrap().is_empty(),
        "{:?}",
        mock.violations.lock().unwrap()
    );
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(log.contains("telegram: sent"), "{log}");
    // Nothing twice.
    once(&work).await;
    assert_eq!(mock.sent().len(), 2);
}

#[tokio::test]
async fn a_bot_removed_from_the_channel_pauses_the_sink_and_loses_no_message() {
    let (feeds, mock, work) = baselined("").await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/notizie/b/", "Avviso B"),
            A,
        ])),
    );
    mock.script.lock().unwrap().push_back((
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot is not a member of the channel chat"}),
    ));
    let log = once(&work).await;
    assert!(
        log.contains("bot is not a member") && log.contains("the sink is paused"),
        "the reason is said: {log}"
    );
    assert_eq!(work.messages().len(), 1, "the other sinks go on");
    let status = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(!status.contains("telegram: sent"), "{status}");
    // Paused: nothing is tried until an admin acts (or the pause is over).
    once(&work).await;
    assert_eq!(mock.sent().len(), 1);
    // The bot is back in the channel; the admin resumes the sink: the message goes, once.
    let out = work.run(&["sink", "resume", "telegram"]).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("pause ended"),
        "{said}"
    );
    once(&work).await;
    assert_eq!(mock.sent().len(), 2);
    let status = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(status.contains("telegram: sent"), "{status}");
    let out = work.run(&["sink", "resume", "telegram"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("not paused"));
}

#[tokio::test]
async fn news_posted_at_night_makes_no_sound_and_by_day_it_does() {
    for (hour, silent) in [(23, true), (12, false)] {
        let feeds = FeedServer::start().await;
        feeds.set("/feed", Route::feed(rss(&[A])));
        let (mock, addr) = MockTelegram::start().await;
        // Quiet hours off (the comune sends at once): the night is still 21:00-07:30.
        let work = Workdir::with_sinks(
            &format!(
                "timezone = \"{}\"\nquiet_hours = \"off\"",
                common::zone_where_it_is(hour)
            ),
            &source("comune", &feeds.url("/feed"), ""),
            &telegram_sink(addr),
        );
        once(&work).await;
        feeds.set(
            "/feed",
            Route::feed(rss(&[
                ("b", "https://comune.example.it/notizie/b/", "Mercato"),
                A,
            ])),
        );
        once(&work).await;
        let sent = mock.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].1["disable_notification"] == true,
            silent,
            "at {hour}:00: {}",
            sent[0].1
        );
    }
}

#[tokio::test]
async fn a_channel_for_alerts_only_takes_no_news() {
    let (feeds, mock, work) = baselined("only_priority = \"urgent\"\n").await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            (
                "b",
                "https://comune.example.it/notizie/b/",
                "Mercato in piazza",
            ),
            A,
        ])),
    );
    once(&work).await;
    assert_eq!(work.messages().len(), 1, "the file sink takes the news");
    assert!(mock.sent().is_empty(), "the alerts' channel does not");
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(log.contains("telegram: skipped"), "{log}");
    // Settled: nothing waits in the outbox for the channel.
    once(&work).await;
    assert!(mock.sent().is_empty());
}

#[tokio::test]
async fn a_correction_edits_the_first_message_and_is_posted_as_a_reply_to_it() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let (mock, addr) = MockTelegram::start().await;
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), "corrections = \"auto\""),
        &telegram_sink(addr),
    );
    once(&work).await;
    let water = |day: &str| {
        rss(&[
            (
                "acqua",
                "https://comune.example.it/notizie/acqua/",
                &format!("Interruzione dell'acqua in via Roma {day}"),
            ),
            A,
        ])
    };
    feeds.set("/feed", Route::feed(water("martedì 2 dicembre")));
    once(&work).await;
    feeds.set("/feed", Route::feed(water("mercoledì 3 dicembre")));
    once(&work).await;
    let sent = mock.sent();
    let methods: Vec<&str> = sent.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(methods, ["sendMessage", "editMessageText", "sendMessage"]);
    assert!(sent[0].1.get("reply_parameters").is_none());
    // The first message now reads as corrected, for whoever scrolls back…
    let edit = &sent[1].1;
    assert_eq!(edit["message_id"], 101, "{edit}");
    let now = edit["text"].as_str().unwrap();
    assert!(
        now.starts_with("<b>Interruzione dell'acqua in via Roma mercoledì 3 dicembre</b>"),
        "{now}"
    );
    // … and the correction says what changed, as a reply to it.
    let correction = &sent[2].1;
    assert!(
        correction["text"]
            .as_str()
            .unwrap()
            .contains("mercoledì 3 dicembre"),
        "{correction}"
    );
    // The mock numbers its messages from 101.
    assert_eq!(
        correction["reply_parameters"]["message_id"], 101,
        "{correction}"
    );
}

#[tokio::test]
async fn check_refuses_a_wrong_chat_and_alerts_to_a_channel() {
    let work = Workdir::with_sinks(
        "alerts = [\"telegram\"]",
        &source("comune", "https://comune.example.it/feed", ""),
        "[[sink]]\nname = \"telegram\"\nkind = \"telegram\"\ntoken_env = \"TELEGRAM_TOKEN\"\nchat_id = \"-1001234567890\"\n\n\
         [[sink]]\nname = \"altro\"\nkind = \"telegram\"\ntoken_env = \"TELEGRAM_TOKEN\"\nchat_id = \"comune prova\"\n",
    );
    let out = work.run(&["check"]).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("chat_id = \"comune prova\" is neither a @name nor a numeric id"),
        "{said}"
    );
    assert!(
        said.contains("a telegram sink: admin alerts would go to its channel's followers"),
        "{said}"
    );
}

#[tokio::test]
async fn a_long_wait_asked_by_telegram_is_kept() {
    let (feeds, mock, work) = baselined("").await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/notizie/b/", "Avviso B"),
            A,
        ])),
    );
    mock.script.lock().unwrap().push_back((
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 90", "parameters": {"retry_after": 90}}),
    ));
    let log = once(&work).await;
    assert!(
        log.contains("retry_in=90s"),
        "Telegram's wait, not a shorter back-off: {log}"
    );
    assert_eq!(mock.sent().len(), 1);
}

#[tokio::test]
async fn resuming_a_paused_sink_beside_the_running_daemon_sends_at_once() {
    let (feeds, mock, work) = baselined("").await;
    mock.script.lock().unwrap().push_back((
        401,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    ));
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/notizie/b/", "Avviso B"),
            A,
        ])),
    );
    let mut daemon = work
        .command(&["run"])
        .env("TELEGRAM_TOKEN", TOKEN)
        .spawn()
        .unwrap();
    common::wait_for(|| mock.sent().len() == 1).await;
    // The token renewed: the admin resumes the sink through the running daemon.
    let mut out = None;
    for _ in 0..100 {
        let o = work
            .command(&["sink", "resume", "telegram"])
            .output()
            .await
            .unwrap();
        if String::from_utf8_lossy(&o.stdout).contains("pause ended") {
            out = Some(o);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(out.is_some(), "the pause was never there to end");
    // Well within the hour the pause would last, and within a pass.
    common::wait_for(|| mock.sent().len() == 2).await;
    common::stop(&mut daemon).await;
}
