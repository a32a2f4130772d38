//! What delivery tells the store about each sink's health (shown on the admin UI's
//! "Consegne" page): the last success, the last failure with its HTTP status or provider
//! code, failures in a row, and when the deliverer tries again.

use chrono::{DateTime, Utc};

use super::Deliverer;
use crate::sink::Why;
use crate::store::{FailureOutcome, SinkFailure, StoreError};

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

impl Deliverer {
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
}
