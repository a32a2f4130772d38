//! What people leave in the store: subscribers (and the erasure of a number), the review
//! queue, the audit log.

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, Transactional};

use super::table::{decode, encode};
use super::{outbox_entry, pair, AuditEntry, QueueItem, Store, StoreError, Subscriber};
use crate::audience::{apply, Applied, Ask, Change, Selection, KEEP_CHANGES};
use crate::phone::Phone;

/// What a citizen's keyword asks for.
#[derive(Debug, Clone)]
pub enum Choice {
    Subscribe(Subscriber),
    Unsubscribe,
    /// A topic or a zone chosen or stopped (`new`: the subscriber to make when the number is
    /// not subscribed yet; `wrote`: the citizen's words, kept with the change).
    Choose {
        new: Subscriber,
        ask: Ask,
        wrote: String,
        /// The topics a subscriber who chose nothing gets (`audience::defaults`).
        defaults: Vec<String>,
    },
}

/// What a keyword did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeywordOutcome {
    Subscribed,
    AlreadySubscribed,
    /// Unsubscribed (also when the number was not subscribed: STOP always gets its reply).
    Unsubscribed,
    /// Still subscribed, with another choice of topics or zones.
    Changed(Selection),
    /// A topic or zone stopped by a number that is not subscribed: nothing changed.
    NotSubscribed,
    /// A message already handled (the provider retried its webhook), or older than the
    /// last keyword applied for this number: nothing changed.
    Stale,
}

/// How long inbound message ids and the time of a number's last keyword are kept: longer
/// than a provider retries a webhook (Meta: up to 7 days).
pub const KEYWORD_MEMORY: chrono::Duration = chrono::Duration::days(8);

impl Store {
    pub fn subscribe(&self, phone: &Phone, subscriber: &Subscriber) -> Result<(), StoreError> {
        self.subscribers.insert(phone.as_str(), subscriber)
    }

    /// Applies a citizen's keyword, once per provider message id, and never over a newer
    /// one: a replayed or late ISCRIVIMI cannot undo a STOP sent after it. Decided in one
    /// transaction with the subscriber record, so two webhook deliveries racing each other
    /// end in the state of the later message. `sent_at` is when the citizen sent it (the
    /// provider's timestamp). The number is remembered only as a hash, for
    /// [`KEYWORD_MEMORY`].
    pub fn apply_keyword(
        &self,
        phone: &Phone,
        message_id: Option<&str>,
        sent_at: DateTime<Utc>,
        choice: &Choice,
        now: DateTime<Utc>,
    ) -> Result<KeywordOutcome, StoreError> {
        let id_key = message_id.map(|id| pair("id", id));
        let phone_key = {
            use sha2::Digest;
            let mut k = pair("ph", "");
            k.extend_from_slice(&sha2::Sha256::digest(phone.as_str().as_bytes())[..16]);
            k
        };
        // A time in the future (a clock gone wrong, or a forged one) counts as now: it must
        // not make a later STOP look older.
        let sent = sent_at.min(now).timestamp();
        // A STOP of a topic counts as leaving: a late ISCRIVIMI of the same second loses.
        let leaving = match choice {
            Choice::Unsubscribe => true,
            Choice::Choose { ask, .. } => {
                matches!(ask, Ask::Stop | Ask::StopTopic(_) | Ask::StopZone(_))
            }
            Choice::Subscribe(_) => false,
        };
        // value: the event's time (i64 BE), when it was received (i64 BE, for pruning), and
        // whether it was a STOP (1 byte).
        let value = |event: i64| {
            let mut v = [event.to_be_bytes(), now.timestamp().to_be_bytes()].concat();
            v.push(u8::from(leaving));
            v
        };
        let outcome =
            (self.subscribers.tree(), &self.keywords).transaction(|(subs, keywords)| {
                if let Some(id) = &id_key {
                    if keywords.get(id)?.is_some() {
                        return Ok(KeywordOutcome::Stale);
                    }
                    keywords.insert(id.as_slice(), value(sent))?;
                }
                let last = keywords.get(&phone_key)?;
                let last_time = last
                    .as_ref()
                    .and_then(|v| v.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()))
                    .map(i64::from_be_bytes);
                let last_left = last.as_ref().and_then(|v| v.get(16).copied()) == Some(1);
                // Older than the last keyword: too late. In the same second as a STOP: the
                // STOP stands (the order of two messages sent in one second is not known).
                if last_time.is_some_and(|t| sent < t || (sent == t && last_left && !leaving)) {
                    return Ok(KeywordOutcome::Stale);
                }
                keywords.insert(phone_key.as_slice(), value(sent))?;
                Ok::<_, ConflictableTransactionError<StoreError>>(match choice {
                    Choice::Subscribe(s) => {
                        if subs.get(phone.as_str())?.is_some() {
                            KeywordOutcome::AlreadySubscribed
                        } else {
                            subs.insert(
                                phone.as_str(),
                                encode(s).map_err(ConflictableTransactionError::Abort)?,
                            )?;
                            KeywordOutcome::Subscribed
                        }
                    }
                    Choice::Unsubscribe => {
                        subs.remove(phone.as_str())?;
                        KeywordOutcome::Unsubscribed
                    }
                    Choice::Choose {
                        new,
                        ask,
                        wrote,
                        defaults,
                    } => {
                        let abort = ConflictableTransactionError::Abort;
                        let current: Option<Subscriber> = match subs.get(phone.as_str())? {
                            Some(bytes) => Some(decode(&bytes).map_err(abort)?),
                            None => None,
                        };
                        let change = |mut sub: Subscriber, selection: Selection| {
                            let mut selection = selection;
                            selection.changes.push(Change {
                                at: now,
                                wrote: wrote.clone(),
                                now: selection.describe(),
                            });
                            let extra = selection.changes.len().saturating_sub(KEEP_CHANGES);
                            selection.changes.drain(..extra);
                            sub.selection = selection;
                            encode(&sub)
                        };
                        match apply(current.as_ref().map(|s| &s.selection), ask, defaults) {
                            Applied::Joined(selection) => {
                                let mut joined = new.clone();
                                joined.selection = selection;
                                subs.insert(phone.as_str(), encode(&joined).map_err(abort)?)?;
                                KeywordOutcome::Subscribed
                            }
                            Applied::Changed(selection) => {
                                let Some(sub) = current else {
                                    return Ok(KeywordOutcome::NotSubscribed);
                                };
                                let bytes = change(sub, selection.clone()).map_err(abort)?;
                                subs.insert(phone.as_str(), bytes)?;
                                KeywordOutcome::Changed(selection)
                            }
                            Applied::Same if current.is_some() => KeywordOutcome::AlreadySubscribed,
                            Applied::Same => KeywordOutcome::NotSubscribed,
                            Applied::Left => {
                                subs.remove(phone.as_str())?;
                                KeywordOutcome::Unsubscribed
                            }
                        }
                    }
                })
            })?;
        if outcome == KeywordOutcome::Unsubscribed {
            // The delivery records that name the number (idempotent; the subscriber record
            // went in the transaction).
            self.unsubscribe(phone)?;
        }
        Ok(outcome)
    }

    /// Forgets inbound message ids and keyword times older than [`KEYWORD_MEMORY`].
    pub(super) fn prune_keywords(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let Some(cutoff) = now.checked_sub_signed(KEYWORD_MEMORY) else {
            return Ok(0);
        };
        let mut forgotten = 0;
        for r in self.keywords.iter() {
            let (k, v) = r?;
            let received = v
                .get(8..16)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MIN);
            if received < cutoff.timestamp() {
                self.keywords.remove(k)?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// Erases a number (STOP, or `subscribers delete`): its subscriber record, and every
    /// delivery record that names it, with their provider ids. Returns whether it was
    /// subscribed.
    pub fn unsubscribe(&self, phone: &Phone) -> Result<bool, StoreError> {
        let was = self.subscribers.remove(phone.as_str())?;
        let prefix = pair(phone.as_str(), "");
        let index: Vec<sled::IVec> = self
            .recipients_by_phone
            .scan_prefix(&prefix)
            .keys()
            .collect::<Result<_, _>>()?;
        for phone_key in index {
            // phone \0 message \0 sink → message \0 sink \0 phone
            let rest = String::from_utf8_lossy(&phone_key[prefix.len()..]).into_owned();
            let key = match rest.split_once('\0') {
                Some((message, sink)) => super::triple(message, sink, phone.as_str()),
                None => Vec::new(),
            };
            self.forget_recipient(&key, &phone_key)?;
        }
        Ok(was)
    }

    pub fn subscriber(&self, phone: &Phone) -> Result<Option<Subscriber>, StoreError> {
        self.subscribers.get(phone.as_str())
    }

    /// Whether the number (as stored) is still subscribed.
    pub fn is_subscribed(&self, phone: &str) -> Result<bool, StoreError> {
        Ok(self.subscribers.tree().contains_key(phone)?)
    }

    /// Every subscriber, in number order, read lazily: memory does not grow with the list.
    pub fn subscribers(
        &self,
    ) -> impl Iterator<Item = Result<(String, Subscriber), StoreError>> + '_ {
        self.subscribers
            .iter()
            .map(|r| r.map(|(k, s)| (String::from_utf8_lossy(&k).into_owned(), s)))
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

    pub fn queue(&self) -> impl Iterator<Item = Result<QueueItem, StoreError>> + '_ {
        self.queue.iter().map(|r| r.map(|(_, item)| item))
    }

    pub fn queue_item(&self, id: &str) -> Result<Option<QueueItem>, StoreError> {
        self.queue.get(id)
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub fn put_queue_item(&self, item: &QueueItem) -> Result<(), StoreError> {
        self.queue.insert(item.message.id.as_bytes(), item)
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
        let (key, entry) = outbox_entry(self, &item.message, now)?;
        let entry = encode(&entry)?;
        (self.queue.tree(), self.outbox.tree()).transaction(|(queue, outbox)| {
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
        let seq = self.next_id()?;
        self.audit.insert(seq.to_be_bytes(), entry)
    }

    /// The most recent editorial actions, newest first.
    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit
            .iter()
            .rev()
            .take(limit)
            .map(|r| r.map(|(_, e)| e))
            .collect()
    }
}
