//! Delivery: drains the outbox into the sinks, exactly once as far as the world allows.
//!
//! For each queued message and each sink: an *intent* record is flushed before the request;
//! the outcome (sent with the provider's id, failed, or unknown) is recorded after it. An
//! intent found at start-up belongs to a process that died mid-send: the sink is asked
//! whether the message arrived, and when it cannot tell, the delivery is marked `unknown`
//! and reported, never re-sent blindly. A send that certainly did not leave (connection
//! refused) is retried later, in order.

mod answer;
mod broadcast;
mod earlier;
mod health;
mod mail_digest;
pub mod quiet;
mod ready;
mod retry;
mod skip;
pub mod trial;

pub use health::resume;
pub use ready::DailyCap;
pub use retry::RetryError;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::failpoint;
use crate::item::Message;
use crate::schedule::{Clock, QuietHours};
use crate::sink::{FileSink, Posting, Reconciled, Sink, SinkError, Why};
use crate::store::{
    DeliveryRecord, DeliveryState, FailureOutcome, OutboxEntry, RecipientRecord, RecipientState,
    Store, StoreError,
};
use quiet::Night;

/// Answers of a broadcast recorded together when no more requests are starting (a throttled
/// or paused sink, the end of the list); while requests start, the answers are recorded
/// before each new group of intents.
const BROADCAST_BATCH: usize = 16;

/// Messages delivered together: a pass goes through the outbox a group at a time, each sink
/// getting the group's messages in order (a file sink all at once: see
/// `Deliverer::deliver_to_file`).
const GROUP: usize = 16;

/// What one attempt at a (message, sink) pair came to.
#[derive(Clone, Copy)]
enum Step {
    /// Final before this pass.
    AlreadyDone,
    /// Made final now.
    Done(DeliveryState),
    /// Not final: try again later.
    Later,
    /// Not final: waits for the sink's daily digest (the sink goes on with the others).
    Waiting,
}

enum BatchEnd {
    Continue {
        retry_later: bool,
    },
    /// Stop this pass: the sink is throttled or paused.
    Stop,
}

fn recipient_record(
    state: RecipientState,
    wamid: Option<String>,
    detail: Option<&str>,
    attempts: u32,
    not_before: Option<chrono::DateTime<chrono::Utc>>,
    at: chrono::DateTime<chrono::Utc>,
) -> RecipientRecord {
    RecipientRecord {
        state,
        at,
        wamid,
        detail: detail.map(str::to_owned),
        attempts,
        not_before,
    }
}

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
    /// Normal messages wait through these hours; urgent ones do not.
    night: Option<Night>,
    /// When a normal message goes without a sound (quiet hours, or the default ones when
    /// they are off).
    dark: Night,
    /// When the last night message went out this morning (the morning's pace; a restart
    /// forgets it, at worst one message early).
    last_release: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// Most normal messages a day, the rest in one digest.
    daily: Option<DailyCap>,
    /// Where deliveries are counted for `/metrics`.
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// The messages each sink takes (a sink not named takes every one).
    filters: HashMap<String, crate::config::SinkFilter>,
    /// E-mail sinks with a daily digest, and its local time.
    mail_digests: HashMap<String, chrono::NaiveTime>,
    /// The topics and zones citizens choose (the broadcast sends each message to its own).
    audience: crate::config::Audience,
}

impl Deliverer {
    pub fn new(
        store: Store,
        sinks: Vec<Sink>,
        clock: Arc<dyn Clock>,
        max_backoff: Duration,
        quiet: Option<QuietHours>,
        tz: chrono_tz::Tz,
    ) -> Self {
        Deliverer {
            store,
            sinks,
            clock,
            retry: Mutex::default(),
            max_backoff,
            night: quiet.map(|hours| Night { hours, tz }),
            dark: Night {
                hours: quiet.unwrap_or(crate::config::DEFAULT_QUIET_HOURS),
                tz,
            },
            last_release: Mutex::default(),
            daily: None,
            metrics: None,
            filters: HashMap::new(),
            mail_digests: HashMap::new(),
            audience: Default::default(),
        }
    }

    /// Counting what it delivers in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
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
        let ready = self.ready(now, &mut report)?;
        self.mail_digests(&ready, now).await?;
        for group in ready.chunks(GROUP) {
            if shutdown.is_cancelled() {
                break;
            }
            let mut all_final = vec![true; group.len()];
            // Every sink at once: a slow or paced one (Telegram's three seconds a message)
            // holds up no other, and an alert reaches each as fast as that one can take it.
            let tried = {
                let blocked = &blocked;
                futures_util::future::join_all(self.sinks.iter().map(|sink| async move {
                    if blocked.contains(sink.name()) {
                        Ok(Vec::new())
                    } else {
                        self.deliver_group(sink, group, shutdown).await
                    }
                }))
                .await
            };
            for (sink, steps) in self.sinks.iter().zip(tried) {
                let steps = steps?;
                // A message without a step was not tried on this sink.
                for (i, done) in all_final.iter_mut().enumerate() {
                    if let (Some(Step::Done(state)), Some(m), Some((_, entry))) =
                        (steps.get(i), &self.metrics, group.get(i))
                    {
                        if state.is_final() {
                            let published = entry.message.published.as_deref().and_then(|p| {
                                chrono::DateTime::parse_from_rfc3339(p)
                                    .ok()
                                    .map(|d| d.to_utc())
                            });
                            m.delivered(sink.name(), state.label().en(), published, now);
                        }
                    }
                    // In the citizens' archive as soon as one sink took it.
                    if let (
                        Some(Step::Done(DeliveryState::Sent | DeliveryState::Unknown)),
                        Some((_, entry)),
                    ) = (steps.get(i), group.get(i))
                    {
                        self.store.archive_sent(entry, now)?;
                    }
                    match steps.get(i) {
                        Some(Step::Done(DeliveryState::Sent)) => report.sent += 1,
                        Some(Step::Done(DeliveryState::Unknown)) => report.unknown += 1,
                        Some(Step::Done(DeliveryState::Failed)) => report.failed += 1,
                        Some(
                            Step::Done(
                                DeliveryState::Intent
                                | DeliveryState::Requeued
                                | DeliveryState::Skipped,
                            )
                            | Step::AlreadyDone,
                        ) => {}
                        Some(Step::Later) => {
                            *done = false;
                            blocked.insert(sink.name().to_owned());
                        }
                        Some(Step::Waiting) | None => *done = false,
                    }
                }
            }
            let sinks: Vec<&str> = self.sinks.iter().map(Sink::name).collect();
            for ((key, entry), done) in group.iter().zip(all_final) {
                // The store checks the records again: an admin's retry may have come in.
                if !(done && self.store.finish(key, entry, &sinks, self.clock.now())?) {
                    report.pending += 1;
                }
            }
        }
        Ok(report)
    }

    /// Delivers a group of messages, in order, to one sink; one step per message tried. A
    /// sink that must wait (`Step::Later`) gets nothing more in this pass, and between
    /// messages a shutdown stops the group.
    async fn deliver_group(
        &self,
        sink: &Sink,
        group: &[(Vec<u8>, OutboxEntry)],
        shutdown: &CancellationToken,
    ) -> Result<Vec<Step>, StoreError> {
        if let Some(steps) = self.skipping(sink, group, shutdown).await? {
            return Ok(steps);
        }
        if let Sink::File(file) = sink {
            return self.deliver_to_file(sink, file, group).await;
        }
        let mut steps = Vec::with_capacity(group.len());
        for (_, entry) in group {
            if shutdown.is_cancelled() {
                break;
            }
            let step = match sink {
                Sink::Cloud(cloud) => self.broadcast(cloud, entry, shutdown).await?,
                _ => self.deliver_one(sink, &entry.message).await?,
            };
            let later = matches!(step, Step::Later);
            steps.push(step);
            if later {
                break;
            }
        }
        Ok(steps)
    }

    /// Delivers a group of messages to a file sink with one flush of their intents, one
    /// append (one sync) of their lines and one flush of their outcomes, rather than three of
    /// each per message. Still intent before request: every message's intent is on disk
    /// before its line is written. A crash between the two leaves intents that
    /// [`FileSink::reconcile`] settles one by one at the next pass: a line that landed is
    /// confirmed, one that did not is written then, so nothing is written twice or lost.
    async fn deliver_to_file(
        &self,
        sink: &Sink,
        file: &FileSink,
        group: &[(Vec<u8>, OutboxEntry)],
    ) -> Result<Vec<Step>, StoreError> {
        let name = sink.name();
        // Messages to write get their step once written.
        let mut steps = Vec::with_capacity(group.len());
        // (index in the group, line) of the messages to write, at most BATCH_BYTES an append.
        let mut appends: Vec<Vec<(usize, String)>> = Vec::new();
        let mut current = Vec::new();
        let mut bytes = 0;
        for (i, (_, entry)) in group.iter().enumerate() {
            let message = &entry.message;
            if let Some(step) = self.resume(sink, message).await? {
                steps.push(step);
                continue;
            }
            match FileSink::line(message) {
                Ok(line) => {
                    if !current.is_empty() && bytes + line.len() > FileSink::BATCH_BYTES {
                        appends.push(std::mem::take(&mut current));
                        bytes = 0;
                    }
                    bytes += line.len();
                    current.push((i, line));
                    steps.push(Step::Done(DeliveryState::Intent));
                }
                Err(e) => {
                    tracing::error!(message_id = %message.id, sink = name, error = %e, "delivery refused");
                    self.record(
                        message,
                        name,
                        DeliveryState::Failed,
                        None,
                        Some(&e.to_string()),
                    )
                    .await?;
                    self.note_failure(name, &message.id, FailureOutcome::Failed, e.why(), None)?;
                    steps.push(Step::Done(DeliveryState::Failed));
                }
            }
        }
        if !current.is_empty() {
            appends.push(current);
        }
        let mut appends = appends.into_iter();
        while let Some(append) = appends.next() {
            let at = self.clock.now();
            let delivery = |state, detail: Option<String>| DeliveryRecord {
                state,
                at,
                provider_id: None,
                detail,
            };
            let (indices, lines): (Vec<usize>, Vec<String>) = append.into_iter().unzip();
            let ids: Vec<&str> = indices
                .iter()
                .map(|&i| group[i].1.message.id.as_str())
                .collect();
            let intent = delivery(DeliveryState::Intent, None);
            let intents: Vec<_> = ids.iter().map(|&id| (id, &intent)).collect();
            self.store.set_deliveries(name, &intents).await?;
            failpoint::hit("after-intent");
            let result = file.append(lines).await;
            failpoint::hit("after-send");
            if let Err(SinkError::NotSent(reason)) = &result {
                // Nothing was written (the file was cut back, or not opened): the messages
                // wait for the sink's next try, as one message's failure does.
                for &id in &ids {
                    self.store.clear_delivery(id, name)?;
                }
                let (wait, until) = self.note_retry(name);
                tracing::warn!(sink = name, %reason, retry_in = ?wait, "delivery failed; will retry");
                let first = ids.first().copied().unwrap_or_default();
                self.note_failure(name, first, FailureOutcome::Retry, reason, Some(until))?;
                // This append and the rest of the pass wait.
                let rest = appends.by_ref().flatten().map(|(i, _)| i);
                for i in indices.into_iter().chain(rest) {
                    steps[i] = Step::Later;
                }
                break;
            }
            let (outcome, error) = match result {
                Ok(()) => {
                    self.clear_retry(name);
                    for &i in &indices {
                        let message = &group[i].1.message;
                        tracing::info!(message_id = %message.id, sink = name, title = %message.title, "delivered");
                    }
                    (delivery(DeliveryState::Sent, None), None)
                }
                Err(e) => {
                    tracing::error!(sink = name, messages = ?ids, error = %e, "delivery outcome unknown; not re-sent");
                    (
                        delivery(DeliveryState::Unknown, Some(e.to_string())),
                        Some(e),
                    )
                }
            };
            let outcomes: Vec<_> = ids.iter().map(|&id| (id, &outcome)).collect();
            self.store.set_deliveries(name, &outcomes).await?;
            // The sink's health after the ledger: it only informs people.
            match error {
                None => self.note_success(name)?,
                Some(e) => {
                    let first = ids.first().copied().unwrap_or_default();
                    self.note_failure(name, first, FailureOutcome::Unknown, e.why(), None)?;
                }
            }
            for i in indices {
                steps[i] = Step::Done(outcome.state);
            }
        }
        Ok(steps)
    }

    /// Settles a message on a sink from its delivery record, if the record does: already
    /// final, or an intent left by a process that died mid-send, which the sink reconciles.
    /// `None`: the message is to be sent.
    async fn resume(&self, sink: &Sink, message: &Message) -> Result<Option<Step>, StoreError> {
        match self.store.delivery(&message.id, sink.name())? {
            // Never tried, or an admin asked for another try: sent with a fresh intent.
            None => Ok(None),
            Some(record) if record.state == DeliveryState::Requeued => Ok(None),
            Some(record) if record.state.is_final() => Ok(Some(Step::AlreadyDone)),
            Some(record) => match sink.reconcile(message, self.clock.now() - record.at).await {
                Reconciled::Delivered => {
                    self.record(
                        message,
                        sink.name(),
                        DeliveryState::Sent,
                        None,
                        Some("confirmed after a restart"),
                    )
                    .await?;
                    Ok(Some(Step::Done(DeliveryState::Sent)))
                }
                Reconciled::Unknown => {
                    tracing::warn!(
                        message_id = %message.id, sink = sink.name(),
                        "a send was interrupted and the sink cannot tell whether it arrived; marked unknown, not re-sent"
                    );
                    self.record(
                        message,
                        sink.name(),
                        DeliveryState::Unknown,
                        None,
                        Some("interrupted mid-send; check the recipient"),
                    )
                    .await?;
                    let why =
                        Why::from("interrupted mid-send; the sink cannot tell whether it arrived");
                    self.note_failure(
                        sink.name(),
                        &message.id,
                        FailureOutcome::Unknown,
                        &why,
                        None,
                    )?;
                    Ok(Some(Step::Done(DeliveryState::Unknown)))
                }
                Reconciled::NotDelivered => Ok(None),
            },
        }
    }

    /// Delivers one message to one sink.
    async fn deliver_one(&self, sink: &Sink, message: &Message) -> Result<Step, StoreError> {
        if let Some(step) = self.resume(sink, message).await? {
            return Ok(step);
        }
        if self.paused(sink.name())? {
            return Ok(Step::Later);
        }
        self.record(message, sink.name(), DeliveryState::Intent, None, None)
            .await?;
        failpoint::hit_at("after-intent", sink.name());
        let earlier = self.earlier_on(sink, message)?;
        let posting = Posting {
            earlier: earlier.as_deref(),
            silent: message.priority == crate::config::Priority::Normal
                && self.dark.quiet(self.clock.now()),
        };
        let result = sink.post(message, posting).await;
        failpoint::hit_at("after-send", sink.name());
        let state = match result {
            Ok(receipt) => {
                self.clear_retry(sink.name());
                tracing::info!(message_id = %message.id, sink = sink.name(), title = %message.title, "delivered");
                if let (Sink::Gateway(gateway), Some(id)) = (sink, &receipt.provider_id) {
                    // Acks from the gateway's webhook are matched on this record.
                    let record = recipient_record(
                        RecipientState::Sent,
                        Some(id.clone()),
                        None,
                        1,
                        None,
                        self.clock.now(),
                    );
                    self.store
                        .set_recipients(
                            &message.id,
                            sink.name(),
                            &[(gateway.chat_id().to_owned(), record)],
                        )
                        .await?;
                }
                self.record(
                    message,
                    sink.name(),
                    DeliveryState::Sent,
                    receipt.provider_id,
                    None,
                )
                .await?;
                self.note_success(sink.name())?;
                DeliveryState::Sent
            }
            Err(SinkError::NotSent(reason)) => {
                self.store.clear_delivery(&message.id, sink.name())?;
                let (wait, until) = self.note_retry_at_least(sink.name(), reason.retry_after);
                tracing::warn!(sink = sink.name(), %reason, retry_in = ?wait, "delivery failed; will retry");
                self.note_failure(
                    sink.name(),
                    &message.id,
                    FailureOutcome::Retry,
                    &reason,
                    Some(until),
                )?;
                return Ok(Step::Later);
            }
            Err(SinkError::Paused(why)) => {
                self.store.clear_delivery(&message.id, sink.name())?;
                self.pause(sink.name(), &message.id, &why)?;
                return Ok(Step::Later);
            }
            Err(e @ SinkError::MaybeSent(_)) => {
                tracing::error!(message_id = %message.id, sink = sink.name(), error = %e, "delivery outcome unknown; not re-sent");
                self.record(
                    message,
                    sink.name(),
                    DeliveryState::Unknown,
                    None,
                    Some(&e.to_string()),
                )
                .await?;
                self.note_failure(
                    sink.name(),
                    &message.id,
                    FailureOutcome::Unknown,
                    e.why(),
                    None,
                )?;
                DeliveryState::Unknown
            }
            Err(e @ SinkError::Rejected(_)) => {
                tracing::error!(message_id = %message.id, sink = sink.name(), error = %e, "delivery refused");
                self.record(
                    message,
                    sink.name(),
                    DeliveryState::Failed,
                    None,
                    Some(&e.to_string()),
                )
                .await?;
                self.note_failure(
                    sink.name(),
                    &message.id,
                    FailureOutcome::Failed,
                    e.why(),
                    None,
                )?;
                DeliveryState::Failed
            }
        };
        Ok(Step::Done(state))
    }

    async fn record(
        &self,
        message: &Message,
        sink: &str,
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
        self.store.set_delivery(&message.id, sink, &record).await
    }

    pub fn sinks(&self) -> &[Sink] {
        &self.sinks
    }
}
