//! The running daemon: builds the pipeline, the deliverer and the sinks from a configuration
//! ([`App`]), runs every source on its own schedule and delivery whenever something is queued
//! ([`App::run_loops`]), and swaps in a new configuration without a restart ([`AppCell`]).
//!
//! The servers (`http`) sit above this module and hold an [`AppCell`]; nothing here knows
//! them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::deliver::{DailyCap, DeliverReport, Deliverer};
use crate::pipeline::{Pipeline, PollError, PollOutcome};
use crate::schedule::Clock;
use crate::sink::secret::Secrets;
use crate::sink::Sink;
use crate::store::{Store, StoreError};

mod actions;
mod alerting;
mod cell;
pub mod control;
mod loops;
mod supervise;

pub use alerting::{AlarmReport, CHECK_EVERY};
pub use cell::AppCell;
use supervise::LoopHealth;

/// How often the daemon prunes old seen keys and log entries.
const PRUNE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// The result of one poll cycle over every source.
#[derive(Debug, Default)]
pub struct CycleReport {
    pub polls: Vec<(String, Result<PollOutcome, PollError>)>,
    pub delivery: DeliverReport,
}

impl CycleReport {
    pub fn failures(&self) -> usize {
        self.polls.iter().filter(|(_, r)| r.is_err()).count()
    }
}

struct Inner {
    config: Config,
    secrets: Secrets,
    /// Per source: wakes its loop for "poll now" and "resume".
    wakers: HashMap<String, Arc<Notify>>,
    store: Store,
    pipeline: Pipeline,
    deliverer: Deliverer,
    /// The sinks named in `settings.alerts`: admin alerts, no news.
    alert_sinks: Vec<Sink>,
    /// Loops left down, for `/healthz`.
    loops: Arc<LoopHealth>,
    /// The process's counters (kept across reloads).
    metrics: Arc<crate::metrics::Metrics>,
    clock: Arc<dyn Clock>,
    /// Woken when something is queued.
    queued: Notify,
    /// The last store error of a loop, until a poll or a delivery pass gets through again:
    /// `/readyz` reports it (a full disk, say).
    store_trouble: std::sync::Mutex<Option<String>>,
    /// Why the last change of the configuration file was refused (kept across reloads; a
    /// reload that succeeds clears it).
    config_refused: Arc<std::sync::Mutex<Option<String>>>,
}

/// The running application. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

impl App {
    /// Opens the store in `data_dir` and builds everything the configuration names; secrets
    /// come from the environment.
    pub fn build(config: Config, data_dir: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        App::build_with(config, data_dir, clock, &Secrets::Env)
    }

    /// Like [`App::build`], with secrets from `secrets`.
    pub fn build_with(
        config: Config,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        secrets: &Secrets,
    ) -> anyhow::Result<App> {
        let store = Store::open_in(data_dir, config.settings.cache_mb)?;
        // sled may come back from damaged files as an empty store without a word: a store
        // with nothing in it beside snapshots of a full one lost its contents.
        if store.holds_nothing() {
            if let Some(newest) = crate::store::snapshot::newest(data_dir) {
                anyhow::bail!(
                    "the store in {} holds nothing, but there are snapshots of it: its files were damaged or replaced.{}\n(To start afresh on purpose, move {} away as well.)",
                    data_dir.join("store").display(),
                    crate::store::snapshot::restore_hint(data_dir),
                    newest.parent().unwrap_or(data_dir).display(),
                );
            }
        }
        App::build_on(
            store,
            config,
            clock,
            secrets,
            crate::metrics::Metrics::new(),
            Arc::default(),
        )
    }

    /// The same application with another configuration, on the same store (a reload).
    pub fn rebuild(&self, config: Config) -> anyhow::Result<App> {
        App::build_on(
            self.inner.store.clone(),
            config,
            self.inner.clock.clone(),
            &self.inner.secrets,
            self.inner.metrics.clone(),
            self.inner.config_refused.clone(),
        )
    }

    fn build_on(
        store: Store,
        config: Config,
        clock: Arc<dyn Clock>,
        secrets: &Secrets,
        metrics: Arc<crate::metrics::Metrics>,
        config_refused: Arc<std::sync::Mutex<Option<String>>>,
    ) -> anyhow::Result<App> {
        let s = &config.settings;
        let pipeline = Pipeline::new(&config, store.clone(), clock.clone())?;
        let user_agent = s.user_agent();
        let (alert_sinks, sinks): (Vec<Sink>, Vec<Sink>) = config
            .sinks
            .iter()
            .map(|cfg| Sink::from_config(cfg, &user_agent, secrets, pipeline.fetcher()))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .partition(|sink| s.alerts.sinks.iter().any(|name| name == sink.name()));
        let daily = s.max_per_day.map(|max| DailyCap {
            max,
            digest_at: s.digest_at,
            tz: s.tz(),
        });
        let filters = config
            .sinks
            .iter()
            .filter(|c| c.filter != crate::config::SinkFilter::default())
            .map(|c| (c.name.clone(), c.filter.clone()))
            .collect();
        let deliverer = Deliverer::new(
            store.clone(),
            sinks,
            clock.clone(),
            s.max_backoff,
            s.quiet_hours,
            s.tz(),
        )
        .with_daily_cap(daily)
        .with_metrics(metrics.clone())
        .with_filters(filters)
        .with_audience(config.audience.clone())
        .with_mail_digests(
            config
                .sinks
                .iter()
                .filter_map(|c| match &c.settings {
                    crate::config::SinkSettings::Email(e) => Some((c.name.clone(), e.digest?)),
                    _ => None,
                })
                .collect(),
        );
        let wakers = config
            .sources
            .iter()
            .map(|s| (s.name.clone(), Arc::new(Notify::new())))
            .collect();
        Ok(App {
            inner: Arc::new(Inner {
                secrets: secrets.clone(),
                wakers,
                config,
                store,
                pipeline,
                deliverer,
                alert_sinks,
                loops: Arc::default(),
                metrics,
                clock,
                queued: Notify::new(),
                store_trouble: std::sync::Mutex::new(None),
                config_refused,
            }),
        })
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The store error the loops last met, if they have not got through since.
    pub fn store_trouble(&self) -> Option<String> {
        self.inner
            .store_trouble
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn note_store(&self, result: Result<(), &StoreError>) {
        *self
            .inner
            .store_trouble
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = result.err().map(ToString::to_string);
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn sinks(&self) -> &[Sink] {
        self.inner.deliverer.sinks()
    }

    /// The process's counters.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// The sinks that carry admin alerts.
    pub fn alert_sinks(&self) -> &[Sink] {
        &self.inner.alert_sinks
    }

    /// Asks the delivery loop for a pass now.
    pub fn wake_delivery(&self) {
        self.inner.queued.notify_one();
    }

    /// The application's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// When a message of `priority` due at `at` really leaves: the end of the quiet hours
    /// holding `at`, for a normal one; `None` when nothing holds it.
    pub fn quiet_until(
        &self,
        priority: crate::config::Priority,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let s = &self.inner.config.settings;
        (priority == crate::config::Priority::Normal)
            .then_some(s.quiet_hours?)
            .and_then(|q| q.ends_after(at, s.tz()))
    }

    /// Why the last change of the configuration file was refused, while it is.
    pub fn config_refused(&self) -> Option<String> {
        self.inner
            .config_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records that a change of the configuration file was refused (`Some`: why), or that
    /// the file was applied (`None`).
    pub fn set_config_refused(&self, why: Option<String>) {
        *self
            .inner
            .config_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// Checks what can be checked before sending: a gateway's session must be WORKING.
    pub async fn check_sinks(&self) {
        for sink in self.sinks() {
            if let Sink::Gateway(g) = sink {
                match g.session_status().await {
                    Ok(status) if status == "WORKING" => {
                        tracing::info!(sink = g.name(), "gateway session is working")
                    }
                    Ok(status) => {
                        tracing::error!(sink = g.name(), %status, "ADMIN ALERT: the gateway session cannot send (it must be WORKING)")
                    }
                    Err(e) => {
                        tracing::error!(sink = g.name(), error = %e, "ADMIN ALERT: the gateway does not answer")
                    }
                }
            }
        }
    }

    /// Polls one source now; wakes the delivery loop when something was queued.
    pub async fn poll(&self, name: &str) -> Result<PollOutcome, PollError> {
        let polled = self.inner.pipeline.poll(name).await;
        let (kind, new) = match &polled {
            Ok(PollOutcome::Checked { queued, .. }) => ("ok", *queued),
            Ok(_) => ("ok", 0),
            Err(e) => (e.kind(), 0),
        };
        self.inner.metrics.poll(name, kind, new);
        let outcome = polled?;
        if matches!(outcome, PollOutcome::Checked { queued, .. } if queued > 0) {
            self.inner.queued.notify_one();
        }
        Ok(outcome)
    }

    /// Polls every source concurrently (the pipeline bounds how many run at once).
    pub async fn poll_all(&self) -> Vec<(String, Result<PollOutcome, PollError>)> {
        let mut tasks = JoinSet::new();
        for src in &self.inner.config.sources {
            let app = self.clone();
            let name = src.name.clone();
            tasks.spawn(async move {
                let result = app.poll(&name).await;
                (name, result)
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

    /// Sends scheduled review items that are due and expires old ones.
    fn review_tick(&self) -> Result<(), StoreError> {
        let expiry = self.inner.config.settings.review_expiry;
        let (released, _) = crate::review::tick(&self.inner.store, self.now(), expiry)?;
        if released > 0 {
            self.wake_delivery();
        }
        Ok(())
    }

    /// Delivers what is queued (one pass).
    pub async fn deliver(&self, shutdown: &CancellationToken) -> Result<DeliverReport, StoreError> {
        self.inner.deliverer.deliver(shutdown).await
    }

    /// One cycle: poll everything, deliver, prune if due.
    pub async fn once(&self) -> Result<CycleReport, StoreError> {
        let polls = self.poll_all().await;
        self.review_tick()?;
        let delivery = self.deliver(&CancellationToken::new()).await?;
        // `once` from cron is a daemon too: its troubles reach the admins.
        self.check_alarms().await?;
        self.prune_if_due()?;
        self.inner.store.flush()?;
        Ok(CycleReport { polls, delivery })
    }

    /// Prunes when the last pruning (recorded in the store, so `once` run from cron and a
    /// restarted daemon count too) is [`PRUNE_EVERY`] old; returns how long until the next is
    /// due. Pruning reads every seen key, so a cycle that ran it each time would spend most of
    /// an unchanged poll's time on it.
    fn prune_if_due(&self) -> Result<Duration, StoreError> {
        let now = self.inner.clock.now();
        // The day's snapshot, at the first look of the day.
        if let Some(dir) = self.inner.store.data_dir() {
            match self.inner.store.snapshot_if_due(dir, now) {
                Ok(Some(file)) => tracing::info!(file = %file.display(), "snapshot written"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot write the day's snapshot"),
            }
        }
        let since = self
            .inner
            .store
            .last_prune()?
            .and_then(|last| (now - last).to_std().ok());
        match since {
            Some(since) if since < PRUNE_EVERY => Ok(PRUNE_EVERY - since),
            _ => {
                self.prune()?;
                Ok(PRUNE_EVERY)
            }
        }
    }

    fn prune(&self) -> Result<(), StoreError> {
        let max_age = chrono::Duration::from_std(self.inner.config.settings.seen_max_age)
            .unwrap_or(chrono::Duration::MAX);
        let now = self.inner.clock.now();
        let Some(cutoff) = now.checked_sub_signed(max_age) else {
            return Ok(());
        };
        let configured = self
            .inner
            .config
            .sources
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let removed = self.inner.store.forget_sources_except(&configured)?;
        let sinks = self
            .inner
            .config
            .sinks
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        self.inner.store.forget_sinks_except(&sinks)?;
        if removed > 0 {
            tracing::info!(
                sources = removed,
                "forgot the state of sources no longer configured"
            );
        }
        let report = self.inner.store.prune(cutoff, now)?;
        if report != crate::store::PruneReport::default() {
            tracing::info!(
                seen = report.seen,
                log = report.log,
                alerts = report.alerts,
                audit = report.audit,
                sessions = report.sessions,
                recipients = report.recipients,
                keywords = report.keywords,
                "pruned old records"
            );
        }
        Ok(())
    }

    /// Loops left down after failing again and again (`/healthz` fails), if any.
    pub fn loop_trouble(&self) -> Option<String> {
        self.inner.loops.trouble()
    }

    /// Pauses or resumes a source's polling (a resumed source polls at once).
    pub fn set_paused(&self, source: &str, paused: bool) -> Result<(), StoreError> {
        self.inner.store.set_source_paused(source, paused)?;
        self.poll_soon(source);
        Ok(())
    }

    /// Asks a source's loop to poll now.
    pub fn poll_soon(&self, source: &str) {
        if let Some(w) = self.inner.wakers.get(source) {
            w.notify_one();
        }
    }
}
