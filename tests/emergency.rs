//! Emergency sources end to end: CAP alerts (threading, bulletins, indexes), earthquakes, and
//! urgent messages going first.

mod common;

use chrono::{Duration, Utc};
use common::{rss, FeedServer, ManualClock, Route, Workdir};

const SETTINGS: &str = "location = { lat = 45.133, lon = 10.027 }";
/// A square around Cremona (lat,lon pairs, CAP order).
const AROUND: &str = "45.0,9.9 45.0,10.2 45.3,10.2 45.3,9.9 45.0,9.9";
const ELSEWHERE: &str = "38.0,15.0 38.0,15.5 38.5,15.5 38.5,15.0 38.0,15.0";

struct Cap<'a> {
    id: &'a str,
    sent: String,
    status: &'a str,
    msg_type: &'a str,
    references: Option<String>,
    severity: &'a str,
    event: &'a str,
    headline: &'a str,
    polygon: &'a str,
}

impl<'a> Cap<'a> {
    fn alert(id: &'a str, headline: &'a str) -> Self {
        Cap {
            id,
            sent: (Utc::now() - Duration::minutes(5))
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string(),
            status: "Actual",
            msg_type: "Alert",
            references: None,
            severity: "Severe",
            event: "Piena",
            headline,
            polygon: AROUND,
        }
    }

    fn reference(&self) -> String {
        format!(
            "protezionecivile@regione.example.it,{},{}",
            self.id, self.sent
        )
    }

    fn xml(&self) -> String {
        let expires = (Utc::now() + Duration::days(1)).format("%Y-%m-%dT%H:%M:%S+00:00");
        let refs = self
            .references
            .as_ref()
            .map(|r| format!("<references>{r}</references>"))
            .unwrap_or_default();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{id}</identifier><sender>protezionecivile@regione.example.it</sender><sent>{sent}</sent>
  <status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><language>en-GB</language><category>Met</category><event>Flood</event><urgency>Expected</urgency>
    <severity>{severity}</severity><certainty>Likely</certainty><expires>{expires}</expires>
    <headline>Flood warning</headline><description>English text.</description></info>
  <info><language>it-IT</language><category>Met</category><event>{event}</event><urgency>Expected</urgency>
    <severity>{severity}</severity><certainty>Likely</certainty><expires>{expires}</expires>
    <headline>{headline}</headline><description>Possibile esondazione del Po.</description>
    <instruction>Non sostare sugli argini.</instruction><web>https://protezionecivile.example.it/allerte</web>
    <area><areaDesc>Provincia di Cremona</areaDesc><polygon>{polygon}</polygon></area></info>
</alert>"#,
            id = self.id,
            sent = self.sent,
            status = self.status,
            msg_type = self.msg_type,
            severity = self.severity,
            event = self.event,
            headline = self.headline,
            polygon = self.polygon,
        )
    }
}

fn cap_route(xml: String) -> Route {
    let mut r = Route::feed(xml);
    r.content_type = "application/cap+xml".into();
    r
}

/// A baseline alert about another hazard, so it does not count as the same bulletin.
fn unrelated() -> String {
    let mut c = Cap::alert("old-1", "Vecchia allerta vento");
    c.event = "Vento";
    c.xml()
}

fn cap_source(url: &str) -> String {
    format!("[[source]]\nname = \"allerte\"\nkind = \"cap\"\nurl = \"{url}\"\n")
}

#[tokio::test]
async fn alert_then_update_then_cancel() {
    let server = FeedServer::start().await;
    server.set("/cap", cap_route(unrelated()));
    let work = Workdir::new(SETTINGS, &cap_source(&server.url("/cap")));
    work.once().await;
    assert!(work.messages().is_empty(), "baseline sends nothing");

    let alert = Cap::alert("po-1", "Allerta piena del Po");
    server.set("/cap", cap_route(alert.xml()));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        m[0]["title"], "Allerta piena del Po",
        "Italian info preferred"
    );
    assert_eq!(m[0]["priority"], "urgent");
    assert_eq!(m[0]["kind"], "cap");
    assert_eq!(m[0]["msg_type"], "Alert");
    assert_eq!(m[0]["url"], "https://protezionecivile.example.it/allerte");
    let text = m[0]["text"].as_str().unwrap();
    assert!(text.contains("Zona: Provincia di Cremona"), "{text}");
    assert!(
        text.contains("Cosa fare: Non sostare sugli argini."),
        "{text}"
    );
    assert!(text.contains("Fino alle "), "{text}");

    let mut update = Cap::alert("po-2", "Allerta piena del Po: livello in aumento");
    update.msg_type = "Update";
    update.references = Some(alert.reference());
    server.set("/cap", cap_route(update.xml()));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 2);
    assert_eq!(
        m[1]["title"],
        "AGGIORNAMENTO: Allerta piena del Po: livello in aumento"
    );

    let mut cancel = Cap::alert("po-3", "Fine allerta piena del Po");
    cancel.msg_type = "Cancel";
    cancel.references = Some(update.reference());
    server.set("/cap", cap_route(cancel.xml()));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 3);
    assert!(
        m[2]["title"].as_str().unwrap().starts_with("REVOCA: "),
        "{}",
        m[2]["title"]
    );
    assert_eq!(m[2]["msg_type"], "Cancel");

    // Polled again: nothing new.
    work.once().await;
    assert_eq!(work.messages().len(), 3);
}

#[tokio::test]
async fn what_must_not_be_sent_is_not_sent() {
    let server = FeedServer::start().await;
    server.set("/cap", cap_route(unrelated()));
    let work = Workdir::new(SETTINGS, &cap_source(&server.url("/cap")));
    work.once().await;
    // Each case is its own hazard, so only the rule under test can stop it.
    let mut cases = Vec::new();
    let mut test = Cap::alert("t-1", "Prova");
    test.status = "Test";
    cases.push(test);
    let mut exercise = Cap::alert("t-2", "Esercitazione");
    exercise.status = "Exercise";
    cases.push(exercise);
    let mut far = Cap::alert("t-3", "Altrove");
    far.polygon = ELSEWHERE;
    cases.push(far);
    let mut minor = Cap::alert("t-4", "Poco");
    minor.severity = "Minor";
    cases.push(minor);
    let mut orphan_cancel = Cap::alert("t-5", "Revoca di qualcosa mai inviato");
    orphan_cancel.msg_type = "Cancel";
    orphan_cancel.references = Some("someone,never-sent,2020-01-01T00:00:00+00:00".into());
    cases.push(orphan_cancel);
    for case in &mut cases {
        case.event = case.id;
        server.set("/cap", cap_route(case.xml()));
        work.once().await;
        assert!(work.messages().is_empty(), "{} was sent", case.id);
    }
    // Restricted scope, and an expired alert.
    let mut restricted = Cap::alert("t-6", "Riservata");
    restricted.event = "t-6";
    let restricted = restricted
        .xml()
        .replace("<scope>Public</scope>", "<scope>Restricted</scope>");
    server.set("/cap", cap_route(restricted));
    work.once().await;
    let mut expired = Cap::alert("t-7", "Scaduta");
    expired.event = "t-7";
    expired.sent = "2020-01-01T00:00:00+00:00".into();
    let expired = expired.xml().replace(
        &(Utc::now() + Duration::days(1))
            .format("%Y-%m-%dT%H")
            .to_string(),
        "2020-01-02T00",
    );
    server.set("/cap", cap_route(expired));
    work.once().await;
    assert!(work.messages().is_empty(), "{:?}", work.messages());
    // Control: the same template, untouched, is sent.
    let mut control = Cap::alert("t-8", "Allerta valida");
    control.event = "t-8";
    server.set("/cap", cap_route(control.xml()));
    work.once().await;
    assert_eq!(work.messages().len(), 1);
}

#[tokio::test]
async fn a_bulletin_repeating_its_level_sends_nothing() {
    let server = FeedServer::start().await;
    server.set(
        "/cap",
        cap_route(
            Cap::alert("b-0", "Bollettino")
                .xml()
                .replace("Severe", "Minor"),
        ),
    );
    let work = Workdir::new(
        SETTINGS,
        &format!(
            "{}min_severity = \"Moderate\"\n",
            cap_source(&server.url("/cap"))
        ),
    );
    work.once().await;
    // Daily bulletins: fresh Alerts, no references.
    let mut day1 = Cap::alert("b-1", "Allerta arancione per piena");
    day1.severity = "Severe";
    server.set("/cap", cap_route(day1.xml()));
    work.once().await;
    assert_eq!(work.messages().len(), 1);
    let mut day2 = Cap::alert("b-2", "Allerta arancione per piena");
    day2.sent = (Utc::now() - Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    server.set("/cap", cap_route(day2.xml()));
    work.once().await;
    assert_eq!(work.messages().len(), 1, "same level again: nothing");
    let mut day3 = Cap::alert("b-3", "Allerta rossa per piena");
    day3.severity = "Extreme";
    server.set("/cap", cap_route(day3.xml()));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 2, "the level rose");
    assert_eq!(m[1]["title"], "Allerta rossa per piena");
}

#[tokio::test]
async fn an_index_of_alerts_is_followed() {
    let server = FeedServer::start().await;
    let index = |ids: &[&str]| {
        let entries: String = ids
            .iter()
            .map(|id| {
                format!(
                    "<entry><id>urn:{id}</id><title>{id}</title><updated>2026-11-25T10:00:00Z</updated>\
                     <link type=\"application/cap+xml\" href=\"/alerts/{id}.xml\"/></entry>"
                )
            })
            .collect();
        let mut r = Route::feed(format!(
            "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Allerte</title><id>urn:x</id><updated>2026-11-25T10:00:00Z</updated>{entries}</feed>"
        ));
        r.content_type = "application/atom+xml".into();
        r
    };
    server.set(
        "/alerts/a.xml",
        cap_route(Cap::alert("a", "Allerta A").xml()),
    );
    server.set("/index", index(&["a"]));
    let work = Workdir::new(SETTINGS, &cap_source(&server.url("/index")));
    work.once().await;
    assert!(
        server.requests("/alerts/a.xml").is_empty(),
        "the baseline fetches no documents"
    );
    server.set(
        "/alerts/b.xml",
        cap_route(Cap::alert("b", "Allerta B").xml()),
    );
    server.set("/index", index(&["b", "a"]));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["title"], "Allerta B");
    work.once().await;
    assert_eq!(
        server.requests("/alerts/b.xml").len(),
        1,
        "each document is fetched once"
    );
}

/// An FDSN answer; the events happened an hour ago (older ones would be too old to send).
fn fdsn(rows: &[(&str, f64, f64, f64)]) -> Route {
    let when = (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S%.6f");
    let mut body = String::from("#EventID|Time|Latitude|Longitude|Depth/Km|Author|Catalog|Contributor|ContributorID|MagType|Magnitude|MagAuthor|EventLocationName|EventType\n");
    for (id, lat, lon, mag) in rows {
        body.push_str(&format!("{id}|{when}|{lat}|{lon}|10.0|SURVEY-INGV||||ML|{mag}|--|2 km N Cremona (CR)|earthquake\n"));
    }
    let mut r = Route::feed(body);
    r.content_type = "text/plain".into();
    r
}

#[tokio::test]
async fn earthquakes_near_and_strong_enough() {
    let server = FeedServer::start().await;
    server.set("/q", fdsn(&[("1", 45.15, 10.03, 4.0)]));
    let source = format!(
        "[[source]]\nname = \"terremoti\"\nkind = \"quake\"\nurl = \"{}\"\nradius_km = 50\nmin_magnitude = 3.0\n",
        server.url("/q")
    );
    let work = Workdir::new(SETTINGS, &source);
    work.once().await;
    assert!(work.messages().is_empty());
    // A new event nearby, a weak one nearby, a strong one far away.
    server.set(
        "/q",
        fdsn(&[
            ("2", 45.16, 10.04, 3.6),
            ("3", 45.14, 10.02, 2.1),
            ("4", 40.8, 14.2, 4.5),
            ("1", 45.15, 10.03, 4.0),
        ]),
    );
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["url"], "https://terremoti.ingv.it/event/2");
    assert_eq!(
        m[0]["priority"], "normal",
        "felt by few: news, not an emergency (urgent_magnitude = 4.0)"
    );
    assert!(m[0]["text"]
        .as_str()
        .unwrap()
        .contains("magnitudo 3.6 (ML)"));
    // Revisions: the sent event changes magnitude (no new message); the weak one is revised
    // above the threshold (now sent).
    server.set(
        "/q",
        fdsn(&[
            ("2", 45.16, 10.04, 3.8),
            ("3", 45.14, 10.02, 3.2),
            ("1", 45.15, 10.03, 4.0),
        ]),
    );
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[1]["url"], "https://terremoti.ingv.it/event/3");
    // A strong one nearby is urgent.
    server.set(
        "/q",
        fdsn(&[("5", 45.15, 10.05, 4.3), ("2", 45.16, 10.04, 3.8)]),
    );
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(m[2]["priority"], "urgent");
}

#[tokio::test]
async fn a_swarm_is_one_message_about_its_strongest() {
    let server = FeedServer::start().await;
    server.set("/q", fdsn(&[("1", 45.15, 10.03, 2.0)]));
    let source = format!(
        "[[source]]\nname = \"terremoti\"\nkind = \"quake\"\nurl = \"{}\"\nradius_km = 50\nmin_magnitude = 2.5\n",
        server.url("/q")
    );
    let work = Workdir::new(SETTINGS, &source);
    work.once().await;
    // Twelve aftershocks and the mainshock in one poll: the per-poll cap (10) must not drop
    // the mainshock, and citizens get one message.
    let mut rows: Vec<(String, f64)> = (10..22)
        .map(|i| (i.to_string(), 2.6 + f64::from(i % 5) / 10.0))
        .collect();
    rows.insert(5, ("99".into(), 5.1));
    let rows: Vec<(&str, f64, f64, f64)> = rows
        .iter()
        .map(|(id, m)| (id.as_str(), 45.15, 10.03, *m))
        .collect();
    server.set("/q", fdsn(&rows));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["url"], "https://terremoti.ingv.it/event/99");
    assert_eq!(m[0]["priority"], "urgent");
    let text = m[0]["text"].as_str().unwrap();
    assert!(
        text.contains("Sequenza sismica: 13 terremoti, il più forte di magnitudo 5.1"),
        "{text}"
    );
    let log = work.run(&["log"]).await;
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("part of a seismic sequence of 13"), "{log}");
}

#[tokio::test]
async fn urgent_messages_go_first() {
    let server = FeedServer::start().await;
    server.set(
        "/feed",
        Route::feed(rss(&[("a", "https://comune.example.it/a", "Avviso A")])),
    );
    server.set("/cap", cap_route(unrelated()));
    let sources = format!(
        "[[source]]\nname = \"notizie\"\nkind = \"feed\"\nurl = \"{}\"\n{}",
        server.url("/feed"),
        cap_source(&server.url("/cap"))
    );
    let work = Workdir::new(SETTINGS, &sources);
    work.once().await;
    server.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/b", "Avviso B"),
            ("a", "https://comune.example.it/a", "Avviso A"),
        ])),
    );
    server.set("/cap", cap_route(Cap::alert("po-9", "Allerta piena").xml()));
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0]["priority"], "urgent");
    assert_eq!(m[1]["priority"], "normal");
}

/// One fetch at a time, taken by a news server that never answers: the alert source still
/// polls, and its alert goes out.
#[tokio::test]
async fn alerts_do_not_wait_behind_news_servers_that_hang() {
    let server = FeedServer::start().await;
    server.set("/hang", Route::hang());
    server.set("/cap", cap_route(unrelated()));
    let sources = format!(
        "{}{}every = \"1s\"\n",
        common::source("notizie", &server.url("/hang"), "timeout = \"5m\""),
        cap_source(&server.url("/cap"))
    );
    let work = Workdir::new(&format!("{SETTINGS}\nconcurrency = 1"), &sources);
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    common::wait_for(|| server.in_flight() >= 1 && server.requests("/cap").len() >= 2).await;
    server.set("/cap", cap_route(Cap::alert("po-7", "Allerta piena").xml()));
    common::wait_for(|| !work.messages().is_empty()).await;
    assert_eq!(work.messages()[0]["priority"], "urgent");
    assert!(server.in_flight() >= 1, "the news request is still hanging");
    common::stop(&mut daemon).await;
}

#[tokio::test]
async fn quiet_hours_hold_normal_messages_but_not_urgent_ones() {
    let server = FeedServer::start().await;
    server.set(
        "/feed",
        Route::feed(rss(&[("a", "https://comune.example.it/a", "Avviso A")])),
    );
    server.set("/cap", cap_route(unrelated()));
    let sources = format!(
        "[[source]]\nname = \"notizie\"\nkind = \"feed\"\nurl = \"{}\"\n{}",
        server.url("/feed"),
        cap_source(&server.url("/cap"))
    );
    let work = Workdir::new(
        &format!("{SETTINGS}\nquiet_hours = \"21:00-07:30\""),
        &sources,
    );
    // 23:00 in Rome.
    let night = chrono::DateTime::parse_from_rfc3339("2026-11-25T22:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = ManualClock::at(night);
    let config = banditore::config::Config::load(&work.config()).unwrap();
    let app =
        banditore::daemon::App::build(config, &work.path().join("data"), clock.clone()).unwrap();
    app.once().await.unwrap();
    server.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/b", "Avviso B"),
            ("a", "https://comune.example.it/a", "Avviso A"),
        ])),
    );
    server.set(
        "/cap",
        cap_route(Cap::alert("po-q", "Allerta notturna").xml()),
    );
    app.once().await.unwrap();
    let m = work.messages();
    assert_eq!(m.len(), 1, "only the urgent one at night: {m:?}");
    assert_eq!(m[0]["priority"], "urgent");
    // 08:00 in Rome: the news goes out.
    clock.advance(chrono::Duration::hours(9));
    app.once().await.unwrap();
    let m = work.messages();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1]["title"], "Avviso B");
}
