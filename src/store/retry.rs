//! An admin's retry of a delivery: the message goes back into the outbox for one sink, its
//! record becomes [`DeliveryState::Requeued`], and the deliverer sends it again through the
//! usual path (a fresh intent, flushed before the request).

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::table::{decode, encode};
use super::{
    outbox_key, pair, triple, DeliveryRecord, DeliveryState, LogEntry, OutboxEntry,
    RecipientRecord, RecipientState, Store, StoreError,
};
use crate::item::Message;

/// What [`Store::requeue`] puts back.
#[derive(Debug, Clone)]
pub struct Requeue<'a> {
    pub message_id: &'a str,
    pub sink: &'a str,
    /// `Failed` or `Unknown`: the state the admin saw and retries. For a broadcast, the
    /// recipients in that state are retried.
    pub state: DeliveryState,
    /// A broadcast (per-recipient records): its own record must be final (`sent`), and only
    /// the recipients in `state` are sent again; those already served are not.
    pub per_recipient: bool,
    pub at: DateTime<Utc>,
    /// Kept in the records' detail (who asked).
    pub note: String,
}

/// What a retry put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeued {
    /// Recipients reset for another try (0 for a single-send sink).
    pub recipients: usize,
    /// The message's title (for the audit log).
    pub title: String,
}

/// Why a retry was not put back.
#[derive(Debug, thiserror::Error)]
pub enum RequeueError {
    #[error("no message {0:?} in the outbox or the log")]
    NotFound(String),
    /// The delivery is not (or no longer) in the state to retry; here is its state now.
    #[error("the delivery is {0:?}")]
    State(Option<DeliveryState>),
    #[error("no recipient is in that state")]
    NoRecipients,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TransactionError<RequeueError>> for RequeueError {
    fn from(e: TransactionError<RequeueError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => RequeueError::Store(e.into()),
        }
    }
}

fn corrupt(e: StoreError) -> ConflictableTransactionError<RequeueError> {
    ConflictableTransactionError::Abort(RequeueError::Store(e))
}

impl Store {
    /// Puts a `failed` or `unknown` delivery back for another try, in one transaction with
    /// the check of its state: a message already in the log returns to the outbox (same
    /// sequence number, same time of queueing, so a broadcast reaches nobody who subscribed
    /// later); one still queued stays. Against the deliverer, [`Store::finish`] checks the
    /// records in its own transaction, so a message cannot leave the outbox with a retry
    /// pending.
    pub fn requeue(&self, r: &Requeue<'_>) -> Result<Requeued, RequeueError> {
        let (seq, message, _) = self
            .find_message(r.message_id)?
            .ok_or_else(|| RequeueError::NotFound(r.message_id.to_owned()))?;
        let (priority, title) = (message.priority, message.title);
        let wanted = match r.state {
            DeliveryState::Failed => RecipientState::Failed,
            DeliveryState::Unknown => RecipientState::Unknown,
            other => return Err(RequeueError::State(Some(other))),
        };
        // Candidates, read before the transaction (which cannot scan) and read again in it.
        let mut candidates = Vec::new();
        if r.per_recipient {
            for row in self
                .recipients
                .scan_prefix(triple(r.message_id, r.sink, ""))
            {
                let (key, record) = row?;
                if record.state == wanted {
                    candidates.push(key);
                }
            }
        }
        let (okey, lkey, dkey) = (
            outbox_key(priority, seq),
            seq.to_be_bytes(),
            pair(r.message_id, r.sink),
        );
        let expected = if r.per_recipient {
            DeliveryState::Sent
        } else {
            r.state
        };
        let requeued = encode(&DeliveryRecord {
            state: DeliveryState::Requeued,
            at: r.at,
            provider_id: None,
            detail: Some(r.note.clone()),
        })?;
        let recipients = (
            self.outbox.tree(),
            self.log.tree(),
            self.deliveries.tree(),
            self.recipients.tree(),
            &self.wamids,
        )
            .transaction(|(outbox, log, deliveries, recipients, wamids)| {
                let queued = match outbox.get(&okey)? {
                    Some(raw) => {
                        decode::<OutboxEntry>(&raw).map_err(corrupt)?.message.id == r.message_id
                    }
                    None => false,
                };
                let logged = match (queued, log.get(lkey)?) {
                    (false, Some(raw)) => Some(decode::<LogEntry>(&raw).map_err(corrupt)?)
                        .filter(|e| e.message.id == r.message_id),
                    _ => None,
                };
                if !queued && logged.is_none() {
                    return Err(ConflictableTransactionError::Abort(RequeueError::NotFound(
                        r.message_id.to_owned(),
                    )));
                }
                let current = match deliveries.get(&dkey)? {
                    Some(raw) => Some(decode::<DeliveryRecord>(&raw).map_err(corrupt)?.state),
                    None => None,
                };
                if current != Some(expected) {
                    return Err(ConflictableTransactionError::Abort(RequeueError::State(
                        current,
                    )));
                }
                let mut reset = 0;
                for key in &candidates {
                    let Some(raw) = recipients.get(key)? else {
                        continue; // unsubscribed meanwhile
                    };
                    let mut record = decode::<RecipientRecord>(&raw).map_err(corrupt)?;
                    if record.state != wanted {
                        continue;
                    }
                    // A late status about the old attempt must not land on the new one.
                    if let Some(wamid) = record.wamid.take() {
                        wamids.remove(wamid.as_bytes())?;
                    }
                    record.state = RecipientState::Retry;
                    record.at = r.at;
                    record.attempts = 0;
                    record.not_before = None;
                    record.detail = Some(r.note.clone());
                    recipients.insert(key.as_ref(), encode(&record).map_err(corrupt)?)?;
                    reset += 1;
                }
                if r.per_recipient && reset == 0 {
                    return Err(ConflictableTransactionError::Abort(
                        RequeueError::NoRecipients,
                    ));
                }
                deliveries.insert(dkey.as_slice(), requeued.as_slice())?;
                if let Some(entry) = &logged {
                    log.remove(&lkey)?;
                    let back = OutboxEntry {
                        seq: entry.seq,
                        message: entry.message.clone(),
                        enqueued_at: entry.enqueued_at,
                    };
                    outbox.insert(okey.as_slice(), encode(&back).map_err(corrupt)?)?;
                }
                Ok(reset)
            })?;
        self.flush()?;
        Ok(Requeued { recipients, title })
    }

    /// A message by its id, from the outbox (`true`), else the log (`false`), with its
    /// sequence number (which, with its priority, makes its outbox key).
    pub fn find_message(
        &self,
        message_id: &str,
    ) -> Result<Option<(u64, Message, bool)>, StoreError> {
        for row in self.outbox() {
            let (_, entry) = row?;
            if entry.message.id == message_id {
                return Ok(Some((entry.seq, entry.message, true)));
            }
        }
        for row in self.log.iter().rev() {
            let (_, entry) = row?;
            if entry.message.id == message_id {
                return Ok(Some((entry.seq, entry.message, false)));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PollCommit;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0).unwrap()
    }

    fn record(state: DeliveryState) -> DeliveryRecord {
        DeliveryRecord {
            state,
            at: at(0),
            provider_id: None,
            detail: Some("HTTP 400 Bad Request".into()),
        }
    }

    fn recipient(state: RecipientState, wamid: Option<&str>) -> RecipientRecord {
        RecipientRecord {
            state,
            at: at(0),
            wamid: wamid.map(str::to_owned),
            detail: None,
            attempts: 5,
            not_before: None,
        }
    }

    fn retry(sink: &str, state: DeliveryState, per_recipient: bool) -> Requeue<'_> {
        Requeue {
            message_id: "m1",
            sink,
            state,
            per_recipient,
            at: at(5),
            note: "retry requested by admin".into(),
        }
    }

    /// A store with message m1 queued; `finish` moves it to the log once `sinks` are final.
    fn store_with_message() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let message = Message {
            id: "m1".into(),
            source: "s".into(),
            kind: "feed".into(),
            title: "Avviso".into(),
            url: "https://a.example/".into(),
            text: "t".into(),
            image: None,
            priority: crate::config::Priority::Normal,
            published: None,
            tags: vec![],
            extra: Default::default(),
        };
        let commit = PollCommit {
            messages: vec![message],
            ..PollCommit::default()
        };
        store.commit_poll("s", &commit, at(0)).unwrap();
        (dir, store)
    }

    fn finish(store: &Store, sinks: &[&str]) -> bool {
        let (key, entry) = store.outbox().next().unwrap().unwrap();
        store.finish(&key, &entry, sinks, at(1)).unwrap()
    }

    #[tokio::test]
    async fn a_failed_delivery_goes_back_to_the_outbox_for_its_sink_only() {
        let (_dir, store) = store_with_message();
        let seq = store.outbox().next().unwrap().unwrap().1.seq;
        store
            .set_delivery("m1", "hook", &record(DeliveryState::Failed))
            .await
            .unwrap();
        store
            .set_delivery("m1", "file", &record(DeliveryState::Sent))
            .await
            .unwrap();
        assert!(finish(&store, &["hook", "file"]));
        assert_eq!(store.outbox_len(), 0);
        // The admin saw `unknown`, but it is `failed`: refused, nothing moves.
        assert!(matches!(
            store.requeue(&retry("hook", DeliveryState::Unknown, false)),
            Err(RequeueError::State(Some(DeliveryState::Failed)))
        ));
        let done = store
            .requeue(&retry("hook", DeliveryState::Failed, false))
            .unwrap();
        assert_eq!((done.recipients, done.title.as_str()), (0, "Avviso"));
        // Back in the outbox with its own sequence number, out of the log.
        let (_, entry) = store.outbox().next().unwrap().unwrap();
        assert_eq!((entry.seq, entry.enqueued_at), (seq, at(0)));
        assert!(store.recent_log(10).unwrap().is_empty());
        let requeued = store.delivery("m1", "hook").unwrap().unwrap();
        assert_eq!(requeued.state, DeliveryState::Requeued);
        assert_eq!(
            store.delivery("m1", "file").unwrap().unwrap().state,
            DeliveryState::Sent,
            "the other sink is left alone"
        );
        // Twice is refused: it is already put back.
        assert!(matches!(
            store.requeue(&retry("hook", DeliveryState::Failed, false)),
            Err(RequeueError::State(Some(DeliveryState::Requeued)))
        ));
        // The deliverer cannot finish it while the retry is pending.
        assert!(!finish(&store, &["hook", "file"]));
        assert_eq!(store.outbox_len(), 1);
        store
            .set_delivery("m1", "hook", &record(DeliveryState::Sent))
            .await
            .unwrap();
        assert!(finish(&store, &["hook", "file"]));
        assert_eq!(store.recent_log(10).unwrap().len(), 1);
        assert!(matches!(
            store.requeue(&Requeue {
                message_id: "nessuno",
                ..retry("hook", DeliveryState::Failed, false)
            }),
            Err(RequeueError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_message_still_queued_stays_queued() {
        let (_dir, store) = store_with_message();
        store
            .set_delivery("m1", "gw", &record(DeliveryState::Unknown))
            .await
            .unwrap();
        assert!(!finish(&store, &["gw", "hook"]), "hook has not been tried");
        store
            .requeue(&retry("gw", DeliveryState::Unknown, false))
            .unwrap();
        assert_eq!(store.outbox_len(), 1);
        assert!(store.recent_log(10).unwrap().is_empty());
        assert_eq!(
            store.delivery("m1", "gw").unwrap().unwrap().state,
            DeliveryState::Requeued
        );
    }

    #[tokio::test]
    async fn a_broadcast_retries_only_the_recipients_in_that_state() {
        let (_dir, store) = store_with_message();
        let batch = vec![
            (
                "391".to_owned(),
                recipient(RecipientState::Sent, Some("w1")),
            ),
            (
                "392".to_owned(),
                recipient(RecipientState::Failed, Some("w2")),
            ),
            ("393".to_owned(), recipient(RecipientState::Unknown, None)),
            (
                "394".to_owned(),
                recipient(RecipientState::Read, Some("w4")),
            ),
        ];
        store.set_recipients("m1", "wa", &batch).await.unwrap();
        // While the broadcast runs (no record yet), nothing is put back.
        assert!(matches!(
            store.requeue(&retry("wa", DeliveryState::Failed, true)),
            Err(RequeueError::State(None))
        ));
        store
            .set_delivery("m1", "wa", &record(DeliveryState::Sent))
            .await
            .unwrap();
        assert!(finish(&store, &["wa"]));
        let done = store
            .requeue(&retry("wa", DeliveryState::Failed, true))
            .unwrap();
        assert_eq!(done.recipients, 1);
        let reset = store.recipient("m1", "wa", "392").unwrap().unwrap();
        assert_eq!(reset.state, RecipientState::Retry);
        assert_eq!(
            (reset.attempts, reset.wamid, reset.not_before),
            (0, None, None)
        );
        // A late status about the old attempt finds nothing.
        assert!(!store
            .apply_status("w2", RecipientState::Failed, at(6), None)
            .unwrap());
        for (phone, state) in [
            ("391", RecipientState::Sent),
            ("393", RecipientState::Unknown),
            ("394", RecipientState::Read),
        ] {
            assert_eq!(
                store.recipient("m1", "wa", phone).unwrap().unwrap().state,
                state
            );
        }
        assert_eq!(store.outbox_len(), 1);
        // The record is `requeued` now: the unknown ones wait for their own retry once this
        // one is over.
        assert!(matches!(
            store.requeue(&retry("wa", DeliveryState::Unknown, true)),
            Err(RequeueError::State(Some(DeliveryState::Requeued)))
        ));
        store
            .set_delivery("m1", "wa", &record(DeliveryState::Sent))
            .await
            .unwrap();
        store
            .requeue(&retry("wa", DeliveryState::Unknown, true))
            .unwrap();
        assert!(matches!(
            store.requeue(&retry("wa", DeliveryState::Unknown, true)),
            Err(RequeueError::State(Some(DeliveryState::Requeued)))
        ));
        store
            .set_delivery("m1", "wa", &record(DeliveryState::Sent))
            .await
            .unwrap();
        assert!(matches!(
            store.requeue(&retry("wa", DeliveryState::Unknown, true)),
            Err(RequeueError::NoRecipients)
        ));
    }
}
