//! The two values that flow through the pipeline: an [`Item`] (what a source said, normalised)
//! and a [`Message`] (what WhatsApp will show; the JSON of the interface contract).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::Priority;

/// One entry of a source, after parsing and normalisation. Links are absolute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// The source's own id (RSS guid, Atom id, JSON Feed id, CAP sender+identifier+sent,
    /// INGV event id), when it gave one.
    pub guid: Option<String>,
    /// Other ids the same item is known by (the index entry that linked a CAP alert).
    pub alt_ids: Vec<String>,
    /// Identify by ids only: no URL or title keys. For alerts and earthquakes, whose updates
    /// share a link and often a headline with the original.
    pub strict_id: bool,
    /// The official page this item is about.
    pub url: Option<Url>,
    /// `url` is the site's, not the item's own (an RSS item without `<link>`): the message
    /// links to it, but it does not identify the item.
    pub url_inherited: bool,
    /// Plain text.
    pub title: String,
    /// HTML or text as the source gave it, possibly long; the formatter makes it plain and
    /// short. When `plain` is set it is already plain text whose paragraphs (separated by a
    /// blank line) are kept.
    pub summary: String,
    /// The entry's full HTML when the feed gives one beside `summary`: read only for its
    /// picture.
    pub content: Option<String>,
    pub plain: bool,
    /// The picture the source names for the item (a media or enclosure element, a page's
    /// `og:image`); [`Item::picture`] also looks inside the text.
    pub image: Option<Url>,
    pub published: Option<DateTime<Utc>>,
    /// Categories as the CMS wrote them.
    pub tags: Vec<String>,
    /// Overrides the source's priority (a severe alert, an earthquake).
    pub priority: Option<Priority>,
    /// Extra fields for the message JSON (`msg_type`, `expires`, `severity`, `area`, …).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// What the pipeline needs to thread CAP updates and cancellations.
    pub alert: Option<AlertMeta>,
}

impl Item {
    /// The item's picture: the one the source names, else the first real `<img>` of its
    /// text (relative to its page).
    pub fn picture(&self) -> Option<Url> {
        self.image.clone().or_else(|| {
            if self.plain {
                return None;
            }
            [Some(self.summary.as_str()), self.content.as_deref()]
                .into_iter()
                .flatten()
                .find_map(|html| crate::link::first_img(html, self.url.as_ref()))
        })
    }
}

/// CAP threading facts about an item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertMeta {
    /// `sender,identifier,sent` of this alert.
    pub reference: String,
    pub msg_type: MsgType,
    /// `sender,identifier,sent` of the alerts this one updates or cancels.
    pub references: Vec<String>,
    /// For bulletins (fresh Alerts without references): the sender and area they are about,
    /// and the level they announce. A message is sent only when the level changes.
    pub level_key: Option<String>,
    pub level: String,
    pub expires: Option<DateTime<Utc>>,
    /// The level as citizens know it ("gialla", "arancione", "rossa"), when it can be told.
    pub colour: Option<String>,
    /// Under the source's `min_severity`: sent only as part of an alert already sent (an
    /// Update that downgrades it), never on its own.
    pub below_min_severity: bool,
}

/// The CAP message types banditore acts on (Ack and Error are never forwarded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MsgType {
    #[default]
    Alert,
    Update,
    Cancel,
}

impl MsgType {
    /// CAP's `msgType`, whatever its case; `None` for Ack, Error and anything else.
    pub fn parse(s: &str) -> Option<MsgType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "alert" => Some(MsgType::Alert),
            "update" => Some(MsgType::Update),
            "cancel" => Some(MsgType::Cancel),
            _ => None,
        }
    }

    /// As CAP writes it (and the message JSON's `msg_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
        }
    }
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
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
