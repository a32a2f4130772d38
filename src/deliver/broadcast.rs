//! The broadcast to subscribers through the Cloud API: consenting subscribers streamed from
//! the store, a window of requests in flight sized to rate × round trip ([`Flight`]), intents
//! flushed just before their requests, each answer judged by [`super::answer`].

use super::answer::{self, Next};
use super::health::BatchHealth;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::{recipient_record, BatchEnd, Deliverer, Step, BROADCAST_BATCH};
use crate::audience::{receives, Reach};
use tokio_util::sync::CancellationToken;

use crate::config::Priority;
use crate::failpoint;
use crate::item::Message;
use crate::schedule::backoff;
use crate::sink::whatsapp_cloud::CloudOutcome;
use crate::sink::CloudSink;
use crate::store::{
    DeliveryState, FailureOutcome, OutboxEntry, Pause, RecipientRecord, RecipientState,
    SinkFailure, StoreError, Subscriber,
};

impl Deliverer {
    /// With the topics and zones citizens choose: each message goes to its own subscribers.
    pub fn with_audience(mut self, audience: crate::config::Audience) -> Self {
        self.audience = audience;
        self
    }

    /// Delivers one message to every subscriber who had consented when it was queued.
    /// Subscribers are streamed from the store; intents are written and flushed just before
    /// their requests start, so after a crash only the requests in flight are `unknown`.
    pub(super) async fn broadcast(
        &self,
        cloud: &CloudSink,
        entry: &OutboxEntry,
        shutdown: &CancellationToken,
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
        if self.paused(sink)? {
            return Ok(Step::Later);
        }
        let mut waiting = false;
        let mut leftovers = Vec::new();
        let reach = Reach::of(&entry.message, &self.audience);
        let mut recipients = self
            .store
            .subscribers()
            .map(|subscriber| {
                let (phone, sub) = subscriber?;
                self.candidate(entry, sink, &reach, retrying, now, phone, sub)
            })
            .filter_map(Result::transpose);
        let mut flight = Flight::new(cloud.rate());
        let mut queue = std::collections::VecDeque::new();
        let mut exhausted = false;
        let mut stop: Option<BatchEnd> = None;
        // A store error stops the broadcast like a throttle: the requests in flight are
        // answered and recorded first (dropping them would leave their recipients
        // `unknown`), then the error is returned.
        let mut failure: Option<StoreError> = None;
        macro_rules! or_stop {
            ($result:expr) => {
                match $result {
                    Ok(value) => Some(value),
                    Err(e) => {
                        failure.get_or_insert(e);
                        stop = Some(BatchEnd::Stop);
                        flight.halt();
                        None
                    }
                }
            };
        }
        loop {
            while stop.is_none() && !exhausted && queue.len() < flight.window {
                match or_stop!(recipients.next().transpose()) {
                    None => {}
                    Some(None) => exhausted = true,
                    Some(Some(Candidate::Interrupted(phone, unknown))) => {
                        leftovers.push((phone, unknown))
                    }
                    Some(Some(Candidate::Waiting)) => waiting = true,
                    Some(Some(Candidate::Send(phone, sub, attempts))) => {
                        queue.push_back((phone, sub, attempts))
                    }
                }
            }
            if stop.is_none() && flight.may_start(queue.len(), exhausted) {
                // An alert never waits behind a broadcast: before more requests leave, a
                // normal message gives way, and resumes after it where it stopped (everyone
                // served has a final record and is skipped). A shutdown stops it the same way.
                let urgent = message.priority == Priority::Normal
                    && or_stop!(self.store.urgent_waiting(sink)).unwrap_or(false);
                if urgent || shutdown.is_cancelled() {
                    if urgent {
                        tracing::info!(sink, message_id = %message.id, "broadcast paused: an urgent message goes first");
                    }
                    stop = Some(BatchEnd::Stop);
                    flight.halt();
                } else if stop.is_none() {
                    let n = flight.free().min(queue.len());
                    let chunk: Vec<_> = queue.drain(..n).collect();
                    // The answers so far are recorded first: after a crash, only requests
                    // in flight (and none answered) can be `unknown`.
                    or_stop!(self.settle(sink, message, &mut flight).await);
                    if !leftovers.is_empty()
                        && or_stop!(
                            self.store
                                .set_recipient_outcomes(&message.id, sink, &leftovers)
                                .await
                        )
                        .is_some()
                    {
                        leftovers.clear();
                    }
                    if stop.is_none() {
                        if let Some(started) = or_stop!(
                            self.start_requests(cloud, message, chunk, flight.halted.clone())
                                .await
                        ) {
                            for request in started {
                                flight.push(request);
                            }
                        }
                    }
                    continue;
                }
            }
            let Some((phone, attempts, outcome)) = flight.next().await else {
                if stop.is_some() || (queue.is_empty() && exhausted) {
                    break;
                }
                continue;
            };
            let Some(outcome) = outcome else {
                // Stopped before it left: tried again at the next pass, the attempt not counted.
                let record = recipient_record(
                    RecipientState::Retry,
                    None,
                    Some("not sent: the broadcast stopped"),
                    attempts.saturating_sub(1),
                    Some(now),
                    self.clock.now(),
                );
                flight.answered.push((phone, record));
                continue;
            };
            match or_stop!(self.judge_one(sink, message, phone, attempts, outcome, &mut flight)) {
                Some(Some(BatchEnd::Continue { retry_later: true })) => waiting = true,
                Some(Some(BatchEnd::Stop)) => {
                    stop = Some(BatchEnd::Stop);
                    flight.halt();
                }
                _ => {}
            }
            // After a stop, everything goes in one final record with the stop's health.
            if stop.is_none() && flight.answered.len() >= BROADCAST_BATCH {
                or_stop!(self.settle(sink, message, &mut flight).await);
            }
        }
        let settled = self.settle(sink, message, &mut flight).await;
        if let Some(e) = failure {
            return Err(e);
        }
        settled?;
        if !leftovers.is_empty() {
            tracing::warn!(sink, message_id = %message.id, count = leftovers.len(), "sends interrupted by a crash marked unknown");
            self.store
                .set_recipient_outcomes(&message.id, sink, &leftovers)
                .await?;
        }
        if stop.is_some() {
            return Ok(Step::Later);
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
        tracing::info!(sink, message_id = %message.id, %summary, "broadcast finished");
        self.record(message, sink, DeliveryState::Sent, None, None)
            .await?;
        Ok(Step::Done(DeliveryState::Sent))
    }

    /// What a subscriber is to this broadcast: someone to send to (with the attempts so
    /// far), someone whose request a crash interrupted (now `unknown`, never re-sent), or
    /// someone waiting for a retry; `None` for someone served already, who subscribed after
    /// the message, or whom an admin's retry does not concern.
    #[allow(clippy::too_many_arguments)]
    fn candidate(
        &self,
        entry: &OutboxEntry,
        sink: &str,
        reach: &Reach,
        retrying: bool,
        now: chrono::DateTime<chrono::Utc>,
        phone: String,
        sub: Subscriber,
    ) -> Result<Option<Candidate>, StoreError> {
        if sub.consented_at > entry.enqueued_at {
            return Ok(None); // subscribed after this message: no old news
        }
        if !receives(&sub.selection, reach, &self.audience) {
            return Ok(None); // not among the topics and zones they chose
        }
        let attempts = match self.store.recipient(&entry.message.id, sink, &phone)? {
            Some(r) if r.state.is_final() => return Ok(None),
            Some(r) if r.state == RecipientState::Intent => {
                let unknown = recipient_record(
                    RecipientState::Unknown,
                    None,
                    Some("interrupted mid-send; not re-sent"),
                    r.attempts,
                    None,
                    now,
                );
                return Ok(Some(Candidate::Interrupted(phone, unknown)));
            }
            Some(r) if r.not_before.is_some_and(|t| t > now) => {
                return Ok(Some(Candidate::Waiting))
            }
            Some(r) => r.attempts,
            None if retrying => return Ok(None),
            None => 0,
        };
        Ok(Some(Candidate::Send(phone, sub, attempts)))
    }

    /// Writes (and flushes) the intents of `chunk`, then starts its requests. A number
    /// that sent STOP since the list was read gets nothing.
    async fn start_requests<'a>(
        &self,
        cloud: &'a CloudSink,
        message: &'a Message,
        chunk: Vec<(String, Subscriber, u32)>,
        halted: Arc<AtomicBool>,
    ) -> Result<Vec<Request<'a>>, StoreError> {
        let sink = cloud.name();
        let now = self.clock.now();
        let intents: Vec<_> = chunk
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
        failpoint::hit("after-intent");
        let window = chrono::Duration::hours(24);
        Ok(chunk
            .into_iter()
            .filter(|(phone, _, _)| recorded.contains(phone))
            .map(|(phone, sub, attempts)| {
                let halted = halted.clone();
                let store = self.store.clone();
                let request: Request<'a> = Box::pin(async move {
                    let in_window = sub.last_inbound_at.is_some_and(|t| now - t < window);
                    let body = if in_window || !cloud.has_template() {
                        CloudSink::free_form(message, &phone)
                    } else {
                        cloud
                            .templated(message, &phone)
                            .unwrap_or_else(|| CloudSink::free_form(message, &phone))
                    };
                    // A request still waiting for its send slot when the broadcast stops,
                    // or when its number sends STOP, does not leave.
                    let proceed = || {
                        !halted.load(Ordering::Relaxed)
                            && store.is_subscribed(&phone).unwrap_or(false)
                    };
                    let Some((mut outcome, rtt)) = cloud.post_timed(&body, proceed).await else {
                        return (phone, attempts + 1, None, Duration::ZERO);
                    };
                    if let (CloudOutcome::NeedsTemplate { .. }, Some(template)) =
                        (&outcome, cloud.templated(message, &phone))
                    {
                        if in_window {
                            outcome = cloud.post(&template).await;
                        }
                    }
                    (phone, attempts + 1, Some(outcome), rtt)
                });
                request
            })
            .collect())
    }

    /// Judges one answer: its record joins the flight's answered ones; a throttle or an
    /// account problem ends the broadcast for now (`Stop`), a retry planned makes it come
    /// back (`Continue { retry_later }`).
    fn judge_one(
        &self,
        sink: &str,
        message: &Message,
        phone: String,
        attempts: u32,
        outcome: CloudOutcome,
        flight: &mut Flight<'_>,
    ) -> Result<Option<BatchEnd>, StoreError> {
        let now = self.clock.now();
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
        let health = &mut flight.health;
        match (&next, record.state) {
            (Next::PauseSink { .. }, _) => health.failed(failure(FailureOutcome::Paused), None),
            (_, RecipientState::Sent) => health.sent += 1,
            (_, RecipientState::Failed) => health.failed(failure(FailureOutcome::Failed), None),
            (_, RecipientState::Unknown) => health.failed(failure(FailureOutcome::Unknown), None),
            (_, _) => health.failed(failure(FailureOutcome::Retry), record.not_before),
        }
        flight.answered.push((phone, record));
        Ok(match next {
            Next::Continue => None,
            Next::RetryLater => Some(BatchEnd::Continue { retry_later: true }),
            Next::SlowDown { code, detail } => {
                let (wait, until) = self.note_retry(sink);
                flight.health.next_retry = Some(until);
                let detail = crate::phone::mask_numbers(&detail);
                tracing::warn!(sink, code, %detail, retry_in = ?wait, "rate limited by WhatsApp; slowing down");
                Some(BatchEnd::Stop)
            }
            Next::PauseSink {
                until,
                code,
                detail,
            } => {
                let shown = crate::phone::mask_numbers(&detail);
                tracing::error!(
                    sink, code, detail = %shown, %until,
                    "ADMIN ALERT: WhatsApp refuses this account's messages; the sink is paused (190: rotate the token; 131048/368: check quality and policy in Meta's Business Manager)"
                );
                let reason = format!("code {code}: {detail}");
                let pause = Pause {
                    until,
                    reason,
                    code: Some(code),
                };
                self.store.set_pause(sink, Some(&pause))?;
                Some(BatchEnd::Stop)
            }
        })
    }

    /// Records the answers gathered so far, and what they say of the sink's health.
    async fn settle(
        &self,
        sink: &str,
        message: &Message,
        flight: &mut Flight<'_>,
    ) -> Result<(), StoreError> {
        if flight.answered.is_empty() {
            return Ok(());
        }
        failpoint::hit("after-send");
        let answered = std::mem::take(&mut flight.answered);
        self.store
            .set_recipient_outcomes(&message.id, sink, &answered)
            .await?;
        self.note_batch(sink, std::mem::take(&mut flight.health))
    }
}

/// A subscriber as a broadcast sees them; see [`Deliverer::candidate`].
enum Candidate {
    Send(String, Subscriber, u32),
    Interrupted(String, RecipientRecord),
    Waiting,
}

/// One request to one recipient: the number, the attempt, the answer and how long the
/// provider took to give it (pacing excluded).
type Request<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (String, u32, Option<CloudOutcome>, Duration)> + Send + 'a,
    >,
>;

/// The requests of a broadcast in flight. As many are kept in flight as the configured rate
/// needs over the provider's round trip (measured as answers come: a smoothed average), so
/// that sending goes at the rate and not at the round trip's pace; intents are written just
/// before their requests start, so after a crash only the requests in flight are `unknown`.
struct Flight<'a> {
    requests: FuturesUnordered<Request<'a>>,
    rate: u32,
    round_trip: Duration,
    /// Requests allowed in flight now.
    window: usize,
    answered: Vec<(String, RecipientRecord)>,
    health: BatchHealth,
    /// Set when the broadcast stops: requests still waiting for a send slot do not leave.
    halted: Arc<AtomicBool>,
}

impl<'a> Flight<'a> {
    /// Round trip assumed before the first answer (Meta's is usually 100–300 ms).
    const FIRST_ROUND_TRIP: Duration = Duration::from_millis(200);
    /// The fewest requests kept in flight, however fast the provider answers.
    const LEAST: usize = 8;

    fn new(rate: u32) -> Flight<'a> {
        let mut flight = Flight {
            requests: FuturesUnordered::new(),
            rate,
            round_trip: Self::FIRST_ROUND_TRIP,
            window: Self::LEAST,
            answered: Vec::new(),
            health: BatchHealth::default(),
            halted: Arc::default(),
        };
        flight.size();
        flight
    }

    /// Rate × round trip, with half as much again for the round trip's jitter; at least
    /// [`Flight::LEAST`], at most two seconds' worth of sending.
    fn size(&mut self) {
        let rate = f64::from(self.rate.max(1));
        let needed = (rate * self.round_trip.as_secs_f64() * 1.5).ceil() as usize;
        let most = (self.rate as usize * 2).max(Self::LEAST);
        self.window = needed.clamp(Self::LEAST, most);
    }

    fn free(&self) -> usize {
        self.window.saturating_sub(self.requests.len())
    }

    /// Whether to start more requests now: enough room for a quarter of the window (so
    /// that intents are flushed a few at a time, not one by one), or for all that is left.
    fn may_start(&self, queued: usize, exhausted: bool) -> bool {
        let chunk = (self.window / 4).max(1);
        queued > 0 && self.free() >= if exhausted { chunk.min(queued) } else { chunk }
    }

    fn halt(&self) {
        self.halted.store(true, Ordering::Relaxed);
    }

    fn push(&mut self, request: Request<'a>) {
        self.requests.push(request);
    }

    /// The next answer; `None` when nothing is in flight.
    async fn next(&mut self) -> Option<(String, u32, Option<CloudOutcome>)> {
        let (phone, attempts, outcome, took) = self.requests.next().await?;
        if outcome.is_some() {
            // A smoothed round trip: one answer moves it by a fifth.
            self.round_trip = self.round_trip.mul_f64(0.8) + took.mul_f64(0.2);
            self.size();
        }
        Some((phone, attempts, outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window after the round trip settles at `rtt`.
    fn settled(rate: u32, rtt: Duration) -> usize {
        let mut flight = Flight::new(rate);
        for _ in 0..100 {
            flight.round_trip = flight.round_trip.mul_f64(0.8) + rtt.mul_f64(0.2);
            flight.size();
        }
        flight.window
    }

    #[test]
    fn requests_in_flight_follow_rate_times_round_trip() {
        let ms = Duration::from_millis;
        // Before any answer: 200 ms assumed.
        assert_eq!(Flight::new(80).window, 24);
        for (rate, rtt, window) in [
            (80, ms(1), 8),       // a fast provider: the least
            (80, ms(200), 24),    // Meta's usual tier and round trip
            (1000, ms(200), 300), // the higher tier
            (80, ms(5000), 160),  // a stalled provider: two seconds' worth at most
            (20, ms(300), 9),
        ] {
            assert_eq!(settled(rate, rtt), window, "{rate}/s, {rtt:?}");
        }
        let mut flight = Flight::new(80);
        assert!(!flight.may_start(0, false));
        for _ in 0..20 {
            flight.push(Box::pin(std::future::pending()));
        }
        // 4 free of 24: more start once a quarter of the window (6) is free,
        assert!(!flight.may_start(30, false));
        // or when all that is left fits.
        assert!(flight.may_start(3, true));
        assert!(!flight.may_start(5, true));
    }
}
