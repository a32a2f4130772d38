//! `banditore demo`: the whole pipeline, offline. A small web server on 127.0.0.1 plays the
//! comune's website; banditore takes its baseline, the "comune" publishes a news item, and
//! the message banditore produces appears on the console (and in a file sink).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::Config;
use crate::daemon::App;
use crate::pipeline::PollOutcome;
use crate::schedule::SystemClock;
use crate::simulator::Simulator;
use crate::sink::secret::Secrets;

const COMUNE_FEED: &str = include_str!("../fixtures/demo/comune-esempio.rss.xml");
const NEW_ITEM: &str = include_str!("../fixtures/demo/new-item.xml");
const MESSAGGERO_FEED: &str =
    include_str!("../fixtures/feeds/ilmessaggero_mondo_italian_dates.rss.xml");
const COMUNICATI: &str = include_str!("../fixtures/demo/comunicati.html");
const NEW_CARD: &str = include_str!("../fixtures/demo/new-card.html");
const COMUNICATO: &str = include_str!("../fixtures/demo/comunicato.html");
const CAP_TEMPLATE: &str = include_str!("../fixtures/demo/allerta.cap.xml");
const EVENTS_FEED: &str = include_str!("../fixtures/demo/eventi.rss.xml");
const NEW_EVENT: &str = include_str!("../fixtures/demo/new-event.xml");

/// What the simulated comune has published so far.
const STAGE_BASELINE: u8 = 0;
const STAGE_NEWS: u8 = 1;
const STAGE_ALERT: u8 = 2;
const STAGE_CANCEL: u8 = 3;

/// The simulated website.
struct Site {
    base: String,
    stage: AtomicU8,
    /// When the demo's alerts were issued, start and end (CAP form).
    sent: String,
    onset: String,
    expires: String,
}

impl Site {
    fn stage(&self) -> u8 {
        self.stage.load(Ordering::SeqCst)
    }

    fn feed(&self) -> (String, String) {
        let published = self.stage() >= STAGE_NEWS;
        let item = if published { NEW_ITEM } else { "" };
        let body = COMUNE_FEED
            .replace("{new_item}", item)
            .replace("{base}", &self.base);
        (body, format!("\"v{}\"", u8::from(published)))
    }

    fn cap(
        &self,
        id: &str,
        msg_type: &str,
        event: &str,
        headline: &str,
        references: &str,
    ) -> String {
        CAP_TEMPLATE
            .replace("{id}", id)
            .replace("{msg_type}", msg_type)
            .replace("{event}", event)
            .replace("{headline}", headline)
            .replace("{references}", references)
            .replace("{sent}", &self.sent)
            .replace("{onset}", &self.onset)
            .replace("{expires}", &self.expires)
            .replace("{base}", &self.base)
    }

    /// The civil protection's current alert document.
    fn alert(&self) -> String {
        const SENDER: &str = "protezionecivile@regione.esempio.it";
        match self.stage() {
            STAGE_ALERT => self.cap(
                "po-1",
                "Alert",
                "Piena fluviale",
                "Allerta arancione: piena del fiume Po",
                "",
            ),
            STAGE_CANCEL => self.cap(
                "po-2",
                "Cancel",
                "Piena fluviale",
                "Cessata allerta per la piena del fiume Po",
                &format!("<references>{SENDER},po-1,{}</references>", self.sent),
            ),
            _ => self.cap(
                "vento-1",
                "Alert",
                "Vento forte",
                "Allerta gialla: vento forte in collina",
                "",
            ),
        }
    }
}

async fn comune_feed(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    let (body, etag) = site.feed();
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/rss+xml; charset=UTF-8"),
            (header::ETAG, etag.as_str()),
        ],
        body,
    )
        .into_response()
}

async fn news_page(Path(slug): Path<String>) -> Html<String> {
    let slug = html_escape::encode_text(&slug);
    Html(format!(
        "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\"><title>{slug}</title></head>\
         <body><h1>Comune di Borgo Esempio</h1><p>Pagina della notizia «{slug}».</p></body></html>"
    ))
}

async fn eventi(State(site): State<Arc<Site>>) -> Response {
    let item = if site.stage() >= STAGE_NEWS {
        NEW_EVENT
    } else {
        ""
    };
    let body = EVENTS_FEED
        .replace("{new_item}", item)
        .replace("{base}", &site.base);
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=UTF-8")],
        body,
    )
        .into_response()
}

async fn comunicati(State(site): State<Arc<Site>>) -> Html<String> {
    let card = if site.stage() >= STAGE_NEWS {
        NEW_CARD
    } else {
        ""
    };
    Html(COMUNICATI.replace("{new_card}", card))
}

async fn allerta(State(site): State<Arc<Site>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/cap+xml")],
        site.alert(),
    )
        .into_response()
}

/// Starts the simulated site on an ephemeral loopback port.
async fn serve_site() -> anyhow::Result<(Arc<Site>, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let cap_time =
        |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let now = chrono::Utc::now();
    let site = Arc::new(Site {
        base: format!("http://{addr}"),
        stage: AtomicU8::new(STAGE_BASELINE),
        sent: cap_time(now - chrono::Duration::minutes(10)),
        onset: cap_time(now),
        expires: cap_time(now + chrono::Duration::hours(36)),
    });
    let router = Router::new()
        .route("/feed/", get(comune_feed))
        .route("/notizie/{slug}/", get(news_page))
        .route("/comunicati/", get(comunicati))
        .route("/eventi/feed/", get(eventi))
        .route(
            "/comunicati/illuminazione-led-via-garibaldi/",
            get(|| async { Html(COMUNICATO) }),
        )
        .route("/allerte/regione.cap.xml", get(allerta))
        .route(
            "/messaggero/rss.xml",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/rss+xml")],
                    MESSAGGERO_FEED,
                )
            }),
        )
        .route(
            "/guasto/feed/",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "manutenzione in corso") }),
        )
        .with_state(site.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "demo site stopped");
        }
    });
    Ok((site, addr))
}

fn demo_config(addr: SocketAddr, sim: SocketAddr, out: &std::path::Path) -> String {
    format!(
        r#"[settings]
timezone = "Europe/Rome"
location = {{ lat = 45.133, lon = 10.027 }}

[[source]]
name = "borgo-esempio"
kind = "feed"
url = "http://{addr}/feed/"
every = "5m"
footer = "Comune di Borgo Esempio · canale ufficiale"

[[source]]
name = "borgo-comunicati"
kind = "page"
url = "http://{addr}/comunicati/"
preset = "design-comuni"
every = "15m"

[[source]]
name = "protezione-civile"
kind = "cap"
url = "http://{addr}/allerte/regione.cap.xml"
every = "1m"

[[source]]
name = "borgo-eventi"
kind = "feed"
url = "http://{addr}/eventi/feed/"
every = "15m"
forward = "review"

[[source]]
name = "il-messaggero"
kind = "feed"
url = "http://{addr}/messaggero/rss.xml"
every = "15m"

[[source]]
name = "sito-in-manutenzione"
kind = "feed"
url = "http://{addr}/guasto/feed/"
every = "5m"

[[sink]]
name = "console"
kind = "console"

[[sink]]
name = "archivio"
kind = "file"
path = "{}"

[[sink]]
name = "whatsapp"
kind = "whatsapp-cloud"
api_base = "http://{sim}"
api_version = "v23.0"
phone_number_id = "100000000000001"
token_env = "DEMO_WHATSAPP_TOKEN"
app_secret_env = "DEMO_WHATSAPP_APP_SECRET"
verify_token_env = "DEMO_WHATSAPP_VERIFY_TOKEN"
template = {{ name = "notizia_comune", language = "it" }}
messages_per_second = 20

[[sink]]
name = "canale"
kind = "whatsapp-gateway"
api_base = "http://{sim}"
session = "default"
chat_id = "120363000000000000@newsletter"
hmac_key_env = "DEMO_WAHA_HMAC"
"#,
        out.display()
    )
}

/// The demo's secrets: fixed values, never the process environment.
fn demo_secrets() -> Secrets {
    Secrets::Fixed(
        [
            ("DEMO_WHATSAPP_TOKEN", "demo-token"),
            ("DEMO_WHATSAPP_APP_SECRET", DEMO_APP_SECRET),
            ("DEMO_WHATSAPP_VERIFY_TOKEN", "demo-verify"),
            ("DEMO_WAHA_HMAC", "demo-waha-hmac"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    )
}

const DEMO_APP_SECRET: &str = "demo-app-secret";
const CITIZEN: &str = "393401234567";

/// Posts a webhook event signed the way Meta signs them.
async fn meta_webhook(url: &str, event: serde_json::Value) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&event)?;
    let signature = crate::sink::secret::hmac_sha256_hex(DEMO_APP_SECRET.as_bytes(), &body);
    let status = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", format!("sha256={signature}"))
        .body(body)
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "webhook answered {status}");
    Ok(())
}

fn whatsapp_value(inner: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "DEMO", "changes": [{"field": "messages", "value": inner}]}]})
}

fn show_simulator(sim: &Simulator) {
    for e in sim.take_events() {
        println!("   → {}: {} to {} ({})", e.api, e.kind, e.to, e.id);
    }
}

fn describe(outcome: &Result<PollOutcome, crate::pipeline::PollError>) -> String {
    match outcome {
        Ok(PollOutcome::Baseline { items }) => format!(
            "first poll, {items} items already published recorded as baseline: nothing sent"
        ),
        Ok(PollOutcome::NotModified) => "unchanged (304 Not Modified): nothing sent".into(),
        Ok(PollOutcome::Checked { items, queued }) => format!("{items} items, {queued} new"),
        Err(e) => format!("FAILED ({e}); retried later with back-off, the other sources go on"),
    }
}

fn report(report: &crate::daemon::CycleReport, app: &App) {
    println!();
    for (name, outcome) in &report.polls {
        println!("   {name}: {}", describe(outcome));
    }
    let messages = report.delivery.sent / app.config().sinks.len().max(1);
    println!("   delivered: {messages} message(s) to each sink");
}

/// Runs the demonstration. With `exit`, returns when the scenario is over; otherwise keeps
/// the admin UI (and the polling) running until Ctrl-C.
pub async fn run(exit: bool) -> anyhow::Result<()> {
    let (site, addr) = serve_site().await?;
    let dir: PathBuf = std::env::temp_dir().join(format!("banditore-demo-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).ok();
    }
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("messages.jsonl");
    let sim = Simulator::start().await?;
    let config_text = demo_config(addr, sim.addr, &out);
    let config =
        Config::parse(&config_text).map_err(|p| anyhow::anyhow!("demo configuration: {p:?}"))?;
    let app = App::build_with(
        config,
        &dir.join("data"),
        Arc::new(SystemClock),
        &demo_secrets(),
    )
    .context("demo")?;
    let hooks = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hooks_url = format!("http://{}/webhooks/whatsapp/whatsapp", hooks.local_addr()?);
    let router = crate::http::webhooks::router(crate::daemon::AppCell::new(app.clone()));
    tokio::spawn(async move { axum::serve(hooks, router).await });
    app.check_sinks().await;

    println!("banditore demo: everything runs on this machine; nothing leaves 127.0.0.1.");
    println!("The comune of Borgo Esempio is simulated at http://{addr}/ with six sources:");
    println!("  borgo-esempio         the comune's news feed (RSS, Italian dates)");
    println!("  borgo-comunicati      its press releases, a Design Comuni page without a feed");
    println!("  borgo-eventi          its events, which an editor reviews before they are sent");
    println!("  protezione-civile     the regional civil protection's CAP alerts");
    println!("  il-messaggero         a real newspaper feed (Italian day and month names)");
    println!("  sito-in-manutenzione  a site that answers 503, to show failures are contained");
    println!();
    println!(
        "WhatsApp is simulated too, at http://{}/: a Cloud API (to subscribers) and a",
        sim.addr
    );
    println!("channel gateway (to the comune's WhatsApp Channel).");
    println!();
    println!("1) First poll. A new source records what is already there and sends nothing:");
    report(&app.once().await?, &app);
    println!();
    println!(
        "   A citizen writes \"ISCRIVIMI\" to the comune's WhatsApp number (a signed webhook):"
    );
    meta_webhook(
        &hooks_url,
        whatsapp_value(serde_json::json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "390000000000", "phone_number_id": "100000000000001"},
            "messages": [{"from": CITIZEN, "id": "wamid.DEMOIN1", "timestamp": "1764072000", "type": "text", "text": {"body": "Iscrivimi"}}]
        })),
    )
    .await?;
    println!(
        "   subscribed, consent recorded ({} subscriber); banditore confirms:",
        app.store().subscriber_count()
    );
    show_simulator(&sim);
    println!();
    println!("2) The comune publishes a news item, a press release and an event. Next poll");
    println!("   (the event waits for an editor's review):");
    site.stage.store(STAGE_NEWS, Ordering::SeqCst);
    report(&app.once().await?, &app);
    let sent: Vec<_> = sim.take_events();
    for e in &sent {
        println!("   → {}: {} to {} ({})", e.api, e.kind, e.to, e.id);
    }
    // WhatsApp reports what happened to each message: delivered, then read.
    let statuses: Vec<serde_json::Value> = sent
        .iter()
        .filter(|e| e.to == CITIZEN)
        .flat_map(|e| {
            ["delivered", "read"].map(|status| {
                serde_json::json!({"id": e.id, "status": status, "timestamp": "1764072100", "recipient_id": CITIZEN})
            })
        })
        .collect();
    meta_webhook(
        &hooks_url,
        whatsapp_value(serde_json::json!({"messaging_product": "whatsapp", "metadata": {"display_phone_number": "390000000000", "phone_number_id": "100000000000001"}, "statuses": statuses})),
    )
    .await?;
    println!("   the citizen's phone reports \"delivered\", then \"read\" (status webhooks)");
    println!();
    println!(
        "3) The civil protection issues a flood alert for the comune's area (urgent, sent first):"
    );
    site.stage.store(STAGE_ALERT, Ordering::SeqCst);
    report(&app.once().await?, &app);
    show_simulator(&sim);
    println!();
    println!("4) The alert is cancelled; the cancellation refers to the alert that was sent:");
    site.stage.store(STAGE_CANCEL, Ordering::SeqCst);
    report(&app.once().await?, &app);
    show_simulator(&sim);
    println!();
    println!("5) Poll again (as after a restart): nothing is sent twice.");
    report(&app.once().await?, &app);
    println!();
    println!("Delivery state per message and sink (as `banditore log` shows it):");
    for line in crate::report::log(app.store(), app.config(), 10)?.lines() {
        println!("   {line}");
    }
    println!();
    println!("The file sink wrote the message JSON to {}:", out.display());
    if let Ok(text) = std::fs::read_to_string(&out) {
        for line in text.lines() {
            println!("   {line}");
        }
    }
    println!();
    println!("Next: edit sources.toml (the example sends to a file only), then");
    println!("   banditore check      validate it");
    println!("   banditore once       one cycle (the first records a baseline)");
    println!("   banditore run        the daemon");
    if exit {
        return Ok(());
    }
    serve_admin(app).await
}

/// Serves the admin UI on loopback with a one-off token until Ctrl-C, the loops running too.
async fn serve_admin(app: App) -> anyhow::Result<()> {
    let token = hex::encode(rand::random::<[u8; 12]>());
    let cell = crate::daemon::AppCell::new(app.clone());
    let admin = crate::http::admin::Admin::with_token(
        cell,
        None,
        Some(crate::sink::secret::Secret::new(token.clone())),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    let serve_stop = stop.clone();
    let router =
        crate::http::admin::router(admin).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { serve_stop.cancelled().await })
            .await
    });
    let loops = tokio::spawn({
        let stop = stop.clone();
        async move { app.run_loops(stop).await }
    });
    println!();
    println!("The admin UI is open: {url}");
    println!("   log in with the token {token}");
    println!(
        "   \"Da approvare\": the event waiting for review; \"Fonti\": the sources, one failing;"
    );
    println!("   \"Inviati\": what was sent, per sink and recipient.");
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    stop.cancel();
    let _ = server.await;
    let _ = loops.await;
    Ok(())
}
