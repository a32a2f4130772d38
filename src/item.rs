//! The two values that flow through the pipeline: an [`Item`] (what a source said, normalised)
//! and a [`Message`] (what WhatsApp will show; the JSON of the interface contract).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::Priority;

/// One entry of a source, after parsing and normalisation. Links are absolute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// The source's own id (RSS guid, Atom id, JSON Feed id), when it gave one.
    pub guid: Option<String>,
    /// The official page this item is about.
    pub url: Option<Url>,
    /// Plain text.
    pub title: String,
    /// Plain text, possibly long; the formatter shortens it.
    pub summary: String,
    pub image: Option<Url>,
    pub published: Option<DateTime<Utc>>,
    /// Categories as the CMS wrote them.
    pub tags: Vec<String>,
}

/// A message ready for delivery, as `preview` prints it and the `file` sink writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub source: String,
    pub kind: String,
    pub title: String,
    pub url: String,
    /// The full WhatsApp body exactly as sent.
    pub text: String,
    pub image: Option<String>,
    pub priority: Priority,
    /// RFC 3339, or null.
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}
