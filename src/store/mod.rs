//! The sled store: the only owner of persistent state.
//!
//! Trees (values JSON unless noted), and how long each record is kept:
//!
//! | tree | key | value | kept |
//! |---|---|---|---|
//! | `seen_by_source` | source name | [`SeenKeys`]: its items' keys, each with when it was last seen (raw, see `seen.rs`) | each key `seen_max_age` after last seen; never while the item is in its feed |
//! | `sources` | source name | [`SourceState`] | while the source is configured |
//! | `paused_sources` | source name | empty | until resumed, or the source is removed |
//! | `alert_refs` | source \0 CAP `sender,identifier,sent` | [`SentAlert`] | `seen_max_age` after sending |
//! | `levels` | source \0 bulletin key (sender, area) | [`Level`] | `seen_max_age` after the announcement |
//! | `outbox` | priority-byte seq (u64 BE) | [`OutboxEntry`] | until every delivery is final |
//! | `deliveries` | message id \0 sink | [`DeliveryRecord`] | with its log entry |
//! | `log` | seq (u64 BE) | [`LogEntry`] | `seen_max_age` after finishing |
//! | `archive` | its number 1, 2, 3… (u64 BE) | [`ArchiveEntry`]: a message that went to citizens, as sent (the citizens' archive) | always: a public authority's notices stay findable (a few MB a year) |
//! | `archive_index` | `n`; `m:` message id; `c:` CAP reference; `f:` number number (u64 BE each) | the last number given; an entry's number (raw); empty: what a message followed | with the archive |
//! | `recipients` | message id \0 sink \0 phone | [`RecipientRecord`] | [`RECIPIENT_RETENTION`] after the message finished (then counted in `tallies`), or until the number unsubscribes |
//! | `tallies` | message id \0 sink | how many recipients ended in each [`RecipientState`], once their records went | with its log entry |
//! | `recipients_by_phone` | phone \0 message id \0 sink | empty | with its recipient record |
//! | `wamids` | provider message id | the `recipients` key (raw) | with its recipient record |
//! | `pauses` | sink name | [`Pause`] | until it ends |
//! | `sink_health` | sink name | [`SinkHealth`]: last success, last error, failures in a row, next retry | while the sink is configured |
//! | `subscribers` | phone (international digits) | [`Subscriber`] | until STOP or deletion |
//! | `keywords` | `id` \0 inbound message id, or `ph` \0 SHA-256 of a phone (16 bytes) | the message's time and when it arrived (i64 BE each, raw) | [`KEYWORD_MEMORY`] after arriving |
//! | `queue` | message id | [`QueueItem`] (review) | until approved, rejected or expired |
//! | `held` | source name | the messages of a batch flood protection held | until an admin releases or discards it, or the source is removed |
//! | `stories` | key kind + hash (17 bytes) of an item's link or specific title | [`StoryRecord`]: the source and title that went out | [`STORY_WINDOW`] |
//! | `sent_items` | source name | [`SentItem`]s: recent sent feed items, their text and fingerprints (for corrections) | 14 days after sending, the newest 200 |
//! | `decisions` | seq (u64 BE) | [`DecisionRecord`]: what happened to a new item, and why | `seen_max_age` |
//! | `audit` | seq (u64 BE) | [`AuditEntry`] | [`AUDIT_RETENTION`] |
//! | `sessions` | SHA-256 of the admin UI's session cookie (32 bytes) | [`Session`]: user, role, CSRF token, expiry, one-shot message | until it expires, or its user logs out |
//! | `meta` | `last_prune`, `schema` | when pruning last ran, unix secs (u64 BE); the store's schema version ([`SCHEMA`], u32 BE) | one record each, overwritten |
//! | `admin_alarms` | alert key | [`RaisedAlarm`] | until the trouble clears |
//! | `signups` | `p:` phone; `s:` time and counter; `r:` SHA-256 of a phone (16 bytes) | [`Signup`]: a web sign-up waiting for the citizen's reply; empty: a confirmation sent; when the number said STOP (raw, see `signups.rs`) | [`SIGNUP_WINDOW`] (or until answered); a day; two years (or until ISCRIVIMI) |
//!
//! Beside the store, `snapshots/` holds a daily export (`store export`) of the last
//! [`snapshot::KEEP`] days, for a restore when sled cannot open its files.
//!
//! Invariants:
//! - A poll's new seen keys, its outbox entries and the source's new state (validators
//!   included) are written in **one transaction**: either the items are both "seen" and
//!   queued, or neither (and the next poll finds them again).
//! - A delivery's intent record is **flushed to disk before** the request leaves.
//! - A number that unsubscribes leaves no trace: its subscriber record, its per-recipient
//!   delivery records and their provider ids go together.

mod alarms;
mod archive;
mod decisions;
mod delivery;
mod export;
mod health;
mod people;
mod polls;
mod records;
mod retry;
mod seen;
mod sent;
mod sessions;
mod signups;
pub mod snapshot;
mod table;

use std::path::Path;

use chrono::{DateTime, Utc};
use sled::transaction::TransactionError;

use crate::config::Priority;
use crate::item::Message;

pub use alarms::RaisedAlarm;
pub use archive::{ArchiveEntry, ArchiveFilter, Facets};
pub use decisions::{DecisionRecord, StoryRecord};
pub use delivery::moves_forward;
pub use export::ExportError;
pub use health::DeliveryCounts;
pub use people::{Choice, KeywordOutcome, KEYWORD_MEMORY};
pub use records::*;
pub use retry::{Requeue, RequeueError, Requeued};
pub use seen::SeenKeys;
pub use sent::SentItem;
pub use sessions::{Flash, FlashLink, Session, SessionKey};
pub use signups::{NoSignup, Signup, SIGNUP_WINDOW};
use table::Table;

/// The same story from another source within this long is not sent again.
pub const STORY_WINDOW: chrono::Duration = chrono::Duration::days(3);

/// How long the per-recipient records of a finished message are kept (for late statuses,
/// STOP and an admin's retry); then only their counts stay, with the log entry. A city's
/// 100,000 subscribers would otherwise leave 100,000 records per message for `seen_max_age`
/// (180 days by default): gigabytes, and phone numbers kept longer than needed.
pub const RECIPIENT_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// How long editorial actions stay in the audit log.
pub const AUDIT_RETENTION: chrono::Duration = chrono::Duration::days(2 * 365);

/// An error of the storage engine underneath. Opaque on purpose: nothing outside this
/// module depends on which engine that is (see "The store's interface" in ARCHITECTURE.md).
#[derive(Debug, thiserror::Error)]
pub struct BackendError(sled::Error);

impl std::fmt::Display for BackendError {
    /// In words: sled's own text for corruption is a debug dump (offsets, backtraces).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            sled::Error::Corruption { .. } => f.write_str("its files hold corrupted data"),
            other => other.fmt(f),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Backend(BackendError),
    #[error("the store in {0} is in use by another banditore (is `banditore run` running with this data directory?)")]
    Locked(String),
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("store: a record cannot be read ({0}); was the data directory written by a newer banditore?")]
    Corrupt(String),
    #[error("the store in {dir} was written by a newer banditore (schema {found}; this one knows up to {SCHEMA}): run the newer version, or restore a snapshot made by this one")]
    Newer { dir: String, found: u32 },
    #[error("the store in {dir} cannot be opened ({error}).{restore}")]
    Unopenable {
        dir: String,
        error: String,
        /// How to restore the newest snapshot, when there is one.
        restore: String,
    },
}

/// The store's schema version: raised when a record's meaning changes, so that an older
/// banditore refuses a store it would misread. Written when a store is created.
pub const SCHEMA: u32 = 1;
/// The `meta` key of the schema version.
const SCHEMA_KEY: &[u8] = b"schema";

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(BackendError(e))
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// Handle to the store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Raw [`SeenKeys`] records.
    seen: sled::Tree,
    sources: Table<SourceState>,
    /// Written only by admins, so a poll rewriting its source's state cannot undo a pause.
    paused_sources: sled::Tree,
    alert_refs: Table<SentAlert>,
    levels: Table<Level>,
    outbox: Table<OutboxEntry>,
    deliveries: Table<DeliveryRecord>,
    log: Table<LogEntry>,
    /// Every message that went to citizens, by seq, never pruned (the citizens' archive).
    archive: Table<ArchiveEntry>,
    /// Raw: the archive's links (see `archive`).
    archive_index: sled::Tree,
    recipients: Table<RecipientRecord>,
    /// Counts of recipients by state, for messages whose per-recipient records went.
    tallies: Table<Vec<(RecipientState, usize)>>,
    /// Raw: phone \0 message \0 sink → empty.
    recipients_by_phone: sled::Tree,
    /// Raw: provider id → `recipients` key.
    wamids: sled::Tree,
    pauses: Table<Pause>,
    sink_health: Table<SinkHealth>,
    subscribers: Table<Subscriber>,
    /// Raw: keyword messages handled (by id) and each number's last keyword time (by hash).
    keywords: sled::Tree,
    queue: Table<QueueItem>,
    /// Batches flood protection holds for an admin, by source.
    held: Table<Vec<Message>>,
    /// What policy decided about each new item, by seq.
    decisions: Table<DecisionRecord>,
    /// Stories that went out, by story key (kind + hash), for one story, one message.
    stories: Table<StoryRecord>,
    /// Recent sent feed items per source, for corrections.
    sent_items: Table<Vec<SentItem>>,
    audit: Table<AuditEntry>,
    sessions: Table<Session>,
    /// Raw: web sign-ups waiting for the citizen's reply, confirmations sent, refusals.
    signups: sled::Tree,
    /// Admin alerts raised and not yet cleared, by key.
    alarms: Table<RaisedAlarm>,
    /// Raw: the store's own bookkeeping (when pruning last ran).
    meta: sled::Tree,
    /// The data directory, for a store opened in one ([`Store::open_in`]): its snapshots.
    data_dir: Option<std::sync::Arc<std::path::PathBuf>>,
    /// The highest id in use ([`Store::next_id`]).
    last_id: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What one pruning pass forgot.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub seen: usize,
    pub log: usize,
    pub alerts: usize,
    pub audit: usize,
    pub sessions: usize,
    /// Per-recipient records turned into counts.
    pub recipients: usize,
    /// Inbound message ids and keyword times forgotten.
    pub keywords: usize,
}

impl Store {
    /// Opens (or creates) the store of a data directory (in `<data_dir>/store`), with a page
    /// cache of `cache_mb` MiB.
    /// A data directory this creates is readable by its owner only (it holds phone numbers);
    /// an existing one keeps the mode its administrator gave it.
    pub fn open_in(data_dir: &Path, cache_mb: u64) -> Result<Store, StoreError> {
        if !data_dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .map_err(|e| StoreError::DataDir(data_dir.display().to_string(), e))?;
        }
        let opened = Store::open(
            &data_dir.join("store"),
            cache_mb.saturating_mul(1024 * 1024),
        )
        .map(|store| Store {
            data_dir: Some(std::sync::Arc::new(data_dir.to_owned())),
            ..store
        });
        match opened {
            // sled reports its file lock as an I/O error of kind WouldBlock.
            Err(StoreError::Backend(BackendError(sled::Error::Io(e))))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock") =>
            {
                Err(StoreError::Locked(data_dir.display().to_string()))
            }
            Err(e @ (StoreError::Newer { .. } | StoreError::Locked(_))) => Err(e),
            Err(e) => Err(StoreError::Unopenable {
                dir: data_dir.join("store").display().to_string(),
                error: e.to_string(),
                restore: snapshot::restore_hint(data_dir),
            }),
            ok => ok,
        }
    }

    /// The data directory the store was opened in, if it was opened in one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref().map(|p| p.as_path())
    }

    /// Opens (or creates) the store in `dir`, with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::LowSpace)
            .open()?;
        migrate_seen(&db)?;
        check_schema(&db, dir)?;
        let store = Store {
            seen: db.open_tree(SEEN)?,
            sources: Table::open(&db, "sources")?,
            paused_sources: db.open_tree("paused_sources")?,
            alert_refs: Table::open(&db, "alert_refs")?,
            levels: Table::open(&db, "levels")?,
            outbox: Table::open(&db, "outbox")?,
            deliveries: Table::open(&db, "deliveries")?,
            log: Table::open(&db, "log")?,
            archive: Table::open(&db, "archive")?,
            archive_index: db.open_tree("archive_index")?,
            recipients: Table::open(&db, "recipients")?,
            tallies: Table::open(&db, "tallies")?,
            recipients_by_phone: db.open_tree("recipients_by_phone")?,
            wamids: db.open_tree("wamids")?,
            pauses: Table::open(&db, "pauses")?,
            sink_health: Table::open(&db, "sink_health")?,
            subscribers: Table::open(&db, "subscribers")?,
            keywords: db.open_tree("keywords")?,
            queue: Table::open(&db, "queue")?,
            held: Table::open(&db, "held")?,
            decisions: Table::open(&db, "decisions")?,
            stories: Table::open(&db, "stories")?,
            sent_items: Table::open(&db, "sent_items")?,
            audit: Table::open(&db, "audit")?,
            sessions: Table::open(&db, "sessions")?,
            signups: db.open_tree("signups")?,
            alarms: Table::open(&db, "admin_alarms")?,
            data_dir: None,
            last_id: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(highest_id(&db)?)),
            meta: db.open_tree("meta")?,
            db,
        };
        store.backfill_archive()?;
        Ok(store)
    }

    /// A new id for the records kept in order of writing (outbox, log, decisions, audit):
    /// sled's own counter, but always above every id in use. sled's counter alone would
    /// start again from zero in a store filled by `store import`, and a new record would
    /// take the place of an imported one with the same id.
    fn next_id(&self) -> Result<u64, StoreError> {
        use std::sync::atomic::Ordering;
        let generated = self.db.generate_id()?;
        let previous = self
            .last_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(generated.max(last.saturating_add(1)))
            })
            .unwrap_or_else(|last| last);
        Ok(generated.max(previous.saturating_add(1)))
    }

    /// Takes ids written behind the store's back (an import) into account.
    fn note_ids_in_use(&self) -> Result<(), StoreError> {
        self.last_id
            .fetch_max(highest_id(&self.db)?, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Writes everything buffered to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Like [`Store::flush`], waiting for the disk without holding up the runtime's thread.
    ///
    /// Not sled's own `flush_async`: in 0.34 two of them at once can wait for each other
    /// for ever (sled issues #1241 and #1308, fixed only on the unreleased main line), and
    /// every sink delivers at the same time. The blocking flush on tokio's blocking pool
    /// has no such trap.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(flushed) => {
                flushed?;
                Ok(())
            }
            // The blocking pool is gone (the runtime is shutting down): flush here.
            Err(_) => self.flush(),
        }
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// When [`Store::prune`] last ran, if ever.
    pub fn last_prune(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .meta
            .get(LAST_PRUNE)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .and_then(|secs| DateTime::from_timestamp(i64::try_from(secs).ok()?, 0)))
    }

    /// Forgets what its retention rule lets go (see the table in the module's documentation):
    /// records older than `cutoff` (`seen_max_age` ago), audit entries older than
    /// [`AUDIT_RETENTION`], sessions expired at `now`. Remembers `now` as the time of the last pruning.
    pub fn prune(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport {
            seen: self.prune_seen(cutoff)?,
            alerts: self.prune_alerts(cutoff, now)?,
            sessions: self.prune_sessions(now)?,
            keywords: self.prune_keywords(now)?,
            ..PruneReport::default()
        };
        self.prune_signups(now)?;
        if let Some(story_cutoff) = now.checked_sub_signed(STORY_WINDOW) {
            self.prune_stories(story_cutoff)?;
        }
        for r in self.decisions.iter() {
            let (k, d) = r?;
            if d.at >= cutoff {
                break; // in order of writing
            }
            self.decisions.remove(&k)?;
        }
        let recipient_cutoff = now.checked_sub_signed(RECIPIENT_RETENTION);
        for r in self.log.iter() {
            let (k, entry) = r?;
            if entry.finished_at < cutoff {
                self.forget_message(&entry.message.id)?;
                self.log.remove(&k)?;
                report.log += 1;
            } else if recipient_cutoff.is_some_and(|c| entry.finished_at < c) {
                report.recipients += self.tally_recipients(&entry.message.id)?;
            }
        }
        if let Some(audit_cutoff) = now.checked_sub_signed(AUDIT_RETENTION) {
            for r in self.audit.iter() {
                let (k, entry) = r?;
                if entry.at >= audit_cutoff {
                    break; // in order of writing
                }
                self.audit.remove(&k)?;
                report.audit += 1;
            }
        }
        self.meta.insert(LAST_PRUNE, &polls::stamp(now))?;
        Ok(report)
    }
}

/// The tree of [`SeenKeys`] records.
const SEEN: &str = "seen_by_source";

/// Stores written before 0.2 kept one record per seen key (`seen`: source \0 kind hash →
/// stamp). Folds them into one [`SeenKeys`] record per source and drops the old tree. A crash
/// half-way leaves both trees, and the next open merges again: merging is idempotent.
fn migrate_seen(db: &sled::Db) -> Result<(), StoreError> {
    const OLD: &[u8] = b"seen";
    if !db.tree_names().iter().any(|n| n.as_ref() == OLD) {
        return Ok(());
    }
    let old = db.open_tree(OLD)?;
    let new = db.open_tree(SEEN)?;
    let mut by_source: std::collections::BTreeMap<Vec<u8>, Vec<(crate::ident::Key, u64)>> =
        Default::default();
    for r in old.iter() {
        let (k, v) = r?;
        // source \0 kind hash[16]: the suffix has a fixed width (a hash may hold zeros).
        let Some((source, suffix)) = k.len().checked_sub(18).map(|at| k.split_at(at)) else {
            continue; // not a key this store wrote
        };
        let (Some((&0, rest)), Ok(stamp)) = (suffix.split_first(), <[u8; 8]>::try_from(v.as_ref()))
        else {
            continue;
        };
        let Some((&kind, hash)) = rest.split_first() else {
            continue;
        };
        let Ok(hash) = <[u8; 16]>::try_from(hash) else {
            continue;
        };
        by_source
            .entry(source.to_vec())
            .or_default()
            .push((crate::ident::Key { kind, hash }, u64::from_be_bytes(stamp)));
    }
    let states: Table<SourceState> = Table::open(db, "sources")?;
    for (source, keys) in by_source {
        let mut seen = match new.get(&source)? {
            Some(raw) => SeenKeys::decode(&raw)?,
            None => SeenKeys::default(),
        };
        for (key, stamp) in keys {
            seen.touch_max(key, stamp);
        }
        // The items present at the last parse were listed in the source's state, in hex.
        let legacy = states.get(&source)?.map(|s| s.legacy_present);
        for raw in legacy
            .unwrap_or_default()
            .iter()
            .filter_map(|h| hex::decode(h).ok())
        {
            if let Some((&kind, hash)) = raw.split_first() {
                if let Ok(hash) = <[u8; 16]>::try_from(hash) {
                    seen.mark_present(&crate::ident::Key { kind, hash });
                }
            }
        }
        new.insert(source, seen.encode())?;
    }
    new.flush()?;
    drop(old);
    db.drop_tree(OLD)?;
    tracing::info!("store: seen keys folded into one record per source");
    Ok(())
}

/// Refuses a store written by a newer schema; marks an older (or new) one as this schema.
fn check_schema(db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    let found = meta
        .get(SCHEMA_KEY)?
        .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
        .map(u32::from_be_bytes);
    match found {
        Some(found) if found > SCHEMA => Err(StoreError::Newer {
            dir: dir.display().to_string(),
            found,
        }),
        Some(found) if found == SCHEMA => Ok(()),
        _ => {
            meta.insert(SCHEMA_KEY, &SCHEMA.to_be_bytes())?;
            Ok(())
        }
    }
}

/// The `meta` key of the last pruning's time.
const LAST_PRUNE: &[u8] = b"last_prune";

/// Trees whose keys end with an id from [`Store::next_id`].
const ID_KEYED: &[&str] = &["outbox", "log", "decisions", "audit"];

/// The highest id in the keys of the [`ID_KEYED`] trees: the last key of each (keys are in
/// id order), but every key of the outbox, whose keys start with a priority byte (it holds
/// only what is still to be delivered).
fn highest_id(db: &sled::Db) -> Result<u64, StoreError> {
    let id_of = |key: &[u8]| {
        key.len()
            .checked_sub(8)
            .and_then(|at| key.get(at..))
            .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0)
    };
    let mut highest = 0;
    for name in ID_KEYED {
        let tree = db.open_tree(name)?;
        if *name == "outbox" {
            for key in tree.iter().keys() {
                highest = highest.max(id_of(&key?));
            }
        } else if let Some((key, _)) = tree.last()? {
            highest = highest.max(id_of(&key));
        }
    }
    Ok(highest)
}

/// `a \0 b`.
fn pair(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// `a \0 b \0 c`.
fn triple(a: &str, b: &str, c: &str) -> Vec<u8> {
    let mut k = pair(a, b);
    k.push(0);
    k.extend_from_slice(c.as_bytes());
    k
}

/// Outbox keys begin with the priority, so urgent messages come first.
const URGENT_PREFIX: [u8; 1] = [0];
const NORMAL_PREFIX: [u8; 1] = [1];

fn outbox_key(priority: Priority, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.extend_from_slice(match priority {
        Priority::Urgent => &URGENT_PREFIX,
        Priority::Normal => &NORMAL_PREFIX,
    });
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A message ready for the outbox at `now`, with its key.
fn outbox_entry(
    store: &Store,
    message: &Message,
    now: DateTime<Utc>,
) -> Result<(Vec<u8>, OutboxEntry), StoreError> {
    let seq = store.next_id()?;
    Ok((
        outbox_key(message.priority, seq),
        OutboxEntry {
            seq,
            message: message.clone(),
            enqueued_at: now,
        },
    ))
}

#[cfg(test)]
mod tests;
