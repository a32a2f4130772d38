//! What was sent of each recent feed item (`sent_items`: one record per source), so that a
//! material change at the source can be corrected: the text as sent, and a fingerprint of
//! the version sent and of the last version seen (a typo fix moves only the latter).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::table::{decode, encode};
use super::{Store, StoreError};

/// Items are watched for corrections this long after they were sent…
pub const WATCH: Duration = Duration::days(14);
/// … at most this many per source (the newest).
const MOST: usize = 200;

/// One sent item, as it was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentItem {
    /// The item's primary key (kind and hash, hex).
    pub key: String,
    /// Fingerprint of the version sent (or last corrected).
    pub sent: String,
    /// Fingerprint of the last version seen.
    pub seen: String,
    pub title: String,
    /// Its text, plain, as it was when sent.
    pub text: String,
    pub message_id: String,
    pub at: DateTime<Utc>,
}

/// Puts `updates` into a source's record (by key), keeping the newest within [`WATCH`].
pub(super) fn merge(
    raw: Option<&[u8]>,
    updates: &[SentItem],
    now: DateTime<Utc>,
) -> Result<Vec<u8>, StoreError> {
    let mut items: Vec<SentItem> = match raw {
        Some(raw) => decode(raw)?,
        None => Vec::new(),
    };
    for update in updates {
        match items.iter_mut().find(|i| i.key == update.key) {
            Some(item) => *item = update.clone(),
            None => items.push(update.clone()),
        }
    }
    items.retain(|i| now.signed_duration_since(i.at) < WATCH);
    items.sort_by_key(|i| std::cmp::Reverse(i.at));
    items.truncate(MOST);
    encode(&items)
}

impl Store {
    /// The recent sent items of a source.
    pub fn sent_items(&self, source: &str) -> Result<Vec<SentItem>, StoreError> {
        Ok(self.sent_items.get(source)?.unwrap_or_default())
    }
}
