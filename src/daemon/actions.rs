//! What people do through the daemon: editors' review actions, admins' delivery retries and
//! sink resumes, test sends. Each goes to the store (and the audit log) and wakes the loop
//! that acts on it.

use chrono::{DateTime, Utc};

use crate::deliver::trial::TrialError;
use crate::deliver::RetryError;
use crate::store::{AuditAction, AuditEntry, DeliveryState, Pause, Requeued, StoreError};

use super::App;

impl App {
    /// The review queue, oldest first.
    pub fn pending(&self) -> Result<Vec<crate::store::QueueItem>, StoreError> {
        crate::review::pending(&self.inner.store)
    }

    /// Approves a review item (now, or at `send_at`); wakes delivery when it is queued.
    pub fn approve(
        &self,
        id: &str,
        who: &str,
        send_at: Option<DateTime<Utc>>,
    ) -> Result<crate::review::Approved, crate::review::ReviewError> {
        let approved = crate::review::approve(&self.inner.store, self.now(), id, who, send_at)?;
        if approved == crate::review::Approved::Queued {
            self.wake_delivery();
        }
        Ok(approved)
    }

    pub fn reject(&self, id: &str, who: &str) -> Result<(), crate::review::ReviewError> {
        crate::review::reject(&self.inner.store, self.now(), id, who)
    }

    /// Takes back a rejection made less than a minute ago.
    pub fn unreject(&self, id: &str, who: &str) -> Result<(), crate::review::ReviewError> {
        crate::review::unreject(&self.inner.store, self.now(), id, who)
    }

    pub fn edit(
        &self,
        id: &str,
        who: &str,
        title: &str,
        text: &str,
    ) -> Result<crate::store::QueueItem, crate::review::ReviewError> {
        crate::review::edit(&self.inner.store, self.now(), id, who, title, text)
    }

    /// Puts a `failed` or `unknown` delivery of a message to one sink back in the outbox (for
    /// the Cloud API broadcast, its recipients in that state), records who asked in the audit
    /// log and wakes delivery. An `unknown` one needs `confirmed`: it may have arrived.
    pub fn retry_delivery(
        &self,
        message_id: &str,
        sink: &str,
        state: DeliveryState,
        confirmed: bool,
        who: &str,
    ) -> Result<Requeued, RetryError> {
        let requeued = self
            .inner
            .deliverer
            .requeue(message_id, sink, state, confirmed, who)?;
        self.wake_delivery();
        let recipients = match requeued.recipients {
            0 => String::new(),
            1 => ", 1 recipient".to_owned(),
            n => format!(", {n} recipients"),
        };
        self.inner.store.audit(&AuditEntry {
            at: self.now(),
            who: who.to_owned(),
            action: AuditAction::DeliveryRetry,
            subject: format!("{} → {sink}", requeued.title),
            before: Some(state.label().en().to_owned()),
            after: Some(format!("requeued{recipients}")),
            item: None,
        })?;
        Ok(requeued)
    }

    /// Ends a sink's pause now, records who asked and wakes delivery. `Ok(None)` when the
    /// sink was not paused; else the pause that ended.
    pub fn resume_sink(&self, sink: &str, who: &str) -> Result<Option<Pause>, StoreError> {
        let pause = crate::deliver::resume(&self.inner.store, sink, who, self.now())?;
        if pause.is_some() {
            self.wake_delivery();
        }
        Ok(pause)
    }

    /// A test send of `source`'s newest item to the sink `sink` (see `deliver::trial`); `to`
    /// is the number for a Cloud API sink. Returns what happened, in Italian.
    pub async fn test_send(
        &self,
        source: &str,
        sink: &str,
        to: Option<&crate::phone::Phone>,
    ) -> Result<String, TrialError> {
        let sink = self
            .sinks()
            .iter()
            .find(|s| s.name() == sink)
            .ok_or_else(|| {
                TrialError::Failed(format!("nessun canale di invio si chiama {sink}"))
            })?;
        let now = self.now();
        let message = self
            .inner
            .pipeline
            .sample(source, now)
            .await
            .map_err(|e| {
                TrialError::Failed(format!("non riesco a leggere la fonte: {}", e.italian()))
            })?
            .ok_or_else(|| {
                TrialError::Failed(
                    "la fonte non ha in questo momento notizie che sarebbero inviate".into(),
                )
            })?;
        let test = crate::deliver::trial::as_test(&message, now.timestamp());
        crate::deliver::trial::send(sink, &test, to).await
    }
}
