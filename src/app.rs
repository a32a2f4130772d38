//! Wiring: builds the store, the fetcher and the sinks from a configuration, polls sources,
//! and runs the daemon until shutdown.
//!
//! A poll of one source: load its state → conditional GET → decode → parse (on a blocking
//! thread) → identify and dedupe → policy → format → one store transaction (seen keys,
//! outbox entries, new state). Failures are recorded on the source and retried with back-off;
//! one source never affects another.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::charset;
use crate::config::{Config, SourceConfig};
use crate::failpoint;
use crate::fetch::{FetchError, FetchLimits, FetchOutcome, Fetcher};
use crate::format::{format, FormatOptions};
use crate::ident::Identity;
use crate::outbox::{DeliverReport, Deliverer};
use crate::policy::{Policy, Verdict};
use crate::schedule::{backoff, Clock};
use crate::sink::Sink;
use crate::source::{self, ParseContext, ParseError};
use crate::store::{present_key, PollCommit, SourceState, Store, StoreError};

/// Seen keys of items still present are re-stamped at most this often.
const REFRESH_AFTER_SECS: u64 = 86_400;
/// How often the daemon prunes old seen keys and log entries.
const PRUNE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("fetch failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a successful poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// First poll: `items` recorded, nothing sent.
    Baseline { items: usize },
    /// 304 Not Modified.
    NotModified,
    /// `items` in the document, `queued` new messages.
    Checked { items: usize, queued: usize },
}

/// The result of one poll cycle over every source.
#[derive(Debug, Default)]
pub struct CycleReport {
    pub polls: Vec<(String, Result<PollOutcome, String>)>,
    pub delivery: DeliverReport,
}

impl CycleReport {
    pub fn failures(&self) -> usize {
        self.polls.iter().filter(|(_, r)| r.is_err()).count()
    }
}

struct Inner {
    config: Config,
    store: Store,
    fetcher: Fetcher,
    deliverer: Deliverer,
    policies: HashMap<String, Policy>,
    clock: Arc<dyn Clock>,
    /// Woken when something is queued.
    queued: Notify,
}

/// The running application. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

impl App {
    /// Opens the store in `data_dir` and builds everything the configuration names.
    pub fn build(config: Config, data_dir: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        use anyhow::Context;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let store = Store::open(
            &data_dir.join("store"),
            config.settings.cache_mb * 1024 * 1024,
        )
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
        let s = &config.settings;
        let fetcher = Fetcher::new(
            FetchLimits {
                connect_timeout: s.connect_timeout,
                timeout: s.fetch_timeout,
                max_body_bytes: s.max_body_bytes,
                concurrency: s.concurrency,
                per_host_concurrency: s.per_host_concurrency,
            },
            &s.user_agent(),
        )?;
        let sinks = config.sinks.iter().map(Sink::from_config).collect();
        let deliverer = Deliverer::new(store.clone(), sinks, clock.clone(), s.max_backoff);
        let policies = config
            .sources
            .iter()
            .map(|src| Ok((src.name.clone(), Policy::new(src)?)))
            .collect::<Result<_, regex::Error>>()?;
        Ok(App {
            inner: Arc::new(Inner {
                config,
                store,
                fetcher,
                deliverer,
                policies,
                clock,
                queued: Notify::new(),
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Polls one source and records the outcome on it (success or failure).
    pub async fn poll(&self, src: &SourceConfig) -> Result<PollOutcome, PollError> {
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let mut state = store.source_state(&src.name)?;
        state.last_attempt = Some(now);
        let result = self.poll_inner(src, &mut state, now).await;
        match &result {
            Ok(outcome) => {
                tracing::debug!(source = %src.name, ?outcome, "polled");
            }
            Err(e) => {
                state.consecutive_failures += 1;
                state.last_error = Some(e.to_string());
                tracing::warn!(
                    source = %src.name, error = %e, failures = state.consecutive_failures,
                    "poll failed; will retry with back-off"
                );
                store.put_source_state(&src.name, &state)?;
            }
        }
        result
    }

    async fn poll_inner(
        &self,
        src: &SourceConfig,
        state: &mut SourceState,
        now: DateTime<Utc>,
    ) -> Result<PollOutcome, PollError> {
        let url = src
            .url()
            .ok_or_else(|| PollError::Internal(format!("invalid url {:?}", src.url)))?;
        let fetched = match self
            .inner
            .fetcher
            .get(&url, &state.validators, src.timeout)
            .await?
        {
            FetchOutcome::NotModified => {
                state.last_success = Some(now);
                state.last_error = None;
                state.consecutive_failures = 0;
                self.inner.store.put_source_state(&src.name, state)?;
                return Ok(PollOutcome::NotModified);
            }
            FetchOutcome::Fetched(f) => f,
        };
        let ctx = ParseContext {
            base: Some(fetched.final_url.clone()),
            tz: self.inner.config.settings.tz(),
        };
        let kind = src.kind;
        let body = fetched.body.clone();
        let content_type = fetched.content_type.clone();
        let items = tokio::task::spawn_blocking(move || {
            let text = charset::decode_xml(&body, content_type.as_deref());
            source::parse(kind, &text, &ctx)
        })
        .await
        .map_err(|e| PollError::Internal(e.to_string()))??;

        let mut commit = PollCommit::default();
        let mut batch: HashSet<crate::ident::Key> = HashSet::new();
        let mut fresh = Vec::new();
        let mut present = Vec::with_capacity(items.len());
        let now_secs = now.timestamp().max(0) as u64;
        for item in items {
            let identity = Identity::of(&item);
            if identity.keys.iter().any(|k| batch.contains(k)) {
                continue; // the same item twice in one document
            }
            batch.extend(identity.keys.iter().copied());
            if let Some(first) = identity.keys.first() {
                present.push(present_key(first));
            }
            let stamps = self.inner.store.last_seen(&src.name, &identity.keys)?;
            let known = stamps.iter().any(Option::is_some);
            if known {
                for (key, stamp) in identity.keys.iter().zip(&stamps) {
                    if stamp.is_none_or(|s| now_secs.saturating_sub(s) > REFRESH_AFTER_SECS) {
                        commit.touch.push(*key);
                    }
                }
            } else {
                fresh.push((item, identity));
            }
        }
        let items_present = present.len();

        let baseline = !state.baselined;
        let recorded = if baseline {
            for (_, identity) in &fresh {
                commit.touch.extend(identity.keys.iter().copied());
            }
            tracing::info!(source = %src.name, items = fresh.len(), "first poll: baseline recorded, nothing sent");
            fresh.len()
        } else {
            self.select_new(src, fresh, &mut commit)
        };
        state.baselined = true;
        state.validators = fetched.validators;
        state.last_success = Some(now);
        state.last_error = None;
        state.consecutive_failures = 0;
        state.items_present = items_present;
        state.items_seen += recorded as u64;
        state.present = present;
        commit.state = state.clone();
        let queued = self.inner.store.commit_poll(&src.name, &commit, now)?;
        if queued > 0 {
            self.inner.store.flush()?;
            failpoint::hit("after-enqueue");
            self.inner.queued.notify_one();
        }
        Ok(if baseline {
            PollOutcome::Baseline {
                items: items_present,
            }
        } else {
            PollOutcome::Checked {
                items: items_present,
                queued,
            }
        })
    }

    /// Applies the policy to new items and formats those to send, oldest first. Returns how
    /// many items were recorded as seen.
    fn select_new(
        &self,
        src: &SourceConfig,
        mut fresh: Vec<(crate::item::Item, Identity)>,
        commit: &mut PollCommit,
    ) -> usize {
        let Some(policy) = self.inner.policies.get(&src.name) else {
            return 0;
        };
        let mut recorded = 0;
        // Feeds list newest first; deliver in the order things happened.
        fresh.reverse();
        fresh.sort_by_key(|(item, _)| item.published);
        let max_new = self.inner.config.settings.max_new_per_poll;
        let skip = fresh
            .iter()
            .filter(|(item, _)| policy.judge(item) == Verdict::Send)
            .count()
            .saturating_sub(max_new);
        let mut skipped = 0;
        let opts = format_options(src);
        for (item, identity) in fresh {
            match policy.judge(&item) {
                Verdict::Wait(reason) => {
                    tracing::debug!(source = %src.name, title = %item.title, %reason, "not forwarded yet");
                    continue;
                }
                Verdict::Drop(reason) => {
                    tracing::info!(source = %src.name, title = %item.title, %reason, "not forwarded");
                }
                Verdict::Send if skipped < skip => {
                    skipped += 1;
                    tracing::warn!(
                        source = %src.name, title = %item.title, max_new_per_poll = max_new,
                        "too many new items in one poll; this older one is recorded but not sent"
                    );
                }
                Verdict::Send => match format(&item, &identity, &opts) {
                    Ok(message) => commit.messages.push(message),
                    Err(e) => {
                        tracing::warn!(source = %src.name, title = %item.title, error = %e, "item not sent")
                    }
                },
            }
            commit.touch.extend(identity.keys.iter().copied());
            recorded += 1;
        }
        recorded
    }

    /// Polls every source concurrently (the fetcher bounds how many run at once).
    pub async fn poll_all(&self) -> Vec<(String, Result<PollOutcome, String>)> {
        let mut tasks = JoinSet::new();
        for src in self.inner.config.sources.clone() {
            let app = self.clone();
            tasks.spawn(async move {
                let result = app.poll(&src).await.map_err(|e| e.to_string());
                (src.name, result)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(r) => results.push(r),
                Err(e) => tracing::error!(error = %e, "a poll task failed"),
            }
        }
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    /// Delivers what is queued (one pass).
    pub async fn deliver(&self, shutdown: &CancellationToken) -> Result<DeliverReport, StoreError> {
        self.inner.deliverer.deliver(shutdown).await
    }

    /// One cycle: poll everything, deliver, prune if due.
    pub async fn once(&self) -> Result<CycleReport, StoreError> {
        let polls = self.poll_all().await;
        let delivery = self.deliver(&CancellationToken::new()).await?;
        self.prune()?;
        self.inner.store.flush()?;
        Ok(CycleReport { polls, delivery })
    }

    fn prune(&self) -> Result<(), StoreError> {
        let max_age = chrono::Duration::from_std(self.inner.config.settings.seen_max_age)
            .unwrap_or(chrono::Duration::MAX);
        let cutoff = self.inner.clock.now() - max_age;
        let report = self.inner.store.prune(cutoff)?;
        if report.seen + report.log > 0 {
            tracing::info!(seen = report.seen, log = report.log, "pruned old records");
        }
        Ok(())
    }

    /// The daemon: every source on its own schedule, delivery as soon as something is queued,
    /// pruning now and then, until `shutdown` fires. Then in-flight polls are abandoned
    /// (nothing half-written: a poll commits in one transaction), the delivery in progress
    /// finishes, and the store is flushed.
    pub async fn run(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        for src in self.inner.config.sources.clone() {
            let app = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { app.source_loop(src, stop).await });
        }
        let app = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { app.delivery_loop(stop).await });
        let app = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            loop {
                if let Err(e) = app.prune() {
                    tracing::error!(error = %e, "pruning failed");
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(PRUNE_EVERY) => {}
                }
            }
        });
        tracing::info!(
            sources = self.inner.config.sources.len(),
            sinks = self.inner.config.sinks.len(),
            "banditore is running; Ctrl-C to stop"
        );
        while tasks.join_next().await.is_some() {}
        self.inner.store.flush()?;
        tracing::info!("stopped; store flushed");
        Ok(())
    }

    async fn source_loop(&self, src: SourceConfig, stop: CancellationToken) {
        let tz = self.inner.config.settings.tz();
        let schedule = src.schedule();
        loop {
            let state = self.inner.store.source_state(&src.name).unwrap_or_default();
            let now = self.inner.clock.now();
            let due = state.next_poll.unwrap_or(now);
            let wait = (due - now).to_std().unwrap_or_default();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.poll(&src) => r,
            };
            let now = self.inner.clock.now();
            let next = match result {
                Ok(_) => schedule.next_after(now, tz, rand::random()),
                Err(PollError::Store(e)) => {
                    tracing::error!(source = %src.name, error = %e, "store error");
                    now + chrono::Duration::seconds(60)
                }
                Err(_) => {
                    let failures = self
                        .inner
                        .store
                        .source_state(&src.name)
                        .map(|s| s.consecutive_failures)
                        .unwrap_or(1);
                    let wait = backoff(
                        failures,
                        self.inner.config.settings.max_backoff,
                        rand::random(),
                    );
                    now + chrono::Duration::from_std(wait).unwrap_or_default()
                }
            };
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
            match self.deliver(&stop).await {
                Ok(report) if report.sent + report.unknown + report.failed > 0 => {
                    tracing::info!(?report, "delivery pass")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "delivery pass failed"),
            }
            let retry_in = self
                .inner
                .deliverer
                .next_retry()
                .map(|t| (t - self.inner.clock.now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(60));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = notified => {}
                _ = tokio::time::sleep(retry_in) => {}
            }
        }
    }
}

/// The formatter's options for a source.
pub fn format_options(src: &SourceConfig) -> FormatOptions {
    let mut opts = FormatOptions::new(&src.name, src.kind.as_str());
    if let Some(max) = src.max_chars {
        opts.max_chars = max;
    }
    opts.footer = src.footer.clone();
    opts.priority = src.priority.unwrap_or_default();
    opts
}
