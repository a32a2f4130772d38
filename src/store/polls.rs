//! What polls write and read: seen keys, source states and pauses, sent alerts and bulletin
//! levels, and the one transaction that commits a poll.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

use super::seen::SeenKeys;
use super::table::{decode, encode, Table};
use super::{
    outbox_entry, pair, Level, PollCommit, QueueItem, SentAlert, SourceState, Store, StoreError,
};
use super::{DecisionRecord, StoryRecord};
use crate::item::Message;

/// A source's seen keys after a poll: those it saw touched, and which of them the document
/// lists; `None` when nothing changed.
fn seen_after(
    raw: Option<&[u8]>,
    commit: &PollCommit,
    stamp: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut keys = match raw {
        Some(raw) => SeenKeys::decode(raw)?,
        None => SeenKeys::default(),
    };
    keys.touch(&commit.touch, stamp);
    let changed = keys.set_present(&commit.present) || !commit.touch.is_empty();
    Ok(changed.then(|| keys.encode()))
}

/// Inside a poll's transaction: [`seen_after`] written.
fn record_seen(
    seen: &TransactionalTree,
    source: &str,
    commit: &PollCommit,
    stamp: u64,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let raw = seen.get(source.as_bytes())?;
    let after =
        seen_after(raw.as_deref(), commit, stamp).map_err(ConflictableTransactionError::Abort)?;
    if let Some(value) = after {
        seen.insert(source.as_bytes(), value)?;
    }
    Ok(())
}

pub(super) fn stamp(at: DateTime<Utc>) -> [u8; 8] {
    (at.timestamp().max(0) as u64).to_be_bytes()
}

impl Store {
    pub fn source_state(&self, source: &str) -> Result<SourceState, StoreError> {
        Ok(self.sources.get(source)?.unwrap_or_default())
    }

    pub fn put_source_state(&self, source: &str, state: &SourceState) -> Result<(), StoreError> {
        self.sources.insert(source, state)
    }

    /// [`seen_after`] written outside a transaction, by compare-and-swap.
    fn update_seen(&self, source: &str, commit: &PollCommit, stamp: u64) -> Result<(), StoreError> {
        let mut current = self.seen.get(source.as_bytes())?;
        loop {
            let Some(after) = seen_after(current.as_deref(), commit, stamp)? else {
                return Ok(());
            };
            match self
                .seen
                .compare_and_swap(source.as_bytes(), current, Some(after))?
            {
                Ok(()) => return Ok(()),
                Err(conflict) => current = conflict.current,
            }
        }
    }

    /// The keys a source has seen, with when each was last seen.
    pub fn seen_keys(&self, source: &str) -> Result<SeenKeys, StoreError> {
        self.seen
            .get(source)?
            .map_or_else(|| Ok(SeenKeys::default()), |raw| SeenKeys::decode(&raw))
    }

    /// Records a poll's outcome atomically (see the module invariants). Returns the number of
    /// messages queued.
    pub fn commit_poll(
        &self,
        source: &str,
        commit: &PollCommit,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let state = encode(&commit.state)?;
        let stamp = now.timestamp().max(0) as u64;
        if commit.bookkeeping_only() {
            // No transaction: a sled transaction seals and writes the log buffer as it
            // commits, which made a cold cycle of 1,000 baselines wait on 700 writes. The
            // seen keys are written first, then the state: sled's log is ordered and a crash
            // keeps a prefix of it, so a state (a baseline taken, new validators) is never
            // durable without the keys it covers. The keys are updated by compare-and-swap,
            // so a concurrent poll of the same source loses nothing.
            self.update_seen(source, commit, stamp)?;
            self.sources.tree().insert(source.as_bytes(), state)?;
            return Ok(0);
        }
        let review = commit
            .review
            .iter()
            .map(|m| {
                let item = QueueItem::new(m.clone(), now);
                Ok((m.id.clone(), encode(&item)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let entries = commit
            .messages
            .iter()
            .map(|m| {
                let (key, entry) = outbox_entry(self, m, now)?;
                Ok((key, encode(&entry)?, m.id.as_str()))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let decisions = commit
            .decisions
            .iter()
            .map(|d| Ok((self.next_id()?.to_be_bytes(), encode(d)?, d)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let stories = commit
            .stories
            .iter()
            .map(|(k, story)| Ok((super::decisions::story_key(k), encode(story)?, story)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let alerts = commit
            .sent_alerts
            .iter()
            .map(|(r, a)| {
                let a = SentAlert {
                    sent_at: Some(now),
                    ..a.clone()
                };
                Ok((pair(source, r), encode(&a)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let levels = commit
            .levels
            .iter()
            .map(|(k, l)| {
                let l = Level {
                    at: Some(now),
                    ..l.clone()
                };
                Ok((pair(source, k), encode(&l)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let queued = (
            &self.seen,
            self.outbox.tree(),
            self.sources.tree(),
            self.alert_refs.tree(),
            self.levels.tree(),
            self.queue.tree(),
            self.held.tree(),
            self.decisions.tree(),
            self.stories.tree(),
            self.sent_items.tree(),
        )
            .transaction(
                |(
                    seen,
                    outbox,
                    sources,
                    alert_refs,
                    level_tree,
                    queue,
                    held,
                    decided,
                    told,
                    sent_items,
                )| {
                    for (key, value) in &review {
                        queue.insert(key.as_bytes(), value.as_slice())?;
                    }
                    for message in &commit.queue_refresh {
                        let Some(raw) = queue.get(message.id.as_bytes())? else {
                            continue;
                        };
                        let mut item: QueueItem =
                            decode(&raw).map_err(ConflictableTransactionError::Abort)?;
                        if item.rejected_at.is_some() {
                            continue;
                        }
                        if !item.edited && item.message.text != message.text {
                            item.message = message.clone();
                            item.refreshed_at = Some(now);
                        }
                        item.removed_at = None;
                        let value = encode(&item).map_err(ConflictableTransactionError::Abort)?;
                        queue.insert(message.id.as_bytes(), value)?;
                    }
                    for id in &commit.queue_removed {
                        let Some(raw) = queue.get(id.as_bytes())? else {
                            continue;
                        };
                        let mut item: QueueItem =
                            decode(&raw).map_err(ConflictableTransactionError::Abort)?;
                        if item.removed_at.is_none() {
                            item.removed_at = Some(now);
                            let value =
                                encode(&item).map_err(ConflictableTransactionError::Abort)?;
                            queue.insert(id.as_bytes(), value)?;
                        }
                    }
                    if !commit.held.is_empty() {
                        let mut batch: Vec<Message> = match held.get(source.as_bytes())? {
                            Some(raw) => {
                                decode(&raw).map_err(ConflictableTransactionError::Abort)?
                            }
                            None => Vec::new(),
                        };
                        batch.extend(commit.held.iter().cloned());
                        let value = encode(&batch).map_err(ConflictableTransactionError::Abort)?;
                        held.insert(source.as_bytes(), value)?;
                    }
                    // One story, one message, also when two sources bring it in the same
                    // cycle: the first commit tells it, the second finds it here.
                    let mut told_elsewhere: HashMap<&str, String> = HashMap::new();
                    for (key, _, story) in &stories {
                        let (Some(id), Some(raw)) = (story.message_id.as_deref(), told.get(key)?)
                        else {
                            continue;
                        };
                        let other: StoryRecord =
                            decode(&raw).map_err(ConflictableTransactionError::Abort)?;
                        if other.source != source && now - other.at <= super::STORY_WINDOW {
                            told_elsewhere.entry(id).or_insert_with(|| {
                                format!("same story as {}: «{}»", other.source, other.title)
                            });
                        }
                    }
                    let elsewhere = |id: Option<&str>| id.and_then(|id| told_elsewhere.get(id));
                    for (key, value, d) in &decisions {
                        match elsewhere(d.message_id.as_deref()) {
                            Some(reason) => {
                                let dropped = DecisionRecord {
                                    action: "drop".into(),
                                    reason: reason.clone(),
                                    ..(*d).clone()
                                };
                                let value = encode(&dropped)
                                    .map_err(ConflictableTransactionError::Abort)?;
                                decided.insert(key.as_slice(), value)?;
                            }
                            None => {
                                decided.insert(key.as_slice(), value.as_slice())?;
                            }
                        }
                    }
                    for (key, value, story) in &stories {
                        if elsewhere(story.message_id.as_deref()).is_none() {
                            told.insert(key.as_slice(), value.as_slice())?;
                        }
                    }
                    if !commit.sent_items.is_empty() {
                        let raw = sent_items.get(source.as_bytes())?;
                        let merged = super::sent::merge(raw.as_deref(), &commit.sent_items, now)
                            .map_err(ConflictableTransactionError::Abort)?;
                        sent_items.insert(source.as_bytes(), merged)?;
                    }
                    record_seen(seen, source, commit, stamp)?;
                    let mut queued = 0;
                    for (key, value, id) in &entries {
                        if elsewhere(Some(id)).is_none() {
                            outbox.insert(key.as_slice(), value.as_slice())?;
                            queued += 1;
                        }
                    }
                    for (key, value) in &alerts {
                        alert_refs.insert(key.as_slice(), value.as_slice())?;
                    }
                    for (key, value) in &levels {
                        level_tree.insert(key.as_slice(), value.as_slice())?;
                    }
                    sources.insert(source.as_bytes(), state.as_slice())?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(queued)
                },
            )?;
        Ok(queued)
    }

    /// The alert sent under a CAP reference, if it was sent.
    pub fn sent_alert(
        &self,
        source: &str,
        reference: &str,
    ) -> Result<Option<SentAlert>, StoreError> {
        self.alert_refs.get(pair(source, reference))
    }

    /// The last level announced for a bulletin key.
    pub fn level(&self, source: &str, key: &str) -> Result<Option<Level>, StoreError> {
        self.levels.get(pair(source, key))
    }

    pub fn source_paused(&self, source: &str) -> Result<bool, StoreError> {
        Ok(self.paused_sources.contains_key(source)?)
    }

    pub fn set_source_paused(&self, source: &str, paused: bool) -> Result<(), StoreError> {
        if paused {
            self.paused_sources.insert(source, &[])?;
        } else {
            self.paused_sources.remove(source)?;
        }
        self.paused_sources.flush()?;
        Ok(())
    }

    /// Forgets everything about one source: its state, its pause and its seen keys. Added
    /// again under the same name, it starts with a baseline (nothing old is sent).
    pub fn forget_source(&self, source: &str) -> Result<(), StoreError> {
        self.sources.remove(source)?;
        self.paused_sources.remove(source)?;
        self.seen.remove(source)?;
        self.db.flush()?;
        Ok(())
    }

    /// Forgets the state (validators, health, the items it listed) and the pause of every
    /// source not among `configured`: a source removed from the configuration. Added again,
    /// it starts with a baseline. Returns how many.
    pub fn forget_sources_except(&self, configured: &HashSet<&str>) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        for r in self.sources.iter() {
            let (name, _) = r?;
            if !configured.contains(String::from_utf8_lossy(&name).as_ref()) {
                self.sources.remove(&name)?;
                self.paused_sources.remove(&name)?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// Forgets seen keys older than `cutoff`, except those of items still present in their
    /// source. Returns how many.
    pub(super) fn prune_seen(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = cutoff.timestamp().max(0) as u64;
        let mut forgotten = 0;
        for r in self.seen.iter() {
            let (source, raw) = r?;
            if SeenKeys::decode(&raw)?.forget_before(cutoff) == 0 {
                continue;
            }
            // Read again and write in a transaction: a poll committing this source meanwhile
            // must not lose the keys it just recorded.
            forgotten += self.seen.transaction(|seen| {
                let Some(raw) = seen.get(&source)? else {
                    return Ok(0);
                };
                let mut keys =
                    SeenKeys::decode(&raw).map_err(ConflictableTransactionError::Abort)?;
                let gone = keys.forget_before(cutoff);
                if keys.is_empty() {
                    seen.remove(&source)?;
                } else if gone > 0 {
                    seen.insert(&source, keys.encode())?;
                }
                Ok(gone)
            })?;
        }
        Ok(forgotten)
    }

    /// Forgets sent alerts and bulletin levels older than `cutoff`. Records from before they
    /// carried a date are dated `now`, so they go in their turn.
    pub(super) fn prune_alerts(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let alerts = prune_dated(&self.alert_refs, cutoff, now, |a| &mut a.sent_at)?;
        let levels = prune_dated(&self.levels, cutoff, now, |l| &mut l.at)?;
        Ok(alerts + levels)
    }
}

/// Removes the records of `table` dated before `cutoff`; an undated record is dated `now`.
/// Returns how many went.
fn prune_dated<V: serde::Serialize + serde::de::DeserializeOwned>(
    table: &Table<V>,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
    date: impl Fn(&mut V) -> &mut Option<DateTime<Utc>>,
) -> Result<usize, StoreError> {
    let mut forgotten = 0;
    for r in table.iter() {
        let (k, mut value) = r?;
        match *date(&mut value) {
            Some(at) if at < cutoff => {
                table.remove(&k)?;
                forgotten += 1;
            }
            Some(_) => {}
            None => {
                *date(&mut value) = Some(now);
                table.insert(&k, &value)?;
            }
        }
    }
    Ok(forgotten)
}
