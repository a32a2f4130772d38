//! Delivery: drains the outbox into the sinks, exactly once as far as the world allows.
//!
//! For each queued message and each sink: an *intent* record is flushed before the request;
//! the outcome (sent with the provider's id, failed, or unknown) is recorded after it. An
//! intent found at start-up belongs to a process that died mid-send: the sink is asked
//! whether the message arrived, and when it cannot tell, the delivery is marked `unknown`
//! and reported, never re-sent blindly. A send that certainly did not leave (connection
//! refused) is retried later, in order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::failpoint;
use crate::item::Message;
use crate::schedule::{backoff, Clock};
use crate::sink::{Reconciled, Sink, SinkError};
use crate::store::{DeliveryRecord, DeliveryState, Store, StoreError};

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliverReport {
    pub sent: usize,
    pub unknown: usize,
    pub failed: usize,
    /// Still queued (a sink is backing off).
    pub pending: usize,
}

/// Owns the sinks and drains the outbox.
pub struct Deliverer {
    store: Store,
    sinks: Vec<Sink>,
    clock: Arc<dyn Clock>,
    /// Consecutive "not sent" failures per sink, and when to try again.
    retry: Mutex<HashMap<String, (u32, chrono::DateTime<chrono::Utc>)>>,
    max_backoff: Duration,
}

impl Deliverer {
    pub fn new(
        store: Store,
        sinks: Vec<Sink>,
        clock: Arc<dyn Clock>,
        max_backoff: Duration,
    ) -> Self {
        Deliverer {
            store,
            sinks,
            clock,
            retry: Mutex::default(),
            max_backoff,
        }
    }

    /// One pass over the outbox. Stops early (safely, between messages) when `shutdown` fires.
    pub async fn deliver(&self, shutdown: &CancellationToken) -> Result<DeliverReport, StoreError> {
        let mut report = DeliverReport::default();
        let now = self.clock.now();
        let mut blocked: HashSet<String> = {
            let retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
            retry
                .iter()
                .filter(|(_, (_, until))| *until > now)
                .map(|(name, _)| name.clone())
                .collect()
        };
        let entries: Vec<_> = self.store.outbox().collect::<Result<_, _>>()?;
        for (key, entry) in entries {
            if shutdown.is_cancelled() {
                break;
            }
            let mut all_final = true;
            for sink in &self.sinks {
                if blocked.contains(sink.name()) {
                    all_final = false;
                    continue;
                }
                match self.deliver_one(sink, &entry.message).await? {
                    Some(DeliveryState::Sent) => report.sent += 1,
                    Some(DeliveryState::Unknown) => report.unknown += 1,
                    Some(DeliveryState::Failed) => report.failed += 1,
                    Some(DeliveryState::Intent) => {}
                    None => {
                        all_final = false;
                        blocked.insert(sink.name().to_owned());
                    }
                }
            }
            if all_final {
                self.store.finish(&key, &entry, self.clock.now())?;
            } else {
                report.pending += 1;
            }
        }
        Ok(report)
    }

    /// Delivers one message to one sink. Returns the new final state if this call changed
    /// it, `Some(Intent)` when it was already final, and `None` when the sink must be retried.
    async fn deliver_one(
        &self,
        sink: &Sink,
        message: &Message,
    ) -> Result<Option<DeliveryState>, StoreError> {
        match self.store.delivery(&message.id, sink.name())? {
            Some(record) if record.state.is_final() => return Ok(Some(DeliveryState::Intent)),
            Some(_) => match sink.reconcile(message).await {
                Reconciled::Delivered => {
                    self.record(
                        message,
                        sink,
                        DeliveryState::Sent,
                        None,
                        Some("confirmed after a restart"),
                    )
                    .await?;
                    return Ok(Some(DeliveryState::Sent));
                }
                Reconciled::Unknown => {
                    tracing::warn!(
                        message = %message.id, sink = sink.name(),
                        "a send was interrupted and the sink cannot tell whether it arrived; marked unknown, not re-sent"
                    );
                    self.record(
                        message,
                        sink,
                        DeliveryState::Unknown,
                        None,
                        Some("interrupted mid-send; check the recipient"),
                    )
                    .await?;
                    return Ok(Some(DeliveryState::Unknown));
                }
                Reconciled::NotDelivered => {}
            },
            None => {}
        }
        self.record(message, sink, DeliveryState::Intent, None, None)
            .await?;
        failpoint::hit("after-intent");
        let result = sink.send(message).await;
        failpoint::hit("after-send");
        let state = match result {
            Ok(receipt) => {
                self.clear_retry(sink.name());
                tracing::info!(message = %message.id, sink = sink.name(), title = %message.title, "delivered");
                self.record(
                    message,
                    sink,
                    DeliveryState::Sent,
                    receipt.provider_id,
                    None,
                )
                .await?;
                DeliveryState::Sent
            }
            Err(SinkError::NotSent(reason)) => {
                self.store.clear_delivery(&message.id, sink.name())?;
                let wait = self.note_retry(sink.name());
                tracing::warn!(sink = sink.name(), %reason, retry_in = ?wait, "delivery failed; will retry");
                return Ok(None);
            }
            Err(e @ SinkError::MaybeSent(_)) => {
                tracing::error!(message = %message.id, sink = sink.name(), error = %e, "delivery outcome unknown; not re-sent");
                self.record(
                    message,
                    sink,
                    DeliveryState::Unknown,
                    None,
                    Some(&e.to_string()),
                )
                .await?;
                DeliveryState::Unknown
            }
            Err(e @ SinkError::Rejected(_)) => {
                tracing::error!(message = %message.id, sink = sink.name(), error = %e, "delivery refused");
                self.record(
                    message,
                    sink,
                    DeliveryState::Failed,
                    None,
                    Some(&e.to_string()),
                )
                .await?;
                DeliveryState::Failed
            }
        };
        Ok(Some(state))
    }

    async fn record(
        &self,
        message: &Message,
        sink: &Sink,
        state: DeliveryState,
        provider_id: Option<String>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let record = DeliveryRecord {
            state,
            at: self.clock.now(),
            provider_id,
            detail: detail.map(str::to_owned),
        };
        self.store
            .set_delivery(&message.id, sink.name(), &record)
            .await
    }

    fn note_retry(&self, sink: &str) -> Duration {
        let mut retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
        let failures = retry.get(sink).map_or(0, |(n, _)| *n) + 1;
        let wait = backoff(failures, self.max_backoff, rand::random());
        let until = self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
        retry.insert(sink.to_owned(), (failures, until));
        wait
    }

    fn clear_retry(&self, sink: &str) {
        self.retry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sink);
    }

    /// When the next pass is worth making if nothing new arrives: the earliest sink retry.
    pub fn next_retry(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
        retry.values().map(|(_, until)| *until).min()
    }

    pub fn sinks(&self) -> &[Sink] {
        &self.sinks
    }
}
