//! Which queued messages go in this pass: urgent ones always; normal ones not in quiet
//! hours, paced in the morning (several night messages become one "Notizie della notte"
//! digest; one about the night just past is dropped), and within the daily cap (the rest
//! become one "Altre notizie di oggi" digest at `digest_at`). Every message taken out of the
//! outbox unsent leaves a decision with its reason.

use chrono::{DateTime, Utc};

use super::quiet::Wait;
use super::{DeliverReport, Deliverer};
use crate::config::Priority;
use crate::digest::{digest, is_digest};
use crate::sink::Sink;
use crate::store::{DecisionRecord, OutboxEntry, StoreError};

/// Night messages told as one digest from this many.
const NIGHT_DIGEST_FROM: usize = 3;

type Queued = (Vec<u8>, OutboxEntry);

fn decision(
    entry: &OutboxEntry,
    now: DateTime<Utc>,
    action: &str,
    reason: String,
) -> DecisionRecord {
    DecisionRecord {
        at: now,
        source: entry.message.source.clone(),
        title: entry.message.title.clone(),
        url: Some(entry.message.url.clone()),
        action: action.into(),
        reason,
        message_id: Some(entry.message.id.clone()),
    }
}

fn normal(entry: &OutboxEntry) -> bool {
    entry.message.priority == Priority::Normal && !is_digest(&entry.message)
}

/// `max_per_day` normal messages a day; past it, one digest at `digest_at` (local time).
#[derive(Debug, Clone, Copy)]
pub struct DailyCap {
    pub max: usize,
    pub digest_at: chrono::NaiveTime,
    pub tz: chrono_tz::Tz,
}

impl Deliverer {
    /// With a daily cap on normal messages.
    pub fn with_daily_cap(mut self, daily: Option<DailyCap>) -> Self {
        self.daily = daily;
        self
    }
    pub(super) fn ready(
        &self,
        now: DateTime<Utc>,
        report: &mut DeliverReport,
    ) -> Result<Vec<Queued>, StoreError> {
        let sinks: Vec<&str> = self.sinks.iter().map(Sink::name).collect();
        let mut entries: Vec<Queued> = self.store.outbox().collect::<Result<_, _>>()?;
        if self.night_digest(&entries, &sinks, now)? {
            entries = self.store.outbox().collect::<Result<_, _>>()?;
        }
        let mut ready = Vec::with_capacity(entries.len());
        let mut last_release = *self.last_release.lock().unwrap_or_else(|p| p.into_inner());
        for (key, entry) in entries {
            let wait = match self.night {
                Some(night) if normal(&entry) => {
                    night.wait(now, entry.enqueued_at, &entry.message.text, last_release)
                }
                _ => Wait::Go,
            };
            match wait {
                Wait::Go => {
                    let night_one = self
                        .night
                        .and_then(|n| n.morning(now))
                        .is_some_and(|end| normal(&entry) && entry.enqueued_at < end);
                    if night_one {
                        last_release = Some(now);
                    }
                    ready.push((key, entry));
                }
                // Quiet hours, or the morning's pace: everything else waits.
                Wait::Later => report.pending += 1,
                Wait::Stale(reason) => {
                    let d = decision(&entry, now, "drop", reason);
                    if !self
                        .store
                        .drop_queued(&key, &entry.message.id, &sinks, &d)?
                    {
                        ready.push((key, entry));
                    }
                }
            }
        }
        *self.last_release.lock().unwrap_or_else(|p| p.into_inner()) = last_release;
        self.daily_cap(ready, &sinks, now, report)
    }

    /// In the morning, three or more night messages become one digest.
    fn night_digest(
        &self,
        entries: &[Queued],
        sinks: &[&str],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(end) = self.night.and_then(|n| n.morning(now)) else {
            return Ok(false);
        };
        let night: Vec<&Queued> = entries
            .iter()
            .filter(|(_, e)| normal(e) && e.enqueued_at < end)
            .filter(|(_, e)| {
                self.night.is_some_and(|n| {
                    !matches!(
                        n.wait(now, e.enqueued_at, &e.message.text, None),
                        Wait::Stale(_)
                    )
                })
            })
            .collect();
        if night.len() < NIGHT_DIGEST_FROM {
            return Ok(false);
        }
        self.replace(&night, "Notizie della notte", sinks, now)
    }

    /// Past `max_per_day` normal messages today, the rest wait for one digest at
    /// `digest_at` (one digest a day; what comes after it waits for tomorrow).
    fn daily_cap(
        &self,
        ready: Vec<Queued>,
        sinks: &[&str],
        now: DateTime<Utc>,
        report: &mut DeliverReport,
    ) -> Result<Vec<Queued>, StoreError> {
        let Some(cap) = self.daily else {
            return Ok(ready);
        };
        let local = now.with_timezone(&cap.tz);
        let midnight = local
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(cap.tz).earliest())
            .map_or(now, |t| t.with_timezone(&Utc));
        let mut sent = self.store.normal_sent_since(midnight)?;
        let (mut go, mut deferred) = (Vec::new(), Vec::new());
        for (key, entry) in ready {
            if normal(&entry) {
                if sent < cap.max {
                    sent += 1;
                    go.push((key, entry));
                } else {
                    deferred.push((key, entry));
                }
            } else {
                go.push((key, entry));
            }
        }
        if deferred.is_empty() {
            return Ok(go);
        }
        let digest_due =
            local.time() >= cap.digest_at && !self.store.digest_sent_since(midnight)?;
        if digest_due {
            let refs: Vec<&Queued> = deferred.iter().collect();
            if self.replace(&refs, "Altre notizie di oggi", sinks, now)? {
                report.pending += 1; // the digest, next pass
                return Ok(go);
            }
        }
        report.pending += deferred.len();
        Ok(go)
    }

    /// Replaces `queued` by one digest titled `title`.
    fn replace(
        &self,
        queued: &[&Queued],
        title: &str,
        sinks: &[&str],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let messages: Vec<_> = queued.iter().map(|(_, e)| &e.message).collect();
        let digest = digest(title, &messages, now);
        let decisions: Vec<DecisionRecord> = queued
            .iter()
            .map(|(_, e)| {
                decision(
                    e,
                    now,
                    "send",
                    format!("in the digest «{title}» ({})", digest.id),
                )
            })
            .collect();
        let keys: Vec<(Vec<u8>, String)> = queued
            .iter()
            .map(|(k, e)| (k.clone(), e.message.id.clone()))
            .collect();
        self.store
            .replace_with_digest(&keys, sinks, &digest, &decisions, now)
    }
}
