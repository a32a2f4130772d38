//! Adding a source from the admin UI: detection (feed autodiscovery, CAP, page template), a
//! preview of the messages it would produce, and saving to `sources.toml` with toml_edit so
//! the file's comments and layout stay as the admin wrote them. The new configuration is
//! validated before it is written and applied without a restart; an invalid one is refused
//! and the running configuration stays.
//!
//! No SSRF: unless `allow_private_sources` is set, an address that resolves to loopback,
//! private, link-local or otherwise non-public space is refused, the connection is pinned to
//! the address that was checked, and redirects are not followed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use url::Url;

use super::config_file::rewrite_config;
use super::extract::Form;
use super::reasons::network;
use super::source_form::Fields;
use super::{audit, back, back_with_link, refused, views, Admin, User};
use crate::config::{Config, KindSettings, Preset, Settings, SourceConfig, SourceKind};
use crate::item::Message;
use crate::store::FlashLink;

const MAX_BODY: usize = 5 * 1024 * 1024;

/// What detection found at an address.
pub struct Detected {
    pub url: Url,
    pub kind: SourceKind,
    pub preset: Option<Preset>,
    pub note: String,
    pub messages: Vec<Message>,
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (seg & 0xfe00) == 0xfc00
                || (seg & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves the host and checks every address; returns the one to connect to.
async fn checked_address(url: &Url, allow_private: bool) -> Result<SocketAddr, String> {
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
            "Terremoti dell'INGV: per filtrarli per distanza indica la posizione del comune (location) nelle impostazioni.".into()
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

/// A source name from the address, unique in `config`.
pub fn suggest_name(url: &Url, config: &Config) -> String {
    let taken = |c: &str| config.sources.iter().any(|s| s.name == c);
    let host = url.host_str().unwrap_or("fonte").trim_start_matches("www.");
    let base: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(48)
        .collect();
    let base = if base.is_empty() {
        "fonte".to_owned()
    } else {
        base
    };
    (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|c| !taken(c))
        .unwrap_or(base)
}

pub async fn preview(
    State(admin): State<Admin>,
    user: User,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.admin_form(&form) {
        return r.into_response();
    }
    let Some(url) = form.get("url").and_then(|u| Url::parse(u.trim()).ok()) else {
        return back(
            &admin,
            &user,
            "/sources",
            Err("Indirizzo non valido.".into()),
        );
    };
    let app = admin.app();
    if let Some(other) = followed_by(app.config(), &url, "") {
        return followed_already(&admin, &user, "/sources", "Questo indirizzo", other);
    }
    let detected = match detect(&app.config().settings, url, false).await {
        Ok(d) => d,
        Err(e) => {
            return back(
                &admin,
                &user,
                "/sources",
                Err(format!("Non riesco a usare questo indirizzo: {e}")),
            )
        }
    };
    let app = admin.app();
    // A home page whose feed is followed already: the feed would be a second source.
    if let Some(other) = followed_by(app.config(), &detected.url, "") {
        let what = format!("Il suo feed ({})", detected.url);
        return followed_already(&admin, &user, "/sources", &what, other);
    }
    let name = form
        .get("name")
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| suggest_name(&detected.url, app.config()));
    let body = html! {
        div.card {
            p { "Tipo riconosciuto: " strong { (kind_label(detected.kind)) } @if let Some(p) = detected.preset { " (" (preset_label(p)) ")" } }
            p { "Indirizzo: " (detected.url) }
            @if !detected.note.is_empty() { p { (detected.note) } }
            p.meta { "Alla prima lettura banditore registra le notizie già pubblicate e non invia nulla: partiranno solo le nuove." }
        }
        h2 { "Anteprima dei messaggi" }
        @if detected.messages.is_empty() { p { "Nessun messaggio da mostrare in questo momento." } }
        div.chat {
            @for m in &detected.messages { div.bubble { (super::bubble::bubble(&m.text)) } }
        }
        form.card method="post" action="/sources/add" {
            input type="hidden" name="csrf" value=(user.csrf());
            input type="hidden" name="url" value=(detected.url.as_str());
            input type="hidden" name="kind" value=(detected.kind.as_str());
            @if let Some(p) = detected.preset { input type="hidden" name="preset" value=(preset_name(p)); }
            label for="save-name" { "Nome della fonte" }
            input #save-name type="text" name="name" value=(name) required pattern="[a-z0-9-]{1,64}";
            (Fields::for_new(app.config()).render(detected.kind))
            div.azioni { button type="submit" { "Salva la fonte" } }
        }
    };
    Html(views::page("Nuova fonte", Some(&user), "/sources", body)).into_response()
}

pub fn preset_name(p: Preset) -> &'static str {
    match p {
        Preset::DesignComuni => "design-comuni",
        Preset::Wordpress => "wordpress",
        Preset::Auto => "auto",
    }
}

/// The kind of a source in words.
pub fn kind_label(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Feed => "feed di notizie",
        SourceKind::Page => "pagina di notizie senza feed",
        SourceKind::Cap => "allerte (CAP)",
        SourceKind::Quake => "terremoti (INGV)",
    }
}

fn preset_label(p: Preset) -> &'static str {
    match p {
        Preset::DesignComuni => "modello Design Comuni Italia",
        Preset::Wordpress => "modello WordPress",
        Preset::Auto => "riconoscimento automatico",
    }
}

/// Appends a `[[source]]` to the configuration text, keeping everything else as it is.
pub fn append_source(
    text: &str,
    name: &str,
    kind: SourceKind,
    url: &str,
    preset: Option<&str>,
    fields: &Fields,
) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let mut table = toml_edit::Table::new();
    table["name"] = toml_edit::value(name);
    table["kind"] = toml_edit::value(kind.as_str());
    table["url"] = toml_edit::value(url);
    if let Some(p) = preset {
        table["preset"] = toml_edit::value(p);
    }
    fields.write(&mut table, kind)?;
    let sources = doc
        .entry("source")
        .or_insert(toml_edit::Item::ArrayOfTables(
            toml_edit::ArrayOfTables::new(),
        ));
    match sources.as_array_of_tables_mut() {
        Some(array) => array.push(table),
        None => {
            return Err(
                "nel file di configurazione `source` non è un elenco di tabelle [[source]]".into(),
            )
        }
    }
    Ok(doc.to_string())
}

/// An address as far as "the same source" goes: `ident::canonical_url` (scheme, host case,
/// `www.`, default port, trailing slash, fragment and tracking parameters make no difference)
/// of the address with repeated slashes in its path made one.
pub fn same_source(url: &Url) -> String {
    let mut url = url.clone();
    if url.path().contains("//") {
        let mut path = String::with_capacity(url.path().len());
        for c in url.path().chars() {
            if !(c == '/' && path.ends_with('/')) {
                path.push(c);
            }
        }
        url.set_path(&path);
    }
    crate::ident::canonical_url(&url)
}

/// Another source that follows the same address, if any.
pub fn followed_by<'a>(config: &'a Config, url: &Url, except: &str) -> Option<&'a str> {
    let canon = same_source(url);
    config
        .sources
        .iter()
        .find(|s| s.name != except && same_source(&s.url) == canon)
        .map(|s| s.name.as_str())
}

/// Back to `to`, refusing an address that the source `other` already follows: the message
/// names it, the link opens it. `what` says which address ("Questo indirizzo", "Il feed …").
pub(super) fn followed_already(
    admin: &Admin,
    user: &User,
    to: &str,
    what: &str,
    other: &str,
) -> Response {
    back_with_link(
        admin,
        user,
        to,
        Err(format!(
            "{what} è già seguito dalla fonte «{other}»: modifica quella invece di aggiungerne una seconda, o le sue notizie partirebbero due volte."
        )),
        Some(FlashLink {
            href: format!("/sources/{other}/edit"),
            label: format!("Apri la fonte {other}"),
        }),
    )
}

/// The feed a web page names (`<link rel="alternate">`), if it names one and can be read.
async fn feed_of_page(url: &Url, settings: &Settings) -> Option<Url> {
    let (body, content_type) = fetch(url, settings.allow_private_sources, &settings.user_agent())
        .await
        .ok()?;
    let text = crate::charset::decode(&body, content_type.as_deref());
    crate::source::feed::discover_feed(&text, Some(url))
}

pub async fn add(
    State(admin): State<Admin>,
    user: User,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.admin_form(&form) {
        return r.into_response();
    }
    let field = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (name, url, preset) = (field("name"), field("url"), form.get("preset").cloned());
    let Some(kind) = SourceKind::parse(&field("kind")) else {
        return back(
            &admin,
            &user,
            "/sources",
            Err("Tipo di fonte sconosciuto.".into()),
        );
    };
    let Ok(parsed) = Url::parse(&url) else {
        return back(
            &admin,
            &user,
            "/sources",
            Err("Indirizzo non valido.".into()),
        );
    };
    let app = admin.app();
    let name_ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return back(
            &admin,
            &user,
            "/sources",
            Err("Nome non valido: usa lettere minuscole, cifre e trattini (al massimo 64).".into()),
        );
    }
    if app.config().source(&name).is_some() {
        return back(
            &admin,
            &user,
            "/sources",
            Err(format!(
                "C'è già una fonte di nome {name}: scegline un altro."
            )),
        );
    }
    // Checked here, whatever came before: the form could have been changed after the
    // preview, or never have been one.
    if let Some(other) = followed_by(app.config(), &parsed, "") {
        return followed_already(&admin, &user, "/sources", "Questo indirizzo", other);
    }
    if let Err(e) = checked_address(&parsed, app.config().settings.allow_private_sources).await {
        return back(&admin, &user, "/sources", Err(e));
    }
    if kind == SourceKind::Page {
        if let Some(feed) = feed_of_page(&parsed, &app.config().settings).await {
            if let Some(other) = followed_by(app.config(), &feed, "") {
                let what = format!("Il feed di questa pagina ({feed})");
                return followed_already(&admin, &user, "/sources", &what, other);
            }
        }
    }
    let mut fields = Fields::from_form(&form);
    if fields.forward.is_empty() {
        fields.forward = Fields::for_new(app.config()).forward;
    }
    // Whatever a source of this name left in the store (one removed by hand from the file)
    // goes: the new source starts with a baseline.
    if let Err(e) = app.store().forget_source(&name) {
        return back(
            &admin,
            &user,
            "/sources",
            Err(format!("Errore dell'archivio: {e}")),
        );
    }
    let result = rewrite_config(&admin, |doc| {
        let text = doc.to_string();
        *doc = append_source(&text, &name, kind, &url, preset.as_deref(), &fields)?
            .parse()
            .map_err(|e| format!("{e}"))?;
        Ok(())
    });
    match result {
        Ok(()) => {
            let app = admin.app();
            audit(
                &app,
                &user,
                crate::store::AuditAction::SourceAdd,
                &name,
                None,
                Some(url),
            );
            back(
                &admin,
                &user,
                "/sources",
                Ok(format!("Fonte {name} aggiunta e attiva.")),
            )
        }
        Err(e) => back(&admin, &user, "/sources", Err(refused("Modifica", &e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2a00:1450:4002::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn one_source_however_its_address_is_written() {
        let same = |a: &str, b: &str| {
            same_source(&Url::parse(a).unwrap()) == same_source(&Url::parse(b).unwrap())
        };
        let feed = "https://www.comune.example.it/feed/notizie";
        for other in [
            "HTTPS://WWW.Comune.Example.IT/feed/notizie",
            "https://www.comune.example.it:443/feed/notizie",
            "http://www.comune.example.it:80/feed/notizie/",
            "https://www.comune.example.it//feed///notizie",
            "https://comune.example.it/feed/notizie#ultime",
            "https://www.comune.example.it/feed/notizie?utm_source=x",
        ] {
            assert!(same(feed, other), "{other}");
        }
        for other in [
            "https://www.comune.example.it/feed/eventi",
            "https://www.comune.example.it:8443/feed/notizie",
            "https://altro.example.it/feed/notizie",
            "https://www.comune.example.it/feed/notizie?cat=2",
        ] {
            assert!(!same(feed, other), "{other}");
        }
    }

    #[test]
    fn appending_keeps_comments() {
        let text = "# intestazione\n[settings]\ntimezone = \"Europe/Rome\" # fuso\n\n[[sink]]\nname = \"log\"\nkind = \"console\"\n";
        let out = append_source(
            text,
            "nuova",
            SourceKind::Feed,
            "https://a.example/feed",
            None,
            &Fields {
                forward: "all".into(),
                ..Fields::default()
            },
        )
        .unwrap();
        assert!(out.starts_with("# intestazione\n"));
        assert!(out.contains("# fuso"));
        let cfg = Config::parse(&out).unwrap();
        assert_eq!(cfg.sources[0].name, "nuova");
    }

    #[test]
    fn names_are_unique() {
        let url = Url::parse("https://www.Comune.Esempio.it/feed").unwrap();
        let empty = Config::parse("[[sink]]\nname = \"c\"\nkind = \"console\"\n").unwrap();
        assert_eq!(suggest_name(&url, &empty), "comune-esempio-it");
        let one = append_source(
            "[[sink]]\nname = \"c\"\nkind = \"console\"\n",
            "comune-esempio-it",
            SourceKind::Feed,
            "https://a.example/",
            None,
            &Fields {
                forward: "all".into(),
                ..Fields::default()
            },
        )
        .unwrap();
        assert_eq!(
            suggest_name(&url, &Config::parse(&one).unwrap()),
            "comune-esempio-it-2"
        );
    }
}
