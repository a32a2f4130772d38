//! Sinks that take only some messages (`only_priority`, `tags`): the others are recorded as
//! `skipped` for that sink (final: nothing sent, nothing to retry); an e-mail sink with a
//! daily digest leaves its normal messages waiting for it (`mail_digest`); the rest of the
//! group goes on as usual.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::{Deliverer, Step};
use crate::sink::Sink;
use crate::store::{DeliveryState, OutboxEntry, StoreError};

impl Deliverer {
    /// With the sinks' filters (`only_priority`, `tags`), by sink name.
    pub fn with_filters(mut self, filters: HashMap<String, crate::config::SinkFilter>) -> Self {
        self.filters = filters;
        self
    }

    /// When `sink` does not take some messages of `group`: records them skipped, delivers the
    /// others, and gives every message's step in the group's order. `None` when it takes all.
    pub(super) async fn skipping(
        &self,
        sink: &Sink,
        group: &[(Vec<u8>, OutboxEntry)],
        shutdown: &CancellationToken,
    ) -> Result<Option<Vec<Step>>, StoreError> {
        // Messages this sink does not take are settled first (recorded as skipped), and
        // those that wait for its daily digest are left waiting.
        let filter = self.filters.get(sink.name());
        let mut settled: Vec<(usize, Step)> = Vec::new();
        for (i, (_, entry)) in group.iter().enumerate() {
            if let Some(f) = filter.filter(|f| {
                !f.allows(
                    entry.message.priority,
                    &entry.message.tags,
                    &crate::audience::Reach::of(&entry.message, &self.audience).topics,
                )
            }) {
                let done = self
                    .store
                    .delivery(&entry.message.id, sink.name())?
                    .is_some_and(|r| r.state.is_final());
                if !done {
                    let why = f.why_not();
                    self.record(
                        &entry.message,
                        sink.name(),
                        DeliveryState::Skipped,
                        None,
                        Some(&why),
                    )
                    .await?;
                }
                settled.push((i, Step::Done(DeliveryState::Skipped)));
            } else if self.waits_for_digest(sink.name(), &entry.message)? {
                settled.push((i, Step::Waiting));
            }
        }
        if !settled.is_empty() {
            let is_settled = |i: usize| settled.iter().position(|(j, _)| *j == i);
            let rest: Vec<(Vec<u8>, OutboxEntry)> = group
                .iter()
                .enumerate()
                .filter(|(i, _)| is_settled(*i).is_none())
                .map(|(_, e)| e.clone())
                .collect();
            let mut steps = Box::pin(self.deliver_group(sink, &rest, shutdown))
                .await?
                .into_iter();
            // Back in the group's order: a settled message as settled, the others as they went.
            let mut all = Vec::with_capacity(group.len());
            for i in 0..group.len() {
                if let Some(at) = is_settled(i) {
                    all.push(settled[at].1);
                } else {
                    match steps.next() {
                        Some(step) => all.push(step),
                        None => break,
                    }
                }
            }
            return Ok(Some(all));
        }
        Ok(None)
    }
}
