//! WhatsApp delivery against loopback mocks that check every request's shape: the Cloud API
//! broadcast (subscription by keyword, window and templates, error classes, statuses, rate,
//! a crash mid-broadcast), the channel gateway, and the signed webhook sink.

#[path = "common/cloud.rs"]
mod cloud;
mod common;
#[path = "common/providers.rs"]
mod providers;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use banditore::sink::secret::hmac_sha256_hex;
use cloud::{cloud_sink, import, in_process, one_feed_to_cloud};
use common::{free_port, rss, source, stop, wait_for, FeedServer, ManualClock, Route, Workdir};
use providers::{MockCloud, MockGateway, Receiver};
use serde_json::json;

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");
const C: (&str, &str, &str) = ("c", "https://comune.example.it/notizie/c/", "Avviso C");

const TEMPLATE: &str =
    "template = { name = \"notizia_comune\", language = \"it\" }\nmessages_per_second = 80";

fn inbound(from: &str, text: &str, id: &str) -> serde_json::Value {
    inbound_at(from, text, id, "1764072000")
}

fn inbound_at(from: &str, text: &str, id: &str, timestamp: &str) -> serde_json::Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "390000000000", "phone_number_id": "123456789012345"},
        "contacts": [{"profile": {"name": "Cittadino"}, "wa_id": from}],
        "messages": [{"from": from, "id": id, "timestamp": timestamp, "type": "text", "text": {"body": text}}]}}]}]})
}

fn statuses(events: &[(&str, &str)]) -> serde_json::Value {
    let statuses: Vec<_> = events
        .iter()
        .map(|(id, status)| json!({"id": id, "status": status, "timestamp": "1764072100", "recipient_id": "393401111111"}))
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "390000000000", "phone_number_id": "123456789012345"},
        "statuses": statuses}}]}]})
}

async fn post_signed(
    port: u16,
    body: &serde_json::Value,
    signature: Option<&str>,
) -> reqwest::StatusCode {
    let raw = serde_json::to_vec(body).unwrap();
    let mut req = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/whatsapp/wa"))
        .header("content-type", "application/json")
        .body(raw.clone());
    match signature {
        Some("valid") => {
            req = req.header(
                "x-hub-signature-256",
                format!("sha256={}", hmac_sha256_hex(b"app-secret", &raw)),
            )
        }
        Some(other) => req = req.header("x-hub-signature-256", other.to_owned()),
        None => {}
    }
    req.send().await.unwrap().status()
}

async fn log(work: &Workdir) -> String {
    String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned()
}

#[tokio::test]
async fn verification_signatures_subscription_and_statuses() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let (cloud, addr) = MockCloud::start().await;
    let port = free_port();
    let work = Workdir::with_sinks(
        &format!("webhook_listen = \"127.0.0.1:{port}\""),
        &source("comune", &feeds.url("/feed"), ""),
        &cloud_sink(addr, TEMPLATE),
    );
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/webhooks/whatsapp/wa");
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "webhook endpoint did not start");

    // Meta's GET verification.
    let ok = client
        .get(format!(
            "{base}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = client
        .get(format!(
            "{base}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);

    // Signatures: missing and invalid are refused and change nothing.
    let sub = inbound("393401111111", "Iscrivimi", "wamid.IN1");
    assert_eq!(post_signed(port, &sub, None).await, 401);
    assert_eq!(post_signed(port, &sub, Some("sha256=00ff")).await, 401);
    assert_eq!(cloud.count(), 0);
    // Valid: subscribed and confirmed.
    assert_eq!(post_signed(port, &sub, Some("valid")).await, 200);
    wait_for(|| !cloud.sends_to("393401111111").is_empty()).await;
    let reply = &cloud.sends_to("393401111111")[0];
    assert!(
        reply["text"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Iscrizione confermata"),
        "{reply}"
    );

    // A new item reaches the subscriber as free-form text (they wrote within 24 hours).
    wait_for(|| feeds.requests("/feed").len() >= 2).await;
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    wait_for(|| cloud.sends_to("393401111111").len() >= 2).await;
    let news = &cloud.sends_to("393401111111")[1];
    assert_eq!(news["type"], "text");
    assert_eq!(news["text"]["preview_url"], true);
    assert!(news["text"]["body"].as_str().unwrap().contains(B.1));

    // Statuses, repeated and out of order, end at "read".
    let wamid = "wamid.TEST2";
    let events = statuses(&[
        (wamid, "read"),
        (wamid, "sent"),
        (wamid, "delivered"),
        (wamid, "read"),
        (wamid, "failed"),
    ]);
    assert_eq!(post_signed(port, &events, Some("valid")).await, 200);
    // `log` works beside the running daemon, and shows where the delivery stands.
    let before_stop = log(&work).await;
    assert!(
        before_stop.contains("wa: sent") && before_stop.contains("[1 read]"),
        "{before_stop}"
    );

    // STOP: out at once, confirmed, and the next item does not reach them.
    assert_eq!(
        post_signed(
            port,
            &inbound("393401111111", "STOP", "wamid.IN2"),
            Some("valid")
        )
        .await,
        200
    );
    wait_for(|| cloud.sends_to("393401111111").len() >= 3).await;
    assert!(cloud.sends_to("393401111111")[2]["text"]["body"]
        .as_str()
        .unwrap()
        .starts_with("Fatto: non riceverai"));
    feeds.set("/feed", Route::feed(rss(&[C, B, A])));
    wait_for(|| work.messages().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        cloud.sends_to("393401111111").len(),
        3,
        "no news after STOP"
    );
    // Meta retries the ISCRIVIMI webhook, and an ISCRIVIMI written before the STOP arrives
    // late: neither undoes the STOP, and neither gets a reply.
    assert_eq!(post_signed(port, &sub, Some("valid")).await, 200);
    let late = inbound_at("393401111111", "iscrivimi", "wamid.IN0", "1764071000");
    assert_eq!(post_signed(port, &late, Some("valid")).await, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cloud.sends_to("393401111111").len(), 3);
    assert!(stop(&mut daemon).await.success());

    assert!(cloud.violations().is_empty(), "{:?}", cloud.violations());
    let log = log(&work).await;
    // STOP erased the number everywhere: its per-recipient records (the read receipt
    // included) went with it; the message itself stays in the log.
    assert!(log.contains("wa: sent") && !log.contains("read"), "{log}");
    let count = work.run(&["subscribers", "count"]).await;
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "0");
}

#[tokio::test]
async fn templates_outside_the_window_and_error_classes() {
    let (feeds, cloud, work) = one_feed_to_cloud(TEMPLATE).await;
    import(
        &work,
        &[
            "393400000001",
            "393400000002",
            "393400000003",
            "393400000004",
        ],
    );
    // In-process, with a clock the test moves: retries wait for their back-off, not for the test.
    let clock = ManualClock::at(chrono::Utc::now());
    let app = in_process(&work, clock.clone());
    app.once().await.unwrap();
    cloud.script("393400000001", &[131026]); // not on WhatsApp: failed, never retried
    cloud.script("393400000002", &[131056]); // too many to this user: retried after a back-off
    cloud.script("393400000003", &[131000]); // generic: retried after a back-off
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            (
                "x",
                "https://comune.example.it/n/x/",
                "Titolo\tcon  spazi\ne a capo",
            ),
            A,
        ])),
    );
    app.once().await.unwrap();
    app.once().await.unwrap();
    assert_eq!(
        cloud.sends_to("393400000002").len(),
        1,
        "not retried before its back-off"
    );
    clock.advance(chrono::Duration::minutes(10));
    app.once().await.unwrap();
    assert_eq!(cloud.sends_to("393400000001").len(), 1);
    assert_eq!(cloud.sends_to("393400000002").len(), 2);
    assert_eq!(cloud.sends_to("393400000003").len(), 2);
    assert_eq!(cloud.sends_to("393400000004").len(), 1);
    // Imported subscribers never wrote: a template with flat parameters.
    let t = &cloud.sends_to("393400000004")[0];
    assert_eq!(t["type"], "template");
    assert_eq!(t["template"]["name"], "notizia_comune");
    assert_eq!(t["template"]["language"]["code"], "it");
    assert_eq!(
        t["template"]["components"][0]["parameters"][0]["text"],
        "Titolo con spazi e a capo"
    );
    assert_eq!(
        t["template"]["components"][0]["parameters"][1]["text"],
        "https://comune.example.it/n/x/"
    );
    let log = banditore::report::log(app.store(), app.config(), 10, app.now()).unwrap();
    assert!(log.contains("[3 sent, 1 failed]"), "{log}");

    // An account problem pauses the sink and says so; nothing more is sent meanwhile.
    cloud.script("393400000004", &[190]);
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    app.once().await.unwrap();
    let before = cloud.count();
    clock.advance(chrono::Duration::minutes(30));
    app.once().await.unwrap();
    assert_eq!(cloud.count(), before, "a paused sink sends nothing");
    let log = banditore::report::log(app.store(), app.config(), 10, app.now()).unwrap();
    assert!(log.contains("SINK wa PAUSED"), "{log}");
    assert!(log.contains("code 190"), "{log}");
    // After the pause the broadcast resumes where it stopped.
    clock.advance(chrono::Duration::minutes(61));
    app.once().await.unwrap();
    assert_eq!(cloud.sends_to("393400000004").len(), 3);
    assert!(cloud.violations().is_empty(), "{:?}", cloud.violations());
}

#[tokio::test]
async fn the_rate_limit_is_respected() {
    let (feeds, cloud, work) = one_feed_to_cloud("messages_per_second = 5").await;
    work.once().await;
    let phones: Vec<String> = (0..15).map(|i| format!("3934000001{i:02}")).collect();
    import(&work, &phones);
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    work.once().await;
    assert_eq!(cloud.count(), 15);
    // One request of tolerance for scheduling jitter at the window's edges.
    assert!(
        cloud.max_per_second() <= 6,
        "{} requests in one second",
        cloud.max_per_second()
    );
}

#[tokio::test]
async fn killed_mid_broadcast_each_subscriber_gets_it_once() {
    let (feeds, cloud, work) = one_feed_to_cloud("messages_per_second = 80").await;
    work.once().await;
    let phones: Vec<String> = (0..1000).map(|i| format!("39340{i:07}")).collect();
    import(&work, &phones);
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    let mut child = work.command(&["once"]).spawn().unwrap();
    wait_for(|| cloud.count() >= 300).await;
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let at_kill = cloud.count();
    assert!(at_kill < 1000, "the broadcast finished before the kill");

    work.once().await;
    let mut per_phone = std::collections::HashMap::new();
    for (_, body) in cloud.state.lock().unwrap().requests.iter() {
        *per_phone
            .entry(body["to"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert!(per_phone.values().all(|n| *n == 1), "someone got it twice");
    let log = log(&work).await;
    let count_of = |state: &str| -> usize {
        regex::Regex::new(&format!(r"\[[^\]]*?(\d+) {state}"))
            .unwrap()
            .captures(&log)
            .map_or(0, |c| c[1].parse().unwrap())
    };
    let (sent, unknown) = (count_of("sent"), count_of("unknown"));
    assert!(
        unknown <= 16,
        "at most the in-flight batch is unknown: {log}"
    );
    assert_eq!(
        sent + unknown,
        1000,
        "every subscriber is accounted for: {log}"
    );
    // Everyone recorded as sent got it exactly once; the unknown ones at most once.
    assert!(
        per_phone.len() >= sent && per_phone.len() <= 1000,
        "{} received, {log}",
        per_phone.len()
    );
    assert!(cloud.violations().is_empty());
}

#[tokio::test]
async fn the_channel_gateway_posts_and_records_acks() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let (gateway, gaddr) = MockGateway::start().await;
    let port = free_port();
    let sink = format!(
        "[[sink]]\nname = \"canale\"\nkind = \"whatsapp-gateway\"\napi_base = \"http://{gaddr}\"\nsession = \"default\"\n\
         chat_id = \"120363000000000000@newsletter\"\napi_key_env = \"WAHA_API_KEY\"\nhmac_key_env = \"WAHA_HMAC\"\n"
    );
    let work = Workdir::with_sinks(
        &format!("webhook_listen = \"127.0.0.1:{port}\""),
        &source("comune", &feeds.url("/feed"), ""),
        &sink,
    );
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    wait_for(|| gateway.state.lock().unwrap().session_checks >= 1).await;
    wait_for(|| feeds.requests("/feed").len() >= 2).await;
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    wait_for(|| !gateway.state.lock().unwrap().sends.is_empty()).await;
    let (action, body) = gateway.state.lock().unwrap().sends[0].clone();
    assert_eq!(action, "sendText");
    assert!(body["text"].as_str().unwrap().contains(B.1));
    // The gateway's signed ack.
    let ack = serde_json::to_vec(&json!({"id": "evt_1", "timestamp": 1764072000000i64, "session": "default", "event": "message.ack",
        "payload": {"id": "true_120363000000000000@newsletter_1", "ack": 3, "ackName": "READ", "fromMe": true}}))
    .unwrap();
    let sign = |key: &[u8]| {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(&ack);
        hex::encode(mac.finalize().into_bytes())
    };
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/webhooks/gateway/canale");
    let bad = client
        .post(&url)
        .header("x-webhook-hmac", sign(b"wrong"))
        .body(ack.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let good = client
        .post(&url)
        .header("x-webhook-hmac", sign(b"waha-hmac"))
        .body(ack.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
    assert!(stop(&mut daemon).await.success());
    assert!(
        gateway.state.lock().unwrap().violations.is_empty(),
        "{:?}",
        gateway.state.lock().unwrap().violations
    );
    let log = log(&work).await;
    assert!(
        log.contains("canale: sent id=true_120363000000000000@newsletter_1")
            && log.contains("[1 read]"),
        "{log}"
    );
}

#[tokio::test]
async fn the_webhook_sink_signs_and_is_idempotent() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let (receiver, raddr) = Receiver::start().await;
    *receiver.fail_first.lock().unwrap() = 1;
    let sink = format!("[[sink]]\nname = \"automazione\"\nkind = \"webhook\"\nurl = \"http://{raddr}/hook\"\nsecret_env = \"WEBHOOK_SECRET\"\n");
    let work = Workdir::with_sinks("", &source("comune", &feeds.url("/feed"), ""), &sink);
    work.once().await;
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    work.once().await; // 503: retried
    work.once().await;
    let hits = receiver.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 2);
    let (headers, body) = &hits[1];
    let ts = headers["x-banditore-timestamp"].to_str().unwrap();
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(body);
    assert_eq!(
        headers["x-banditore-signature"].to_str().unwrap(),
        format!("sha256={}", hmac_sha256_hex(b"hook-secret", &signed))
    );
    assert_eq!(headers["idempotency-key"], hits[0].0["idempotency-key"]);
    let m: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(m["url"], B.1);
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error() {
    let feeds = FeedServer::start().await;
    let (_cloud, addr) = MockCloud::start().await;
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), ""),
        &cloud_sink(addr, ""),
    );
    let out = work
        .command(&["once"])
        .env_remove("WHATSAPP_TOKEN")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WHATSAPP_TOKEN") && err.contains("not set"),
        "{err}"
    );
    assert!(
        !err.contains("app-secret"),
        "secrets never reach the output"
    );
}
