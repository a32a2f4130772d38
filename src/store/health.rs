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
                // Counted with the outbox below.
                DeliveryState::Intent | DeliveryState::Requeued => {}
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
