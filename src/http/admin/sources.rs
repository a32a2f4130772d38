//! Adding a source from the admin UI: detection and its preview (`detect`), and saving to
//! `sources.toml` with toml_edit so the file's comments and layout stay as the admin wrote
//! them. The new configuration is validated before it is written and applied without a
//! restart; an invalid one is refused and the running configuration stays. An address already
//! followed (in any of its spellings, or as the feed a home page names) is refused.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use url::Url;

use super::config_file::rewrite_config;
pub use super::detect::{check_address, detect, is_public, Detected};
use super::detect::{checked_address, feed_of_page};
use super::extract::Form;
use super::source_form::Fields;
use super::{audit, back, back_with_link, refused, views, Admin, User};
use crate::config::{Config, Preset, SourceKind};
use crate::store::{Flash, FlashLink};

/// A source name from the address, unique in `config`.
pub fn suggest_name(url: &Url, config: &Config) -> String {
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
    unique_name(&base, config)
}

/// `base`, or `base-2`, `base-3`…: the first no source of `config` is named.
pub fn unique_name(base: &str, config: &Config) -> String {
    let taken = |c: &str| config.sources.iter().any(|s| s.name == c);
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_owned()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|c| !taken(c))
        .unwrap_or_else(|| base.to_owned())
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
            @for m in &detected.messages { div.bubble { (crate::http::bubble::bubble(&m.text)) } }
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
    let flash = followed_flash(what, other);
    back_with_link(admin, user, to, Err(flash.text), flash.link)
}

/// "Already followed by «other»", with a link to it.
pub(super) fn followed_flash(what: &str, other: &str) -> Flash {
    Flash {
        ok: false,
        text: format!(
            "{what} è già seguito dalla fonte «{other}»: modifica quella invece di aggiungerne una seconda, o le sue notizie partirebbero due volte."
        ),
        link: Some(FlashLink {
            href: format!("/sources/{other}/edit"),
            label: format!("Apri la fonte {other}"),
        }),
    }
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
