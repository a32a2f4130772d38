//! `banditore preview`, `source add` and the admin UI's detection preview: one document in,
//! the plan of a poll that found every item new out. Sends nothing, stores nothing, fetches
//! nothing more (a page's articles and an index's CAP documents are not read).

use chrono::{DateTime, Utc};
use url::Url;

use crate::charset;
use crate::config::{Settings, SourceConfig};
use crate::policy::Policy;
use crate::source::{self, ParseContext, ParseError};

use super::plan::{self, Nothing, Plan, Rules};

/// Whether a preview applies the source's filters (area, severity, expiry, distance,
/// magnitude), as its polls do, or shows everything the document could produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filters {
    Source,
    None,
}

/// Parses a document as `src` would, and plans it as if nothing had been seen before. The
/// per-poll cap does not apply: every item gets its own decision.
pub fn preview(
    bytes: &[u8],
    content_type: Option<&str>,
    src: &SourceConfig,
    settings: &Settings,
    base: Option<Url>,
    filters: Filters,
    now: DateTime<Utc>,
) -> Result<Plan, ParseError> {
    let ctx = match filters {
        Filters::Source => ParseContext::for_source(src, settings, base, now),
        Filters::None => ParseContext::unfiltered(src, settings, base),
    };
    let text = super::decode(src.kind(), bytes, content_type);
    let items = source::parse(src.kind(), &text, &ctx)?;
    let policy = Policy::new(src);
    let rules = Rules::preview(src, &policy, settings.tz());
    let triage = plan::triage(items, &Nothing, now, &src.name).map_err(store_error)?;
    plan::decide(&rules, triage.fresh, &Nothing, now).map_err(store_error)
}

/// Guesses the kind of a document (for `preview --kind auto`).
pub fn detect_kind(bytes: &[u8], content_type: Option<&str>) -> crate::config::SourceKind {
    source::detect_kind(&charset::decode_xml(bytes, content_type))
}

/// [`Nothing`] never fails; this only satisfies the types.
fn store_error(e: crate::store::StoreError) -> ParseError {
    ParseError::Malformed(e.to_string())
}
