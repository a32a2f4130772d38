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

use crate::app::{App, PollOutcome};
use crate::config::Config;
use crate::schedule::SystemClock;

const COMUNE_FEED: &str = include_str!("../fixtures/demo/comune-esempio.rss.xml");
const NEW_ITEM: &str = include_str!("../fixtures/demo/new-item.xml");
const MESSAGGERO_FEED: &str =
    include_str!("../fixtures/feeds/ilmessaggero_mondo_italian_dates.rss.xml");
const COMUNICATI: &str = include_str!("../fixtures/demo/comunicati.html");
const NEW_CARD: &str = include_str!("../fixtures/demo/new-card.html");
const COMUNICATO: &str = include_str!("../fixtures/demo/comunicato.html");
const CAP_TEMPLATE: &str = include_str!("../fixtures/demo/allerta.cap.xml");

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

fn demo_config(addr: SocketAddr, out: &std::path::Path) -> String {
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
"#,
        out.display()
    )
}

fn describe(outcome: &Result<PollOutcome, String>) -> String {
    match outcome {
        Ok(PollOutcome::Baseline { items }) => format!(
            "first poll, {items} items already published recorded as baseline: nothing sent"
        ),
        Ok(PollOutcome::NotModified) => "unchanged (304 Not Modified): nothing sent".into(),
        Ok(PollOutcome::Checked { items, queued }) => format!("{items} items, {queued} new"),
        Err(e) => format!("FAILED ({e}); retried later with back-off, the other sources go on"),
    }
}

fn report(report: &crate::app::CycleReport, app: &App) {
    println!();
    for (name, outcome) in &report.polls {
        println!("   {name}: {}", describe(outcome));
    }
    let per_sink = report.delivery.sent / app.config().sinks.len().max(1);
    println!("   delivered: {per_sink} message(s) to each sink");
}

/// Runs the demonstration and returns when it is over.
pub async fn run() -> anyhow::Result<()> {
    let (site, addr) = serve_site().await?;
    let dir: PathBuf = std::env::temp_dir().join(format!("banditore-demo-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).ok();
    }
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("messages.jsonl");
    let config_text = demo_config(addr, &out);
    let config =
        Config::parse(&config_text).map_err(|p| anyhow::anyhow!("demo configuration: {p:?}"))?;
    let app = App::build(config, &dir.join("data"), Arc::new(SystemClock)).context("demo")?;

    println!("banditore demo: everything runs on this machine; nothing leaves 127.0.0.1.");
    println!("The comune of Borgo Esempio is simulated at http://{addr}/ with five sources:");
    println!("  borgo-esempio         the comune's news feed (RSS, Italian dates)");
    println!("  borgo-comunicati      its press releases, a Design Comuni page without a feed");
    println!("  protezione-civile     the regional civil protection's CAP alerts");
    println!("  il-messaggero         a real newspaper feed (Italian day and month names)");
    println!("  sito-in-manutenzione  a site that answers 503, to show failures are contained");
    println!();
    println!("1) First poll. A new source records what is already there and sends nothing:");
    report(&app.once().await?, &app);
    println!();
    println!("2) The comune publishes a news item and a press release. Next poll:");
    site.stage.store(STAGE_NEWS, Ordering::SeqCst);
    report(&app.once().await?, &app);
    println!();
    println!(
        "3) The civil protection issues a flood alert for the comune's area (urgent, sent first):"
    );
    site.stage.store(STAGE_ALERT, Ordering::SeqCst);
    report(&app.once().await?, &app);
    println!();
    println!("4) The alert is cancelled; the cancellation refers to the alert that was sent:");
    site.stage.store(STAGE_CANCEL, Ordering::SeqCst);
    report(&app.once().await?, &app);
    println!();
    println!("5) Poll again (as after a restart): nothing is sent twice.");
    report(&app.once().await?, &app);
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
    Ok(())
}
