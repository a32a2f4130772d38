//! The daily e-mail digest (`digest = "18:00"` on an e-mail sink): the sink's normal
//! messages wait (`Step::Waiting`) for one mail a day at that local time, a line and a link
//! each; urgent ones go at once. Still intent before request: every message in the digest has
//! its intent recorded, with the day's mark, before the mail leaves, so a crash mid-send
//! leaves them `unknown` (never mailed twice) and there is no second digest that day.

use std::collections::HashMap;

use chrono::{DateTime, NaiveTime, Utc};

use super::Deliverer;
use crate::config::Priority;
use crate::digest::{digest, is_digest};
use crate::item::Message;
use crate::sink::{Sink, SinkError};
use crate::store::{DeliveryRecord, DeliveryState, FailureOutcome, OutboxEntry, StoreError};

/// The digest's title.
const TITLE: &str = "Le notizie del giorno";

impl Deliverer {
    /// With a daily digest at these local times, by e-mail sink name.
    pub fn with_mail_digests(mut self, digests: HashMap<String, NaiveTime>) -> Self {
        self.mail_digests = digests;
        self
    }

    /// Whether `message`, on `sink`, waits for the sink's daily digest (it has no record
    /// there yet, or an admin asked for another try).
    pub(super) fn waits_for_digest(
        &self,
        sink: &str,
        message: &Message,
    ) -> Result<bool, StoreError> {
        if !self.mail_digests.contains_key(sink)
            || message.priority == Priority::Urgent
            || is_digest(message)
        {
            return Ok(false);
        }
        Ok(self
            .store
            .delivery(&message.id, sink)?
            .is_none_or(|r| r.state == DeliveryState::Requeued))
    }

    /// Mails each due digest: the messages of `ready` waiting for it, once a day.
    pub(super) async fn mail_digests(
        &self,
        ready: &[(Vec<u8>, OutboxEntry)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for sink in &self.sinks {
            let Some(at) = self.mail_digests.get(sink.name()) else {
                continue;
            };
            let local = now.with_timezone(&self.dark.tz);
            let day = local.format("%Y-%m-%d").to_string();
            if local.time() < *at
                || self.store.mail_digest_day(sink.name())?.as_deref() == Some(day.as_str())
                || self.paused(sink.name())?
                || self.next_retry_of(sink.name()).is_some_and(|t| t > now)
            {
                continue;
            }
            let mut members = Vec::new();
            for (_, entry) in ready {
                let allowed = self.filters.get(sink.name()).is_none_or(|f| {
                    super::skip::takes(
                        f,
                        &entry.message,
                        &crate::audience::Reach::of(&entry.message, &self.audience).topics,
                    )
                });
                if allowed && self.waits_for_digest(sink.name(), &entry.message)? {
                    members.push(&entry.message);
                }
            }
            self.mail_digest(sink, &members, &day, now).await?;
        }
        Ok(())
    }

    async fn mail_digest(
        &self,
        sink: &Sink,
        members: &[&Message],
        day: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let name = sink.name();
        if members.is_empty() {
            // Nothing today: what comes later waits for tomorrow's.
            return self.store.set_mail_digest_day(name, Some(day));
        }
        let mut mail = digest(TITLE, members, now);
        mail.id = format!("digest-{name}-{day}");
        let detail = format!("nel riepilogo di posta del {day}");
        let record = |state| DeliveryRecord {
            state,
            at: now,
            provider_id: None,
            detail: Some(detail.clone()),
        };
        self.set_all(name, members, &record(DeliveryState::Intent))
            .await?;
        self.store.set_mail_digest_day(name, Some(day))?;
        self.store.flush()?;
        crate::failpoint::hit_at("after-intent", name);
        let result = sink.send(&mail).await;
        crate::failpoint::hit_at("after-send", name);
        let first = members.first().map_or("", |m| m.id.as_str());
        let state = match result {
            Ok(_) => {
                self.clear_retry(name);
                self.note_success(name)?;
                tracing::info!(sink = name, messages = members.len(), "daily digest mailed");
                DeliveryState::Sent
            }
            Err(SinkError::NotSent(why) | SinkError::Paused(why)) => {
                // Nothing left: the digest is made again at the sink's next try.
                for m in members {
                    self.store.clear_delivery(&m.id, name)?;
                }
                self.store.set_mail_digest_day(name, None)?;
                let (_, until) = self.note_retry(name);
                return self.note_failure(name, first, FailureOutcome::Retry, &why, Some(until));
            }
            Err(e @ SinkError::MaybeSent(_)) => {
                self.note_failure(name, first, FailureOutcome::Unknown, e.why(), None)?;
                DeliveryState::Unknown
            }
            Err(e @ SinkError::Rejected(_)) => {
                self.note_failure(name, first, FailureOutcome::Failed, e.why(), None)?;
                DeliveryState::Failed
            }
        };
        self.set_all(name, members, &record(state)).await
    }

    async fn set_all(
        &self,
        sink: &str,
        members: &[&Message],
        record: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        let records: Vec<(&str, &DeliveryRecord)> =
            members.iter().map(|m| (m.id.as_str(), record)).collect();
        self.store.set_deliveries(sink, &records).await
    }
}
