//! What policy decided about each item (the `decisions` tree), and the batches flood
//! protection holds for an admin (the `held` tree). Both are written by the poll's one
//! transaction (`polls.rs`); here they are read, released and discarded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, Transactional};

use super::table::{decode, encode};
use super::{QueueItem, Store, StoreError};
use crate::ident::Key;
use crate::item::Message;

/// One recorded decision: what happened to a new item and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub at: DateTime<Utc>,
    pub source: String,
    pub title: String,
    pub url: Option<String>,
    /// `send`, `hold` or `drop` (as `preview --explain` names them).
    pub action: String,
    pub reason: String,
    /// The message made of the item, when one was.
    pub message_id: Option<String>,
}

/// A story that went out (sent, or waiting for review or an admin), so the same story from
/// another source is recognised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryRecord {
    pub source: String,
    pub title: String,
    pub at: DateTime<Utc>,
    /// The message that tells it (the poll's commit drops it when another source told the
    /// story first, in the same cycle).
    #[serde(default)]
    pub message_id: Option<String>,
}

/// A story key as stored: its kind, then its hash.
pub(super) fn story_key(key: &Key) -> [u8; 17] {
    let mut out = [0u8; 17];
    out[0] = key.kind;
    out[1..].copy_from_slice(&key.hash);
    out
}

impl Store {
    /// The story one of `keys` names, if one went out.
    pub fn story(&self, keys: &[Key]) -> Result<Option<StoryRecord>, StoreError> {
        for key in keys {
            if let Some(record) = self.stories.get(story_key(key))? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Forgets stories older than `cutoff`. Returns how many.
    pub(super) fn prune_stories(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut n = 0;
        for r in self.stories.iter() {
            let (k, story) = r?;
            if story.at < cutoff {
                self.stories.remove(&k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The newest decisions first, at most `limit`.
    pub fn recent_decisions(&self, limit: usize) -> Result<Vec<DecisionRecord>, StoreError> {
        self.decisions
            .iter()
            .rev()
            .take(limit)
            .map(|r| r.map(|(_, d)| d))
            .collect()
    }

    /// The decision that made a message, if it is still kept.
    pub fn decision_for(&self, message_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        for r in self.decisions.iter().rev() {
            let (_, d) = r?;
            if d.message_id.as_deref() == Some(message_id) {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// The messages a source's flood protection holds (empty: the source is not HELD).
    pub fn held(&self, source: &str) -> Result<Vec<Message>, StoreError> {
        Ok(self.held.get(source)?.unwrap_or_default())
    }

    /// Whether flood protection holds a batch of the source (read every poll: no decoding).
    pub fn is_held(&self, source: &str) -> Result<bool, StoreError> {
        Ok(self.held.tree().contains_key(source)?)
    }

    /// Moves a source's held batch into the review queue, where editors approve or reject
    /// each item. Returns how many.
    pub fn release_held(&self, source: &str, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let moved = (self.held.tree(), self.queue.tree()).transaction(|(held, queue)| {
            let Some(raw) = held.remove(source.as_bytes())? else {
                return Ok(0);
            };
            let batch: Vec<Message> = decode(&raw).map_err(ConflictableTransactionError::Abort)?;
            for message in &batch {
                let item = QueueItem::new(message.clone(), now);
                let value = encode(&item).map_err(ConflictableTransactionError::Abort)?;
                queue.insert(message.id.as_bytes(), value)?;
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(batch.len())
        })?;
        self.db.flush()?;
        Ok(moved)
    }

    /// Replaces a source's held batch by one message (its digest) in the outbox, with a
    /// decision for each item. `expected` is the batch the digest was made of: when a poll
    /// added to it meanwhile, nothing changes and `false` says so (try again).
    pub fn release_held_as(
        &self,
        source: &str,
        expected: &[Message],
        digest: &Message,
        decisions: &[DecisionRecord],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (key, entry, decided) = self.encode_digest(digest, decisions, now)?;
        let done = (self.held.tree(), self.outbox.tree(), self.decisions.tree()).transaction(
            |(held, outbox, decisions_tree)| {
                let Some(raw) = held.get(source.as_bytes())? else {
                    return Ok(false);
                };
                let batch: Vec<Message> =
                    decode(&raw).map_err(ConflictableTransactionError::Abort)?;
                if batch != expected {
                    return Ok(false);
                }
                held.remove(source.as_bytes())?;
                outbox.insert(key.as_slice(), entry.as_slice())?;
                for (k, v) in &decided {
                    decisions_tree.insert(k, v.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(true)
            },
        )?;
        if done {
            self.db.flush()?;
        }
        Ok(done)
    }

    /// Forgets a source's held batch (its items stay recorded as seen). Returns how many.
    pub fn discard_held(&self, source: &str) -> Result<usize, StoreError> {
        let Some(raw) = self.held.tree().remove(source)? else {
            return Ok(0);
        };
        self.db.flush()?;
        Ok(decode::<Vec<Message>>(&raw)?.len())
    }
}

impl Store {
    /// Takes a queued message out of the outbox unsent, with the decision that says why (a
    /// night item gone stale by morning). Only while no sink has begun delivering it: then
    /// `false`, and it stays.
    pub fn drop_queued(
        &self,
        outbox_key: &[u8],
        message_id: &str,
        sinks: &[&str],
        decision: &DecisionRecord,
    ) -> Result<bool, StoreError> {
        let id = self.next_id()?.to_be_bytes();
        let value = encode(decision)?;
        let records: Vec<Vec<u8>> = sinks
            .iter()
            .map(|sink| super::pair(message_id, sink))
            .collect();
        let dropped = (
            self.outbox.tree(),
            self.deliveries.tree(),
            self.decisions.tree(),
        )
            .transaction(|(outbox, deliveries, decided)| {
                for key in &records {
                    if deliveries.get(key)?.is_some() {
                        return Ok(false);
                    }
                }
                if outbox.remove(outbox_key)?.is_none() {
                    return Ok(false);
                }
                decided.insert(&id, value.as_slice())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(true)
            })?;
        Ok(dropped)
    }
}

impl Store {
    /// Normal messages finished since `since` (the daily cap counts them; digests too).
    pub fn normal_sent_since(&self, since: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut n = 0;
        for r in self.log.iter().rev() {
            let (_, entry) = r?;
            if entry.finished_at < since {
                break;
            }
            if entry.message.priority == crate::config::Priority::Normal {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Replaces queued messages by one digest of them, in one transaction: the digest is
    /// queued, the originals leave the outbox with a decision each. Only while no sink has
    /// begun delivering any of them (then `false`, and nothing changes).
    pub fn replace_with_digest(
        &self,
        queued: &[(Vec<u8>, String)],
        sinks: &[&str],
        digest: &Message,
        decisions: &[DecisionRecord],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (key, entry, decided) = self.encode_digest(digest, decisions, now)?;
        let records: Vec<Vec<u8>> = queued
            .iter()
            .flat_map(|(_, id)| sinks.iter().map(move |sink| super::pair(id, sink)))
            .collect();
        let done = (
            self.outbox.tree(),
            self.deliveries.tree(),
            self.decisions.tree(),
        )
            .transaction(|(outbox, deliveries, decisions_tree)| {
                for record in &records {
                    if deliveries.get(record)?.is_some() {
                        return Ok(false);
                    }
                }
                for (k, _) in queued {
                    if outbox.remove(k.as_slice())?.is_none() {
                        return Ok(false);
                    }
                }
                outbox.insert(key.as_slice(), entry.as_slice())?;
                for (k, v) in &decided {
                    decisions_tree.insert(k, v.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(true)
            })?;
        if done {
            self.db.flush()?;
        }
        Ok(done)
    }
}

impl Store {
    /// Whether a digest finished (or is queued) since `since`: one a day.
    pub fn digest_sent_since(&self, since: DateTime<Utc>) -> Result<bool, StoreError> {
        let digest = |m: &Message| m.extra.get("digest").and_then(|d| d.as_bool()) == Some(true);
        for r in self.outbox.iter() {
            let (_, e) = r?;
            if digest(&e.message) && e.enqueued_at >= since {
                return Ok(true);
            }
        }
        for r in self.log.iter().rev() {
            let (_, e) = r?;
            if e.finished_at < since {
                break;
            }
            if digest(&e.message) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// A digest's outbox key and entry, and its decisions with their keys, encoded.
type EncodedDigest = (Vec<u8>, Vec<u8>, Vec<([u8; 8], Vec<u8>)>);

impl Store {
    /// Encodes what queuing a digest writes: its outbox entry and one decision per item.
    fn encode_digest(
        &self,
        digest: &Message,
        decisions: &[DecisionRecord],
        now: DateTime<Utc>,
    ) -> Result<EncodedDigest, StoreError> {
        let (key, entry) = super::outbox_entry(self, digest, now)?;
        let decided = decisions
            .iter()
            .map(|d| Ok((self.next_id()?.to_be_bytes(), encode(d)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((key, encode(&entry)?, decided))
    }
}
