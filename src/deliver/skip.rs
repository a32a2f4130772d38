//! Sinks that take only some messages (`only_priority`, `tags`): the others are recorded as
//! `skipped` for that sink (final: nothing sent, nothing to retry); an e-mail sink with a
//! daily digest leaves its normal messages waiting for it (`mail_digest`); the rest of the
//! group goes on as usual.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::{Deliverer, Step};
use crate::config::SinkFilter;
use crate::item::Message;
use crate::sink::Sink;
use crate::store::{DeliveryState, OutboxEntry, StoreError};

/// Whether a sink with `filter` takes `message`, whose topics are `topics`: its priority,
/// one of its tags (case and accents aside: "VIABILITA" is "Viabilità"), one of its topics.
pub(super) fn takes(filter: &SinkFilter, message: &Message, topics: &[String]) -> bool {
    let fold = crate::text::fold;
    filter.only_priority.is_none_or(|p| message.priority == p)
        && (filter.tags.is_empty()
            || message
                .tags
                .iter()
                .any(|t| filter.tags.iter().any(|w| fold(w.trim()) == fold(t.trim()))))
        && (filter.topics.is_empty() || topics.iter().any(|t| filter.topics.contains(t)))
}

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
                !takes(
                    f,
                    &entry.message,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Priority;

    fn message(priority: Priority, tags: &[&str]) -> Message {
        Message {
            id: "m".into(),
            source: "s".into(),
            kind: "feed".into(),
            title: "t".into(),
            url: "https://x.it/".into(),
            text: "*t*".into(),
            image: None,
            priority,
            published: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            extra: Default::default(),
        }
    }

    #[test]
    fn a_filter_takes_the_priority_any_of_its_tags_and_any_of_its_topics() {
        let roads = message(Priority::Normal, &["VIABILITA"]);
        assert!(takes(&SinkFilter::default(), &roads, &[]));
        let urgent = SinkFilter {
            only_priority: Some(Priority::Urgent),
            ..SinkFilter::default()
        };
        assert!(!takes(&urgent, &roads, &[]));
        assert!(takes(&urgent, &message(Priority::Urgent, &[]), &[]));
        let tags = SinkFilter {
            tags: vec!["Viabilità".into(), "Eventi".into()],
            ..SinkFilter::default()
        };
        assert!(takes(&tags, &roads, &[]), "case and accents aside");
        assert!(!takes(&tags, &message(Priority::Normal, &["Scuola"]), &[]));
        assert!(urgent.why_not().contains("urgenti"));
        let alerts = SinkFilter {
            topics: vec!["allerte".into()],
            ..SinkFilter::default()
        };
        assert!(takes(&alerts, &roads, &["allerte".to_owned()]));
        assert!(!takes(&alerts, &roads, &["eventi".to_owned()]));
    }
}
