//! The daemon's loops: one per source on its schedule, delivery whenever something is
//! queued, the alerts, and pruning with the day's snapshot; each under [`supervised`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::supervise::supervised;
use super::{App, PRUNE_EVERY};
use crate::config::SourceConfig;
use crate::failpoint;
use crate::pipeline::PollError;
use crate::schedule::backoff;

impl App {
    /// The daemon's loops: every source on its own schedule, delivery as soon as something is
    /// queued, pruning now and then, until `stop` fires. In-flight polls are then abandoned
    /// (nothing half-written: a poll commits in one transaction) and the delivery in progress
    /// finishes its message.
    pub async fn run_loops(&self, stop: CancellationToken) {
        let mut tasks = JoinSet::new();
        let health = self.inner.loops.clone();
        for src in self.inner.config.sources.clone() {
            let (app, loop_stop) = (self.clone(), stop.clone());
            let name = format!("polls of {}", src.name);
            tasks.spawn(supervised(name, health.clone(), stop.clone(), move || {
                let (app, src, stop) = (app.clone(), src.clone(), loop_stop.clone());
                async move { app.source_loop(src, stop).await }
            }));
        }
        let (app, loop_stop) = (self.clone(), stop.clone());
        tasks.spawn(supervised(
            "delivery".into(),
            health.clone(),
            stop.clone(),
            move || {
                let (app, stop) = (app.clone(), loop_stop.clone());
                async move { app.delivery_loop(stop).await }
            },
        ));
        let (app, loop_stop) = (self.clone(), stop.clone());
        tasks.spawn(supervised(
            "alerts".into(),
            health.clone(),
            stop.clone(),
            move || {
                let (app, stop) = (app.clone(), loop_stop.clone());
                async move { app.alarm_loop(stop).await }
            },
        ));
        let (app, loop_stop) = (self.clone(), stop.clone());
        tasks.spawn(supervised("pruning".into(), health, stop, move || {
            let (app, stop) = (app.clone(), loop_stop.clone());
            async move { app.prune_loop(stop).await }
        }));
        while tasks.join_next().await.is_some() {}
    }

    /// Prunes when due, until `stop`.
    async fn prune_loop(&self, stop: CancellationToken) {
        loop {
            // On a blocking thread: pruning reads whole trees, which would hold up a
            // runtime thread (and the polls and deliveries on it) for as long.
            let pruning = self.clone();
            let next = match tokio::task::spawn_blocking(move || pruning.prune_if_due()).await {
                Ok(Ok(next)) => next,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "pruning failed");
                    PRUNE_EVERY
                }
                Err(e) => {
                    tracing::error!(error = %e, "pruning stopped unexpectedly");
                    PRUNE_EVERY
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(next) => {}
            }
        }
    }

    async fn source_loop(&self, src: Arc<SourceConfig>, stop: CancellationToken) {
        failpoint::panic_at("source-loop");
        let tz = self.inner.config.settings.tz();
        let schedule = &src.schedule;
        let waker = self
            .inner
            .wakers
            .get(&src.name)
            .cloned()
            .unwrap_or_default();
        // The next poll as decided here, also when the store could not record it: a store
        // that cannot write (a full disk) must not turn the loop into a poll a millisecond.
        let mut decided: Option<DateTime<Utc>> = None;
        loop {
            let state = self.inner.store.source_state(&src.name).unwrap_or_default();
            let now = self.inner.clock.now();
            let due = next_due(state.next_poll, decided, now);
            let paused = self.inner.store.source_paused(&src.name).unwrap_or(false);
            let wait = if paused {
                Duration::from_secs(3600)
            } else {
                (due - now).to_std().unwrap_or_default()
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = waker.notified() => {}
            }
            if self.inner.store.source_paused(&src.name).unwrap_or(false) {
                continue;
            }
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.poll(&src.name) => r,
            };
            let now = self.inner.clock.now();
            let next = match result {
                Ok(_) => {
                    self.note_store(Ok(()));
                    schedule.next_after(now, tz, rand::random())
                }
                Err(PollError::Store(e)) => {
                    tracing::error!(source = %src.name, error = %e, "store error; polling again in a minute");
                    self.note_store(Err(&e));
                    now + chrono::Duration::seconds(60)
                }
                Err(_) => {
                    let failures = self
                        .inner
                        .store
                        .source_state(&src.name)
                        .map(|s| s.consecutive_failures)
                        .unwrap_or(1);
                    let mut cap = self.inner.config.settings.max_backoff;
                    if src.kind().is_emergency() {
                        cap = cap.min(crate::config::EMERGENCY_MAX_BACKOFF);
                    }
                    let wait = backoff(failures, cap, rand::random());
                    now + chrono::Duration::from_std(wait).unwrap_or_default()
                }
            };
            decided = Some(next);
            match self.inner.store.source_state(&src.name) {
                Ok(mut state) => {
                    state.next_poll = Some(next);
                    if let Err(e) = self.inner.store.put_source_state(&src.name, &state) {
                        tracing::error!(source = %src.name, error = %e, "cannot record the next poll");
                    }
                }
                Err(e) => {
                    tracing::error!(source = %src.name, error = %e, "cannot read the source state")
                }
            }
        }
    }

    async fn delivery_loop(&self, stop: CancellationToken) {
        loop {
            // Register interest before the pass, so a message queued during it is not missed.
            let notified = self.inner.queued.notified();
            if let Err(e) = self.review_tick() {
                tracing::error!(error = %e, "review queue upkeep failed");
            }
            match self.deliver(&stop).await {
                Ok(report) if report.sent + report.unknown + report.failed > 0 => {
                    tracing::info!(
                        sent = report.sent,
                        unknown = report.unknown,
                        failed = report.failed,
                        pending = report.pending,
                        "delivery pass"
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "delivery pass failed");
                    self.note_store(Err(&e));
                }
            }
            // The next pass: a sink's retry or a scheduled review item, whichever comes first.
            let scheduled = crate::review::next_scheduled(&self.inner.store).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read the review queue");
                None
            });
            let wait = [self.inner.deliverer.next_retry(), scheduled]
                .into_iter()
                .flatten()
                .min()
                .map(|t| (t - self.inner.clock.now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = notified => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// When a source's next poll is due: the later of what the store holds and what its loop
/// decided last (the two differ only when the store could not record the decision; an
/// admin's "poll now" wakes the loop on its own).
fn next_due(
    stored: Option<DateTime<Utc>>,
    decided: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match (stored, decided) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b).unwrap_or(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_next_poll_the_store_could_not_record_still_holds() {
        let at = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        // The store kept an old time (its write failed); the loop's decision wins.
        assert_eq!(next_due(Some(at(0)), Some(at(60)), at(1)), at(60));
        assert_eq!(next_due(Some(at(90)), Some(at(60)), at(1)), at(90));
        assert_eq!(next_due(None, Some(at(60)), at(1)), at(60));
        assert_eq!(next_due(Some(at(5)), None, at(1)), at(5));
        assert_eq!(next_due(None, None, at(1)), at(1));
    }
}
