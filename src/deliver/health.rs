//! What delivery tells the store about each sink's health (shown on the admin UI's
//! "Consegne" page): the last success, the last failure with its HTTP status or provider
//! code, failures in a row, and when the deliverer tries again; and a sink's pause (an
//! account that cannot send until someone acts), which holds its deliveries until it is over
//! or an admin resumes it; and each sink's back-off after a failure.

use chrono::{DateTime, Utc};

use super::Deliverer;
use crate::sink::Why;
use crate::store::{
    AuditAction, AuditEntry, FailureOutcome, Pause, SinkFailure, Store, StoreError,
};

/// How long a sink whose account cannot send waits before it tries again by itself (an
/// admin who has fixed it resumes it at once on "Consegne").
const PAUSE: chrono::Duration = chrono::Duration::hours(1);

/// What one broadcast batch came to, for the sink's health.
#[derive(Debug, Default)]
pub(super) struct BatchHealth {
    pub sent: usize,
    /// Failures that are the sink's, not one recipient's.
    pub failures: u32,
    /// The last failure seen in the batch.
    pub last: Option<SinkFailure>,
    /// The earliest retry the batch planned.
    pub next_retry: Option<DateTime<Utc>>,
}

impl BatchHealth {
    /// A failure in the batch. One recipient's refusal for good (not on WhatsApp, outside
    /// the window) is shown as the last error but is not the sink failing: it does not count
    /// as a failure in a row.
    pub fn failed(&mut self, failure: SinkFailure, retry_at: Option<DateTime<Utc>>) {
        if failure.outcome != FailureOutcome::Failed {
            self.failures += 1;
        }
        self.last = Some(failure);
        if let Some(at) = retry_at {
            self.next_retry = Some(self.next_retry.map_or(at, |t| t.min(at)));
        }
    }
}

/// Ends `sink`'s pause now (an admin fixed its account) and records who asked: the pause
/// that ended, or `None` when it was not paused. The deliverer sends to it at its next pass.
pub fn resume(
    store: &Store,
    sink: &str,
    who: &str,
    now: DateTime<Utc>,
) -> Result<Option<Pause>, StoreError> {
    let Some(pause) = store.pause(sink)? else {
        return Ok(None);
    };
    store.set_pause(sink, None)?;
    store.flush()?;
    tracing::warn!(sink, who, reason = %pause.reason, "pause ended by an admin");
    store.audit(&AuditEntry {
        at: now,
        who: who.to_owned(),
        action: AuditAction::SinkResume,
        subject: sink.to_owned(),
        before: Some(format!(
            "paused until {}: {}",
            pause.until.to_rfc3339(),
            pause.reason
        )),
        after: None,
        item: None,
    })?;
    Ok(Some(pause))
}

impl Deliverer {
    /// Whether `sink` is paused now; a pause that is over is cleared.
    pub(super) fn paused(&self, sink: &str) -> Result<bool, StoreError> {
        let Some(pause) = self.store.pause(sink)? else {
            return Ok(false);
        };
        if pause.until > self.clock.now() {
            return Ok(true);
        }
        tracing::warn!(sink, reason = %pause.reason, "pause over; sending again");
        self.store.set_pause(sink, None)?;
        Ok(false)
    }

    /// Pauses `sink` after `message_id` found its account unable to send.
    pub(super) fn pause(&self, sink: &str, message_id: &str, why: &Why) -> Result<(), StoreError> {
        let until = self.clock.now() + PAUSE;
        tracing::error!(sink, reason = %why, %until, "ADMIN ALERT: the sink's account cannot send; the sink is paused");
        self.store.set_pause(
            sink,
            Some(&Pause {
                until,
                reason: why.detail.clone(),
                code: why.http_status.map(i64::from),
            }),
        )?;
        // Not a back-off: an admin's resume (through the store) ends it at once.
        self.note_failure(sink, message_id, FailureOutcome::Paused, why, Some(until))
    }

    pub(super) fn note_success(&self, sink: &str) -> Result<(), StoreError> {
        let at = self.clock.now();
        self.store.update_sink_health(sink, |h| {
            h.last_success = Some(at);
            h.failures = 0;
            h.next_retry = None;
        })
    }

    /// Records a failed send of `message_id`; `next_retry` when the deliverer tries again by
    /// itself.
    pub(super) fn note_failure(
        &self,
        sink: &str,
        message_id: &str,
        outcome: FailureOutcome,
        why: &Why,
        next_retry: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let failure = SinkFailure {
            at: self.clock.now(),
            outcome,
            message_id: Some(message_id.to_owned()),
            http_status: why.http_status,
            code: None,
            detail: why.detail.clone(),
        };
        self.store.update_sink_health(sink, |h| {
            h.last_error = Some(failure.clone());
            h.failures = h.failures.saturating_add(1);
            h.next_retry = next_retry;
        })
    }

    /// Records a broadcast batch: a success when anyone got the message, then its failures
    /// (those after the success, as far as a concurrent batch has an order).
    pub(super) fn note_batch(&self, sink: &str, batch: BatchHealth) -> Result<(), StoreError> {
        if batch.sent == 0 && batch.last.is_none() {
            return Ok(());
        }
        let at = self.clock.now();
        self.store.update_sink_health(sink, |h| {
            if batch.sent > 0 {
                h.last_success = Some(at);
                h.failures = 0;
            }
            if let Some(failure) = &batch.last {
                h.last_error = Some(failure.clone());
                h.failures = h.failures.saturating_add(batch.failures);
            }
            h.next_retry = batch.next_retry;
        })
    }

    /// Backs a sink off after a failure: how long, and until when.
    pub(super) fn note_retry(&self, sink: &str) -> (std::time::Duration, DateTime<Utc>) {
        let mut retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
        let failures = retry.get(sink).map_or(0, |(n, _)| *n) + 1;
        let wait = crate::schedule::backoff(failures, self.max_backoff, rand::random());
        let until = self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
        retry.insert(sink.to_owned(), (failures, until));
        (wait, until)
    }

    /// The same, waiting at least what the provider asked (`retry_after`).
    pub(super) fn note_retry_at_least(
        &self,
        sink: &str,
        asked: Option<std::time::Duration>,
    ) -> (std::time::Duration, DateTime<Utc>) {
        let (wait, until) = self.note_retry(sink);
        match asked.filter(|a| *a > wait) {
            Some(asked) => {
                let until =
                    self.clock.now() + chrono::Duration::from_std(asked).unwrap_or_default();
                let mut retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(entry) = retry.get_mut(sink) {
                    entry.1 = until;
                }
                (asked, until)
            }
            None => (wait, until),
        }
    }

    pub(super) fn clear_retry(&self, sink: &str) {
        self.retry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sink);
    }

    /// When `sink` is to be tried again after a failure.
    pub(super) fn next_retry_of(&self, sink: &str) -> Option<DateTime<Utc>> {
        let retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
        retry.get(sink).map(|(_, until)| *until)
    }

    /// When the next pass is worth making if nothing new arrives: the earliest sink retry.
    pub fn next_retry(&self) -> Option<DateTime<Utc>> {
        let retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
        retry.values().map(|(_, until)| *until).min()
    }
}
