//! The sled store: the only owner of persistent state.
//!
//! Trees (all keys are bytes, values JSON unless noted):
//!
//! | tree         | key                                  | value                      |
//! |--------------|--------------------------------------|----------------------------|
//! | `seen`       | source \0 kind-byte hash[16]         | last seen, unix secs (u64) |
//! | `sources`    | source name                          | [`SourceState`]            |
//! | `outbox`     | priority-byte seq(u64 BE)            | [`OutboxEntry`]            |
//! | `deliveries` | message id \0 sink name              | [`DeliveryRecord`]         |
//! | `log`        | seq(u64 BE)                          | [`LogEntry`]               |
//! | `alert_refs` | source \0 CAP `sender,identifier,sent` | [`SentAlert`] (alerts sent) |
//! | `levels`     | source \0 bulletin key (sender, area)  | [`Level`]                  |
//! | `subscribers`| phone (international digits)         | [`Subscriber`]             |
//! | `recipients` | message id \0 sink \0 phone            | [`RecipientRecord`]        |
//! | `wamids`     | provider message id                  | the `recipients` key       |
//! | `pauses`     | sink name                            | [`Pause`]                  |
//! | `paused_sources` | source name                      | empty (an admin paused it) |
//! | `queue`      | message id                           | [`QueueItem`] (review)     |
//! | `audit`      | seq(u64 BE)                          | [`AuditEntry`]             |
//!
//! Invariants:
//! - A poll's new seen keys, its outbox entries and the source's new state (validators
//!   included) are written in **one transaction**: either the items are both "seen" and
//!   queued, or neither (and the next poll finds them again).
//! - A delivery's intent record is **flushed to disk before** the request leaves.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::config::Priority;
use crate::fetch::Validators;
use crate::ident::Key;
use crate::item::Message;
use crate::phone::Phone;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("the store in {0} is in use by another banditore (is `banditore run` running with this data directory?)")]
    Locked(String),
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("store: a record cannot be read ({0}); was the data directory written by a newer banditore?")]
    Corrupt(String),
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

/// What the store remembers about one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    /// The first successful poll recorded what was there; from then on new items are sent.
    pub baselined: bool,
    #[serde(default)]
    pub validators: Validators,
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    #[serde(default)]
    pub consecutive_failures: u32,
    pub next_poll: Option<DateTime<Utc>>,
    /// Items recorded as seen, over the source's life.
    #[serde(default)]
    pub items_seen: u64,
    /// Items in the last successful parse.
    #[serde(default)]
    pub items_present: usize,
    /// One key (hex) per item present in the feed at the last successful parse: pruning never
    /// forgets these, even when the feed answers 304 for months.
    #[serde(default)]
    pub present: Vec<String>,
}

/// A queued message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: u64,
    pub message: Message,
    pub enqueued_at: DateTime<Utc>,
}

/// Where a delivery of one message to one sink stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// About to be sent (written and flushed before the request).
    Intent,
    /// Accepted by the sink.
    Sent,
    /// The request may or may not have arrived; never re-sent automatically.
    Unknown,
    /// Refused for good by the sink.
    Failed,
}

impl DeliveryState {
    pub fn is_final(self) -> bool {
        !matches!(self, DeliveryState::Intent)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub state: DeliveryState,
    pub at: DateTime<Utc>,
    pub provider_id: Option<String>,
    pub detail: Option<String>,
}

/// A message whose deliveries are all final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub message: Message,
    pub enqueued_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// An alert that was sent, so that its updates and cancellations can refer to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentAlert {
    pub title: String,
    pub url: String,
}

/// The last level a bulletin announced for an area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub level: String,
    pub expires: Option<DateTime<Utc>>,
}

/// An opted-in citizen. Only the number and the consent are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    pub consented_at: DateTime<Utc>,
    /// The words of the consent (the keyword they sent, or the import's consent column).
    pub consent_text: String,
    /// The inbound message that gave consent, when it came through WhatsApp.
    pub consent_message_id: Option<String>,
    /// When they last wrote to us: free-form messages are allowed for 24 hours after.
    pub last_inbound_at: Option<DateTime<Utc>>,
}

/// Where the delivery of one message to one recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Written (and flushed) before the request.
    Intent,
    /// Refused for now (rate limit for this recipient): tried again after `not_before`.
    Retry,
    /// The request's fate is unknown: never re-sent automatically.
    Unknown,
    /// Accepted by the provider.
    Sent,
    Delivered,
    Read,
    /// Refused for good, or reported failed by a status webhook.
    Failed,
}

impl RecipientState {
    pub fn is_final(self) -> bool {
        !matches!(self, RecipientState::Intent | RecipientState::Retry)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientRecord {
    pub state: RecipientState,
    pub at: DateTime<Utc>,
    pub wamid: Option<String>,
    pub detail: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    pub not_before: Option<DateTime<Utc>>,
}

/// A sink stopped by an account problem, and until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub until: DateTime<Utc>,
    pub reason: String,
}

/// A message waiting for an editor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub message: Message,
    pub queued_at: DateTime<Utc>,
    /// Approved for sending at this time.
    pub send_at: Option<DateTime<Utc>>,
    pub edited: bool,
}

/// One editorial action, kept for accountability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub who: String,
    /// approve, schedule, edit, reject, expire, source-add, source-pause, …
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Everything one successful poll writes, in one transaction.
#[derive(Debug, Default)]
pub struct PollCommit {
    pub state: SourceState,
    /// Keys to record (new items) or refresh (items still present).
    pub touch: Vec<Key>,
    pub messages: Vec<Message>,
    /// CAP alerts queued by this poll, by reference.
    pub sent_alerts: Vec<(String, SentAlert)>,
    /// Bulletin levels seen by this poll.
    pub levels: Vec<(String, Level)>,
    /// Messages for the review queue.
    pub review: Vec<Message>,
}

/// Handle to the store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    seen: sled::Tree,
    sources: sled::Tree,
    outbox: sled::Tree,
    deliveries: sled::Tree,
    log: sled::Tree,
    alert_refs: sled::Tree,
    levels: sled::Tree,
    subscribers: sled::Tree,
    recipients: sled::Tree,
    wamids: sled::Tree,
    pauses: sled::Tree,
    queue: sled::Tree,
    audit: sled::Tree,
    /// Written only by admins, so a poll rewriting its source's state cannot undo a pause.
    paused_sources: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store of a data directory (in `<data_dir>/store`), with a page
    /// cache of `cache_mb` MiB.
    pub fn open_in(data_dir: &Path, cache_mb: u64) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::DataDir(data_dir.display().to_string(), e))?;
        match Store::open(
            &data_dir.join("store"),
            cache_mb.saturating_mul(1024 * 1024),
        ) {
            // sled reports its file lock as an I/O error of kind WouldBlock.
            Err(StoreError::Sled(sled::Error::Io(e)))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock") =>
            {
                Err(StoreError::Locked(data_dir.display().to_string()))
            }
            other => other,
        }
    }

    /// Opens (or creates) the store in `dir`, with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::LowSpace)
            .open()?;
        Ok(Store {
            seen: db.open_tree("seen")?,
            sources: db.open_tree("sources")?,
            outbox: db.open_tree("outbox")?,
            deliveries: db.open_tree("deliveries")?,
            log: db.open_tree("log")?,
            alert_refs: db.open_tree("alert_refs")?,
            levels: db.open_tree("levels")?,
            subscribers: db.open_tree("subscribers")?,
            recipients: db.open_tree("recipients")?,
            wamids: db.open_tree("wamids")?,
            pauses: db.open_tree("pauses")?,
            queue: db.open_tree("queue")?,
            audit: db.open_tree("audit")?,
            paused_sources: db.open_tree("paused_sources")?,
            db,
        })
    }

    /// Writes everything buffered to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    pub fn source_state(&self, source: &str) -> Result<SourceState, StoreError> {
        match self.sources.get(source)? {
            Some(v) => decode(&v),
            None => Ok(SourceState::default()),
        }
    }

    pub fn put_source_state(&self, source: &str, state: &SourceState) -> Result<(), StoreError> {
        self.sources.insert(source, encode(state)?)?;
        Ok(())
    }

    /// When each key was last seen (None for keys never seen).
    pub fn last_seen(&self, source: &str, keys: &[Key]) -> Result<Vec<Option<u64>>, StoreError> {
        keys.iter()
            .map(|k| {
                Ok(self
                    .seen
                    .get(seen_key(source, k))?
                    .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
            })
            .collect()
    }

    /// Records a poll's outcome atomically (see the module invariants). Returns the number of
    /// messages queued.
    pub fn commit_poll(
        &self,
        source: &str,
        commit: &PollCommit,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let stamp = (now.timestamp().max(0) as u64).to_be_bytes();
        let state = encode(&commit.state)?;
        let review = commit
            .review
            .iter()
            .map(|m| {
                let item = QueueItem {
                    message: m.clone(),
                    queued_at: now,
                    send_at: None,
                    edited: false,
                };
                Ok((m.id.clone(), encode(&item)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut entries = Vec::with_capacity(commit.messages.len());
        for message in &commit.messages {
            let seq = self.db.generate_id()?;
            let entry = OutboxEntry {
                seq,
                message: message.clone(),
                enqueued_at: now,
            };
            entries.push((outbox_key(message.priority, seq), encode(&entry)?));
        }
        let seen_keys: Vec<Vec<u8>> = commit.touch.iter().map(|k| seen_key(source, k)).collect();
        let alerts = commit
            .sent_alerts
            .iter()
            .map(|(r, a)| Ok((prefixed(source, r), encode(a)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let levels = commit
            .levels
            .iter()
            .map(|(k, l)| Ok((prefixed(source, k), encode(l)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        (
            &self.seen,
            &self.outbox,
            &self.sources,
            &self.alert_refs,
            &self.levels,
            &self.queue,
        )
            .transaction(|(seen, outbox, sources, alert_refs, level_tree, queue)| {
                for (key, value) in &review {
                    queue.insert(key.as_bytes(), value.as_slice())?;
                }
                for key in &seen_keys {
                    seen.insert(key.as_slice(), &stamp[..])?;
                }
                for (key, value) in &entries {
                    outbox.insert(key.as_slice(), value.as_slice())?;
                }
                for (key, value) in &alerts {
                    alert_refs.insert(key.as_slice(), value.as_slice())?;
                }
                for (key, value) in &levels {
                    level_tree.insert(key.as_slice(), value.as_slice())?;
                }
                sources.insert(source.as_bytes(), state.as_slice())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })?;
        Ok(entries.len())
    }

    /// The alert sent under a CAP reference, if it was sent.
    pub fn sent_alert(
        &self,
        source: &str,
        reference: &str,
    ) -> Result<Option<SentAlert>, StoreError> {
        self.alert_refs
            .get(prefixed(source, reference))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// The last level announced for a bulletin key.
    pub fn level(&self, source: &str, key: &str) -> Result<Option<Level>, StoreError> {
        self.levels
            .get(prefixed(source, key))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Queued messages, urgent first, then in order of arrival.
    pub fn outbox(&self) -> impl Iterator<Item = Result<(Vec<u8>, OutboxEntry), StoreError>> + '_ {
        self.outbox.iter().map(|r| {
            let (k, v) = r?;
            Ok((k.to_vec(), decode(&v)?))
        })
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    pub fn delivery(
        &self,
        message_id: &str,
        sink: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        self.deliveries
            .get(delivery_key(message_id, sink))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Records a delivery state and flushes it to disk before returning.
    pub async fn set_delivery(
        &self,
        message_id: &str,
        sink: &str,
        record: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        self.deliveries
            .insert(delivery_key(message_id, sink), encode(record)?)?;
        self.db.flush_async().await?;
        Ok(())
    }

    /// Forgets an intent that certainly never reached the sink, so it is tried again.
    pub fn clear_delivery(&self, message_id: &str, sink: &str) -> Result<(), StoreError> {
        self.deliveries.remove(delivery_key(message_id, sink))?;
        Ok(())
    }

    /// All delivery records of one message, by sink name.
    pub fn deliveries_of(
        &self,
        message_id: &str,
    ) -> Result<Vec<(String, DeliveryRecord)>, StoreError> {
        let mut prefix = message_id.as_bytes().to_vec();
        prefix.push(0);
        self.deliveries
            .scan_prefix(&prefix)
            .map(|r| {
                let (k, v) = r?;
                let sink = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                Ok((sink, decode(&v)?))
            })
            .collect()
    }

    /// Moves a message whose deliveries are all final from the outbox to the log.
    pub fn finish(
        &self,
        outbox_key: &[u8],
        entry: &OutboxEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let log = encode(&LogEntry {
            seq: entry.seq,
            message: entry.message.clone(),
            enqueued_at: entry.enqueued_at,
            finished_at: now,
        })?;
        (&self.outbox, &self.log).transaction(|(outbox, logt)| {
            outbox.remove(outbox_key)?;
            logt.insert(&entry.seq.to_be_bytes(), log.as_slice())?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        Ok(())
    }

    /// The most recent finished messages, newest first.
    pub fn recent_log(&self, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        self.log
            .iter()
            .rev()
            .take(limit)
            .map(|r| decode(&r?.1))
            .collect()
    }

    /// Forgets seen keys older than `cutoff` (except those of items still present in their
    /// source) and log entries finished before it, with their delivery records.
    pub fn prune(&self, cutoff: DateTime<Utc>) -> Result<PruneReport, StoreError> {
        let cutoff_secs = cutoff.timestamp().max(0) as u64;
        let mut protected: HashSet<Vec<u8>> = HashSet::new();
        for r in self.sources.iter() {
            let (name, v) = r?;
            let state: SourceState = decode(&v)?;
            for hex_key in &state.present {
                if let Ok(raw) = hex::decode(hex_key) {
                    let mut key = name.to_vec();
                    key.push(0);
                    key.extend_from_slice(&raw);
                    protected.insert(key);
                }
            }
        }
        let mut report = PruneReport::default();
        for r in self.seen.iter() {
            let (k, v) = r?;
            let stamp = v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            if stamp < cutoff_secs && !protected.contains(k.as_ref()) {
                self.seen.remove(&k)?;
                report.seen += 1;
            }
        }
        for r in self.log.iter() {
            let (k, v) = r?;
            let entry: LogEntry = decode(&v)?;
            if entry.finished_at < cutoff {
                for (sink, _) in self.deliveries_of(&entry.message.id)? {
                    self.deliveries
                        .remove(delivery_key(&entry.message.id, &sink))?;
                }
                self.log.remove(&k)?;
                report.log += 1;
            }
        }
        Ok(report)
    }

    // --- subscribers -------------------------------------------------------------------

    pub fn subscribe(&self, phone: &Phone, subscriber: &Subscriber) -> Result<(), StoreError> {
        self.subscribers
            .insert(phone.as_str(), encode(subscriber)?)?;
        Ok(())
    }

    /// Removes a number (opt-out or deletion). Returns whether it was there.
    pub fn unsubscribe(&self, phone: &Phone) -> Result<bool, StoreError> {
        Ok(self.subscribers.remove(phone.as_str())?.is_some())
    }

    pub fn subscriber(&self, phone: &Phone) -> Result<Option<Subscriber>, StoreError> {
        self.subscribers
            .get(phone.as_str())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Every subscriber, in number order, read lazily: memory does not grow with the list.
    pub fn subscribers(
        &self,
    ) -> impl Iterator<Item = Result<(String, Subscriber), StoreError>> + '_ {
        self.subscribers.iter().map(|r| {
            let (k, v) = r?;
            Ok((String::from_utf8_lossy(&k).into_owned(), decode(&v)?))
        })
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    /// Notes that a subscriber wrote to us (opens the 24-hour window).
    pub fn note_inbound(&self, phone: &Phone, at: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(mut s) = self.subscriber(phone)? {
            s.last_inbound_at = Some(at);
            self.subscribe(phone, &s)?;
        }
        Ok(())
    }

    // --- per-recipient deliveries ---------------------------------------------------------

    pub fn recipient(
        &self,
        message_id: &str,
        sink: &str,
        phone: &str,
    ) -> Result<Option<RecipientRecord>, StoreError> {
        self.recipients
            .get(recipient_key(message_id, sink, phone))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Records a batch of recipient states and flushes them to disk before returning.
    pub async fn set_recipients(
        &self,
        message_id: &str,
        sink: &str,
        batch: &[(String, RecipientRecord)],
    ) -> Result<(), StoreError> {
        let mut recipients = sled::Batch::default();
        let mut wamids = sled::Batch::default();
        for (phone, record) in batch {
            let key = recipient_key(message_id, sink, phone);
            if let Some(wamid) = &record.wamid {
                wamids.insert(wamid.as_bytes(), key.as_slice());
            }
            recipients.insert(key, encode(record)?);
        }
        self.recipients.apply_batch(recipients)?;
        self.wamids.apply_batch(wamids)?;
        self.db.flush_async().await?;
        Ok(())
    }

    /// How many recipients of a message on a sink are in each state.
    pub fn recipient_counts(
        &self,
        message_id: &str,
        sink: &str,
    ) -> Result<Vec<(RecipientState, usize)>, StoreError> {
        let prefix = recipient_key(message_id, sink, "");
        let mut counts: Vec<(RecipientState, usize)> = Vec::new();
        for r in self.recipients.scan_prefix(&prefix) {
            let (_, v) = r?;
            let record: RecipientRecord = decode(&v)?;
            match counts.iter_mut().find(|(s, _)| *s == record.state) {
                Some((_, n)) => *n += 1,
                None => counts.push((record.state, 1)),
            }
        }
        counts.sort();
        Ok(counts)
    }

    /// Applies a provider status (sent, delivered, read, failed) to the delivery it names.
    /// Repeated and out-of-order events are harmless: a state only moves forward, and
    /// `failed` does not undo a delivery already confirmed. Returns whether a record changed.
    pub fn apply_status(
        &self,
        wamid: &str,
        status: RecipientState,
        at: DateTime<Utc>,
        detail: Option<String>,
    ) -> Result<bool, StoreError> {
        let Some(key) = self.wamids.get(wamid)? else {
            return Ok(false);
        };
        let Some(current) = self.recipients.get(&key)? else {
            return Ok(false);
        };
        let mut record: RecipientRecord = decode(&current)?;
        let forward = match (record.state, status) {
            (RecipientState::Delivered | RecipientState::Read, RecipientState::Failed) => false,
            (RecipientState::Failed, _) => false,
            (from, to) => to > from,
        };
        if !forward {
            return Ok(false);
        }
        record.state = status;
        record.at = at;
        if detail.is_some() {
            record.detail = detail;
        }
        self.recipients.insert(key, encode(&record)?)?;
        Ok(true)
    }

    // --- source and sink pauses ---------------------------------------------------------------

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

    pub fn pause(&self, sink: &str) -> Result<Option<Pause>, StoreError> {
        self.pauses.get(sink)?.map(|v| decode(&v)).transpose()
    }

    pub fn set_pause(&self, sink: &str, pause: Option<&Pause>) -> Result<(), StoreError> {
        match pause {
            Some(p) => self.pauses.insert(sink, encode(p)?).map(|_| ())?,
            None => self.pauses.remove(sink).map(|_| ())?,
        }
        Ok(())
    }

    // --- review queue and audit -------------------------------------------------------------

    pub fn queue(&self) -> impl Iterator<Item = Result<QueueItem, StoreError>> + '_ {
        self.queue.iter().map(|r| decode(&r?.1))
    }

    pub fn queue_item(&self, id: &str) -> Result<Option<QueueItem>, StoreError> {
        self.queue.get(id)?.map(|v| decode(&v)).transpose()
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub fn put_queue_item(&self, item: &QueueItem) -> Result<(), StoreError> {
        self.queue
            .insert(item.message.id.as_bytes(), encode(item)?)?;
        Ok(())
    }

    /// Removes an item from the queue and, when `send` is set, queues it for delivery: in one
    /// transaction, so an approved message is never lost nor queued twice.
    pub fn release(
        &self,
        id: &str,
        send: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<QueueItem>, StoreError> {
        let Some(item) = self.queue_item(id)? else {
            return Ok(None);
        };
        let seq = self.db.generate_id()?;
        let entry = encode(&OutboxEntry {
            seq,
            message: item.message.clone(),
            enqueued_at: now,
        })?;
        let key = outbox_key(item.message.priority, seq);
        (&self.queue, &self.outbox).transaction(|(queue, outbox)| {
            queue.remove(id.as_bytes())?;
            if send {
                outbox.insert(key.as_slice(), entry.as_slice())?;
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        self.db.flush()?;
        Ok(Some(item))
    }

    pub fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let seq = self.db.generate_id()?;
        self.audit.insert(seq.to_be_bytes(), encode(entry)?)?;
        Ok(())
    }

    /// The most recent editorial actions, newest first.
    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit
            .iter()
            .rev()
            .take(limit)
            .map(|r| decode(&r?.1))
            .collect()
    }

    /// Number of seen keys (all sources).
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub seen: usize,
    pub log: usize,
}

/// The key stored for a [`Key`] in `present` lists.
pub fn present_key(key: &Key) -> String {
    let mut raw = Vec::with_capacity(17);
    raw.push(key.kind);
    raw.extend_from_slice(&key.hash);
    hex::encode(raw)
}

fn seen_key(source: &str, key: &Key) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + 18);
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.push(key.kind);
    k.extend_from_slice(&key.hash);
    k
}

fn recipient_key(message_id: &str, sink: &str, phone: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(message_id.len() + sink.len() + phone.len() + 2);
    k.extend_from_slice(message_id.as_bytes());
    k.push(0);
    k.extend_from_slice(sink.as_bytes());
    k.push(0);
    k.extend_from_slice(phone.as_bytes());
    k
}

fn prefixed(source: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + key.len() + 1);
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn outbox_key(priority: Priority, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(match priority {
        Priority::Urgent => 0,
        Priority::Normal => 1,
    });
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn delivery_key(message_id: &str, sink: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(message_id.len() + sink.len() + 1);
    k.extend_from_slice(message_id.as_bytes());
    k.push(0);
    k.extend_from_slice(sink.as_bytes());
    k
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::Identity;
    use crate::item::Item;

    fn message(id: &str, priority: Priority) -> Message {
        Message {
            id: id.into(),
            source: "s".into(),
            kind: "feed".into(),
            title: "t".into(),
            url: "https://a.example/".into(),
            text: "t".into(),
            image: None,
            priority,
            published: None,
            tags: vec![],
            extra: Default::default(),
        }
    }

    fn keys(title: &str) -> Vec<Key> {
        Identity::of(&Item {
            title: title.into(),
            ..Item::default()
        })
        .keys
    }

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + days * 86_400, 0).unwrap()
    }

    #[test]
    fn commit_is_atomic_and_outbox_is_priority_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let commit = PollCommit {
            state: SourceState {
                baselined: true,
                ..SourceState::default()
            },
            touch: keys("uno"),
            messages: vec![
                message("a", Priority::Normal),
                message("b", Priority::Urgent),
            ],
            ..PollCommit::default()
        };
        assert_eq!(store.commit_poll("s", &commit, at(0)).unwrap(), 2);
        assert!(store.source_state("s").unwrap().baselined);
        assert!(store
            .last_seen("s", &keys("uno"))
            .unwrap()
            .iter()
            .all(Option::is_some));
        assert!(store
            .last_seen("other", &keys("uno"))
            .unwrap()
            .iter()
            .all(Option::is_none));
        let order: Vec<String> = store.outbox().map(|r| r.unwrap().1.message.id).collect();
        assert_eq!(order, ["b", "a"]);
    }

    #[test]
    fn prune_forgets_old_keys_but_not_present_items() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let old = keys("vecchio");
        let present = keys("ancora nel feed");
        let mut touch = old.clone();
        touch.extend(present.iter().copied());
        let state = SourceState {
            baselined: true,
            present: vec![present_key(&present[0])],
            ..SourceState::default()
        };
        store
            .commit_poll(
                "s",
                &PollCommit {
                    state,
                    touch,
                    ..PollCommit::default()
                },
                at(0),
            )
            .unwrap();
        let report = store.prune(at(200)).unwrap();
        assert_eq!(report.seen, old.len() + present.len() - 1);
        assert!(store
            .last_seen("s", &old)
            .unwrap()
            .iter()
            .all(Option::is_none));
        assert!(store.last_seen("s", &present[..1]).unwrap()[0].is_some());
        // Nothing younger than the cutoff goes.
        assert_eq!(store.prune(at(-1)).unwrap(), PruneReport::default());
    }

    #[tokio::test]
    async fn deliveries_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let commit = PollCommit {
            messages: vec![message("m1", Priority::Normal)],
            ..PollCommit::default()
        };
        store.commit_poll("s", &commit, at(0)).unwrap();
        let record = DeliveryRecord {
            state: DeliveryState::Sent,
            at: at(0),
            provider_id: Some("p1".into()),
            detail: None,
        };
        store.set_delivery("m1", "log", &record).await.unwrap();
        assert_eq!(store.delivery("m1", "log").unwrap(), Some(record));
        let (key, entry) = store.outbox().next().unwrap().unwrap();
        store.finish(&key, &entry, at(0)).unwrap();
        assert_eq!(store.outbox_len(), 0);
        assert_eq!(store.recent_log(10).unwrap()[0].message.id, "m1");
        assert_eq!(store.prune(at(1)).unwrap().log, 1);
        assert_eq!(store.deliveries_of("m1").unwrap(), vec![]);
    }
}
