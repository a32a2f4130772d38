//! What citizens receive (issue 11), end to end with the real binary: flood protection holds
//! a batch for an admin, stale news is not sent, and every decision has its reason in `log`.

mod common;

use std::sync::Arc;

use banditore::config::Config;
use banditore::daemon::{App, AppCell};
use banditore::http::admin::Admin;
use banditore::sink::secret::Secret;
use common::admin::{csrf, english};
use common::{rss, source, FeedServer, Route, Workdir};

/// `n` items with their own guids and links, as a CMS migration publishes them.
fn batch(prefix: &str, n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}-{i}"),
                format!("https://comune.example.it/{prefix}/{i}/"),
                format!("Notizia {prefix} {i}"),
            )
        })
        .collect()
}

fn feed(items: &[(String, String, String)]) -> Route {
    Route::feed(feed_text(items))
}

fn feed_text(items: &[(String, String, String)]) -> String {
    let refs: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(g, l, t)| (g.as_str(), l.as_str(), t.as_str()))
        .collect();
    rss(&refs)
}

async fn stdout(work: &Workdir, args: &[&str]) -> String {
    let out = work.run(args).await;
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_flood_is_held_for_an_admin_who_releases_or_discards_it() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("old", 3)));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    work.once().await;

    // Forty new items in one poll: nothing is sent, the source is HELD.
    let mut items = batch("nuovo", 40);
    items.extend(batch("old", 3));
    server.set("/feed", feed(&items));
    work.once().await;
    assert!(work.messages().is_empty(), "{:?}", work.messages());
    let list = stdout(&work, &["source", "list"]).await;
    assert!(list.contains("comune [feed] HELD"), "{list}");
    assert!(list.contains("40 new items held"), "{list}");
    let log = stdout(&work, &["log"]).await;
    assert!(
        log.contains("held: 40 new items in one poll (flood_threshold = 10)"),
        "{log}"
    );

    // While HELD, new items join the batch.
    let mut more = batch("ancora", 1);
    more.extend(items);
    server.set("/feed", feed(&more));
    work.once().await;
    assert!(work.messages().is_empty());

    // Released: every item waits for an editor; nothing was sent.
    let released = stdout(&work, &["source", "release", "comune"]).await;
    assert!(
        released.contains("41 held items sent to the review queue"),
        "{released}"
    );
    let queue = stdout(&work, &["queue", "list"]).await;
    assert_eq!(queue.lines().count(), 41, "{queue}");
    let list = stdout(&work, &["source", "list"]).await;
    assert!(!list.contains("HELD"), "{list}");
    work.once().await;
    assert!(work.messages().is_empty(), "released items wait for review");

    // A second flood, discarded: never sent.
    let mut flood = batch("migrazione", 12);
    flood.extend(more);
    server.set("/feed", feed(&flood));
    work.once().await;
    let discarded = stdout(&work, &["source", "discard", "comune"]).await;
    assert!(discarded.contains("12 held items discarded"), "{discarded}");
    work.once().await;
    assert!(work.messages().is_empty());
    let unknown = work.run(&["source", "release", "nessuna"]).await;
    assert!(!unknown.status.success());
}

#[tokio::test]
async fn a_few_new_items_go_out_and_old_news_does_not() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("old", 3)));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    work.once().await;
    // One fresh item and one published last month (found late: a page fixed on the site).
    let now = chrono::Utc::now();
    let dated = |guid: &str, title: &str, at: chrono::DateTime<chrono::Utc>| {
        format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><link>https://comune.example.it/{guid}/</link>\
             <title>{title}</title><pubDate>{}</pubDate><description>Testo.</description></item>",
            at.to_rfc2822()
        )
    };
    let body = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Comune</title><link>https://comune.example.it/</link>{}{}</channel></rss>",
        dated("fresca", "Notizia di oggi", now - chrono::Duration::hours(2)),
        dated("vecchia", "Notizia del mese scorso", now - chrono::Duration::days(30)),
    );
    server.set("/feed", Route::feed(body));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["title"], "Notizia di oggi");
    let log = stdout(&work, &["log"]).await;
    assert!(
        log.contains("Notizia del mese scorso: older than max_age (3days)"),
        "{log}"
    );
}

#[tokio::test]
async fn one_story_from_two_sources_is_sent_once() {
    let server = FeedServer::start().await;
    let old = batch("old", 2);
    server.set("/notizie", feed(&old));
    server.set("/comunicati", feed(&batch("vecchi", 2)));
    let sources = format!(
        "{}\n{}",
        source("notizie", &server.url("/notizie"), ""),
        source("comunicati", &server.url("/comunicati"), "")
    );
    let work = Workdir::new("", &sources);
    work.once().await;
    // The same press release in the news feed and on the press-release feed (its own guid,
    // the same page), and another with the same specific title at another address.
    let story = (
        "n-1".to_owned(),
        "https://comune.example.it/comunicati/ponte/".to_owned(),
        "Chiusura del ponte sul Po per lavori".to_owned(),
    );
    let mut news = vec![story.clone()];
    news.extend(old);
    server.set("/notizie", feed(&news));
    work.once().await;
    // The release under another title (its text is the same) at the same page, and another
    // with the same title and text at another address.
    let same_text = |guid: &str, link: &str, title: &str| {
        format!(
            "<item><guid>{guid}</guid><link>{link}</link><title>{title}</title>\
             <description>Testo della notizia Chiusura del ponte sul Po per lavori.</description></item>"
        )
    };
    let releases = [
        same_text(
            "c-77",
            "https://comune.example.it/comunicati/ponte/?utm_source=rss",
            "Ponte sul Po chiuso",
        ),
        same_text(
            "c-78",
            "https://comune.example.it/altro/ponte-chiuso/",
            "Chiusura del ponte sul Po per lavori",
        ),
    ];
    // Before the older items, after the channel's own link.
    let older = feed_text(&batch("vecchi", 2));
    let feed_now = older.replacen("</link>", &format!("</link>{}", releases.concat()), 1);
    server.set("/comunicati", Route::feed(feed_now));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["source"], "notizie");
    let log = stdout(&work, &["log"]).await;
    assert_eq!(
        log.matches("same story as notizie: «Chiusura del ponte sul Po per lavori»")
            .count(),
        2,
        "{log}"
    );
}

#[tokio::test]
async fn an_admin_sees_a_held_source_and_why_items_were_not_sent_and_releases_the_batch() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("old", 3)));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    let config = Config::load(&work.config()).unwrap();
    let app = App::build(
        config,
        &work.path().join("data"),
        Arc::new(banditore::schedule::SystemClock),
    )
    .unwrap();
    app.once().await.unwrap();
    let mut items = batch("nuovo", 15);
    items.extend(batch("old", 3));
    server.set("/feed", feed(&items));
    app.once().await.unwrap();
    let admin = Admin::with_token(
        AppCell::new(app.clone()),
        Some(work.config()),
        Some(Secret::new(common::admin::TOKEN.into())),
    );
    let web = common::admin::serve(admin).await;
    let cookie = web.admin().await;

    let fonti = web.page("/sources", &cookie).await;
    assert!(fonti.contains("Manda in approvazione"), "{fonti}");
    assert!(fonti.contains("15 notizie nuove arrivate"), "{fonti}");
    assert!(english(&fonti).is_empty(), "{:?}", english(&fonti));
    let metrics = web.page("/metrics", &cookie).await;
    assert!(
        metrics.contains("banditore_source_held_messages{source=\"comune\"} 15"),
        "{metrics}"
    );
    let inviati = web.page("/log", &cookie).await;
    assert!(inviati.contains("Non inviati, e perché"), "{inviati}");
    assert!(
        inviati.contains("trattenuta per un amministratore: troppe notizie nuove in una volta"),
        "{inviati}"
    );

    // Without the CSRF token nothing happens; with it the batch goes to review.
    let refused = web.post("/sources/comune/release", &cookie, &[]).await;
    assert!(!refused.status().is_redirection(), "{}", refused.status());
    assert_eq!(app.store().held("comune").unwrap().len(), 15);
    let token = csrf(&fonti);
    let done = web
        .post("/sources/comune/release", &cookie, &[("csrf", &token)])
        .await;
    assert!(done.status().is_redirection(), "{}", done.status());
    assert!(app.store().held("comune").unwrap().is_empty());
    let fonti = web.page("/sources", &cookie).await;
    assert!(!fonti.contains("Manda in approvazione"), "{fonti}");
    assert!(
        fonti.contains("15 notizie trattenute sono ora in «Da approvare»"),
        "{fonti}"
    );
    let queue = web.page("/", &cookie).await;
    assert!(queue.contains("Notizia nuovo 14"), "{queue}");
    web.shut().await;
}

/// A feed with one item whose description is `text`, published an hour ago.
fn story(text: &str) -> Route {
    let at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc2822();
    Route::feed(format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Comune</title><link>https://comune.example.it/</link>\
         <item><guid isPermaLink=\"false\">mercato</guid><link>https://comune.example.it/mercato/</link>\
         <title>Mercato di Natale in piazza Garibaldi</title><pubDate>{at}</pubDate><description>{text}</description></item>\
         <item><guid isPermaLink=\"false\">vecchia-0</guid><link>https://comune.example.it/vecchia/0/</link><title>Notizia vecchia 0</title></item>\
         </channel></rss>"
    ))
}

#[tokio::test]
async fn a_material_correction_is_sent_and_a_typo_fix_is_not() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("vecchia", 1)));
    let work = Workdir::new(
        "",
        &source("comune", &server.url("/feed"), "corrections = \"auto\""),
    );
    work.once().await;
    server.set(
        "/feed",
        story("Il mercato si tiene giovedì 3 dicembre in piaza Garibaldi. Ingresso libero."),
    );
    work.once().await;
    assert_eq!(work.messages().len(), 1);
    // A typo fixed: nothing.
    server.set(
        "/feed",
        story("Il mercato si tiene giovedì 3 dicembre in piazza Garibaldi. Ingresso libero."),
    );
    work.once().await;
    assert_eq!(work.messages().len(), 1, "{:?}", work.messages());
    // The day changed: a short correction linking the same page.
    server.set(
        "/feed",
        story("Il mercato si tiene venerdì 4 dicembre in piazza Garibaldi. Ingresso libero."),
    );
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 2, "{m:?}");
    let text = m[1]["text"].as_str().unwrap();
    assert!(
        text.starts_with("*Rettifica: Mercato di Natale in piazza Garibaldi*"),
        "{text}"
    );
    assert!(
        text.contains(
            "Prima era scritto «giovedì 3 dicembre in piaza Garibaldi», ora «venerdì 4 dicembre in piazza Garibaldi»."
        ),
        "{text}"
    );
    assert!(
        text.contains("https://comune.example.it/mercato/"),
        "{text}"
    );
    assert_eq!(m[1]["correction_of"], m[0]["id"]);
    // Polled again: the correction is not repeated.
    work.once().await;
    assert_eq!(work.messages().len(), 2);
}

#[tokio::test]
async fn by_default_a_correction_waits_for_an_editor() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("vecchia", 1)));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    work.once().await;
    server.set("/feed", story("Il mercato si tiene domenica."));
    work.once().await;
    server.set(
        "/feed",
        story("Il mercato è rinviato a data da destinarsi."),
    );
    work.once().await;
    assert_eq!(work.messages().len(), 1);
    let queue = stdout(&work, &["queue", "list"]).await;
    // The paths may also follow the subcommand, as with `source list`.
    let (config, data) = (work.config(), work.path().join("data"));
    let after = stdout(
        &work,
        &[
            "queue",
            "list",
            "--config",
            config.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(after, queue);
    assert!(
        queue.contains("Rettifica: Mercato di Natale in piazza Garibaldi"),
        "{queue}"
    );
}

/// An application on a simulated clock that reads `day`/`h`:`m` in Rome (November 2026).
fn app_at(work: &Workdir, day: u32, h: u32, m: u32) -> (App, Arc<banditore::schedule::SimClock>) {
    let clock = Arc::new(banditore::schedule::SimClock::starting_at(rome(day, h, m)));
    let config = Config::load(&work.config()).unwrap();
    let app = App::build(config, &work.path().join("data"), clock.clone()).unwrap();
    (app, clock)
}

fn rome(day: u32, h: u32, m: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono_tz::Europe::Rome
        .with_ymd_and_hms(2026, 11, day, h, m, 0)
        .single()
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn past_the_daily_cap_the_rest_go_as_one_digest_in_the_evening() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("old", 2)));
    let work = Workdir::new(
        "max_per_day = 2\ndigest_at = \"18:00\"",
        &source("comune", &server.url("/feed"), ""),
    );
    let (app, clock) = app_at(&work, 25, 10, 0);
    app.once().await.unwrap();
    let mut items = batch("oggi", 5);
    items.extend(batch("old", 2));
    server.set("/feed", feed(&items));
    app.once().await.unwrap();
    assert_eq!(work.messages().len(), 2, "two a day");
    clock.set(rome(25, 17, 59));
    app.once().await.unwrap();
    assert_eq!(work.messages().len(), 2, "the rest wait for the digest");
    clock.set(rome(25, 18, 1));
    app.once().await.unwrap();
    app.once().await.unwrap();
    let m = work.messages();
    assert_eq!(m.len(), 3, "{m:?}");
    let text = m[2]["text"].as_str().unwrap();
    assert!(
        text.starts_with("*Altre notizie di oggi*\n\n• Notizia oggi "),
        "{text}"
    );
    assert_eq!(text.matches("• ").count(), 3, "{text}");
    assert_eq!(m[2]["digest"], true);
    // One digest a day: what comes later waits for tomorrow.
    let mut more = batch("sera", 1);
    more.extend(items);
    server.set("/feed", feed(&more));
    clock.set(rome(25, 19, 0));
    app.once().await.unwrap();
    app.once().await.unwrap();
    assert_eq!(work.messages().len(), 3);
    clock.set(rome(26, 9, 0));
    app.once().await.unwrap();
    assert_eq!(work.messages().len(), 4, "a new day");
}

#[tokio::test]
async fn several_night_items_go_as_one_morning_digest() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("old", 2)));
    let work = Workdir::new(
        "quiet_hours = \"21:00-07:30\"",
        &source("comune", &server.url("/feed"), ""),
    );
    let (app, clock) = app_at(&work, 25, 20, 0);
    app.once().await.unwrap();
    clock.set(rome(25, 22, 30));
    let mut items = batch("notte", 4);
    items.extend(batch("old", 2));
    server.set("/feed", feed(&items));
    app.once().await.unwrap();
    clock.set(rome(26, 7, 0));
    app.once().await.unwrap();
    assert!(work.messages().is_empty(), "quiet hours");
    let log = banditore::report::log(app.store(), app.config(), 20, app.now()).unwrap();
    assert!(
        log.contains("Notizia notte 0 (quiet hours: waits until 07:30)"),
        "{log}"
    );
    clock.set(rome(26, 7, 31));
    app.once().await.unwrap();
    app.once().await.unwrap();
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    let text = m[0]["text"].as_str().unwrap();
    assert!(text.starts_with("*Notizie della notte*"), "{text}");
    assert_eq!(text.matches("• ").count(), 4, "{text}");
    let log = banditore::report::log(app.store(), app.config(), 20, app.now()).unwrap();
    assert!(log.contains("Notizie della notte"), "{log}");
}

#[tokio::test]
async fn items_waiting_for_review_follow_their_source() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("vecchia", 1)));
    let work = Workdir::new(
        "",
        &source("comune", &server.url("/feed"), "forward = \"review\""),
    );
    work.once().await;
    let one = |text: &str| {
        let at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc2822();
        Route::feed(format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Comune</title><link>https://comune.example.it/</link>\
             <item><guid isPermaLink=\"false\">mercato</guid><link>https://comune.example.it/mercato/</link>\
             <title>Mercato di Natale</title><pubDate>{at}</pubDate><description>{text}</description></item>\
             <item><guid isPermaLink=\"false\">vecchia-0</guid><link>https://comune.example.it/vecchia/0/</link><title>Notizia vecchia 0</title></item>\
             </channel></rss>"
        ))
    };
    server.set("/feed", one("Giovedì in piazza."));
    work.once().await;
    // The source changes the item while it waits: the queue shows the new text.
    server.set("/feed", one("Venerdì in piazza."));
    work.once().await;
    let queued = |work: &Workdir| {
        let config = Config::load(&work.config()).unwrap();
        let app = App::build(
            config,
            &work.path().join("data"),
            Arc::new(banditore::schedule::SystemClock),
        )
        .unwrap();
        let items: Vec<_> = app.store().queue().map(Result::unwrap).collect();
        items
    };
    let items = queued(&work);
    assert_eq!(items.len(), 1);
    assert!(
        items[0].message.text.contains("Venerdì in piazza."),
        "{:?}",
        items[0].message.text
    );
    assert!(items[0].refreshed_at.is_some());
    // The source removes it: flagged, not dropped.
    server.set("/feed", feed(&batch("vecchia", 1)));
    work.once().await;
    let list = stdout(&work, &["queue", "list"]).await;
    assert!(
        list.contains("Mercato di Natale (removed at the source)"),
        "{list}"
    );
}

#[tokio::test]
async fn one_story_in_two_sources_in_the_same_cycle_is_sent_once() {
    let server = FeedServer::start().await;
    server.set("/a", feed(&batch("a", 1)));
    server.set("/b", feed(&batch("b", 1)));
    let sources = format!(
        "{}\n{}",
        source("notizie", &server.url("/a"), ""),
        source("comunicati", &server.url("/b"), "")
    );
    let work = Workdir::new("", &sources);
    work.once().await;
    let story = |guid: &str| {
        (
            guid.to_owned(),
            "https://comune.example.it/lavori-via-roma/".to_owned(),
            "Lavori in via Roma da lunedì".to_owned(),
        )
    };
    let mut a = vec![story("a-9")];
    a.extend(batch("a", 1));
    let mut b = vec![story("b-9")];
    b.extend(batch("b", 1));
    server.set("/a", feed(&a));
    server.set("/b", feed(&b));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    let log = stdout(&work, &["log"]).await;
    assert!(log.contains("same story as"), "{log}");
}

#[tokio::test]
async fn a_held_batch_can_go_as_one_message() {
    let server = FeedServer::start().await;
    server.set("/feed", feed(&batch("old", 2)));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    work.once().await;
    let mut items = batch("nuovo", 12);
    items.extend(batch("old", 2));
    server.set("/feed", feed(&items));
    work.once().await;
    assert!(work.messages().is_empty());
    let out = stdout(&work, &["source", "release", "comune", "--digest"]).await;
    assert!(out.contains("12 held items queued as one message"), "{out}");
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    let text = m[0]["text"].as_str().unwrap();
    assert!(text.starts_with("*Notizie in breve*\n\n• "), "{text}");
    assert_eq!(text.matches("• ").count(), 12, "{text}");
    let list = stdout(&work, &["source", "list"]).await;
    assert!(!list.contains("HELD"), "{list}");
}
