//! What people leave in the store: subscribers (and the erasure of a number), the review
//! queue, the audit log.

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, Transactional};

use super::table::encode;
use super::{outbox_entry, pair, AuditEntry, QueueItem, Store, StoreError, Subscriber};
use crate::phone::Phone;

impl Store {
    pub fn subscribe(&self, phone: &Phone, subscriber: &Subscriber) -> Result<(), StoreError> {
        self.subscribers.insert(phone.as_str(), subscriber)
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
        let (key, entry) = outbox_entry(&self.db, &item.message, now)?;
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
        let seq = self.db.generate_id()?;
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
