//! The broadcast to subscribers through the Cloud API: consenting subscribers streamed from
//! the store, intents flushed a batch at a time, each answer judged by [`super::answer`].

use super::answer::{self, Next};
use super::health::BatchHealth;
use super::{recipient_record, BatchEnd, Deliverer, Step, BROADCAST_BATCH};
use crate::config::Priority;
use crate::failpoint;
use crate::item::Message;
use crate::schedule::backoff;
use crate::sink::whatsapp_cloud::CloudOutcome;
use crate::sink::CloudSink;
use crate::store::{
    DeliveryState, FailureOutcome, OutboxEntry, Pause, RecipientState, SinkFailure, StoreError,
    Subscriber,
};

impl Deliverer {
    /// Delivers one message to every subscriber who had consented when it was queued.
    /// Subscribers are streamed from the store; intents are written and flushed one batch at
    /// a time, so after a crash at most one batch (the requests in flight) is `unknown`.
    pub(super) async fn broadcast(
        &self,
        cloud: &CloudSink,
        entry: &OutboxEntry,
    ) -> Result<Step, StoreError> {
        let sink = cloud.name();
        let message = &entry.message;
        // An admin's retry: only the recipients it reset (now `retry`) are sent again; nobody
        // without a record, and nobody already served.
        let mut retrying = false;
        if let Some(record) = self.store.delivery(&message.id, sink)? {
            if record.state.is_final() {
                return Ok(Step::AlreadyDone);
            }
            retrying = record.state == DeliveryState::Requeued;
        }
        let now = self.clock.now();
        if let Some(pause) = self.store.pause(sink)? {
            if pause.until > now {
                return Ok(Step::Later);
            }
            tracing::warn!(sink, reason = %pause.reason, "pause over; sending again");
            self.store.set_pause(sink, None)?;
        }
        let mut waiting = false;
        let mut batch = Vec::with_capacity(BROADCAST_BATCH);
        let mut leftovers = Vec::new();
        for subscriber in self.store.subscribers() {
            let (phone, sub) = subscriber?;
            if sub.consented_at > entry.enqueued_at {
                continue; // subscribed after this message: no old news
            }
            let attempts = match self.store.recipient(&message.id, sink, &phone)? {
                Some(r) if r.state.is_final() => continue,
                Some(r) if r.state == RecipientState::Intent => {
                    leftovers.push((
                        phone,
                        recipient_record(
                            RecipientState::Unknown,
                            None,
                            Some("interrupted mid-send; not re-sent"),
                            r.attempts,
                            None,
                            now,
                        ),
                    ));
                    continue;
                }
                Some(r) if r.not_before.is_some_and(|t| t > now) => {
                    waiting = true;
                    continue;
                }
                Some(r) => r.attempts,
                None if retrying => continue,
                None => 0,
            };
            batch.push((phone, sub, attempts));
            if batch.len() == BROADCAST_BATCH {
                if !leftovers.is_empty() {
                    self.store
                        .set_recipient_outcomes(&message.id, sink, &leftovers)
                        .await?;
                    leftovers.clear();
                }
                match self
                    .send_batch(cloud, message, std::mem::take(&mut batch))
                    .await?
                {
                    BatchEnd::Continue { retry_later } => waiting |= retry_later,
                    BatchEnd::Stop => return Ok(Step::Later),
                }
                // An alert never waits behind a broadcast: between batches, a normal message
                // gives way, and resumes after it where it stopped (everyone served has a
                // final record and is skipped).
                if message.priority == Priority::Normal && self.store.urgent_waiting(sink)? {
                    tracing::info!(sink, message = %message.id, "broadcast paused: an urgent message goes first");
                    return Ok(Step::Later);
                }
            }
        }
        if !leftovers.is_empty() {
            tracing::warn!(sink, message = %message.id, count = leftovers.len(), "sends interrupted by a crash marked unknown");
            self.store
                .set_recipient_outcomes(&message.id, sink, &leftovers)
                .await?;
        }
        if !batch.is_empty() {
            match self.send_batch(cloud, message, batch).await? {
                BatchEnd::Continue { retry_later } => waiting |= retry_later,
                BatchEnd::Stop => return Ok(Step::Later),
            }
        }
        if waiting {
            return Ok(Step::Later);
        }
        let counts = self.store.recipient_counts(&message.id, sink)?;
        let summary = counts
            .iter()
            .map(|(s, n)| format!("{n} {s:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(", ");
        tracing::info!(sink, message = %message.id, %summary, "broadcast finished");
        self.record(message, sink, DeliveryState::Sent, None, None)
            .await?;
        Ok(Step::Done(DeliveryState::Sent))
    }

    async fn send_batch(
        &self,
        cloud: &CloudSink,
        message: &Message,
        batch: Vec<(String, Subscriber, u32)>,
    ) -> Result<BatchEnd, StoreError> {
        use futures_util::stream::{self, StreamExt};
        let sink = cloud.name();
        let now = self.clock.now();
        let intents: Vec<_> = batch
            .iter()
            .map(|(phone, _, attempts)| {
                (
                    phone.clone(),
                    recipient_record(RecipientState::Intent, None, None, attempts + 1, None, now),
                )
            })
            .collect();
        let recorded = self
            .store
            .set_recipient_intents(&message.id, sink, &intents)
            .await?;
        // A number that sent STOP since the list was read gets nothing.
        let batch: Vec<_> = batch
            .into_iter()
            .filter(|(phone, _, _)| recorded.contains(phone))
            .collect();
        failpoint::hit("after-intent");
        let window = chrono::Duration::hours(24);
        let results: Vec<(String, u32, CloudOutcome)> = stream::iter(batch)
            .map(|(phone, sub, attempts)| async move {
                let in_window = sub.last_inbound_at.is_some_and(|t| now - t < window);
                let body = if in_window || !cloud.has_template() {
                    CloudSink::free_form(message, &phone)
                } else {
                    cloud
                        .templated(message, &phone)
                        .unwrap_or_else(|| CloudSink::free_form(message, &phone))
                };
                let mut outcome = cloud.post(&body).await;
                if let (CloudOutcome::NeedsTemplate { .. }, Some(template)) =
                    (&outcome, cloud.templated(message, &phone))
                {
                    if in_window {
                        outcome = cloud.post(&template).await;
                    }
                }
                (phone, attempts + 1, outcome)
            })
            .buffer_unordered(BROADCAST_BATCH)
            .collect()
            .await;
        let now = self.clock.now();
        let mut end = BatchEnd::Continue { retry_later: false };
        let mut records = Vec::with_capacity(results.len());
        let mut health = BatchHealth::default();
        for (phone, attempts, outcome) in results {
            let retry_at = now
                + chrono::Duration::from_std(backoff(attempts, self.max_backoff, rand::random()))
                    .unwrap_or_default();
            let (code, detail) = (outcome.code(), outcome.detail().to_owned());
            let (record, next) = answer::judge(outcome, attempts, now, retry_at);
            let failure = |outcome| SinkFailure {
                at: now,
                outcome,
                message_id: Some(message.id.clone()),
                http_status: None,
                code,
                detail: detail.clone(),
            };
            match (&next, record.state) {
                (Next::PauseSink { .. }, _) => health.failed(failure(FailureOutcome::Paused), None),
                (_, RecipientState::Sent) => health.sent += 1,
                (_, RecipientState::Failed) => health.failed(failure(FailureOutcome::Failed), None),
                (_, RecipientState::Unknown) => {
                    health.failed(failure(FailureOutcome::Unknown), None)
                }
                (_, _) => health.failed(failure(FailureOutcome::Retry), record.not_before),
            }
            match next {
                Next::Continue => {}
                Next::RetryLater => {
                    if let BatchEnd::Continue { retry_later } = &mut end {
                        *retry_later = true;
                    }
                }
                Next::SlowDown { code, detail } => {
                    let (wait, until) = self.note_retry(sink);
                    health.next_retry = Some(until);
                    tracing::warn!(sink, code, %detail, retry_in = ?wait, "rate limited by WhatsApp; slowing down");
                    end = BatchEnd::Stop;
                }
                Next::PauseSink {
                    until,
                    code,
                    detail,
                } => {
                    tracing::error!(
                        sink, code, %detail, %until,
                        "ADMIN ALERT: WhatsApp refuses this account's messages; the sink is paused (190: rotate the token; 131048/368: check quality and policy in Meta's Business Manager)"
                    );
                    let reason = format!("code {code}: {detail}");
                    let pause = Pause {
                        until,
                        reason,
                        code: Some(code),
                    };
                    self.store.set_pause(sink, Some(&pause))?;
                    end = BatchEnd::Stop;
                }
            }
            records.push((phone, record));
        }
        failpoint::hit("after-send");
        self.store
            .set_recipient_outcomes(&message.id, sink, &records)
            .await?;
        self.note_batch(sink, health)?;
        Ok(end)
    }
}
