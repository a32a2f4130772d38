//! `banditore demo`: the whole pipeline, offline. A small web server on 127.0.0.1 plays the
//! comune's website; banditore takes its baseline, the "comune" publishes a news item, and
//! the message banditore produces appears on the console (and in a file sink).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The simulated website.
struct Site {
    base: String,
    published: AtomicBool,
}

impl Site {
    fn feed(&self) -> (String, &'static str) {
        let published = self.published.load(Ordering::SeqCst);
        let item = if published { NEW_ITEM } else { "" };
        let body = COMUNE_FEED
            .replace("{new_item}", item)
            .replace("{base}", &self.base);
        (body, if published { "\"v2\"" } else { "\"v1\"" })
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
            (header::ETAG, etag),
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

/// Starts the simulated site on an ephemeral loopback port.
async fn serve_site() -> anyhow::Result<(Arc<Site>, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let site = Arc::new(Site {
        base: format!("http://{addr}"),
        published: AtomicBool::new(false),
    });
    let router = Router::new()
        .route("/feed/", get(comune_feed))
        .route("/notizie/{slug}/", get(news_page))
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

[[source]]
name = "borgo-esempio"
kind = "feed"
url = "http://{addr}/feed/"
every = "5m"
footer = "Comune di Borgo Esempio · canale ufficiale"

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
    println!("The comune's website is simulated at http://{addr}/ with three sources:");
    println!("  borgo-esempio         an Italian comune news feed (RSS, Italian dates)");
    println!("  il-messaggero         a real newspaper feed (Italian day and month names)");
    println!("  sito-in-manutenzione  a site that answers 503, to show failures are contained");
    println!();
    println!("1) First poll. A new source records what is already there and sends nothing:");
    let report = app.once().await?;
    for (name, outcome) in &report.polls {
        println!("   {name}: {}", describe(outcome));
    }
    println!();
    println!("2) The comune publishes a news item on its website. Next poll:");
    site.published.store(true, Ordering::SeqCst);
    println!();
    let report = app.once().await?;
    println!();
    for (name, outcome) in &report.polls {
        println!("   {name}: {}", describe(outcome));
    }
    println!(
        "   delivered: {} message(s) to each sink",
        report.delivery.sent / app.config().sinks.len().max(1)
    );
    println!();
    println!("3) Poll again (as after a restart): nothing is sent twice.");
    let report = app.once().await?;
    for (name, outcome) in &report.polls {
        println!("   {name}: {}", describe(outcome));
    }
    println!("   delivered: {}", report.delivery.sent);
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
