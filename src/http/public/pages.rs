//! The citizens' pages, in Italian. maud escapes every interpolated value; a link from a
//! source is written only when it is http(s).

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, DOCTYPE};

use super::Follow;
use crate::config::PublicSettings;
use crate::http::bubble::bubble;
use crate::store::ArchiveEntry;

const MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

pub(super) fn month_name(year: i32, month: u32) -> String {
    let name = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("?");
    format!("{name} {year}")
}

/// "3 dicembre 2026, 14:05" in the comune's time zone.
pub(super) fn when(t: DateTime<Utc>, tz: Tz) -> String {
    let local = t.with_timezone(&tz);
    let month = MONTHS.get(local.month0() as usize).copied().unwrap_or("?");
    format!(
        "{} {month} {}, {}",
        local.day(),
        local.year(),
        local.format("%H:%M")
    )
}

/// Only web addresses become links (a feed could carry `javascript:`).
pub(super) fn web(url: &str) -> Option<&str> {
    (url.starts_with("https://") || url.starts_with("http://")).then_some(url)
}

/// The frame of every page: a skip link, the comune's header, the menu, the footer.
pub(super) fn page(public: &PublicSettings, title: &str, current: &str, body: Markup) -> String {
    let link = |href: &str, label: &str| {
        html! { li { a href=(href) aria-current=[(href == current).then_some("page")] { (label) } } }
    };
    html! {
        (DOCTYPE)
        html lang="it" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (public.name) }
                link rel="stylesheet" href="/public.css";
                link rel="alternate" type="application/atom+xml" title=(format!("Avvisi di {}", public.name)) href="/feed.xml";
                link rel="alternate" type="application/feed+json" title=(format!("Avvisi di {}", public.name)) href="/feed.json";
            }
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
                        "Avvisi ufficiali di " (public.name) " su WhatsApp. "
                        @if let Some(site) = &public.site_url { a href=(site) { "Sito del Comune" } " · " }
                        @if let Some(privacy) = &public.privacy_url { a href=(privacy) { "Informativa privacy" } " · " }
                        "Segui anche con il "
                        a href="/feed.xml" { "feed Atom" } " o il " a href="/feed.json" { "feed JSON" } "."
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
    pub name: &'static str,
    pub heading: &'static str,
    pub how: &'static str,
    pub link: String,
    pub button: &'static str,
}

pub(super) fn home(
    public: &PublicSettings,
    ways: &[Way],
    latest: &[ArchiveEntry],
    tz: Tz,
) -> String {
    let body = html! {
        p.lead {
            (public.name) " pubblica su WhatsApp gli avvisi ufficiali: interruzioni di servizi, "
            "allerte di protezione civile, eventi e notizie di pubblica utilità. Pochi messaggi, "
            "brevi, sempre con il link alla pagina ufficiale."
        }
        @if ways.is_empty() {
            p { "Il Comune non ha ancora indicato come iscriversi: torna presto." }
        }
        div.ways {
            @for way in ways {
                section.way aria-labelledby=(format!("via-{}", way.name)) {
                    h2 id=(format!("via-{}", way.name)) { (way.heading) }
                    p { (way.how) }
                    p { a.button href=(way.link) { (way.button) } }
                    img.qr src=(format!("/qr/{}.svg", way.name)) width="220" height="220"
                        alt=(format!("Codice QR: {}", way.link));
                    p.small { "Inquadra il codice con la fotocamera del telefono. "
                        a href=(format!("/qr/{}.png?size=1200", way.name)) { "Scarica il codice per la stampa (PNG)" } }
                }
            }
        }
        section aria-labelledby="privacy" {
            h2 id="privacy" { "Che cosa conserviamo" }
            p {
                "Per il canale WhatsApp non conserviamo nulla di te: il canale è pubblico e "
                "nessuno vede il tuo numero. Se scrivi ISCRIVIMI al numero del Comune, conserviamo "
                "solo il tuo numero di telefono, quando e come hai dato il consenso. "
                "Per smettere scrivi " strong { "STOP" } " in qualunque momento: il numero viene tolto dalla lista."
            }
            @if let Some(privacy) = &public.privacy_url {
                p { a href=(privacy) { "Leggi l'informativa privacy del Comune" } }
            }
        }
        @if !latest.is_empty() {
            section aria-labelledby="ultimi" {
                h2 id="ultimi" { "Gli ultimi avvisi" }
                (list(latest, tz))
                p { a href="/archivio" { "Tutti gli avvisi" } }
            }
        }
        section aria-labelledby="sito" {
            h2 id="sito" { "Sul sito del Comune" }
            p { "Il riquadro con gli ultimi avvisi e il pulsante per iscriversi, da inserire in una pagina del sito:" }
            pre.snippet { code { (r#"<iframe src="/widget" title="Avvisi del Comune su WhatsApp" width="360" height="480" style="border:0"></iframe>"#) } }
            p.small { "Sostituisci " code { "/widget" } " con l'indirizzo completo di questa pagina seguito da /widget. " a href="/manifesto" { "Manifesto da stampare (A4)" } }
        }
    };
    page(
        public,
        "Ricevi gli avvisi del Comune su WhatsApp",
        "/",
        body,
    )
}

/// The archive's list: date, category, title linking to the message.
pub(super) fn list(entries: &[ArchiveEntry], tz: Tz) -> Markup {
    html! {
        ol.messages {
            @for e in entries {
                li {
                    a href=(format!("/archivio/{}", e.seq)) { (title_of(e)) }
                    br;
                    span.meta {
                        time datetime=(e.sent_at.to_rfc3339()) { (when(e.sent_at, tz)) }
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
            p { "Nessun avviso trovato." }
        } @else {
            (list(entries, tz))
        }
        nav.pages aria-label="Pagine dell'archivio" {
            @if s.page > 1 { a rel="prev" href=(s.link(s.page - 1)) { "← Più recenti" } }
            @if s.more { a rel="next" href=(s.link(s.page + 1)) { "Meno recenti →" } }
        }
    };
    page(public, "Archivio degli avvisi", "/archivio", body)
}

/// One message as sent, with what it followed and what followed it.
pub(super) fn message(
    public: &PublicSettings,
    e: &ArchiveEntry,
    follows: Option<&ArchiveEntry>,
    later: &[Follow],
    tz: Tz,
) -> String {
    let body = html! {
        p.meta {
            "Inviato il " time datetime=(e.sent_at.to_rfc3339()) { (when(e.sent_at, tz)) }
            " · " (e.categories().join(", "))
        }
        @if let Some(earlier) = follows {
            p.notice { "Questo messaggio aggiorna l'avviso " a href=(format!("/archivio/{}", earlier.seq)) { "«" (title_of(earlier)) "»" } "." }
        }
        @for f in later {
            p.notice.later { strong { (f.label) } ": " a href=(format!("/archivio/{}", f.entry.seq)) { "«" (title_of(&f.entry)) "»" } " (" (when(f.entry.sent_at, tz)) ")" }
        }
        div.message { (bubble(&e.message.text)) }
        @if let Some(url) = web(&e.message.url) {
            p { a.button href=(url) { "Apri la pagina ufficiale" } }
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

/// The A4 poster: the comune's name, a big QR, one line of instructions.
pub(super) fn poster(public: &PublicSettings, way: Option<&Way>) -> String {
    html! {
        (DOCTYPE)
        html lang="it" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Manifesto · " (public.name) }
                link rel="stylesheet" href="/public.css";
            }
            body.poster {
                main {
                    @if public.logo.is_some() { img.logo-big src="/logo" alt=""; }
                    h1 { (public.name) }
                    p.big { "Gli avvisi ufficiali del Comune su WhatsApp" }
                    @if let Some(way) = way {
                        img.qr-big src=(format!("/qr/{}.svg", way.name)) alt=(format!("Codice QR: {}", way.link));
                        p.big { "Inquadra il codice con la fotocamera del telefono" }
                        p { (way.link) }
                    } @else {
                        p { "Il Comune non ha ancora indicato come iscriversi." }
                    }
                    p { "Pochi messaggi, brevi, con il link alla pagina ufficiale. Per smettere: STOP." }
                }
            }
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
    html! {
        (DOCTYPE)
        html lang="it" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Avvisi di " (public.name) }
                link rel="stylesheet" href="/public.css";
                base target="_top";
            }
            body.widget {
                main {
                    h1 { "Avvisi di " (public.name) }
                    @if latest.is_empty() { p { "Nessun avviso, per ora." } }
                    (list(latest, tz))
                    @if let Some(way) = way { p { a.button href=(way.link) { (way.button) } } }
                    p.small { a href="/archivio" { "Tutti gli avvisi" } }
                }
            }
        }
    }
    .into_string()
}

/// The stylesheet, embedded.
pub(super) const CSS: &str = include_str!("public.css");
