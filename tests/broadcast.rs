//! Broadcasts through the Cloud API against a loopback mock: an alert never waits behind a
//! running broadcast, and a throttle stops the requests still waiting for their send slot.

#[path = "common/cloud.rs"]
mod cloud;
mod common;
#[path = "common/providers.rs"]
mod providers;

use cloud::{cloud_sink, import, in_process, one_feed_to_cloud};
use common::{rss, source, wait_for, FeedServer, ManualClock, Route, Workdir};
use providers::MockCloud;

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");
const C: (&str, &str, &str) = ("c", "https://comune.example.it/notizie/c/", "Avviso C");

/// One delivery pass, running while the test does something else.
fn deliver_in_background(
    app: &banditore::daemon::App,
) -> tokio::task::JoinHandle<Result<banditore::deliver::DeliverReport, banditore::store::StoreError>>
{
    let app = app.clone();
    tokio::spawn(async move { app.deliver(&Default::default()).await })
}

#[tokio::test]
async fn an_alert_does_not_wait_for_a_running_broadcast() {
    const ALERT: (&str, &str, &str) = (
        "allerta-1",
        "https://comune.example.it/allerta/1/",
        "Allerta rossa: scuole chiuse",
    );
    let feeds = FeedServer::start().await;
    feeds.set("/notizie", Route::feed(rss(&[A])));
    feeds.set("/allerta", Route::feed(rss(&[C])));
    let (cloud, addr) = MockCloud::start().await;
    let sources = format!(
        "{}\n{}",
        source("notizie", &feeds.url("/notizie"), ""),
        source("allerta", &feeds.url("/allerta"), "priority = \"urgent\"")
    );
    let work = Workdir::with_sinks("", &sources, &cloud_sink(addr, "messages_per_second = 80"));
    let phones: Vec<String> = (0..400).map(|i| format!("39341{i:07}")).collect();
    import(&work, &phones);
    let app = in_process(&work, std::sync::Arc::new(banditore::schedule::SystemClock));
    app.once().await.unwrap();
    // A normal message starts its broadcast to 400 people (5 s at 80/s)…
    feeds.set("/notizie", Route::feed(rss(&[B, A])));
    app.poll("notizie").await.unwrap();
    let pass = deliver_in_background(&app);
    wait_for(|| cloud.count() >= 48).await;
    // …and an alert is queued meanwhile: the broadcast gives way at its next batch.
    feeds.set("/allerta", Route::feed(rss(&[ALERT, C])));
    app.poll("allerta").await.unwrap();
    let report = pass.await.unwrap().unwrap();
    assert_eq!(report.pending, 1, "{report:?}");
    let paused_at = cloud.count();
    assert!(
        paused_at < 100,
        "{paused_at} sent before the broadcast gave way"
    );
    // The next passes send the alert to everyone first, then the rest of the news.
    for _ in 0..3 {
        app.deliver(&Default::default()).await.unwrap();
    }
    let bodies: Vec<String> = cloud
        .state
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|(_, b)| b.to_string())
        .collect();
    let alert: Vec<usize> = (0..bodies.len())
        .filter(|&i| bodies[i].contains("Allerta rossa"))
        .collect();
    let news: Vec<usize> = (0..bodies.len())
        .filter(|&i| bodies[i].contains("Avviso B"))
        .collect();
    assert_eq!((alert.len(), news.len()), (400, 400));
    assert_eq!(alert.first(), Some(&paused_at), "the alert went first");
    assert!(
        alert.last() < news.last(),
        "the news resumed after the alert"
    );
    for phone in &phones {
        assert_eq!(cloud.sends_to(phone).len(), 2, "{phone}: once each");
    }
    assert!(cloud.violations().is_empty(), "{:?}", cloud.violations());
}

#[tokio::test]
async fn a_throttle_stops_the_requests_still_waiting_for_their_slot() {
    let (feeds, cloud, work) = one_feed_to_cloud("messages_per_second = 20").await;
    let phones: Vec<String> = (0..60).map(|i| format!("3934200000{i:02}")).collect();
    import(&work, &phones);
    let clock = ManualClock::at(chrono::Utc::now());
    let app = in_process(&work, clock.clone());
    app.once().await.unwrap();
    // The fifth number is throttled (130429): the requests queued behind it for a send slot
    // (20/s: 50 ms apart) do not leave.
    cloud.script(&phones[4], &[130429]);
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    app.once().await.unwrap();
    let first = cloud.count();
    assert!(first <= 7, "{first} requests left after the throttle");
    let log = banditore::report::log(app.store(), app.config(), 10, app.now()).unwrap();
    assert!(
        !log.contains("unknown"),
        "stopped requests are not unknown: {log}"
    );
    // After the back-off, everyone gets it once: the stopped ones were not charged an attempt.
    for _ in 0..6 {
        clock.advance(chrono::Duration::hours(2));
        app.once().await.unwrap();
    }
    for phone in &phones {
        let got = cloud.sends_to(phone).len();
        let expected = if phone == &phones[4] { 2 } else { 1 };
        assert_eq!(got, expected, "{phone}");
    }
}

#[tokio::test]
async fn a_number_that_stops_while_its_request_waits_gets_nothing() {
    let (feeds, cloud, work) = one_feed_to_cloud("messages_per_second = 5").await;
    let phones: Vec<String> = (0..10).map(|i| format!("3934300000{i:02}")).collect();
    import(&work, &phones);
    let app = in_process(&work, std::sync::Arc::new(banditore::schedule::SystemClock));
    app.once().await.unwrap();
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    app.poll("comune").await.unwrap();
    let pass = deliver_in_background(&app);
    // At 5/s the first requests' intents are written together and then wait 200 ms apart
    // for their send slots; numbers 4 to 7 send STOP while theirs wait.
    wait_for(|| cloud.count() >= 1).await;
    for phone in &phones[4..8] {
        let phone = banditore::phone::Phone::parse(phone).unwrap();
        assert!(app.store().unsubscribe(&phone).unwrap());
    }
    pass.await.unwrap().unwrap();
    for _ in 0..3 {
        app.deliver(&Default::default()).await.unwrap();
    }
    for (i, phone) in phones.iter().enumerate() {
        let expected = usize::from(!(4..8).contains(&i));
        assert_eq!(cloud.sends_to(phone).len(), expected, "{phone}");
    }
}
