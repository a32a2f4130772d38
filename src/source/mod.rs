//! Sources: turning a fetched document into [`Item`]s. Parsing is pure: text and context in,
//! items out, no I/O and no clock (the time for expiry checks comes in the context).

pub mod cap;
pub mod feed;
pub mod page;
pub mod quake;
pub mod xml_guard;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use crate::config::{KindSettings, Settings, SourceConfig, SourceKind};
use crate::item::Item;

/// What a parser may know besides the document itself.
#[derive(Debug, Clone)]
pub struct ParseContext {
    /// Where the document came from; relative links resolve against it.
    pub base: Option<Url>,
    /// Dates without a zone are local time here; messages are written in it.
    pub tz: Tz,
    pub page: page::PageRules,
    pub alerts: cap::AlertFilter,
    pub quakes: quake::QuakeFilter,
}

impl ParseContext {
    /// A context without filters (what `preview` uses).
    pub fn new(base: Option<Url>, tz: Tz) -> ParseContext {
        ParseContext {
            base,
            tz,
            page: page::PageRules::default(),
            alerts: cap::AlertFilter::default(),
            quakes: quake::QuakeFilter::default(),
        }
    }

    /// A configured source's context at `now`.
    pub fn for_source(
        src: &SourceConfig,
        settings: &Settings,
        base: Option<Url>,
        now: DateTime<Utc>,
    ) -> ParseContext {
        let mut ctx = ParseContext::new(base, settings.tz());
        match &src.settings {
            KindSettings::Feed => {}
            KindSettings::Page {
                preset, selectors, ..
            } => ctx.page = page::PageRules::new(*preset, Some(selectors)),
            KindSettings::Cap {
                geocodes,
                min_severity,
                link,
                ..
            } => {
                ctx.alerts = cap::AlertFilter {
                    location: settings.location,
                    geocodes: geocodes.clone(),
                    min_severity: Some(*min_severity),
                    link: link.clone(),
                    now: Some(now),
                }
            }
            KindSettings::Quake {
                radius_km,
                min_magnitude,
                urgent_magnitude,
            } => {
                ctx.quakes = quake::QuakeFilter {
                    location: settings.location,
                    radius_km: Some(*radius_km),
                    min_magnitude: Some(*min_magnitude),
                    urgent_magnitude: Some(*urgent_magnitude),
                }
            }
        }
        ctx
    }

    /// A context that reads a document as `src` would, without its filters (area, severity,
    /// expiry, distance, magnitude): what a document could produce at all.
    pub fn unfiltered(src: &SourceConfig, settings: &Settings, base: Option<Url>) -> ParseContext {
        let mut ctx = ParseContext::new(base, settings.tz());
        if let KindSettings::Page {
            preset, selectors, ..
        } = &src.settings
        {
            ctx.page = page::PageRules::new(*preset, Some(selectors));
        }
        if let KindSettings::Cap { link, .. } = &src.settings {
            ctx.alerts.link = link.clone();
        }
        ctx
    }
}

/// Why a document gave no items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the document is empty")]
    Empty,
    #[error("this is an HTML page, not a feed{}", feed.as_deref().map(|u| format!(" (its feed seems to be {u})")).unwrap_or_default())]
    NotAFeed {
        /// The feed the page links to, if it does.
        feed: Option<String>,
    },
    #[error("refused: {0}")]
    Hostile(String),
    #[error("not a valid feed: {0}")]
    Malformed(String),
    #[error("the selector `{selector}` matched nothing: has the site changed its template?")]
    NothingMatched { selector: String },
}

impl ParseError {
    /// The reason in Italian, for the admin UI.
    pub fn italian(&self) -> String {
        match self {
            ParseError::Empty => "il documento è vuoto".into(),
            ParseError::NotAFeed { feed: Some(u) } => {
                format!("è una pagina web, non un feed (il suo feed sembra essere {u})")
            }
            ParseError::NotAFeed { feed: None } => "è una pagina web, non un feed".into(),
            ParseError::Hostile(why) => format!("documento rifiutato per sicurezza ({why})"),
            ParseError::Malformed(why) => format!("il documento non si legge ({why})"),
            ParseError::NothingMatched { selector } => format!(
                "nessun elemento trovato con il selettore «{selector}»: il sito ha cambiato modello?"
            ),
        }
    }
}

/// Parses a document of the given kind.
pub fn parse(kind: SourceKind, text: &str, ctx: &ParseContext) -> Result<Vec<Item>, ParseError> {
    match kind {
        SourceKind::Feed => feed::parse(text, ctx),
        SourceKind::Page => page::parse(text, ctx),
        SourceKind::Cap => cap::parse(text, ctx),
        SourceKind::Quake => quake::parse(text, ctx),
    }
}

/// Guesses a document's kind from its content (for `preview --kind auto`).
pub fn detect_kind(text: &str) -> SourceKind {
    let head: String = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(4000)
        .collect();
    let lower = head.to_ascii_lowercase();
    // INGV's Atom feed of earthquakes is a feed, but its items are events to filter by
    // distance and magnitude, not news.
    let ingv_atom =
        lower.contains("<feed") && lower.contains("ingv") && head.contains("Magnitude(");
    if head.starts_with("#EventID")
        || head.contains("quakeml")
        || head.contains("\"FeatureCollection\"")
        || ingv_atom
    {
        SourceKind::Quake
    } else if cap::looks_like_cap(&head) {
        SourceKind::Cap
    } else if lower.starts_with("<!doctype html")
        || lower.starts_with("<html")
        || (lower.contains("<html") && !lower.contains("<rss") && !lower.contains("<feed"))
    {
        SourceKind::Page
    } else {
        SourceKind::Feed
    }
}

/// Runs a third-party parser so that a bug in it becomes an error for this one document
/// instead of taking the daemon down with it.
pub(crate) fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => {
            tracing::error!("the {what} parser panicked on this document; please report it");
            Err(ParseError::Malformed(format!(
                "the {what} parser failed on this document"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_in_italian() {
        let e = ParseError::NothingMatched {
            selector: ".card".into(),
        };
        assert_eq!(
            e.italian(),
            "nessun elemento trovato con il selettore «.card»: il sito ha cambiato modello?"
        );
        let e = crate::fetch::FetchError::Status { status: 503 };
        assert_eq!(
            e.italian(),
            "il server ha risposto 503 (errore del server del sito)"
        );
    }

    #[test]
    fn detects_kinds() {
        assert_eq!(
            detect_kind("<?xml version=\"1.0\"?><rss><channel/></rss>"),
            SourceKind::Feed
        );
        assert_eq!(
            detect_kind("<!DOCTYPE html><html></html>"),
            SourceKind::Page
        );
        assert_eq!(
            detect_kind("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"),
            SourceKind::Cap
        );
        assert_eq!(detect_kind("#EventID|Time|Latitude"), SourceKind::Quake);
        assert_eq!(
            detect_kind("{\"version\":\"https://jsonfeed.org/version/1.1\"}"),
            SourceKind::Feed
        );
    }
}
