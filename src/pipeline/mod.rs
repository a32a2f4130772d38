//! Polls one source: load its state → conditional GET → decode → parse (on a blocking thread)
//! → [`plan::triage`] → read new articles (pages) → [`plan::decide`] → one store transaction
//! (seen keys, outbox entries, review items, new state). Failures are recorded on the source
//! and retried with back-off by the daemon; one source never affects another.
//!
//! [`Pipeline::evaluate`] does everything but the commit, for `source test`;
//! [`preview`] runs the same plan over a document without fetching or storing anything.

mod error;
pub mod plan;
pub mod preview;

pub use error::PollError;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::charset;
use crate::config::{Config, Settings, SourceConfig, SourceKind};
use crate::failpoint;
use crate::fetch::{FetchLimits, FetchOutcome, Fetched, Fetcher, Validators};
use crate::ident::{Identity, Key};
use crate::item::Item;
use crate::policy::Policy;
use crate::schedule::Clock;
use crate::source::cap::CapDocument;
use crate::source::{self, ParseContext, ParseError};
use crate::store::{DecisionRecord, PollCommit, QueueItem, SourceState, Store};

use plan::{Known, Plan, Rules, StoreKnows};

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

/// What the next poll of a source would do, short of committing it.
#[derive(Debug)]
pub enum Evaluation {
    /// Nothing changed; when the server's certificate expires.
    NotModified(Option<DateTime<Utc>>),
    Planned(Box<Planned>),
}

/// A fetched, parsed and planned document.
#[derive(Debug)]
pub struct Planned {
    /// The source's first poll: everything is recorded, nothing sent.
    pub baseline: bool,
    pub plan: Plan,
    /// Keys of known items to re-stamp.
    pub touch: Vec<Key>,
    pub present: Vec<Key>,
    pub validators: Validators,
    pub certificate_expires: Option<DateTime<Utc>>,
}

/// Fetches and plans sources, and commits what a poll decided. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    fetcher: Fetcher,
    /// The same client outside the global fetch limit, for emergency sources.
    emergency_fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    settings: Settings,
    sources: HashMap<String, (Arc<SourceConfig>, Policy)>,
    /// Polls of news sources in progress, at most `concurrency`. The fetcher's own limit
    /// covers only the request: without this one, a daemon starting with 10,000 sources
    /// would fetch them all quickly and hold every parsed document in memory while the
    /// store commits them one by one. Emergency sources (CAP, earthquakes) do not wait here.
    polls: Arc<tokio::sync::Semaphore>,
}

impl Pipeline {
    pub fn new(config: &Config, store: Store, clock: Arc<dyn Clock>) -> anyhow::Result<Pipeline> {
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
            crate::netguard::Guard::new(
                s.allow_private_sources,
                config.sources.iter().map(|src| &src.url),
            ),
        )?;
        let sources = config
            .sources
            .iter()
            .map(|src| (src.name.clone(), (src.clone(), Policy::new(src))))
            .collect();
        Ok(Pipeline {
            inner: Arc::new(Inner {
                store,
                emergency_fetcher: fetcher.emergency_lane(),
                fetcher,
                clock,
                settings: s.clone(),
                sources,
                polls: Arc::new(tokio::sync::Semaphore::new(s.concurrency.max(1))),
            }),
        })
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.inner.fetcher
    }

    /// The client for `src`'s fetches: emergency sources do not queue behind news.
    fn fetcher_for(&self, src: &SourceConfig) -> &Fetcher {
        if src.kind().is_emergency() {
            &self.inner.emergency_fetcher
        } else {
            &self.inner.fetcher
        }
    }

    fn source(&self, name: &str) -> Result<&(Arc<SourceConfig>, Policy), PollError> {
        self.inner
            .sources
            .get(name)
            .ok_or_else(|| PollError::UnknownSource(name.to_owned()))
    }

    /// Polls one source and records the outcome on it (success or failure).
    pub async fn poll(&self, name: &str) -> Result<PollOutcome, PollError> {
        let (src, _) = self.source(name)?;
        let _slot = if src.kind().is_emergency() {
            None
        } else {
            // Never closed: the semaphore lives as long as the pipeline.
            self.inner.polls.clone().acquire_owned().await.ok()
        };
        // Boxed, and only once it may run: a poll's future is a few kB, which every waiting
        // poll (and every source's loop, all the time) would otherwise hold.
        Box::pin(self.poll_now(name)).await
    }

    async fn poll_now(&self, name: &str) -> Result<PollOutcome, PollError> {
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let mut state = store.source_state(name)?;
        state.last_attempt = Some(now);
        let result = self.poll_inner(name, &mut state, now).await;
        match &result {
            Ok(outcome) => tracing::debug!(source = %name, ?outcome, "polled"),
            Err(e) => {
                state.consecutive_failures += 1;
                state.last_error = Some(e.to_string());
                state.last_error_it = Some(e.italian());
                tracing::warn!(
                    source = %name, error = %e, failures = state.consecutive_failures,
                    "poll failed; will retry with back-off"
                );
                store.put_source_state(name, &state)?;
            }
        }
        result
    }

    async fn poll_inner(
        &self,
        name: &str,
        state: &mut SourceState,
        now: DateTime<Utc>,
    ) -> Result<PollOutcome, PollError> {
        let planned = match self.evaluate(name, state, now).await? {
            Evaluation::NotModified(certificate_expires) => {
                state.certificate_expires = certificate_expires;
                state.last_success = Some(now);
                state.last_error = None;
                state.last_error_it = None;
                state.consecutive_failures = 0;
                self.inner.store.put_source_state(name, state)?;
                return Ok(PollOutcome::NotModified);
            }
            Evaluation::Planned(p) => *p,
        };
        let items = planned.present.len();
        state.baselined = true;
        state.validators = planned.validators;
        state.certificate_expires = planned.certificate_expires;
        state.last_success = Some(now);
        state.last_error = None;
        state.last_error_it = None;
        state.consecutive_failures = 0;
        state.items_present = items;
        state.items_seen += planned.plan.recorded() as u64;
        if planned.baseline || planned.plan.recorded() > 0 {
            state.note_new_items(now);
        }
        let plan = planned.plan;
        let mut decisions = Vec::new();
        for d in &plan.decisions {
            match &d.action {
                plan::Action::Drop(reason) => {
                    tracing::info!(source = %name, title = %d.title, %reason, "not forwarded")
                }
                plan::Action::Wait(reason) => {
                    tracing::debug!(source = %name, title = %d.title, %reason, "not forwarded yet")
                }
                plan::Action::Held(_, reason) => {
                    tracing::warn!(source = %name, title = %d.title, %reason, "held for an admin")
                }
                _ => {}
            }
            // Waits are decided again by a later poll; a baseline decides nothing.
            if !matches!(d.action, plan::Action::Wait(_) | plan::Action::Baseline) {
                decisions.push(DecisionRecord {
                    at: now,
                    source: name.to_owned(),
                    title: d.title.clone(),
                    url: d.url.clone(),
                    action: d.action.name().to_owned(),
                    reason: d.action.reason(),
                    message_id: d.action.message().map(|m| m.id.clone()),
                });
            }
        }
        if planned.baseline {
            tracing::info!(source = %name, items = plan.decisions.len(), "first poll: baseline recorded, nothing sent");
        }
        let mut touch = planned.touch;
        touch.extend(plan.touch.iter().copied());
        let commit = PollCommit {
            state: state.clone(),
            touch,
            present: planned.present,
            messages: plan.messages().cloned().collect(),
            review: plan.review().cloned().collect(),
            held: plan.held().cloned().collect(),
            decisions,
            stories: plan.stories,
            sent_items: plan.sent_items,
            queue_refresh: plan.queue_refresh,
            queue_removed: plan.queue_removed,
            sent_alerts: plan.sent_alerts,
            levels: plan.levels,
        };
        let queued = self.inner.store.commit_poll(name, &commit, now)?;
        if !commit.review.is_empty() {
            tracing::info!(source = %name, items = commit.review.len(), "waiting for review");
        }
        if queued > 0 {
            // No flush here: a commit lost in a crash is a poll that did not happen (its
            // validators and seen keys go with it, so the next poll finds the same items
            // new), and delivery flushes its intent, and with it this commit, before any
            // request leaves.
            failpoint::hit("after-enqueue");
        }
        Ok(if planned.baseline {
            PollOutcome::Baseline { items }
        } else {
            PollOutcome::Checked { items, queued }
        })
    }

    /// The message the source's newest item makes today, with the source's options and
    /// filters, whether or not it was seen: what a test send shows. Fetches unconditionally;
    /// writes nothing. `None` when the document has no item that would be sent.
    pub async fn sample(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::item::Message>, PollError> {
        let (src, _) = self.source(name)?;
        let fetched = match self
            .fetcher_for(src)
            .get(&src.url, &Default::default(), src.timeout)
            .await?
        {
            FetchOutcome::NotModified(_) => return Ok(None),
            FetchOutcome::Fetched(f) => f,
        };
        let plan = preview::preview(
            &fetched.body,
            fetched.content_type.as_deref(),
            src,
            &self.inner.settings,
            Some(fetched.final_url.clone()),
            preview::Filters::Source,
            now,
        )?;
        // The newest item (by date; else the document's first, as feeds list newest first).
        let newest = plan
            .messages()
            .chain(plan.review())
            .enumerate()
            .max_by_key(|(i, m)| (m.published.clone(), std::cmp::Reverse(*i)))
            .map(|(_, m)| m.clone());
        Ok(newest)
    }

    /// Fetches a source (conditionally, with the validators in `state`) and plans what its
    /// poll would do, against what the store knows. Writes nothing.
    pub async fn evaluate(
        &self,
        name: &str,
        state: &SourceState,
        now: DateTime<Utc>,
    ) -> Result<Evaluation, PollError> {
        let (src, policy) = self.source(name)?;
        let fetched = match self
            .fetcher_for(src)
            .get(&src.url, &state.validators, src.timeout)
            .await?
        {
            FetchOutcome::NotModified(expires) => return Ok(Evaluation::NotModified(expires)),
            FetchOutcome::Fetched(f) => f,
        };
        let ctx = ParseContext::for_source(
            src,
            &self.inner.settings,
            Some(fetched.final_url.clone()),
            now,
        );
        let known = StoreKnows::load(&self.inner.store, name)?;
        let baseline = !state.baselined;
        let mut touch = Vec::new();
        let items = self
            .items_of(src, &fetched, &ctx, baseline, &known, &mut touch)
            .await?;
        let document_len = items.len();
        // Items waiting for review are compared with what the source lists now.
        let queued: Vec<QueueItem> = if baseline {
            Vec::new()
        } else {
            self.inner
                .store
                .queue()
                .filter(|q| q.as_ref().map_or(true, |q| q.message.source == name))
                .collect::<Result<_, _>>()?
        };
        let listed = if queued.is_empty() {
            Vec::new()
        } else {
            items.clone()
        };
        let triage = plan::triage(items, &known, now, name)?;
        touch.extend(triage.touch);
        let plan = if baseline {
            plan::baseline(triage.fresh)
        } else {
            let fresh = if src.kind() == SourceKind::Page {
                self.read_articles(src, triage.fresh, &ctx).await
            } else {
                triage.fresh
            };
            let rules = Rules {
                source: src,
                policy,
                max_new: self.inner.settings.max_new_per_poll,
                flood_threshold: self.inner.settings.flood_threshold,
                document_len,
                live: true,
                held: self.inner.store.is_held(name)?,
                tz: self.inner.settings.tz(),
            };
            let mut plan = plan::decide(&rules, fresh, &known, now)?;
            plan::corrections::correct(&mut plan, &rules, triage.changed, now);
            (plan.queue_refresh, plan.queue_removed) =
                plan::corrections::refresh_queue(&rules, &listed, &queued, now);
            plan
        };
        Ok(Evaluation::Planned(Box::new(Planned {
            baseline,
            plan,
            touch,
            present: triage.present,
            validators: fetched.validators,
            certificate_expires: fetched.certificate_expires,
        })))
    }

    /// The items of a fetched document. Pages and CAP indexes need more than the document:
    /// a page's new articles are read later ([`Pipeline::read_articles`]); an index's alerts
    /// are fetched here (entries already handled are skipped by their link's key, added to
    /// `touch`).
    async fn items_of(
        &self,
        src: &SourceConfig,
        fetched: &Fetched,
        ctx: &ParseContext,
        baseline: bool,
        known: &(dyn Known + Sync),
        touch: &mut Vec<Key>,
    ) -> Result<Vec<Item>, PollError> {
        let kind = src.kind();
        let body = fetched.body.clone();
        let content_type = fetched.content_type.clone();
        let parse_ctx = ctx.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            parse_document(kind, &body, content_type.as_deref(), &parse_ctx)
        })
        .await
        .map_err(|e| PollError::Internal(e.to_string()))??;
        match parsed {
            Parsed::Items(items) => Ok(items),
            Parsed::Cap(CapDocument::Alert(alert)) => {
                Ok(source::cap::alert_item(&alert, ctx).into_iter().collect())
            }
            Parsed::Cap(CapDocument::Index(entries)) => {
                self.expand_index(src, entries, ctx, baseline, known, touch)
                    .await
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
        known: &(dyn Known + Sync),
        touch: &mut Vec<Key>,
    ) -> Result<Vec<Item>, PollError> {
        let mut items = Vec::new();
        let mut fetches = 0;
        for entry in entries {
            let Some(link) = entry.link.clone() else {
                items.extend(inline_item(&entry, ctx));
                continue;
            };
            let link_id = index_link_id(&link);
            let link_keys = Identity::of(&Item {
                guid: Some(link_id.clone()),
                strict_id: true,
                ..Item::default()
            })
            .keys;
            if known.last_seen(&link_keys)?.iter().any(Option::is_some) {
                touch.extend(link_keys); // keep it remembered while it is listed
                continue;
            }
            if baseline {
                touch.extend(link_keys);
                items.extend(inline_item(&entry, ctx));
                continue;
            }
            if fetches >= src.max_fetch() {
                continue; // next poll
            }
            fetches += 1;
            let alert = match self
                .fetcher_for(src)
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
                Ok(FetchOutcome::NotModified(_)) | Err(_) => entry.inline.clone(),
            };
            let Some(alert) = alert else {
                tracing::warn!(source = %src.name, %link, "alert document unavailable; will retry");
                continue;
            };
            touch.extend(link_keys);
            if let Some(mut item) = source::cap::alert_item(&alert, ctx) {
                item.alt_ids.push(link_id);
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
            match self.fetcher_for(src).get(&url, &Default::default(), src.timeout).await {
                Ok(FetchOutcome::Fetched(page)) => {
                    let html = charset::decode(&page.body, page.content_type.as_deref());
                    let mut article_ctx = ctx.clone();
                    article_ctx.base = Some(page.final_url.clone());
                    let article = tokio::task::spawn_blocking(move || source::page::parse_article(&html, &article_ctx))
                        .await
                        .unwrap_or_default();
                    (source::page::merge(item, article), identity)
                }
                Ok(FetchOutcome::NotModified(_)) => (item, identity),
                Err(e) => {
                    let url = crate::link::redacted(&url);
                    tracing::warn!(source = %src.name, %url, error = %e, "article not readable; using the listing's text");
                    (item, identity)
                }
            }
        });
        futures_util::future::join_all(tasks).await
    }
}

/// A document as parsed, before any further fetching.
pub enum Parsed {
    Items(Vec<Item>),
    Cap(CapDocument),
}

/// Decodes and parses a document of a source's kind. Pure; CPU-bound.
pub fn parse_document(
    kind: SourceKind,
    body: &[u8],
    content_type: Option<&str>,
    ctx: &ParseContext,
) -> Result<Parsed, ParseError> {
    let text = decode(kind, body, content_type);
    match kind {
        SourceKind::Page => source::page::parse_listing(&text, ctx).map(Parsed::Items),
        SourceKind::Cap => source::cap::parse_document(&text, ctx.base.as_ref()).map(Parsed::Cap),
        _ => source::parse(kind, &text, ctx).map(Parsed::Items),
    }
}

/// A document's bytes as text: HTML rules for pages, XML rules (prolog, BOM) for the rest.
pub fn decode(kind: SourceKind, body: &[u8], content_type: Option<&str>) -> String {
    match kind {
        SourceKind::Page => charset::decode(body, content_type),
        _ => charset::decode_xml(body, content_type),
    }
}

/// The alert an index entry carries inline, if any.
fn inline_item(entry: &source::cap::IndexEntry, ctx: &ParseContext) -> Option<Item> {
    entry
        .inline
        .as_ref()
        .and_then(|a| source::cap::alert_item(a, ctx))
}

/// The id by which an index entry's CAP document is remembered.
fn index_link_id(link: &url::Url) -> String {
    format!("cap-doc:{}", crate::ident::canonical_url(link))
}
