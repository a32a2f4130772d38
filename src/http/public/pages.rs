//! The citizens' pages, in Italian. maud escapes every interpolated value; a link from a
//! source is written only when it is http(s).

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, DOCTYPE};

use crate::config::PublicSettings;
use crate::http::bubble::bubble_with_links;
use crate::store::ArchiveEntry;

pub(super) fn month_name(year: i32, month: u32) -> String {
    format!(
        "{} {year}",
        crate::dates::italian_month(month.saturating_sub(1))
    )
}

/// "3 dicembre 2026 alle 14:05" in the comune's time zone.
pub(super) fn when(t: DateTime<Utc>, tz: Tz) -> String {
    let local = t.with_timezone(&tz);
    let month = crate::dates::italian_month(local.month0());
    format!(
        "{} {month} {} alle {}",
        local.day(),
        local.year(),
        local.format("%H:%M")
    )
}

/// A `<time datetime>` value: RFC 3339 to the second (HTML allows at most three decimals).
fn machine(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The stylesheet's address, new with each version (it is cached for a day).
fn css() -> String {
    format!("/public.css?v={}", env!("CARGO_PKG_VERSION"))
}

/// Only web addresses become links (a feed could carry `javascript:`).
pub(super) fn web(url: &str) -> Option<&str> {
    (url.starts_with("https://") || url.starts_with("http://")).then_some(url)
}

/// A page's `head`: the title, the stylesheet, and what else the page needs.
fn head(title: &str, extra: Markup) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href=(css());
            (extra)
        }
    }
}

/// The frame of every page: a skip link, the comune's header, the menu, the footer.
pub(super) fn page(public: &PublicSettings, title: &str, current: &str, body: Markup) -> String {
    let link = |href: &str, label: &str| {
        html! { li { a href=(href) aria-current=[(href == current).then_some("page")] { (label) } } }
    };
    let feeds = format!("Avvisi · {}", public.name);
    let extra = html! {
        link rel="alternate" type="application/atom+xml" title=(feeds) href="/feed.xml";
        link rel="alternate" type="application/feed+json" title=(feeds) href="/feed.json";
    };
    html! {
        (DOCTYPE)
        html lang="it" {
            (head(&format!("{title} · {}", public.name), extra))
            body {
                a.skip href="#contenuto" { "Vai al contenuto" }
                header.top {
                    @if public.logo.is_some() { img.logo src="/logo" alt="" width="48" height="48"; }
                    p.brand { (public.name) }
                    nav aria-label="Menu principale" {
                        ul {
                            (link("/", "Iscriviti"))
                            (link("/archivio", "Archivio degli avvisi"))
                        }
                    }
                }
                main id="contenuto" tabindex="-1" { h1 { (title) } (body) }
                footer {
                    p {
                        (public.name) ": avvisi ufficiali su WhatsApp. "
                        @if let Some(site) = &public.site_url { a href=(site) { "Sito del Comune" } " · " }
                        @if let Some(privacy) = &public.privacy_url { a href=(privacy) { "Informativa privacy" } }
                    }
                }
            }
        }
    }
    .into_string()
}

/// A way to follow the comune, with its QR code.
pub(super) struct Way {
    /// The QR's name (`/qr/<name>.svg`).
    pub name: String,
    pub heading: String,
    pub how: String,
    pub link: String,
    pub button: String,
    /// The QR code's text for a screen reader.
    pub alt: String,
    /// How to stop.
    pub stop: String,
}

pub(super) fn home(
    public: &PublicSettings,
    ways: &[Way],
    form: Option<Markup>,
    latest: &[ArchiveEntry],
    tz: Tz,
) -> String {
    let widget = public.url.as_ref().map(|u| {
        format!(
            r#"<iframe src="{}widget" title="Avvisi del Comune su WhatsApp" width="360" height="520" style="border:0"></iframe>"#,
            u.as_str()
        )
    });
    let body = html! {
        p.lead {
            "Gli avvisi ufficiali del Comune su WhatsApp: interruzioni di servizi, "
            "allerte di protezione civile, eventi e notizie di pubblica utilità. Pochi messaggi, "
            "brevi, sempre con il link alla pagina ufficiale."
        }
        @if ways.is_empty() && form.is_none() {
            p { "Il Comune non ha ancora indicato come iscriversi: torna presto." }
        }
        div.ways {
            @for way in ways {
                section.way aria-labelledby=(format!("via-{}", way.name)) {
                    h2 id=(format!("via-{}", way.name)) { (way.heading) }
                    p { (way.how) }
                    p { a.button href=(way.link) { (way.button) } }
                    img.qr src=(format!("/qr/{}.svg", way.name)) width="220" height="220" alt=(way.alt);
                    p.small { "Inquadra il codice con la fotocamera del telefono. " (way.stop) }
                }
            }
            @if let Some(form) = form { (form) }
        }
        section aria-labelledby="privacy" {
            h2 id="privacy" { "Che cosa conserviamo" }
            p {
                @if public.channel_url.is_some() {
                    "Per il canale WhatsApp non conserviamo nulla di te: il canale è pubblico e "
                    "nessuno vede il tuo numero. "
                }
                "Se scrivi ISCRIVIMI al numero del Comune, conserviamo "
                "solo il tuo numero di telefono, quando e come hai dato il consenso e, se li scegli, "
                "gli argomenti e le zone che vuoi ricevere (con le parole che hai scritto per sceglierli). "
                "Per smettere scrivi " strong { "STOP" } " in qualunque momento: il numero viene tolto dalla lista."
            }
            @if public.signup.is_some() {
                p { "Se usi il modulo, teniamo il numero al massimo 24 ore in attesa della tua risposta su WhatsApp; se non rispondi, lo dimentichiamo. Se rispondi, teniamo anche le parole del consenso che hai dato." }
            }
            @if let Some(privacy) = &public.privacy_url {
                p { a href=(privacy) { "Leggi l'informativa privacy del Comune" } }
            }
        }
        @if !latest.is_empty() {
            section aria-labelledby="ultimi" {
                h2 id="ultimi" { "Gli ultimi avvisi" }
                (list(latest, 0, tz))
                p { a href="/archivio" { "Tutti gli avvisi" } }
            }
        }
        section aria-labelledby="siti" {
            h2 id="siti" { "Per i siti e le app" }
            p {
                "Gli stessi avvisi come feed: " a href="/feed.xml" { "Atom" } " e " a href="/feed.json" { "JSON Feed" } ". "
                a href="/manifesto" { "Manifesto da stampare (A4)" } " con i codici QR"
                @for way in ways { ", " a href=(format!("/qr/{}.png?size=1200", way.name)) { "QR «" (way.button) "» per la stampa (PNG)" } }
                "."
            }
            @if let Some(widget) = widget {
                p { "Il riquadro con gli ultimi avvisi e il pulsante per iscriversi, da inserire in una pagina del sito del Comune:" }
                pre.snippet { code { (widget) } }
            } @else {
                p { "Il riquadro da inserire nel sito del Comune è all'indirizzo /widget di questa pagina (il codice da copiare appare qui quando la configurazione indica l'indirizzo pubblico della pagina, public.url)." }
            }
        }
    };
    page(
        public,
        "Ricevi gli avvisi del Comune su WhatsApp",
        "/",
        body,
    )
}

/// The archive's list: date, category, title linking to the message; `skipped` entries
/// come before it (the numbering goes on from page to page).
pub(super) fn list(entries: &[ArchiveEntry], skipped: usize, tz: Tz) -> Markup {
    html! {
        ol.messages start=(skipped + 1) {
            @for e in entries {
                li {
                    a href=(format!("/archivio/{}", e.seq)) { (title_of(e)) }
                    br;
                    span.meta {
                        time datetime=(machine(e.sent_at)) { (when(e.sent_at, tz)) }
                        " · " (e.categories().join(", "))
                    }
                }
            }
        }
    }
}

fn title_of(e: &ArchiveEntry) -> &str {
    if e.message.title.trim().is_empty() {
        "Avviso"
    } else {
        &e.message.title
    }
}

/// What a citizen searched for, to show it back and to page on.
pub(super) struct Search<'a> {
    pub q: &'a str,
    pub category: &'a str,
    pub month: &'a str,
    pub page: usize,
    pub more: bool,
    pub categories: &'a [String],
    pub months: &'a [(i32, u32)],
}

impl Search<'_> {
    fn link(&self, page: usize) -> String {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", self.q),
            ("categoria", self.category),
            ("mese", self.month),
        ] {
            if !v.is_empty() {
                url.append_pair(k, v);
            }
        }
        url.append_pair("pagina", &page.to_string());
        format!("/archivio?{}", url.finish())
    }
}

pub(super) fn archive(
    public: &PublicSettings,
    entries: &[ArchiveEntry],
    s: &Search<'_>,
    tz: Tz,
) -> String {
    let body = html! {
        form.search method="get" action="/archivio" role="search" {
            div {
                label for="q" { "Cerca nel testo" }
                input #q type="search" name="q" value=(s.q);
            }
            div {
                label for="categoria" { "Categoria" }
                select #categoria name="categoria" {
                    option value="" { "Tutte" }
                    @for c in s.categories {
                        option value=(c) selected[c.eq_ignore_ascii_case(s.category)] { (c) }
                    }
                }
            }
            div {
                label for="mese" { "Mese" }
                select #mese name="mese" {
                    option value="" { "Tutti" }
                    @for (y, m) in s.months {
                        @let value = format!("{y:04}-{m:02}");
                        option value=(value) selected[value == s.month] { (month_name(*y, *m)) }
                    }
                }
            }
            button type="submit" { "Cerca" }
        }
        @if entries.is_empty() {
            @if s.q.is_empty() && s.category.is_empty() && s.month.is_empty() && s.page == 1 {
                p { "Nessun avviso, per ora." }
            } @else {
                p {
                    "Nessun avviso trovato"
                    @if !s.q.is_empty() { " per «" (s.q) "»" }
                    ". " a href="/archivio" { "Mostra tutti gli avvisi" }
                }
            }
        } @else {
            (list(entries, (s.page - 1) * super::PAGE, tz))
        }
        nav.pages aria-label="Pagine dell'archivio" {
            @if s.page > 1 && !entries.is_empty() { a rel="prev" href=(s.link(s.page - 1)) { "← Più recenti" } }
            @if s.more { a rel="next" href=(s.link(s.page + 1)) { "Meno recenti →" } }
        }
    };
    page(public, "Archivio degli avvisi", "/archivio", body)
}

/// What a message of a story is, said to a citizen.
fn role(e: &ArchiveEntry, first: bool) -> &'static str {
    let extra = |k: &str| e.message.extra.get(k).and_then(|v| v.as_str());
    match (first, extra("correction_of"), extra("msg_type")) {
        (true, _, _) => "Primo avviso",
        (false, Some(_), _) => "Correzione",
        (false, None, Some("Cancel")) => "Revoca",
        (false, None, Some("Update")) => "Aggiornamento",
        _ => "Seguito",
    }
}

/// One message as sent; when it is part of a story (an alert updated and revoked, a news
/// item corrected), the whole story, and a warning when this is not its last word.
pub(super) fn message(
    public: &PublicSettings,
    e: &ArchiveEntry,
    story: &[ArchiveEntry],
    tz: Tz,
) -> String {
    let last = story.last().filter(|l| story.len() > 1 && l.seq != e.seq);
    let body = html! {
        p.meta {
            "Inviato il " time datetime=(machine(e.sent_at)) { (when(e.sent_at, tz)) }
            " · " (e.categories().join(", "))
        }
        @if let Some(last) = last {
            p.notice {
                strong { "Non è l'ultima notizia su questo avviso. " }
                (role(last, false)) " del " (when(last.sent_at, tz)) ": "
                a href=(format!("/archivio/{}", last.seq)) { "«" (title_of(last)) "»" }
            }
        }
        div.message { (bubble_with_links(&e.message.text)) }
        @if let Some(url) = web(&e.message.url) {
            p { a.button href=(url) { "Apri la pagina ufficiale" } }
        }
        @if story.len() > 1 {
            section aria-labelledby="storia" {
                h2 id="storia" { "Tutti i messaggi su questo avviso" }
                ol.messages {
                    @for (i, m) in story.iter().enumerate() {
                        li {
                            (role(m, i == 0)) ", " (when(m.sent_at, tz)) ": "
                            @if m.seq == e.seq {
                                span aria-current="page" { "«" (title_of(m)) "» (questo messaggio)" }
                            } @else {
                                a href=(format!("/archivio/{}", m.seq)) { "«" (title_of(m)) "»" }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/archivio" { "← Tutti gli avvisi" } }
    };
    page(public, title_of(e), "", body)
}

pub(super) fn not_found(public: &PublicSettings) -> String {
    page(
        public,
        "Pagina non trovata",
        "",
        html! { p { "Questa pagina non esiste. " a href="/archivio" { "Vai all'archivio degli avvisi" } } },
    )
}

/// The A4 poster: the comune's name, a big QR for each way to follow, how to stop.
pub(super) fn poster(public: &PublicSettings, ways: &[Way]) -> String {
    let title = format!("Manifesto · {}", public.name);
    let main = html! {
        @if public.logo.is_some() { img.logo-big src="/logo" alt=""; }
        h1 { (public.name) }
        p.big { "Gli avvisi ufficiali del Comune su WhatsApp" }
        @if ways.is_empty() {
            p { "Il Comune non ha ancora indicato come iscriversi." }
        }
        div.poster-ways {
            @for way in ways {
                section {
                    h2 { (way.heading) }
                    img.qr-big src=(format!("/qr/{}.svg", way.name)) alt=(way.alt);
                    p { (way.how) }
                    p.small { (way.stop) }
                }
            }
        }
        p { "Inquadra il codice con la fotocamera del telefono. Pochi messaggi, brevi, con il link alla pagina ufficiale." }
    };
    standalone(&title, "poster", false, main)
}

/// A page without the site's frame (the poster, the widget), its class on `body`; the links
/// of a `framed` one open in the whole window.
fn standalone(title: &str, class: &str, framed: bool, main: Markup) -> String {
    let extra = html! { @if framed { base target="_top"; } };
    html! {
        (DOCTYPE)
        html lang="it" {
            (head(title, extra))
            body class=(class) { main { (main) } }
        }
    }
    .into_string()
}

/// The widget a comune embeds: the last messages and the subscribe button; links open in the
/// whole window.
pub(super) fn widget(
    public: &PublicSettings,
    way: Option<&Way>,
    latest: &[ArchiveEntry],
    tz: Tz,
) -> String {
    let main = html! {
        h1 { "Avvisi su WhatsApp" }
        @if let Some(way) = way { p { a.button href=(way.link) { (way.button) } } }
        @if latest.is_empty() { p { "Nessun avviso, per ora." } }
        (list(latest, 0, tz))
        p.small { a href="/archivio" { "Tutti gli avvisi" } }
    };
    standalone(&format!("Avvisi · {}", public.name), "widget", true, main)
}

/// The stylesheet, embedded.
pub(super) const CSS: &str = include_str!("public.css");

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, title: &str, msg_type: &str) -> ArchiveEntry {
        let mut extra = serde_json::Map::new();
        extra.insert("msg_type".into(), msg_type.into());
        ArchiveEntry {
            seq,
            message: crate::item::Message {
                id: format!("m{seq}"),
                source: "pc".into(),
                kind: "cap".into(),
                title: title.into(),
                url: "javascript:alert(1)".into(),
                text: format!("*{title}*\n\nZona: Borgo"),
                image: None,
                priority: crate::config::Priority::Urgent,
                published: None,
                tags: vec![],
                extra,
            },
            sent_at: DateTime::from_timestamp(1_764_000_000 + seq as i64 * 3600, 0)
                .unwrap_or_default(),
            follows: (seq > 1).then_some(1),
        }
    }

    #[test]
    fn an_update_says_it_was_revoked_later_and_tells_the_whole_story() {
        let story = [
            entry(1, "Allerta arancione", "Alert"),
            entry(2, "AGGIORNAMENTO: Allerta gialla", "Update"),
            entry(3, "REVOCA: Cessata allerta", "Cancel"),
        ];
        let public = PublicSettings::default();
        let page = message(&public, &story[1], &story, chrono_tz::Europe::Rome);
        assert!(
            page.contains("Non è l'ultima notizia su questo avviso."),
            "{page}"
        );
        assert!(page.contains("Revoca del "), "{page}");
        assert!(page.contains("<a href=\"/archivio/3\">«REVOCA: Cessata allerta»</a>"));
        assert!(page.contains("Primo avviso, "));
        assert!(page.contains("«AGGIORNAMENTO: Allerta gialla» (questo messaggio)"));
        assert!(!page.contains("javascript:"), "no link but http(s)");
        // The last word says nothing of a later one.
        let page = message(&public, &story[2], &story, chrono_tz::Europe::Rome);
        assert!(!page.contains("Non è l'ultima notizia"));
    }
}
