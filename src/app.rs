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
use crate::config::{Config, SourceConfig, SourceKind};
use crate::failpoint;
use crate::fetch::{FetchError, FetchLimits, FetchOutcome, Fetcher};
use crate::format::{format, FormatOptions};
use crate::ident::Identity;
use crate::item::Item;
use crate::outbox::{DeliverReport, Deliverer};
use crate::policy::{Policy, Verdict};
use crate::schedule::{backoff, Clock};
use crate::sink::secret::Secrets;
use crate::sink::Sink;
use crate::source::cap::CapDocument;
use crate::source::{self, ParseContext, ParseError};
use crate::store::{present_key, Level, PollCommit, SentAlert, SourceState, Store, StoreError};

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
    secrets: Secrets,
    /// Per source: wakes its loop for "poll now" and "resume".
    wakers: HashMap<String, Arc<Notify>>,
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
        use anyhow::Context;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let store = Store::open(
            &data_dir.join("store"),
            config.settings.cache_mb * 1024 * 1024,
        )
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
        App::build_on(store, config, clock, secrets)
    }

    /// The same application with another configuration, on the same store (a reload).
    pub fn rebuild(&self, config: Config) -> anyhow::Result<App> {
        App::build_on(
            self.inner.store.clone(),
            config,
            self.inner.clock.clone(),
            &self.inner.secrets,
        )
    }

    fn build_on(
        store: Store,
        config: Config,
        clock: Arc<dyn Clock>,
        secrets: &Secrets,
    ) -> anyhow::Result<App> {
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
        let user_agent = s.user_agent();
        let sinks = config
            .sinks
            .iter()
            .map(|cfg| Sink::from_config(cfg, &user_agent, secrets))
            .collect::<Result<Vec<_>, String>>()
            .map_err(anyhow::Error::msg)?;
        let quiet = s.quiet_hours().map(|q| (q, s.tz()));
        let deliverer = Deliverer::new(store.clone(), sinks, clock.clone(), s.max_backoff, quiet);
        let policies = config
            .sources
            .iter()
            .map(|src| Ok((src.name.clone(), Policy::new(src)?)))
            .collect::<Result<_, regex::Error>>()?;
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

    pub fn sinks(&self) -> &[Sink] {
        self.inner.deliverer.sinks()
    }

    /// Asks the delivery loop for a pass now.
    pub fn wake_delivery(&self) {
        self.inner.queued.notify_one();
    }

    /// The application's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
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
        let ctx = ParseContext::for_source(
            src,
            &self.inner.config.settings,
            Some(fetched.final_url.clone()),
            now,
        );
        let baseline = !state.baselined;
        let mut commit = PollCommit::default();
        let items = self
            .items_of(src, &fetched, &ctx, baseline, &mut commit)
            .await?;
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

        let recorded = if baseline {
            for (item, identity) in &fresh {
                commit.touch.extend(identity.keys.iter().copied());
                if let Some(level) = item.alert.as_ref().and_then(bulletin_level) {
                    commit.levels.push(level);
                }
            }
            tracing::info!(source = %src.name, items = fresh.len(), "first poll: baseline recorded, nothing sent");
            fresh.len()
        } else {
            let fresh = if src.kind == SourceKind::Page {
                self.read_articles(src, fresh, &ctx).await
            } else {
                fresh
            };
            self.select_new(src, fresh, &mut commit, now)?
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
        if !commit.review.is_empty() {
            tracing::info!(source = %src.name, items = commit.review.len(), "waiting for review");
        }
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
        mut fresh: Vec<(Item, Identity)>,
        commit: &mut PollCommit,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(policy) = self.inner.policies.get(&src.name) else {
            return Ok(0);
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
        for (mut item, identity) in fresh {
            let verdict = match self.thread_alert(src, &mut item, now)? {
                Verdict::Send => policy.judge(&item),
                other => other,
            };
            if src.priority.is_some() {
                item.priority = None; // an explicit source priority wins
            }
            if let Some(level) = item.alert.as_ref().and_then(bulletin_level) {
                commit.levels.push(level);
            }
            match verdict {
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
                Verdict::Review => match format(&item, &identity, &opts) {
                    Ok(message) => commit.review.push(message),
                    Err(e) => {
                        tracing::warn!(source = %src.name, title = %item.title, error = %e, "item not queued for review")
                    }
                },
                Verdict::Send => match format(&item, &identity, &opts) {
                    Ok(message) => {
                        if let Some(alert) = &item.alert {
                            let sent = SentAlert {
                                title: message.title.clone(),
                                url: message.url.clone(),
                            };
                            commit.sent_alerts.push((alert.reference.clone(), sent));
                        }
                        commit.messages.push(message);
                    }
                    Err(e) => {
                        tracing::warn!(source = %src.name, title = %item.title, error = %e, "item not sent")
                    }
                },
            }
            commit.touch.extend(identity.keys.iter().copied());
            recorded += 1;
        }
        Ok(recorded)
    }

    /// The items of a fetched document. Pages and CAP indexes need more than the document:
    /// a page's new articles are read later ([`App::read_articles`]); an index's alerts are
    /// fetched here (entries already handled are skipped by their link's key, recorded in
    /// `commit`).
    async fn items_of(
        &self,
        src: &SourceConfig,
        fetched: &crate::fetch::Fetched,
        ctx: &ParseContext,
        baseline: bool,
        commit: &mut PollCommit,
    ) -> Result<Vec<Item>, PollError> {
        let kind = src.kind;
        let body = fetched.body.clone();
        let content_type = fetched.content_type.clone();
        let parse_ctx = ctx.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let text = if kind == SourceKind::Page {
                charset::decode(&body, content_type.as_deref())
            } else {
                charset::decode_xml(&body, content_type.as_deref())
            };
            match kind {
                SourceKind::Page => {
                    source::page::parse_listing(&text, &parse_ctx).map(Parsed::Items)
                }
                SourceKind::Cap => {
                    source::cap::parse_document(&text, parse_ctx.base.as_ref()).map(Parsed::Cap)
                }
                _ => source::parse(kind, &text, &parse_ctx).map(Parsed::Items),
            }
        })
        .await
        .map_err(|e| PollError::Internal(e.to_string()))??;
        match parsed {
            Parsed::Items(items) => Ok(items),
            Parsed::Cap(CapDocument::Alert(alert)) => {
                Ok(source::cap::alert_item(&alert, ctx).into_iter().collect())
            }
            Parsed::Cap(CapDocument::Index(entries)) => {
                self.expand_index(src, entries, ctx, baseline, commit).await
            }
        }
    }

    /// Alerts of an index: each entry's CAP document is fetched once (at most `max_fetch` per
    /// poll; the rest wait for the next), falling back to the entry's inline `cap:` fields.
    async fn expand_index(
        &self,
        src: &SourceConfig,
        entries: Vec<source::cap::IndexEntry>,
        ctx: &ParseContext,
        baseline: bool,
        commit: &mut PollCommit,
    ) -> Result<Vec<Item>, PollError> {
        let mut items = Vec::new();
        let mut fetches = 0;
        let inline_item = |entry: &source::cap::IndexEntry| {
            entry
                .inline
                .as_ref()
                .and_then(|a| source::cap::alert_item(a, ctx))
        };
        for entry in entries {
            let Some(link) = entry.link.clone() else {
                items.extend(inline_item(&entry));
                continue;
            };
            let link_item = Item {
                guid: Some(format!("cap-doc:{}", crate::ident::canonical_url(&link))),
                strict_id: true,
                ..Item::default()
            };
            let link_keys = Identity::of(&link_item).keys;
            if self
                .inner
                .store
                .last_seen(&src.name, &link_keys)?
                .iter()
                .any(Option::is_some)
            {
                commit.touch.extend(link_keys); // keep it remembered while it is listed
                continue;
            }
            if baseline {
                commit.touch.extend(link_keys);
                items.extend(inline_item(&entry));
                continue;
            }
            if fetches >= src.max_fetch() {
                continue; // next poll
            }
            fetches += 1;
            let alert = match self
                .inner
                .fetcher
                .get(&link, &Default::default(), src.timeout)
                .await
            {
                Ok(FetchOutcome::Fetched(doc)) => {
                    let text = charset::decode_xml(&doc.body, doc.content_type.as_deref());
                    match source::cap::parse_document(&text, Some(&doc.final_url)) {
                        Ok(CapDocument::Alert(alert)) => Some(alert),
                        Ok(CapDocument::Index(_)) | Err(_) => entry.inline.clone(),
                    }
                }
                Ok(FetchOutcome::NotModified) | Err(_) => entry.inline.clone(),
            };
            let Some(alert) = alert else {
                tracing::warn!(source = %src.name, %link, "alert document unavailable; will retry");
                continue;
            };
            commit.touch.extend(link_keys);
            if let Some(mut item) = source::cap::alert_item(&alert, ctx) {
                item.alt_ids.push(link_item.guid.unwrap_or_default());
                items.push(item);
            }
        }
        Ok(items)
    }

    /// Completes new listing items with their article pages (at most `max_fetch` per poll;
    /// the rest stay unrecorded and are read at the next poll).
    async fn read_articles(
        &self,
        src: &SourceConfig,
        fresh: Vec<(Item, Identity)>,
        ctx: &ParseContext,
    ) -> Vec<(Item, Identity)> {
        let max = src.max_fetch();
        let tasks = fresh.into_iter().take(max).map(|(item, identity)| async move {
            let Some(url) = item.url.clone() else {
                return (item, identity);
            };
            match self.inner.fetcher.get(&url, &Default::default(), src.timeout).await {
                Ok(FetchOutcome::Fetched(page)) => {
                    let html = charset::decode(&page.body, page.content_type.as_deref());
                    let mut article_ctx = ctx.clone();
                    article_ctx.base = Some(page.final_url.clone());
                    let article = tokio::task::spawn_blocking(move || source::page::parse_article(&html, &article_ctx))
                        .await
                        .unwrap_or_default();
                    (source::page::merge(item, article), identity)
                }
                Ok(FetchOutcome::NotModified) => (item, identity),
                Err(e) => {
                    tracing::warn!(source = %src.name, %url, error = %e, "article not readable; using the listing's text");
                    (item, identity)
                }
            }
        });
        futures_util::future::join_all(tasks).await
    }

    /// Threads CAP updates and cancellations to the alerts they refer to, and silences
    /// bulletins that repeat the level already announced.
    fn thread_alert(
        &self,
        src: &SourceConfig,
        item: &mut Item,
        now: DateTime<Utc>,
    ) -> Result<Verdict, StoreError> {
        let Some(alert) = item.alert.clone() else {
            return Ok(Verdict::Send);
        };
        let store = &self.inner.store;
        let original = alert
            .references
            .iter()
            .find_map(|r| store.sent_alert(&src.name, r).transpose())
            .transpose()?;
        match (alert.msg_type.as_str(), original) {
            ("Cancel", None) => Ok(Verdict::Drop("cancels an alert that was not sent".into())),
            ("Cancel", Some(original)) => {
                if item.title == "REVOCA: Allerta" {
                    item.title = format!("REVOCA: {}", original.title);
                }
                if item.url.is_none() {
                    item.url = url::Url::parse(&original.url).ok();
                }
                Ok(Verdict::Send)
            }
            ("Update", Some(_)) => {
                item.title = format!("AGGIORNAMENTO: {}", item.title);
                Ok(Verdict::Send)
            }
            _ => {
                if let Some(key) = &alert.level_key {
                    if let Some(previous) = store.level(&src.name, key)? {
                        let current = previous.expires.is_none_or(|e| e > now);
                        if current && previous.level == alert.level {
                            return Ok(Verdict::Drop(
                                "the bulletin repeats the level already announced".into(),
                            ));
                        }
                    }
                }
                Ok(Verdict::Send)
            }
        }
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
        crate::review::tick(self)?;
        let delivery = self.deliver(&CancellationToken::new()).await?;
        self.prune()?;
        self.inner.store.flush()?;
        Ok(CycleReport { polls, delivery })
    }

    fn prune(&self) -> Result<(), StoreError> {
        let max_age = chrono::Duration::from_std(self.inner.config.settings.seen_max_age)
            .unwrap_or(chrono::Duration::MAX);
        let Some(cutoff) = self.inner.clock.now().checked_sub_signed(max_age) else {
            return Ok(());
        };
        let report = self.inner.store.prune(cutoff)?;
        if report.seen + report.log > 0 {
            tracing::info!(seen = report.seen, log = report.log, "pruned old records");
        }
        Ok(())
    }

    /// The daemon's loops: every source on its own schedule, delivery as soon as something is
    /// queued, pruning now and then, until `stop` fires. In-flight polls are then abandoned
    /// (nothing half-written: a poll commits in one transaction) and the delivery in progress
    /// finishes its message.
    pub async fn run_loops(&self, stop: CancellationToken) {
        let mut tasks = JoinSet::new();
        for src in self.inner.config.sources.clone() {
            let app = self.clone();
            let stop = stop.clone();
            tasks.spawn(async move { app.source_loop(src, stop).await });
        }
        let app = self.clone();
        let stop_delivery = stop.clone();
        tasks.spawn(async move { app.delivery_loop(stop_delivery).await });
        let app = self.clone();
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
        while tasks.join_next().await.is_some() {}
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

    async fn source_loop(&self, src: SourceConfig, stop: CancellationToken) {
        let tz = self.inner.config.settings.tz();
        let schedule = src.schedule();
        let waker = self
            .inner
            .wakers
            .get(&src.name)
            .cloned()
            .unwrap_or_default();
        loop {
            let state = self.inner.store.source_state(&src.name).unwrap_or_default();
            let now = self.inner.clock.now();
            let due = state.next_poll.unwrap_or(now);
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
            if let Err(e) = crate::review::tick(self) {
                tracing::error!(error = %e, "review queue upkeep failed");
            }
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

/// The daemon's current application. The admin UI replaces it when the configuration
/// changes; the loops restart on the new one, the servers keep running.
#[derive(Clone)]
pub struct AppCell {
    current: Arc<std::sync::RwLock<App>>,
    changed: Arc<Notify>,
}

impl AppCell {
    pub fn new(app: App) -> AppCell {
        AppCell {
            current: Arc::new(std::sync::RwLock::new(app)),
            changed: Arc::new(Notify::new()),
        }
    }

    pub fn get(&self) -> App {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies a new configuration (already validated) without a restart.
    pub fn replace(&self, config: Config) -> anyhow::Result<()> {
        let app = self.get().rebuild(config)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = app;
        self.changed.notify_one();
        Ok(())
    }

    /// The daemon: provider webhooks and the admin UI stay up; the polling and delivery loops
    /// run on the current application and restart when it is replaced. Returns after
    /// `shutdown`, with the store flushed.
    pub async fn serve(
        &self,
        shutdown: CancellationToken,
        config_path: Option<std::path::PathBuf>,
    ) -> anyhow::Result<()> {
        let settings = self.get().config().settings.clone();
        let mut servers = JoinSet::new();
        if let Some(listen) = settings.webhook_listen.clone() {
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for webhooks on {listen}: {e}"))?;
            tracing::info!(%listen, "provider webhooks listening");
            servers.spawn(serve_router(
                listener,
                crate::webhooks::router(self.clone()),
                shutdown.clone(),
            ));
        }
        if let Some(listen) = settings.admin_listen.clone() {
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for the admin UI on {listen}: {e}"))?;
            tracing::info!(url = %format!("http://{listen}/"), "admin UI listening");
            let loopback = listener
                .local_addr()
                .map(|a| a.ip().is_loopback())
                .unwrap_or(false);
            if !loopback && !settings.admin_secure_cookies {
                tracing::warn!(%listen, "the admin UI is reachable beyond this machine without TLS: put it behind an HTTPS proxy and set admin_secure_cookies = true");
            }
            let admin = crate::admin::router(crate::admin::Admin::new(self.clone(), config_path)?);
            servers.spawn(serve_router(listener, admin, shutdown.clone()));
        }
        loop {
            let app = self.get();
            app.check_sinks().await;
            tracing::info!(
                sources = app.config().sources.len(),
                sinks = app.config().sinks.len(),
                "banditore is running; Ctrl-C to stop"
            );
            let round = shutdown.child_token();
            let loops = app.run_loops(round.clone());
            tokio::pin!(loops);
            tokio::select! {
                _ = &mut loops => {}
                _ = self.changed.notified() => {
                    tracing::info!("configuration changed; restarting the loops");
                    round.cancel();
                    // The old loops finish their current step first.
                    (&mut loops).await;
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        while servers.join_next().await.is_some() {}
        self.get().store().flush()?;
        tracing::info!("stopped; store flushed");
        Ok(())
    }
}

async fn serve_router(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    stop: CancellationToken,
) {
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
    {
        tracing::error!(error = %e, "a server stopped");
    }
}

/// A document as parsed, before any further fetching.
enum Parsed {
    Items(Vec<Item>),
    Cap(CapDocument),
}

/// The level record a bulletin leaves, if it is one.
fn bulletin_level(alert: &crate::item::AlertMeta) -> Option<(String, Level)> {
    alert.level_key.clone().map(|key| {
        (
            key,
            Level {
                level: alert.level.clone(),
                expires: alert.expires,
            },
        )
    })
}

/// The formatter's options for a source.
pub fn format_options(src: &SourceConfig) -> FormatOptions {
    let mut opts = FormatOptions::new(&src.name, src.kind.as_str());
    if let Some(max) = src.max_chars {
        opts.max_chars = max;
    }
    opts.footer = src.footer.clone();
    opts.priority = src.default_priority();
    opts
}
