//! Sources: turning a fetched document into [`Item`]s. Parsing is pure: text and context in,
//! items out, no I/O. Each kind lives in its own module.

pub mod feed;
pub mod xml_guard;

use chrono_tz::Tz;
use url::Url;

use crate::config::SourceKind;
use crate::item::Item;

/// What a parser may know besides the document itself.
#[derive(Debug, Clone)]
pub struct ParseContext {
    /// Where the document came from; relative links resolve against it.
    pub base: Option<Url>,
    /// Dates without a zone are local time here.
    pub tz: Tz,
}

/// Why a document gave no items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the document is empty")]
    Empty,
    #[error("this is an HTML page, not a feed{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    NotAFeed { hint: Option<String> },
    #[error("refused: {0}")]
    Hostile(String),
    #[error("not a valid feed: {0}")]
    Malformed(String),
}

/// Parses a document of the given kind.
pub fn parse(kind: SourceKind, text: &str, ctx: &ParseContext) -> Result<Vec<Item>, ParseError> {
    match kind {
        SourceKind::Feed => feed::parse(text, ctx),
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
