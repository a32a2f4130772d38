//! Topics and zones (`[[topic]]`, `[[zone]]`) end to end: citizens choose by keyword on the
//! signed webhook ("ISCRIVIMI ALLERTE", "STOP EVENTI", "ISCRIVIMI SAN ROCCO", "ARGOMENTI"),
//! each change is kept with their words, the broadcast sends each message only to the
//! subscribers of its topics and zones (an urgent one to everyone), and `subscribers export`
//! and `import` carry the choices.

#[path = "common/cloud.rs"]
mod cloud;
mod common;
#[path = "common/providers.rs"]
mod providers;

use std::collections::HashMap;
use std::sync::Arc;

use banditore::daemon::{App, AppCell};
use banditore::phone::Phone;
use banditore::sink::secret::{hmac_sha256_hex, Secrets};
use cloud::cloud_sink;
use common::{rss, source, FeedServer, Route, Workdir};
use providers::MockCloud;
use serde_json::json;

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");

const AUDIENCE: &str = r#"
[[topic]]
name = "allerte"
label = "Allerte di protezione civile"
keywords = ["ALLERTE", "PROTEZIONE CIVILE"]
sources = ["protezione-civile"]
urgent = true

[[topic]]
name = "eventi"
label = "Eventi e manifestazioni"
keywords = ["EVENTI"]
sources = ["eventi"]

[[zone]]
name = "san-rocco"
label = "San Rocco"
words = ["San Rocco"]
"#;

/// The three sources and the topics and zone.
fn sources(feeds: &FeedServer) -> String {
    format!(
        "{}{}{}{AUDIENCE}",
        source("comune", &feeds.url("/feed"), ""),
        source("eventi", &feeds.url("/eventi"), ""),
        source(
            "protezione-civile",
            &feeds.url("/allerte"),
            "priority = \"urgent\""
        ),
    )
}

struct Town {
    feeds: FeedServer,
    cloud: MockCloud,
    /// Holds the configuration and the store while the test runs.
    _work: Workdir,
    app: App,
    hooks: std::net::SocketAddr,
}

/// Three sources (news, events, the civil protection's urgent feed), the topics and zone
/// above, a Cloud API sink on a mock, the baseline taken, the webhook served.
async fn town() -> Town {
    let feeds = FeedServer::start().await;
    for path in ["/feed", "/eventi", "/allerte"] {
        feeds.set(path, Route::feed(rss(&[A])));
    }
    let (cloud, addr) = MockCloud::start().await;
    let sources = sources(&feeds);
    let work = Workdir::with_sinks(
        "public = { name = \"Comune di Prova\", privacy_url = \"https://comune.example.it/privacy\", min_age = 16, whatsapp_number = \"+39 0372 000000\" }",
        &sources,
        &cloud_sink(addr, "messages_per_second = 80"),
    );
    let config = banditore::config::Config::load(&work.config()).unwrap();
    let secrets = Secrets::Fixed(HashMap::from(
        [
            ("WHATSAPP_TOKEN", "test-token-EAAG"),
            ("WHATSAPP_APP_SECRET", "app-secret"),
            ("WHATSAPP_VERIFY_TOKEN", "verify-me"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    ));
    let app = App::build_with(
        config,
        &work.path().join("data"),
        Arc::new(banditore::schedule::SystemClock),
        &secrets,
    )
    .unwrap();
    app.once().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks = listener.local_addr().unwrap();
    let router = banditore::http::webhooks::router(AppCell::new(app.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await });
    Town {
        feeds,
        cloud,
        _work: work,
        app,
        hooks,
    }
}

impl Town {
    /// A citizen writes `text` (a signed webhook); returns banditore's reply.
    async fn writes(&self, from: &str, text: &str, n: u32) -> String {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "390000000000", "phone_number_id": "123456789012345"},
            "messages": [{"from": from, "id": format!("wamid.IN{from}{n}"), "timestamp": (1_764_072_000 + n).to_string(), "type": "text", "text": {"body": text}}]}}]}]});
        let raw = serde_json::to_vec(&body).unwrap();
        let before = self.cloud.sends_to(from).len();
        let status = reqwest::Client::new()
            .post(format!("http://{}/webhooks/whatsapp/wa", self.hooks))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                format!("sha256={}", hmac_sha256_hex(b"app-secret", &raw)),
            )
            .body(raw)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        let sent = self.cloud.sends_to(from);
        assert_eq!(sent.len(), before + 1, "one reply to {text:?}");
        sent[before]["text"]["body"].as_str().unwrap().to_owned()
    }

    /// Each source publishes `items` (path, (guid, link, title)) and one cycle runs.
    async fn publish(&self, items: &[(&str, (&str, &str, &str))]) {
        for (path, item) in items {
            self.feeds.set(path, Route::feed(rss(&[*item, A])));
        }
        self.app.once().await.unwrap();
    }

    /// The titles a number received (after its replies).
    fn received(&self, phone: &str) -> Vec<String> {
        self.cloud
            .sends_to(phone)
            .iter()
            .filter_map(|b| b["text"]["body"].as_str())
            .filter(|t| t.starts_with('*'))
            .map(|t| {
                t.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_matches('*')
                    .to_owned()
            })
            .collect()
    }
}

const EVERYTHING: &str = "393401000001";
const ALERTS: &str = "393401000002";
const NO_EVENTS: &str = "393401000003";
const SAN_ROCCO: &str = "393401000004";

#[tokio::test]
async fn each_message_reaches_exactly_the_subscribers_of_its_topics_and_zones() {
    let town = town().await;
    let welcome = town.writes(EVERYTHING, "Iscrivimi", 1).await;
    assert!(
        welcome.starts_with("Iscrizione confermata al canale ufficiale di Comune di Prova: riceverai qui tutte le comunicazioni ufficiali."),
        "{welcome}"
    );
    assert!(welcome.contains("ARGOMENTI"), "{welcome}");
    assert!(welcome.contains("almeno 16 anni"), "{welcome}");
    assert!(
        welcome.contains("https://comune.example.it/privacy"),
        "{welcome}"
    );
    let alerts = town.writes(ALERTS, "iscrivimi allerte", 1).await;
    assert!(
        alerts.contains("riceverai qui le comunicazioni su: Allerte di protezione civile"),
        "{alerts}"
    );
    town.writes(NO_EVENTS, "ISCRIVIMI", 1).await;
    let changed = town.writes(NO_EVENTS, "Stop eventi", 2).await;
    assert!(
        changed.contains("tranne: Eventi e manifestazioni"),
        "{changed}"
    );
    town.writes(SAN_ROCCO, "ISCRIVIMI", 1).await;
    let zoned = town.writes(SAN_ROCCO, "ISCRIVIMI SAN ROCCO", 2).await;
    assert!(zoned.contains("solo quelle di: San Rocco"), "{zoned}");
    let list = town.writes(ALERTS, "ARGOMENTI", 2).await;
    assert!(
        list.contains("• Eventi e manifestazioni: scrivi ISCRIVIMI EVENTI"),
        "{list}"
    );

    town.publish(&[
        (
            "/feed",
            ("n1", "https://comune.example.it/n/1/", "Mercato in piazza"),
        ),
        (
            "/eventi",
            ("e1", "https://comune.example.it/e/1/", "Concerto in piazza"),
        ),
    ])
    .await;
    town.publish(&[(
        "/feed",
        (
            "n2",
            "https://comune.example.it/n/2/",
            "Acqua sospesa in via San Rocco",
        ),
    )])
    .await;
    town.publish(&[(
        "/allerte",
        ("u1", "https://comune.example.it/u/1/", "Allerta arancione"),
    )])
    .await;
    let titles = |phone| {
        let mut t = town.received(phone);
        t.sort();
        t
    };
    assert_eq!(
        titles(EVERYTHING),
        [
            "Acqua sospesa in via San Rocco",
            "Allerta arancione",
            "Concerto in piazza",
            "Mercato in piazza"
        ]
    );
    assert_eq!(titles(ALERTS), ["Allerta arancione"], "alerts only");
    assert_eq!(
        titles(NO_EVENTS),
        [
            "Acqua sospesa in via San Rocco",
            "Allerta arancione",
            "Mercato in piazza"
        ]
    );
    assert_eq!(
        titles(SAN_ROCCO),
        [
            "Acqua sospesa in via San Rocco",
            "Allerta arancione",
            "Concerto in piazza",
            "Mercato in piazza"
        ],
        "news of no zone and of their zone"
    );
    // Each change is kept with the citizen's words.
    let record = town
        .app
        .store()
        .subscriber(&Phone::international(NO_EVENTS).unwrap())
        .unwrap()
        .unwrap();
    let change = record.selection.changes.last().unwrap();
    assert_eq!(change.wrote, "Stop eventi");
    assert_eq!(change.now, "tutto tranne eventi");
    assert!(
        record
            .consent_text
            .contains("answered: \"Iscrizione confermata"),
        "{}",
        record.consent_text
    );
    // The admins see how many chose what, never a number.
    let admin = banditore::http::admin::Admin::with_token(
        AppCell::new(town.app.clone()),
        None,
        Some(banditore::sink::secret::Secret::new("tok-admin".into())),
    );
    let web = common::admin::serve(admin).await;
    let cookie = web.admin().await;
    let page = web.page("/subscribers", &cookie).await;
    assert!(
        page.contains("<td>Allerte di protezione civile</td><td>4</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td>Eventi e manifestazioni</td><td>2</td>"),
        "{page}"
    );
    assert!(page.contains("<td>San Rocco</td><td>1</td>"), "{page}");
    assert!(!page.contains("39340100000"), "no number on the page");
    // Stopping the only topic chosen is stopping.
    let gone = town.writes(ALERTS, "ALLERTE OFF", 3).await;
    assert!(
        gone.starts_with("Fatto: non riceverai più messaggi"),
        "{gone}"
    );
    assert!(town
        .app
        .store()
        .subscriber(&Phone::international(ALERTS).unwrap())
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn export_and_import_carry_topics_and_zones() {
    let town = town().await;
    town.writes(ALERTS, "ISCRIVIMI ALLERTE", 1).await;
    town.writes(SAN_ROCCO, "ISCRIVIMI SAN ROCCO", 1).await;
    town.writes(NO_EVENTS, "ISCRIVIMI", 1).await;
    town.writes(NO_EVENTS, "STOP ALLERTE", 2).await;
    // (The store is held by the application in this process: exported from here.)
    let mut exported = Vec::new();
    banditore::subscribers::export(town.app.store(), &mut exported).unwrap();
    let csv = String::from_utf8(exported).unwrap();
    assert!(
        csv.starts_with("phone,consented_at,consent_text,topics,zones,stopped\n"),
        "{csv}"
    );
    assert!(csv.contains(",allerte,,\n"), "{csv}");
    assert!(csv.contains(",,san-rocco,\n"), "{csv}");
    assert!(
        csv.contains(",,,allerte\n"),
        "a topic stopped is kept: {csv}"
    );
    // Into another comune's store with the same topics: the same choices.
    let other = Workdir::new("", &sources(&town.feeds));
    let file = other.path().join("iscritti.csv");
    std::fs::write(&file, &csv).unwrap();
    let out = other
        .run(&["subscribers", "import", file.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{out:?}");
    let again = other.run(&["subscribers", "export"]).await;
    assert_eq!(String::from_utf8_lossy(&again.stdout), csv);
    // A topic the configuration does not have is refused.
    std::fs::write(
        &file,
        "phone,consented_at,consent_text,topics\n393409999999,2025-01-01T10:00:00Z,modulo,calcio\n",
    )
    .unwrap();
    let out = other
        .run(&["subscribers", "import", file.to_str().unwrap()])
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("calcio"),
        "{out:?}"
    );
}

#[tokio::test]
async fn the_citizens_page_has_a_link_and_a_qr_code_per_topic() {
    let town = town().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = banditore::http::public::router(AppCell::new(town.app.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let home = reqwest::get(format!("http://{addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("Solo: Allerte di protezione civile"),
        "{home}"
    );
    assert!(
        home.contains("https://wa.me/390372000000?text=ISCRIVIMI%20ALLERTE"),
        "{home}"
    );
    assert!(
        home.contains("scrivi STOP EVENTI (o STOP per tutto)"),
        "{home}"
    );
    let qr = reqwest::get(format!("http://{addr}/qr/solo-eventi.svg"))
        .await
        .unwrap();
    assert_eq!(qr.status(), 200);
    assert!(qr.text().await.unwrap().contains("<svg"));
}

#[tokio::test]
async fn iscrivimi_means_everything_and_an_unknown_topic_gets_the_list() {
    let town = town().await;
    town.writes(ALERTS, "ISCRIVIMI ALLERTE", 1).await;
    let all = town.writes(ALERTS, "Iscrivimi", 2).await;
    assert!(
        all.starts_with("Fatto: ora ricevi tutte le comunicazioni ufficiali"),
        "{all}"
    );
    let list = town.writes(EVERYTHING, "iscrivimi calcio", 1).await;
    assert!(list.starts_with("Puoi scegliere cosa ricevere"), "{list}");
    let topic = town.writes(EVERYTHING, "Iscrivimi alle allerte", 2).await;
    assert!(topic.contains("Allerte di protezione civile"), "{topic}");
}
