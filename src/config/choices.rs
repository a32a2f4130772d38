//! What editors choose for a source: what is forwarded, and what happens to corrections.

use serde::Deserialize;

/// What an editor wants forwarded from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forward {
    /// Every new item.
    #[default]
    All,
    /// Only items carrying one of the source's `tags` (set by editors in the site's CMS).
    Tagged,
    /// Every new item waits in the review queue for an editor.
    Review,
}

/// What happens when an item already sent changes materially at its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Corrections {
    /// Nothing: the first version stands.
    Off,
    /// A short correction is sent at once.
    Auto,
    /// A short correction waits in the review queue for an editor.
    #[default]
    Review,
}

/// An editor's template for a source's messages: a prefix or emoji before the title (by the
/// item's category first, "🚧 Lavori"; else the source's), a label line under it ("Ufficio
/// tecnico"), and the date of publication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageTemplate {
    pub prefix: Option<String>,
    /// (category as written, prefix), in the order written; categories match whatever their
    /// case and accents.
    pub tag_prefixes: Vec<(String, String)>,
    pub label: Option<String>,
    pub show_date: bool,
}
