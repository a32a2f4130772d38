//! What delivery writes and reads: the outbox, delivery records per sink and per recipient,
//! provider ids, the log of finished messages, and paused sinks.

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, Transactional};

use super::table::{decode, encode};
use super::{
    pair, triple, DeliveryRecord, LogEntry, OutboxEntry, Pause, RecipientRecord, RecipientState,
    Store, StoreError,
};

impl Store {
    /// Queued messages, urgent first, then in order of arrival.
    pub fn outbox(&self) -> impl Iterator<Item = Result<(Vec<u8>, OutboxEntry), StoreError>> + '_ {
        self.outbox.iter().map(|r| r.map(|(k, v)| (k.to_vec(), v)))
    }

    /// Whether an urgent message waits in the outbox for `sink` (queued and not yet final
    /// there): what a running broadcast of a normal message checks between batches.
    pub fn urgent_waiting(&self, sink: &str) -> Result<bool, StoreError> {
        for entry in self.outbox.tree().scan_prefix(super::URGENT_PREFIX) {
            let (_, raw) = entry?;
            let entry: OutboxEntry = decode(&raw)?;
            let done = self
                .delivery(&entry.message.id, sink)?
                .is_some_and(|r| r.state.is_final());
            if !done {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    pub fn delivery(
        &self,
        message_id: &str,
        sink: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        self.deliveries.get(pair(message_id, sink))
    }

    /// Records a delivery state and flushes it to disk before returning.
    pub async fn set_delivery(
        &self,
        message_id: &str,
        sink: &str,
        record: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        self.set_deliveries(sink, &[(message_id, record)]).await
    }

    /// Records the delivery states of several messages on one sink and flushes them to disk
    /// (once) before returning.
    pub async fn set_deliveries(
        &self,
        sink: &str,
        records: &[(&str, &DeliveryRecord)],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (message_id, record) in records {
            batch.insert(pair(message_id, sink), encode(record)?);
        }
        self.deliveries.tree().apply_batch(batch)?;
        self.flush_async().await?;
        Ok(())
    }

    /// Forgets an intent that certainly never reached the sink, so it is tried again.
    pub fn clear_delivery(&self, message_id: &str, sink: &str) -> Result<(), StoreError> {
        self.deliveries.remove(pair(message_id, sink))?;
        Ok(())
    }

    /// All delivery records of one message, by sink name.
    pub fn deliveries_of(
        &self,
        message_id: &str,
    ) -> Result<Vec<(String, DeliveryRecord)>, StoreError> {
        let prefix = pair(message_id, "");
        self.deliveries
            .scan_prefix(&prefix)
            .map(|r| {
                let (k, record) = r?;
                let sink = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                Ok((sink, record))
            })
            .collect()
    }

    /// Moves a message whose deliveries to `sinks` are all final from the outbox to the log.
    /// The records are checked in the same transaction: a retry an admin asked for meanwhile
    /// ([`Store::requeue`]) keeps the message queued. Returns whether it moved.
    pub fn finish(
        &self,
        outbox_key: &[u8],
        entry: &OutboxEntry,
        sinks: &[&str],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let log = encode(&LogEntry {
            seq: entry.seq,
            message: entry.message.clone(),
            enqueued_at: entry.enqueued_at,
            finished_at: now,
        })?;
        let records: Vec<Vec<u8>> = sinks
            .iter()
            .map(|sink| pair(&entry.message.id, sink))
            .collect();
        let moved = (self.outbox.tree(), self.log.tree(), self.deliveries.tree()).transaction(
            |(outbox, logt, deliveries)| {
                for key in &records {
                    let done = match deliveries.get(key)? {
                        Some(raw) => decode::<DeliveryRecord>(&raw)
                            .map_err(ConflictableTransactionError::Abort)?
                            .state
                            .is_final(),
                        None => false,
                    };
                    if !done {
                        return Ok(false);
                    }
                }
                outbox.remove(outbox_key)?;
                logt.insert(&entry.seq.to_be_bytes(), log.as_slice())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(true)
            },
        )?;
        Ok(moved)
    }

    /// The most recent finished messages, newest first.
    pub fn recent_log(&self, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        self.log
            .iter()
            .rev()
            .take(limit)
            .map(|r| r.map(|(_, e)| e))
            .collect()
    }

    /// A page of the log, newest first: the entries for which `keep` holds, skipping the first
    /// `skip` of them; also whether more follow.
    pub fn log_page(
        &self,
        keep: impl Fn(&LogEntry) -> bool,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<LogEntry>, bool), StoreError> {
        self.log.newest_page(keep, skip, take)
    }

    pub fn recipient(
        &self,
        message_id: &str,
        sink: &str,
        phone: &str,
    ) -> Result<Option<RecipientRecord>, StoreError> {
        self.recipients.get(triple(message_id, sink, phone))
    }

    /// Records a batch of recipient states and flushes them to disk before returning.
    pub async fn set_recipients(
        &self,
        message_id: &str,
        sink: &str,
        batch: &[(String, RecipientRecord)],
    ) -> Result<(), StoreError> {
        let mut recipients = sled::Batch::default();
        let mut by_phone = sled::Batch::default();
        let mut wamids = sled::Batch::default();
        for (phone, record) in batch {
            let key = triple(message_id, sink, phone);
            if let Some(wamid) = &record.wamid {
                wamids.insert(wamid.as_bytes(), key.as_slice());
            }
            recipients.insert(key, encode(record)?);
            by_phone.insert(triple(phone, message_id, sink), &[]);
        }
        self.recipients.tree().apply_batch(recipients)?;
        self.recipients_by_phone.apply_batch(by_phone)?;
        self.wamids.apply_batch(wamids)?;
        self.flush_async().await?;
        Ok(())
    }

    /// Records the intents of a batch of a broadcast, only for numbers still subscribed (one
    /// that sent STOP meanwhile is left out and must not be sent to), and flushes them to
    /// disk before returning. Returns the numbers recorded.
    pub async fn set_recipient_intents(
        &self,
        message_id: &str,
        sink: &str,
        batch: &[(String, RecipientRecord)],
    ) -> Result<Vec<String>, StoreError> {
        let encoded = batch
            .iter()
            .map(|(phone, record)| Ok((phone, triple(message_id, sink, phone), encode(record)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let recorded = (
            self.subscribers.tree(),
            self.recipients.tree(),
            &self.recipients_by_phone,
        )
            .transaction(|(subscribers, recipients, by_phone)| {
                let mut recorded = Vec::new();
                for (phone, key, value) in &encoded {
                    if subscribers.get(phone.as_bytes())?.is_none() {
                        continue;
                    }
                    recipients.insert(key.as_slice(), value.as_slice())?;
                    by_phone.insert(triple(phone, message_id, sink), &[])?;
                    recorded.push((*phone).clone());
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(recorded)
            })?;
        self.flush_async().await?;
        Ok(recorded)
    }

    /// Records the outcomes of a batch of a broadcast where the number's record still exists:
    /// a number that sent STOP while its request was in flight was erased with every record,
    /// and stays erased. Flushes before returning.
    pub async fn set_recipient_outcomes(
        &self,
        message_id: &str,
        sink: &str,
        batch: &[(String, RecipientRecord)],
    ) -> Result<(), StoreError> {
        let encoded = batch
            .iter()
            .map(|(phone, record)| {
                Ok((
                    triple(message_id, sink, phone),
                    encode(record)?,
                    record.wamid.clone(),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        (self.recipients.tree(), &self.wamids).transaction(|(recipients, wamids)| {
            for (key, value, wamid) in &encoded {
                if recipients.get(key.as_slice())?.is_none() {
                    continue;
                }
                recipients.insert(key.as_slice(), value.as_slice())?;
                if let Some(wamid) = wamid {
                    wamids.insert(wamid.as_bytes(), key.as_slice())?;
                }
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        self.flush_async().await?;
        Ok(())
    }

    /// How many recipients of a message on a sink are in each state (counted from their
    /// records, and from the tally of records already let go).
    pub fn recipient_counts(
        &self,
        message_id: &str,
        sink: &str,
    ) -> Result<Vec<(RecipientState, usize)>, StoreError> {
        let mut counts = self
            .tallies
            .get(pair(message_id, sink))?
            .unwrap_or_default();
        for r in self.recipients.scan_prefix(triple(message_id, sink, "")) {
            let (_, record) = r?;
            add(&mut counts, record.state, 1);
        }
        counts.sort();
        Ok(counts)
    }

    /// Replaces the per-recipient records of a message by their counts per sink (see
    /// [`super::RECIPIENT_RETENTION`]). Returns how many records went.
    pub(super) fn tally_recipients(&self, message_id: &str) -> Result<usize, StoreError> {
        let prefix = pair(message_id, "");
        let mut by_sink: Vec<(String, Vec<(RecipientState, usize)>)> = Vec::new();
        for r in self.recipients.scan_prefix(&prefix) {
            let (key, record) = r?;
            let rest = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            let sink = rest.split_once('\0').map_or(rest.as_str(), |(s, _)| s);
            match by_sink.iter_mut().find(|(s, _)| s == sink) {
                Some((_, counts)) => add(counts, record.state, 1),
                None => by_sink.push((sink.to_owned(), vec![(record.state, 1)])),
            }
        }
        if by_sink.is_empty() {
            return Ok(0);
        }
        // The counts first: a crash between the two leaves records counted twice for a
        // while (the next pass finds them again), never records lost uncounted.
        for (sink, counts) in &by_sink {
            let mut tally = self
                .tallies
                .get(pair(message_id, sink))?
                .unwrap_or_default();
            for (state, n) in counts {
                add(&mut tally, *state, *n);
            }
            self.tallies.insert(pair(message_id, sink), &tally)?;
        }
        self.forget_recipients_of(message_id)
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
        let Some(mut record) = self.recipients.get(&key)? else {
            return Ok(false);
        };
        if !moves_forward(record.state, status) {
            return Ok(false);
        }
        record.state = status;
        record.at = at;
        if detail.is_some() {
            record.detail = detail;
        }
        self.recipients.insert(&key, &record)?;
        Ok(true)
    }

    /// Removes a recipient record with its index entry and provider id.
    pub(super) fn forget_recipient(&self, key: &[u8], phone_key: &[u8]) -> Result<(), StoreError> {
        if let Some(record) = self.recipients.get(key)? {
            if let Some(wamid) = &record.wamid {
                self.wamids.remove(wamid.as_bytes())?;
            }
            self.recipients.remove(key)?;
        }
        self.recipients_by_phone.remove(phone_key)?;
        Ok(())
    }

    /// Removes every delivery record of a message (per sink and per recipient, and the
    /// counts of recipients let go).
    pub(super) fn forget_message(&self, message_id: &str) -> Result<(), StoreError> {
        for (sink, _) in self.deliveries_of(message_id)? {
            self.deliveries.remove(pair(message_id, &sink))?;
        }
        let prefix = pair(message_id, "");
        let tallies: Vec<sled::IVec> = self
            .tallies
            .tree()
            .scan_prefix(&prefix)
            .keys()
            .collect::<Result<_, _>>()?;
        for key in tallies {
            self.tallies.remove(&key)?;
        }
        self.forget_recipients_of(message_id)?;
        Ok(())
    }

    /// Removes the per-recipient records of a message, with their indexes. Returns how many.
    fn forget_recipients_of(&self, message_id: &str) -> Result<usize, StoreError> {
        let prefix = pair(message_id, "");
        let keys: Vec<sled::IVec> = self
            .recipients
            .tree()
            .scan_prefix(&prefix)
            .keys()
            .collect::<Result<_, _>>()?;
        let forgotten = keys.len();
        for key in keys {
            // message \0 sink \0 phone → phone \0 message \0 sink
            let rest = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            let Some((sink, phone)) = rest.split_once('\0') else {
                self.recipients.remove(&key)?;
                continue;
            };
            self.forget_recipient(&key, &triple(phone, message_id, sink))?;
        }
        Ok(forgotten)
    }

    /// The local day (`2026-12-02`) of `sink`'s last daily e-mail digest: one a day.
    pub fn mail_digest_day(&self, sink: &str) -> Result<Option<String>, StoreError> {
        let key = format!("mail_digest\0{sink}");
        Ok(self
            .meta
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records (or, with `None`, forgets: it is to be made again) `sink`'s digest of `day`.
    pub fn set_mail_digest_day(&self, sink: &str, day: Option<&str>) -> Result<(), StoreError> {
        let key = format!("mail_digest\0{sink}");
        match day {
            Some(day) => self.meta.insert(key, day.as_bytes())?,
            None => self.meta.remove(key)?,
        };
        Ok(())
    }

    pub fn pause(&self, sink: &str) -> Result<Option<Pause>, StoreError> {
        self.pauses.get(sink)
    }

    pub fn set_pause(&self, sink: &str, pause: Option<&Pause>) -> Result<(), StoreError> {
        match pause {
            Some(p) => self.pauses.insert(sink, p),
            None => self.pauses.remove(sink).map(|_| ()),
        }
    }
}

/// Adds `n` recipients in `state` to `counts`.
fn add(counts: &mut Vec<(RecipientState, usize)>, state: RecipientState, n: usize) {
    match counts.iter_mut().find(|(s, _)| *s == state) {
        Some((_, have)) => *have += n,
        None => counts.push((state, n)),
    }
}

/// Whether a provider's status may replace the recorded one: states only move forward, and a
/// late "failed" does not undo a confirmed delivery.
pub fn moves_forward(from: RecipientState, to: RecipientState) -> bool {
    match (from, to) {
        (RecipientState::Delivered | RecipientState::Read, RecipientState::Failed) => false,
        (RecipientState::Failed, _) => false,
        (from, to) => to > from,
    }
}
