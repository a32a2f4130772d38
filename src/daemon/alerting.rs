//! Admin alerts, told. Every [`CHECK_EVERY`] the daemon gathers the facts (sources, news
//! sinks, outbox, review queue), asks [`crate::watch`] what is wrong, and compares with what
//! it raised before (the store's `admin_alarms`): a new alert goes to the alert sinks
//! (`settings.alerts`) once, a cleared one gets a recovery notice once. A notice is a message
//! of kind `alert` (with the fields `alert`: the key, `alert_state`: `raised` or `cleared`,
//! `alert_since`), so file,
//! webhook and console sinks carry it as they carry news. At most [`NOTICES_PER_CHECK`]
//! notices go at one check, so a storm (every source down with the network) is a few
//! messages; the rest are told at the next checks.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::App;
use crate::item::Message;
use crate::store::{RaisedAlarm, StoreError};
use crate::watch::{self, Facts, SinkFacts, SourceFacts, Thresholds};

/// How often the alerts are checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);
/// Most notices sent at one check.
pub const NOTICES_PER_CHECK: usize = 5;

/// What one check did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AlarmReport {
    /// Alerts raised now (the key).
    pub raised: Vec<String>,
    /// Alerts cleared now.
    pub cleared: Vec<String>,
    /// Notices the alert sinks took.
    pub notices: usize,
}

impl App {
    /// The facts the alerts are decided from.
    fn facts(&self) -> Result<Facts, StoreError> {
        let store = self.store();
        let config = self.config();
        let now = self.now();
        let mut facts = Facts {
            outbox: store.outbox_len(),
            ..Facts::default()
        };
        for src in &config.sources {
            let state = store.source_state(&src.name)?;
            facts.sources.push(SourceFacts {
                name: src.name.clone(),
                url: crate::link::redacted(&src.url),
                failures: state.consecutive_failures,
                last_error: state.last_error_it.or(state.last_error),
                held: store.held(&src.name)?.len(),
                paused: store.source_paused(&src.name)?,
                silent_for: state.last_new_at.map(|at| now - at),
                rhythm: state
                    .new_gap_secs
                    .filter(|_| state.new_gaps >= watch::RHYTHM_GAPS)
                    .map(|secs| chrono::Duration::seconds(secs as i64)),
                certificate_left: state.certificate_expires.map(|at| at - now),
            });
        }
        for sink in self.sinks() {
            let health = store.sink_health(sink.name())?;
            facts.sinks.push(SinkFacts {
                name: sink.name().to_owned(),
                paused: store
                    .pause(sink.name())?
                    .filter(|p| p.until > now)
                    .map(|p| p.reason),
                failures: health.failures,
                last_error: health.last_error.map(|e| e.detail),
                unready: None,
            });
        }
        let expiry = chrono::Duration::from_std(config.settings.review_expiry)
            .unwrap_or(chrono::Duration::MAX);
        facts.config_refused = self.config_refused();
        facts.review_expiring = crate::review::pending(store)?
            .iter()
            .filter(|item| item.send_at.is_none())
            .filter(|item| item.queued_at + expiry - now <= watch::REVIEW_WARNING)
            .count();
        Ok(facts)
    }

    /// Checks the alerts once: raises the new, clears the gone, tells the admins.
    pub async fn check_alarms(&self) -> Result<AlarmReport, StoreError> {
        let settings = &self.config().settings.alerts;
        let limits = Thresholds {
            failures: settings.after_failures,
            outbox: settings.outbox,
        };
        let now = self.now();
        let mut facts = self.facts()?;
        self.gateway_sessions(&mut facts.sinks).await;
        let current = watch::alarms(&facts, limits);
        let raised = self.store().raised_alarms()?;
        let mut report = AlarmReport::default();
        let mut budget = NOTICES_PER_CHECK;
        // Cleared first: a recovery is good news worth its place in the budget.
        for old in raised
            .iter()
            .filter(|r| !current.iter().any(|a| a.key == r.key))
        {
            // One never told needs no recovery notice.
            if old.notified {
                if budget == 0 {
                    continue; // told at a later check
                }
                budget -= 1;
                if !self.notify(old, "cleared", now).await {
                    continue;
                }
                report.notices += 1;
            }
            self.store().clear_alarm(&old.key)?;
            tracing::info!(alert = %old.key, "alert cleared");
            report.cleared.push(old.key.clone());
        }
        for alarm in current {
            let known = raised.iter().find(|r| r.key == alarm.key);
            if known.is_some_and(|r| r.notified) {
                continue;
            }
            let mut record = RaisedAlarm {
                key: alarm.key,
                title: alarm.title,
                detail: alarm.detail,
                url: alarm.url,
                since: known.map_or(now, |r| r.since),
                notified: false,
            };
            if known.is_none() {
                tracing::warn!(alert = %record.key, title = %record.title, detail = %record.detail, "alert raised");
                report.raised.push(record.key.clone());
            }
            if budget > 0 {
                budget -= 1;
                record.notified = self.notify(&record, "raised", now).await;
                report.notices += usize::from(record.notified);
            }
            self.store().raise_alarm(&record)?;
        }
        self.store().flush()?;
        Ok(report)
    }

    /// Asks each channel gateway whether its session can send (one request each): a session
    /// logged out of WhatsApp is an alert before anything waits for it.
    async fn gateway_sessions(&self, sinks: &mut [SinkFacts]) {
        for sink in self.sinks() {
            let crate::sink::Sink::Gateway(g) = sink else {
                continue;
            };
            let unready = match g.session_status().await {
                Ok(status) if status == "WORKING" => None,
                Ok(status) => Some(format!(
                    "La sessione WhatsApp del gateway è nello stato {status}: deve essere WORKING (collega di nuovo il telefono dal gateway)."
                )),
                Err(e) => Some(format!("Il gateway non risponde: {e}")),
            };
            if let Some(facts) = sinks.iter_mut().find(|f| f.name == g.name()) {
                facts.unready = unready;
            }
        }
    }

    /// Checks the alerts every [`CHECK_EVERY`] until `stop`.
    pub(super) async fn alarm_loop(&self, stop: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            if let Err(e) = self.check_alarms().await {
                tracing::error!(error = %e, "cannot check the alerts");
            }
        }
    }

    /// Sends a notice to every alert sink; whether at least one took it (no alert sink: the
    /// log line and the admin UI are the notice).
    async fn notify(&self, alarm: &RaisedAlarm, state: &str, now: DateTime<Utc>) -> bool {
        if self.alert_sinks().is_empty() {
            return true;
        }
        let message = notice(alarm, state, now);
        let mut took = false;
        for sink in self.alert_sinks() {
            match sink.send(&message).await {
                Ok(_) => took = true,
                Err(e) => {
                    tracing::error!(sink = sink.name(), alert = %alarm.key, error = %e, "cannot send an alert")
                }
            }
        }
        took
    }
}

/// "Il server…" → "il server…", for a sentence that goes on.
fn first_lower(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

/// "il server…" → "Il server…", for a sentence that starts.
fn first_upper(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// The message that tells an alert (`state`: raised or cleared).
fn notice(alarm: &RaisedAlarm, state: &str, now: DateTime<Utc>) -> Message {
    let (icon, title, detail) = match state {
        "cleared" => (
            "✅",
            format!("Risolto: {}", first_lower(&alarm.title)),
            format!(
                "Tutto di nuovo regolare, dopo {}. Il problema era: {}",
                watch::lasted(now - alarm.since),
                first_lower(&alarm.detail)
            ),
        ),
        _ => ("⚠️", alarm.title.clone(), first_upper(&alarm.detail)),
    };
    let url = alarm.url.clone().unwrap_or_default();
    let mut text = format!("*{icon} {title}*\n\n{detail}");
    if !url.is_empty() {
        text.push_str("\n\n");
        text.push_str(&url);
    }
    let mut extra = serde_json::Map::new();
    extra.insert("alert".into(), alarm.key.clone().into());
    extra.insert("alert_state".into(), state.into());
    extra.insert("alert_since".into(), alarm.since.to_rfc3339().into());
    // The reason, for the second parameter of a WhatsApp template (an admin who has not
    // written to the number in 24 hours gets only a template).
    extra.insert("alert_detail".into(), detail.clone().into());
    Message {
        id: format!("alert-{}-{state}-{}", alarm.key, now.timestamp()),
        source: "banditore".into(),
        kind: "alert".into(),
        title,
        url,
        text,
        image: None,
        priority: crate::config::Priority::Urgent,
        published: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        tags: Vec::new(),
        extra,
    }
}
