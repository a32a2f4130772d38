//! Detection for the admin UI's "add a source": what kind of source an address is (feed
//! autodiscovery, CAP, INGV, page templates) and what it would send now.
//!
//! No SSRF: unless `allow_private_sources` is set, an address that resolves to loopback,
//! private, link-local or otherwise non-public space is refused, the connection is pinned to
//! the address that was checked, and redirects are not followed. Network failures are told in
//! Italian (`fetch::network_words`); the English reason goes to the log.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use crate::config::{KindSettings, Preset, Settings, SourceConfig, SourceKind};
use crate::fetch::network_words as network;
use crate::item::Message;

const MAX_BODY: usize = 5 * 1024 * 1024;

/// What detection found at an address.
pub struct Detected {
    pub url: Url,
    pub kind: SourceKind,
    pub preset: Option<Preset>,
    pub note: String,
    pub messages: Vec<Message>,
}

pub use crate::netguard::is_public;

/// Resolves the host and checks every address; returns the one to connect to.
pub(super) async fn checked_address(url: &Url, allow_private: bool) -> Result<SocketAddr, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("solo indirizzi http:// o https://".into());
    }
    let host = url.host_str().ok_or("indirizzo senza host")?;
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("{host}: {}", network(&e.to_string(), false)))?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| format!("{host}: nessun indirizzo"))?;
    if !allow_private {
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(format!(
                "{host} porta a un indirizzo non pubblico ({}): per sicurezza non è permesso da qui",
                bad.ip()
            ));
        }
    }
    Ok(first)
}

/// [`checked_address`] with the running configuration's `allow_private_sources`.
pub async fn check_address(url: &Url, app: &crate::daemon::App) -> Result<(), String> {
    checked_address(url, app.config().settings.allow_private_sources)
        .await
        .map(|_| ())
}

/// Fetches a document for detection: checked address, no redirects, size cap.
async fn fetch(
    url: &Url,
    allow_private: bool,
    user_agent: &str,
) -> Result<(Vec<u8>, Option<String>), String> {
    let addr = checked_address(url, allow_private).await?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| {
            tracing::error!(error = %e, "cannot build the detection client");
            "errore interno: il motivo è nel registro del server".to_owned()
        })?;
    let mut resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("non risponde: {}", network_error(&e)))?;
    if resp.status().is_redirection() {
        let to = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("?");
        return Err(format!(
            "l'indirizzo rimanda a {to}: inserisci direttamente quello"
        ));
    }
    if !resp.status().is_success() {
        return Err(crate::fetch::FetchError::Status {
            status: resp.status().as_u16(),
        }
        .italian());
    }
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("la risposta si è interrotta: {}", network_error(&e)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err("il documento è troppo grande".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, content_type))
}

/// A request's failure in Italian (the English reason only in the log).
fn network_error(e: &reqwest::Error) -> &'static str {
    let detail = crate::fetch::root_cause(e);
    tracing::info!(error = %detail, "detection: the address does not answer");
    network(&detail, e.is_timeout())
}

/// Finds what kind of source an address is, and what it would send. `allow_private` lifts the
/// SSRF guard (the command line, run by the server's own admin, may add local sources).
pub async fn detect(
    settings: &Settings,
    url: Url,
    allow_private: bool,
) -> Result<Detected, String> {
    let allow = allow_private || settings.allow_private_sources;
    let ua = settings.user_agent();
    let tz = settings.tz();
    let (body, content_type) = fetch(&url, allow, &ua).await?;
    let text = crate::charset::decode(&body, content_type.as_deref());
    let mut kind = crate::source::detect_kind(&text);
    let (mut url, mut body, mut content_type, mut note, mut preset) =
        (url, body, content_type, String::new(), None);
    if kind == SourceKind::Page {
        if let Some(feed) = crate::source::feed::discover_feed(&text, Some(&url)) {
            let (feed_body, feed_type) = fetch(&feed, allow, &ua).await?;
            note = format!("La pagina indica il suo feed ({feed}): banditore userà quello.");
            url = feed;
            body = feed_body;
            content_type = feed_type;
            kind = SourceKind::Feed;
        } else {
            let mut ctx = crate::source::ParseContext::new(Some(url.clone()), tz);
            for candidate in [Preset::DesignComuni, Preset::Wordpress, Preset::Auto] {
                ctx.page = crate::source::page::PageRules::new(candidate, None);
                if crate::source::page::parse_listing(&text, &ctx)
                    .is_ok_and(|items| !items.is_empty())
                {
                    preset = Some(candidate);
                    break;
                }
            }
            note = match preset {
                Some(Preset::DesignComuni) => {
                    "Pagina senza feed, modello Design Comuni Italia.".into()
                }
                Some(Preset::Wordpress) => "Pagina senza feed, modello WordPress.".into(),
                _ => "Pagina senza feed: banditore cercherà i link alle notizie da solo.".into(),
            };
        }
    }
    if kind == SourceKind::Quake {
        note = if settings.location.is_some() {
            "Terremoti dell'INGV: banditore inoltra solo quelli abbastanza vicini e forti (raggio e magnitudo qui sotto).".into()
        } else {
            "Terremoti dell'INGV: per salvare questa fonte serve la posizione del comune (location in [settings] del file di configurazione), da cui si misura la distanza. Ora manca.".into()
        };
    }
    let mut src = SourceConfig::adhoc("anteprima", kind, url.clone());
    if let (Some(p), KindSettings::Page { preset, .. }) = (preset, &mut src.settings) {
        *preset = p;
    }
    let preview = crate::pipeline::preview::preview(
        &body,
        content_type.as_deref(),
        &src,
        settings,
        Some(url.clone()),
        crate::pipeline::preview::Filters::None,
        chrono::Utc::now(),
    )
    .map_err(|e| e.italian())?;
    Ok(Detected {
        url,
        kind,
        preset,
        note,
        messages: preview.messages().take(5).cloned().collect(),
    })
}

/// The feed a web page names (`<link rel="alternate">`), if it names one and can be read.
pub(super) async fn feed_of_page(url: &Url, settings: &Settings) -> Option<Url> {
    let (body, content_type) = fetch(url, settings.allow_private_sources, &settings.user_agent())
        .await
        .ok()?;
    let text = crate::charset::decode(&body, content_type.as_deref());
    crate::source::feed::discover_feed(&text, Some(url))
}
