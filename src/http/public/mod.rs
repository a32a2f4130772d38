//! The citizens' page (`settings.public_listen`), separate from the admin UI: how to follow
//! the comune on WhatsApp (links and QR codes), the archive of every message that went to
//! citizens, the same messages as Atom and JSON feeds, a widget to embed, and a poster.
//!
//! Read only: nothing here writes the store or reaches the admin side, and no phone number of
//! a citizen is ever read. Server-rendered, assets embedded, no cookies, no scripts, no
//! external requests; a strict Content-Security-Policy on every answer.

mod feeds;
mod pages;
pub mod qr;
mod signup;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use crate::daemon::{App, AppCell};
use crate::store::{ArchiveEntry, ArchiveFilter, StoreError};
use pages::Way;

/// Messages on a page of the archive.
pub(crate) const PAGE: usize = 20;
/// Messages on the home page.
const LATEST: usize = 5;
/// Messages in the widget (its frame is small: the subscribe button stays in sight).
const WIDGET: usize = 3;

/// Every policy `default-src 'none'` starts from; pages may be framed only where said.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const CSP_WIDGET: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'";

/// The router of the citizens' page.
pub fn router(cell: AppCell) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/iscriviti", axum::routing::post(signup::signup))
        .route("/archivio", get(archive))
        .route("/archivio/{seq}", get(message))
        .route("/feed.xml", get(atom))
        .route("/feed.json", get(json_feed))
        .route("/qr/{file}", get(qr_code))
        .route("/widget", get(widget))
        .route("/manifesto", get(poster))
        .route("/public.css", get(css))
        .route("/logo", get(logo))
        .fallback(not_found)
        .layer(axum::Extension(std::sync::Arc::new(
            signup::Limits::default(),
        )))
        .layer(axum::middleware::from_fn(headers))
        .with_state(cell)
}

/// The security headers of every answer (a handler may have set its own CSP).
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("public, max-age=60"));
    response
}

/// A store failure: the page says so, the log says why.
pub(crate) fn trouble(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "citizens' page: cannot read the store");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CACHE_CONTROL, "no-store")],
        "Servizio momentaneamente non disponibile: riprova tra poco.",
    )
        .into_response()
}

pub(crate) fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// The ways to follow the comune: its Channel, its number, and its number for one topic
/// ("Solo: Allerte di protezione civile").
fn ways(app: &App) -> Vec<Way> {
    let config = app.config();
    let public = &config.settings.public;
    let mut out = Vec::new();
    if let Some(channel) = &public.channel_url {
        out.push(Way {
            name: "canale".into(),
            heading: "Il canale WhatsApp".into(),
            how: "Apri il canale e tocca «Segui»: ricevi gli avvisi negli Aggiornamenti, senza che nessuno veda il tuo numero.".into(),
            link: channel.to_string(),
            button: "Segui il canale WhatsApp".into(),
            alt: "Codice QR per seguire il canale WhatsApp del Comune".into(),
            stop: "Per smettere, nel canale tocca «Non seguire più».".into(),
        });
    }
    if let Some(number) = &public.whatsapp_number {
        out.push(Way {
            name: "numero".into(),
            heading: "Messaggi in chat dal numero del Comune".into(),
            how: "Scrivi ISCRIVIMI al numero del Comune: ricevi gli avvisi in una chat, come un messaggio.".into(),
            link: format!("https://wa.me/{}?text=ISCRIVIMI", number.as_str()),
            button: "Scrivi ISCRIVIMI su WhatsApp".into(),
            alt: "Codice QR per scrivere ISCRIVIMI al numero WhatsApp del Comune".into(),
            stop: "Per smettere, scrivi STOP.".into(),
        });
        for topic in &config.audience.topics {
            let word = topic
                .keywords
                .first()
                .map_or_else(|| topic.name.to_uppercase(), |k| k.to_uppercase());
            let text = format!("ISCRIVIMI {word}");
            let urgent = if topic.urgent {
                ""
            } else {
                " (e le allerte urgenti)"
            };
            out.push(Way {
                name: format!("solo-{}", topic.name),
                heading: format!("Solo: {}", topic.label),
                how: format!(
                    "Scrivi {text} al numero del Comune: ricevi in chat solo questo argomento, «{}»{urgent}.",
                    topic.label
                ),
                link: format!(
                    "https://wa.me/{}?text={}",
                    number.as_str(),
                    utf8_percent_encode(&text, NON_ALPHANUMERIC)
                ),
                button: format!("Scrivi {text} su WhatsApp"),
                alt: format!("Codice QR per ricevere solo: {}", topic.label),
                stop: format!("Per smettere, scrivi STOP {word} (o STOP per tutto)."),
            });
        }
    }
    out
}

/// Runs a store read off the runtime (a search reads the whole archive).
async fn read<T: Send + 'static>(
    app: App,
    f: impl FnOnce(&App) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(move || f(&app)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(trouble(e)),
        Err(e) => Err(trouble(e)),
    }
}

fn latest(app: &App, n: usize) -> Result<Vec<ArchiveEntry>, StoreError> {
    Ok(app.store().archive_page(&ArchiveFilter::default(), 0, n)?.0)
}

async fn home(State(cell): State<AppCell>) -> Response {
    let app = cell.get();
    let entries = match read(app.clone(), |app| latest(app, LATEST)).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let settings = &app.config().settings;
    let form = settings
        .public
        .signup
        .is_some()
        .then(|| signup::form(&settings.public, None, ""));
    html(pages::home(
        &settings.public,
        &ways(&app),
        form,
        &entries,
        settings.tz(),
    ))
}

#[derive(Deserialize, Default)]
struct ArchiveQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    categoria: String,
    #[serde(default)]
    mese: String,
    /// A string, so that `?pagina=abc` is page 1 rather than an error page.
    #[serde(default)]
    pagina: String,
}

/// `YYYY-MM`.
fn month(s: &str) -> Option<(i32, u32)> {
    let (y, m) = s.split_once('-')?;
    let (y, m) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some((y, m))
}

async fn archive(
    State(cell): State<AppCell>,
    query: Result<Query<ArchiveQuery>, QueryRejection>,
) -> Response {
    let app = cell.get();
    // A malformed query is an empty search, not an error page.
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let page = query
        .pagina
        .trim()
        .parse::<usize>()
        .unwrap_or(1)
        .clamp(1, 100_000);
    // A search of a few words; a longer text is cut, not refused.
    let q: String = query.q.chars().take(200).collect();
    let filter = ArchiveFilter {
        words: crate::text::fold(&q)
            .split_whitespace()
            .take(10)
            .map(str::to_owned)
            .collect(),
        category: Some(query.categoria.trim().to_owned()).filter(|c| !c.is_empty()),
        month: month(query.mese.trim()),
        tz: app.config().settings.tz(),
    };
    let tz = filter.tz;
    let found = read(app.clone(), move |app| {
        let (entries, more) = app.store().archive_page(&filter, (page - 1) * PAGE, PAGE)?;
        let facets = app.store().archive_facets(tz)?;
        Ok((entries, more, facets))
    })
    .await;
    let (entries, more, facets) = match found {
        Ok(f) => f,
        Err(r) => return r,
    };
    let search = pages::Search {
        q: &q,
        category: query.categoria.trim(),
        month: query.mese.trim(),
        page,
        more,
        categories: &facets.categories,
        months: &facets.months,
    };
    let settings = &app.config().settings;
    html(pages::archive(
        &settings.public,
        &entries,
        &search,
        settings.tz(),
    ))
}

async fn message(State(cell): State<AppCell>, Path(seq): Path<String>) -> Response {
    let app = cell.get();
    let Ok(seq) = seq.parse::<u64>() else {
        return not_found(State(cell)).await;
    };
    let found = read(app.clone(), move |app| {
        let store = app.store();
        let Some(entry) = store.archived(seq)? else {
            return Ok(None);
        };
        Ok(Some((entry, store.archive_story(seq)?)))
    })
    .await;
    match found {
        Ok(Some((entry, story))) => {
            let settings = &app.config().settings;
            html(pages::message(
                &settings.public,
                &entry,
                &story,
                settings.tz(),
            ))
        }
        Ok(None) => not_found(State(cell)).await,
        Err(r) => r,
    }
}

/// This page's address, ending in `/`: the configured one (`public.url`), else from the
/// request's `Host` (only when it parses as a host and port; `check` warns that a proxy's
/// own address may end up in the feeds).
fn base(app: &App, headers: &HeaderMap) -> String {
    if let Some(url) = &app.config().settings.public.url {
        let s = url.to_string();
        return if s.ends_with('/') { s } else { format!("{s}/") };
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255)
        // A host name or an IP address, with a port: parsed, not just filtered.
        .and_then(|h| url::Url::parse(&format!("http://{h}/")).ok())
        .filter(|u| u.path() == "/" && u.username().is_empty() && u.query().is_none())
        .map(|u| u.to_string());
    host.unwrap_or_else(|| "http://localhost/".to_owned())
}

/// A feed, or 304 when the reader has this version (`If-None-Match`, else
/// `If-Modified-Since`).
async fn feed(cell: AppCell, headers: HeaderMap, json: bool) -> Response {
    let app = cell.get();
    let found = read(app.clone(), |app| {
        Ok((latest(app, feeds::ENTRIES)?, app.store().archive_version()?))
    })
    .await;
    let (entries, version) = match found {
        Ok(f) => f,
        Err(r) => return r,
    };
    let public = &app.config().settings.public;
    let base = base(&app, &headers);
    // The feed also changes with what the configuration says of it (its title, its links).
    let etag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            &public.name,
            &public.site_url,
            &base,
            env!("CARGO_PKG_VERSION"),
        )
            .hash(&mut h);
        format!("\"{version}-{:x}\"", h.finish())
    };
    let newest = entries.first().map(|e| e.sent_at);
    let modified = newest.map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let fresh = match header_str(header::IF_NONE_MATCH) {
        Some(tags) => tags.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        }),
        // HTTP dates have whole seconds: the newest entry is older than the reader's copy
        // when its second is.
        None => match (header_str(header::IF_MODIFIED_SINCE), newest) {
            (Some(since), Some(newest)) => chrono::DateTime::parse_from_rfc2822(since)
                .is_ok_and(|since| newest.timestamp() <= since.timestamp()),
            _ => false,
        },
    };
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let (body, kind) = if json {
            (
                feeds::json(public, &base, &entries),
                "application/feed+json",
            )
        } else {
            (
                feeds::atom(public, &base, &entries),
                "application/atom+xml; charset=utf-8",
            )
        };
        ([(header::CONTENT_TYPE, kind)], body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = modified.and_then(|m| HeaderValue::from_str(&m).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    // Public data: a comune's app or a script on another site may read it.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if public.url.is_none() {
        h.insert(header::VARY, HeaderValue::from_static("Host"));
    }
    response
}

async fn atom(State(cell): State<AppCell>, headers: HeaderMap) -> Response {
    feed(cell, headers, false).await
}

async fn json_feed(State(cell): State<AppCell>, headers: HeaderMap) -> Response {
    feed(cell, headers, true).await
}

#[derive(Deserialize, Default)]
struct QrQuery {
    size: Option<String>,
}

/// `/qr/<name>.svg` and `/qr/<name>.png?size=…`.
async fn qr_code(
    State(cell): State<AppCell>,
    Path(file): Path<String>,
    query: Result<Query<QrQuery>, QueryRejection>,
) -> Response {
    let app = cell.get();
    let Some((name, ext)) = file.rsplit_once('.') else {
        return not_found(State(cell)).await;
    };
    let Some(way) = ways(&app).into_iter().find(|w| w.name == name) else {
        return not_found(State(cell)).await;
    };
    let long_cache = (header::CACHE_CONTROL, "public, max-age=3600");
    match ext {
        "svg" => match qr::svg(&way.link) {
            Some(svg) => {
                ([(header::CONTENT_TYPE, "image/svg+xml"), long_cache], svg).into_response()
            }
            None => trouble("the link does not fit a QR code"),
        },
        "png" => {
            let size = query
                .ok()
                .and_then(|Query(q)| q.size)
                .and_then(|s| s.trim().parse::<u32>().ok())
                .unwrap_or(600);
            match qr::png(&way.link, size) {
                Some(png) => {
                    ([(header::CONTENT_TYPE, "image/png"), long_cache], png).into_response()
                }
                None => trouble("the link does not fit a QR code"),
            }
        }
        _ => not_found(State(cell)).await,
    }
}

async fn widget(State(cell): State<AppCell>) -> Response {
    let app = cell.get();
    let entries = match read(app.clone(), |app| latest(app, WIDGET)).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let settings = &app.config().settings;
    let ways = ways(&app);
    let mut response = html(pages::widget(
        &settings.public,
        ways.first(),
        &entries,
        settings.tz(),
    ));
    // The one page a comune's site may frame.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP_WIDGET),
    );
    response
}

async fn poster(State(cell): State<AppCell>) -> Response {
    let app = cell.get();
    let ways = ways(&app);
    html(pages::poster(&app.config().settings.public, &ways))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        pages::CSS,
    )
        .into_response()
}

/// The comune's logo, from the file the configuration names (SVG, PNG, JPEG or WebP).
async fn logo(State(cell): State<AppCell>) -> Response {
    let app = cell.get();
    let Some(path) = app.config().settings.public.logo.clone() else {
        return not_found(State(cell)).await;
    };
    let kind = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => return not_found(State(cell)).await,
    };
    match tokio::fs::read(&path).await {
        // A logo is small; a file of another size is not what was meant.
        Ok(bytes) if bytes.len() <= 2 * 1024 * 1024 => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Ok(_) | Err(_) => {
            tracing::warn!(logo = %path.display(), "citizens' page: the logo cannot be read (or is over 2 MB)");
            not_found(State(cell)).await
        }
    }
}

pub(crate) async fn not_found(State(cell): State<AppCell>) -> Response {
    let app = cell.get();
    let mut response = html(pages::not_found(&app.config().settings.public));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
