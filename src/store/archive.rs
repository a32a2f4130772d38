//! The citizens' archive (`archive`): every message that went to citizens, as it was sent,
//! kept after the delivery log forgets it (a Channel post disappears after 30 days; a public
//! authority's notices stay findable). A message is archived as soon as one sink took it (or
//! may have: `unknown`), whatever the other sinks still do: never what was rejected, is still
//! under review, or went only to admins (admin alerts never pass the outbox).
//!
//! Entries are numbered 1, 2, 3… in the order they went out (`archive_index`'s `n`: the last
//! number given), so that a message's address is short and never changes.
//! `archive_index` also links a message to what followed it: `m:<message id>` and `c:<CAP
//! reference>` give an entry's number, and `f:<n><n>` (both big-endian) says that the second
//! corrects, updates or revokes the first.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::records::{DeliveryState, OutboxEntry};
use super::table::encode;
use super::{Store, StoreError};
use crate::item::Message;

/// One message in the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveEntry {
    /// Its number: the address `/archivio/<seq>` (1, 2, 3…).
    pub seq: u64,
    pub message: Message,
    pub sent_at: DateTime<Utc>,
    /// The entry this one corrects, updates or revokes.
    pub follows: Option<u64>,
}

impl ArchiveEntry {
    /// What a citizen filters by: "Allerte" for emergencies, else the item's own categories
    /// (the CMS tags, capitals tamed), else "Notizie".
    pub fn categories(&self) -> Vec<String> {
        if matches!(self.message.kind.as_str(), "cap" | "quake") {
            return vec![ALERTS.into()];
        }
        if self.message.tags.is_empty() {
            return vec!["Notizie".into()];
        }
        let mut out: Vec<String> = Vec::new();
        for tag in &self.message.tags {
            // "COMUNICATI" as "Comunicati": a CMS's capitals are not a citizen's category.
            let tag = if tag.chars().any(char::is_lowercase) {
                tag.clone()
            } else {
                let mut chars = tag.chars();
                chars.next().map_or_else(String::new, |c| {
                    c.to_uppercase()
                        .chain(chars.flat_map(char::to_lowercase))
                        .collect()
                })
            };
            if !out.contains(&tag) {
                out.push(tag);
            }
        }
        out
    }

    /// The year and month it went out, in the comune's time zone.
    pub fn month(&self, tz: chrono_tz::Tz) -> (i32, u32) {
        let local = self.sent_at.with_timezone(&tz);
        (local.year(), local.month())
    }

    /// Whether a search, a category and a month (`YYYY-MM`) all let it through.
    pub fn matches(&self, filter: &ArchiveFilter) -> bool {
        let text_ok = filter.words.is_empty() || {
            let haystack =
                crate::text::fold(&format!("{} {}", self.message.title, self.message.text));
            filter.words.iter().all(|w| haystack.contains(w.as_str()))
        };
        let category_ok = filter.category.as_ref().is_none_or(|c| {
            self.categories()
                .iter()
                .any(|mine| mine.eq_ignore_ascii_case(c))
        });
        let month_ok = filter.month.is_none_or(|m| self.month(filter.tz) == m);
        text_ok && category_ok && month_ok
    }
}

/// What the archive holds, for its filters: categories (sorted) and months (newest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facets {
    pub categories: Vec<String>,
    pub months: Vec<(i32, u32)>,
}

/// The category of emergencies.
const ALERTS: &str = "Allerte";

/// A citizen's search of the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveFilter {
    /// Folded words, all of which must appear.
    pub words: Vec<String>,
    pub category: Option<String>,
    pub month: Option<(i32, u32)>,
    /// The comune's time zone: what "December" means.
    pub tz: chrono_tz::Tz,
}

impl Default for ArchiveFilter {
    fn default() -> Self {
        ArchiveFilter {
            words: Vec::new(),
            category: None,
            month: None,
            tz: chrono_tz::Europe::Rome,
        }
    }
}

/// The key of the last number given.
const LAST: &[u8] = b"n";

fn follow_key(original: u64, later: u64) -> Vec<u8> {
    let mut key = b"f:".to_vec();
    key.extend_from_slice(&original.to_be_bytes());
    key.extend_from_slice(&later.to_be_bytes());
    key
}

fn seq_of(raw: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(raw.try_into().ok()?))
}

/// Whether a message with these delivery states went to citizens.
fn went_out(states: &[DeliveryState]) -> bool {
    states
        .iter()
        .any(|s| matches!(s, DeliveryState::Sent | DeliveryState::Unknown))
}

/// Archives a message under the next number (once: a message already archived stays as it
/// is).
fn stage(
    archive: &TransactionalTree,
    index: &TransactionalTree,
    message: &Message,
    at: DateTime<Utc>,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    if index.get(format!("m:{}", message.id))?.is_some() {
        return Ok(());
    }
    let seq = index.get(LAST)?.as_deref().and_then(seq_of).unwrap_or(0) + 1;
    index.insert(LAST, &seq.to_be_bytes())?;
    let extra = |k: &str| message.extra.get(k).and_then(|v| v.as_str());
    let earlier = match (extra("correction_of"), extra("cap_follows")) {
        (Some(id), _) => index.get(format!("m:{id}"))?,
        (None, Some(reference)) => index.get(format!("c:{reference}"))?,
        (None, None) => None,
    };
    let follows = earlier.as_deref().and_then(seq_of);
    let record = ArchiveEntry {
        seq,
        message: message.clone(),
        sent_at: at,
        follows,
    };
    let encoded = encode(&record).map_err(ConflictableTransactionError::Abort)?;
    let key = seq.to_be_bytes();
    archive.insert(&key, encoded)?;
    index.insert(format!("m:{}", message.id).as_bytes(), &key)?;
    if let Some(reference) = extra("cap_ref") {
        index.insert(format!("c:{reference}").as_bytes(), &key)?;
    }
    if let Some(original) = follows {
        index.insert(follow_key(original, seq), &[])?;
    }
    Ok(())
}

impl Store {
    /// Archives a message a sink took (or may have), at `at`; nothing when it already is.
    pub fn archive_sent(&self, entry: &OutboxEntry, at: DateTime<Utc>) -> Result<(), StoreError> {
        (self.archive.tree(), &self.archive_index)
            .transaction(|(archive, index)| stage(archive, index, &entry.message, at))?;
        Ok(())
    }

    /// The id of the archived message a CAP alert reference names (what an update or a
    /// cancellation continues), if it went out.
    pub fn message_for_cap(&self, reference: &str) -> Result<Option<String>, StoreError> {
        let Some(seq) = self
            .archive_index
            .get(format!("c:{reference}"))?
            .as_deref()
            .and_then(seq_of)
        else {
            return Ok(None);
        };
        Ok(self.archived(seq)?.map(|e| e.message.id))
    }

    /// One archived message.
    pub fn archived(&self, seq: u64) -> Result<Option<ArchiveEntry>, StoreError> {
        self.archive.get(seq.to_be_bytes())
    }

    /// The whole story of an archived message: the first message of its chain (what it
    /// followed, and what that followed…) and everything that followed that one, oldest first;
    /// the message itself included.
    pub fn archive_story(&self, seq: u64) -> Result<Vec<ArchiveEntry>, StoreError> {
        let mut first = seq;
        // A chain is a few messages; the bound only guards against a loop in damaged links.
        for _ in 0..64 {
            match self.archived(first)?.and_then(|e| e.follows) {
                Some(earlier) if earlier != first => first = earlier,
                _ => break,
            }
        }
        let mut story: Vec<ArchiveEntry> = self.archived(first)?.into_iter().collect();
        story.extend(self.followups(first)?);
        Ok(story)
    }

    /// What corrected, updated or revoked an archived message, oldest first.
    fn followups(&self, seq: u64) -> Result<Vec<ArchiveEntry>, StoreError> {
        let mut prefix = b"f:".to_vec();
        prefix.extend_from_slice(&seq.to_be_bytes());
        let mut out = Vec::new();
        for r in self.archive_index.scan_prefix(&prefix) {
            let (key, _) = r?;
            if let Some(later) = key.get(prefix.len()..).and_then(seq_of) {
                out.extend(self.archived(later)?);
            }
        }
        Ok(out)
    }

    /// A page of the archive, newest first: the entries `filter` lets through, skipping
    /// `skip`; also whether more follow. A search reads the archive from the newest entry
    /// (a comune's few thousand messages a year decode in milliseconds; no index to keep).
    pub fn archive_page(
        &self,
        filter: &ArchiveFilter,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<ArchiveEntry>, bool), StoreError> {
        self.archive.newest_page(|e| e.matches(filter), skip, take)
    }

    /// Changes whenever the archive does (a new entry, a new link): for HTTP validators.
    pub fn archive_version(&self) -> Result<String, StoreError> {
        let last = match self.archive.tree().last()? {
            Some((key, _)) => seq_of(&key).unwrap_or(0),
            None => 0,
        };
        Ok(format!("{last}-{}", self.archive_index.len()))
    }

    /// The categories and months present, for the archive's filters (a full read, like a
    /// search).
    pub fn archive_facets(&self, tz: chrono_tz::Tz) -> Result<Facets, StoreError> {
        let mut facets = Facets::default();
        let Facets { categories, months } = &mut facets;
        for r in self.archive.iter().rev() {
            let (_, entry) = r?;
            for c in entry.categories() {
                if !categories.contains(&c) {
                    categories.push(c);
                }
            }
            let month = entry.month(tz);
            if !months.contains(&month) {
                months.push(month);
            }
        }
        categories.sort();
        Ok(facets)
    }

    /// Fills an empty archive from the delivery log, once (a store from before the archive).
    pub(super) fn backfill_archive(&self) -> Result<(), StoreError> {
        if !self.archive.tree().is_empty() || self.log.tree().is_empty() {
            return Ok(());
        }
        for r in self.log.iter() {
            let (_, entry) = r?;
            let states: Vec<DeliveryState> = self
                .deliveries_of(&entry.message.id)?
                .into_iter()
                .map(|(_, record)| record.state)
                .collect();
            if !went_out(&states) {
                continue;
            }
            (self.archive.tree(), &self.archive_index).transaction(|(archive, index)| {
                stage(archive, index, &entry.message, entry.finished_at)
            })?;
        }
        Ok(())
    }
}
