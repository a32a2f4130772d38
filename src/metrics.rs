//! What happened since the process started, counted for `/metrics` with the Prometheus
//! client crate (`prometheus-client`): polls and their failures by kind, new items, messages
//! by sink and outcome, and the time from publication to delivery. One [`Metrics`] lives as
//! long as the process (a reload keeps it). The gauges (state read from the store: outbox,
//! sinks paused, last success…) are written beside these by `http::probes`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PollLabels {
    source: String,
    /// `ok`, or why not: `timeout`, `connect`, `status`, `too_large`, `redirects`,
    /// `not_public`, `fetch`, `parse`, `store`, `internal`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    sink: String,
    /// `sent`, `failed` or `unknown`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

/// The process's counters. Cheap to share (`Arc`).
pub struct Metrics {
    registry: Registry,
    polls: Family<PollLabels, Counter>,
    items_new: Family<SourceLabel, Counter>,
    messages: Family<DeliveryLabels, Counter>,
    latency: Family<SinkLabel, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Delivery latency buckets, in seconds: from a minute to two days (quiet hours and review
/// hold messages for hours).
const LATENCY_BUCKETS: [f64; 10] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 172800.0,
];

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("banditore");
        let polls = Family::<PollLabels, Counter>::default();
        registry.register("polls", "Polls of each source, by outcome", polls.clone());
        let items_new = Family::<SourceLabel, Counter>::default();
        registry.register(
            "items_new",
            "New items found by each source's polls (sent, held or dropped by policy)",
            items_new.clone(),
        );
        let messages = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "messages",
            "Messages delivered to each sink, by outcome (sent, failed, unknown)",
            messages.clone(),
        );
        let latency = Family::<SinkLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS)
        });
        registry.register_with_unit(
            "delivery_latency",
            "Time from an item's publication to its message sent to a sink",
            Unit::Seconds,
            latency.clone(),
        );
        Arc::new(Metrics {
            registry,
            polls,
            items_new,
            messages,
            latency,
        })
    }

    /// A poll of `source` ended: `outcome` is `ok` or the failure's kind.
    pub fn poll(&self, source: &str, outcome: &str, new_items: usize) {
        self.polls
            .get_or_create(&PollLabels {
                source: source.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        if new_items > 0 {
            self.items_new
                .get_or_create(&SourceLabel {
                    source: source.to_owned(),
                })
                .inc_by(new_items as u64);
        }
    }

    /// A message reached its final state on `sink` (`sent`, `failed` or `unknown`); a sent one
    /// published at `published` counts in the latency.
    pub fn delivered(
        &self,
        sink: &str,
        outcome: &str,
        published: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        self.messages
            .get_or_create(&DeliveryLabels {
                sink: sink.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        if let (Some(published), "sent") = (published, outcome) {
            let seconds = (now - published).num_milliseconds() as f64 / 1000.0;
            if seconds >= 0.0 {
                self.latency
                    .get_or_create(&SinkLabel {
                        sink: sink.to_owned(),
                    })
                    .observe(seconds);
            }
        }
    }

    /// The counters in the Prometheus text format (0.0.4), appended to `out`.
    pub fn encode(&self, out: &mut String) {
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(out, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counters_and_the_latency_histogram_in_the_text_format() {
        let m = Metrics::new();
        m.poll("comune", "ok", 2);
        m.poll("comune", "timeout", 0);
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        m.delivered("wa", "sent", Some(at), at + chrono::Duration::seconds(90));
        m.delivered("wa", "unknown", None, at);
        let mut out = String::new();
        m.encode(&mut out);
        for line in [
            "# TYPE banditore_polls_total counter",
            "banditore_polls_total{source=\"comune\",outcome=\"ok\"} 1",
            "banditore_polls_total{source=\"comune\",outcome=\"timeout\"} 1",
            "banditore_items_new_total{source=\"comune\"} 2",
            "banditore_messages_total{sink=\"wa\",outcome=\"unknown\"} 1",
            "# TYPE banditore_delivery_latency_seconds histogram",
            "banditore_delivery_latency_seconds_bucket{sink=\"wa\",le=\"300\"} 1",
            "banditore_delivery_latency_seconds_count{sink=\"wa\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }
}
