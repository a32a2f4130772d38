//! How each sink has been doing: its [`SinkHealth`] record (written by delivery and by the
//! provider's status webhooks) and the counts of its deliveries by state.

use std::collections::{HashMap, HashSet};

use sled::transaction::ConflictableTransactionError;

use super::table::{decode, encode};
use super::{DeliveryRecord, DeliveryState, SinkHealth, Store, StoreError};

/// How many messages' deliveries to one sink are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub sent: usize,
    pub failed: usize,
    pub unknown: usize,
    /// Queued and not yet final on this sink (no record, an intent, or a retry asked for).
    pub pending: usize,
}

impl Store {
    /// A sink's health record (the default when it has none yet).
    pub fn sink_health(&self, sink: &str) -> Result<SinkHealth, StoreError> {
        Ok(self.sink_health.get(sink)?.unwrap_or_default())
    }

    /// Changes a sink's health record; read and written in one transaction, so the deliverer
    /// and the status webhooks do not undo each other's changes. A record that cannot be read
    /// (written by a newer banditore) starts again from nothing: it only informs people.
    pub fn update_sink_health(
        &self,
        sink: &str,
        change: impl Fn(&mut SinkHealth),
    ) -> Result<(), StoreError> {
        self.sink_health.tree().transaction(|tree| {
            let mut health: SinkHealth = tree
                .get(sink)?
                .and_then(|raw| decode(&raw).ok())
                .unwrap_or_default();
            change(&mut health);
            let raw = encode(&health).map_err(ConflictableTransactionError::Abort)?;
            tree.insert(sink.as_bytes(), raw)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Forgets the health of sinks no longer configured; returns how many.
    pub fn forget_sinks_except(&self, configured: &HashSet<&str>) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        for name in self.sink_health.tree().iter().keys() {
            let name = name?;
            if !configured.contains(String::from_utf8_lossy(&name).as_ref()) {
                self.sink_health.remove(&name)?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// For each of `sinks`, its deliveries by state: every record kept (messages in the log
    /// and in the outbox), plus the queued messages not yet final on it.
    pub fn delivery_counts(&self, sinks: &[&str]) -> Result<Vec<DeliveryCounts>, StoreError> {
        let index: HashMap<&str, usize> = sinks.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        let mut counts = vec![DeliveryCounts::default(); sinks.len()];
        for r in self.deliveries.iter() {
            let (key, record) = r?;
            // message id \0 sink
            let Some(sink) = key
                .iter()
                .position(|b| *b == 0)
                .and_then(|at| key.get(at + 1..))
            else {
                continue;
            };
            let Some(c) = std::str::from_utf8(sink)
                .ok()
                .and_then(|s| index.get(s))
                .and_then(|&i| counts.get_mut(i))
            else {
                continue;
            };
            match record.state {
                DeliveryState::Sent => c.sent += 1,
                DeliveryState::Failed => c.failed += 1,
                DeliveryState::Unknown => c.unknown += 1,
                // Counted with the outbox below; not for this sink.
                DeliveryState::Intent | DeliveryState::Requeued | DeliveryState::Skipped => {}
            }
        }
        for r in self.outbox() {
            let (_, entry) = r?;
            for (sink, c) in sinks.iter().zip(counts.iter_mut()) {
                let record: Option<DeliveryRecord> = self.delivery(&entry.message.id, sink)?;
                if !record.is_some_and(|r| r.state.is_final()) {
                    c.pending += 1;
                }
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::store::{FailureOutcome, SinkFailure};

    #[tokio::test]
    async fn health_counts_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let failure = SinkFailure {
            at,
            outcome: FailureOutcome::Retry,
            message_id: Some("m1".into()),
            http_status: Some(500),
            code: None,
            detail: "HTTP 500 Internal Server Error".into(),
        };
        for _ in 0..2 {
            store
                .update_sink_health("hook", |h| {
                    h.last_error = Some(failure.clone());
                    h.failures += 1;
                })
                .unwrap();
        }
        let health = store.sink_health("hook").unwrap();
        assert_eq!((health.failures, health.last_error), (2, Some(failure)));
        assert_eq!(store.sink_health("nuovo").unwrap(), SinkHealth::default());
        for (id, sink, state) in [
            ("m1", "hook", DeliveryState::Failed),
            ("m1", "file", DeliveryState::Sent),
            ("m2", "file", DeliveryState::Sent),
            ("m2", "hook", DeliveryState::Unknown),
            ("m3", "file", DeliveryState::Intent),
            ("m3", "altro", DeliveryState::Sent),
        ] {
            let record = DeliveryRecord {
                state,
                at,
                provider_id: None,
                detail: None,
            };
            store.set_delivery(id, sink, &record).await.unwrap();
        }
        let counts = store.delivery_counts(&["file", "hook"]).unwrap();
        let expected = |sent, failed, unknown| DeliveryCounts {
            sent,
            failed,
            unknown,
            pending: 0,
        };
        assert_eq!(counts, vec![expected(2, 0, 0), expected(0, 1, 1)]);
        store.update_sink_health("tolto", |_| {}).unwrap();
        let configured = HashSet::from(["hook"]);
        assert_eq!(store.forget_sinks_except(&configured).unwrap(), 1);
        assert_eq!(store.sink_health("hook").unwrap().failures, 2);
        assert_eq!(store.sink_health("tolto").unwrap(), SinkHealth::default());
    }
}
