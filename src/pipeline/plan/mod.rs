//! The plan: from (the items of a document, a source's configuration, what the store already
//! knows) to one decision per item. The poll, `preview --source`, `source test` and the admin
//! UI's detection preview all go through here, so they always agree.
//!
//! Two steps, because a page source reads the articles of its *new* items in between:
//!
//! 1. [`triage`]: which items are new. An item is known when its primary key (guid, else its
//!    own link, else a hash of its content) is known. A secondary key (the link of an item
//!    with a guid, the title and day of an item with neither) counts only for a migration —
//!    the feed changed its ids — never when another item of the same document shares it:
//!    two "Ordinanza sindacale" of one day with their own guids are two items.
//! 2. [`decide`] (or [`baseline`] on a source's first poll): threading of CAP updates and
//!    cancellations, the source's priority, its policy, the per-poll cap, the formatter.
//!
//! What the store knows comes through [`Known`]; nothing here writes anything.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::config::SourceConfig;
use crate::format::{FormatError, FormatOptions};
use crate::ident::{Identity, Key, KeyKind};
use crate::item::{Item, Message};
use crate::policy::Policy;
use crate::store::{Level, SeenKeys, SentAlert, SentItem, Store, StoreError, StoryRecord};

mod alerts;
pub mod corrections;
mod decide;
pub mod reasons;

pub use decide::decide;

/// Seen keys of items still present are re-stamped at most this often.
const REFRESH_AFTER_SECS: u64 = 86_400;

/// What the store knows about one source, as the plan asks it.
pub trait Known {
    /// When each key was last seen (unix seconds); `None` for a key never seen.
    fn last_seen(&self, keys: &[Key]) -> Result<Vec<Option<u64>>, StoreError>;
    /// The alert sent under a CAP reference (`sender,identifier,sent`).
    fn sent_alert(&self, reference: &str) -> Result<Option<SentAlert>, StoreError>;
    /// The last level announced by a bulletin for a sender and area.
    fn level(&self, key: &str) -> Result<Option<Level>, StoreError>;
    /// The story one of these keys names, if it went out (from any source).
    fn story(&self, _keys: &[Key]) -> Result<Option<StoryRecord>, StoreError> {
        Ok(None)
    }
    /// What was sent of the item with this primary key, if it is watched for corrections.
    fn sent_item(&self, _key: &Key) -> Option<&SentItem> {
        None
    }
}

/// Knows nothing: every item is new (the preview of a document).
pub struct Nothing;

impl Known for Nothing {
    fn last_seen(&self, keys: &[Key]) -> Result<Vec<Option<u64>>, StoreError> {
        Ok(vec![None; keys.len()])
    }
    fn sent_alert(&self, _: &str) -> Result<Option<SentAlert>, StoreError> {
        Ok(None)
    }
    fn level(&self, _: &str) -> Result<Option<Level>, StoreError> {
        Ok(None)
    }
}

/// What the store knows about the source `source`; its seen keys are read once.
pub struct StoreKnows<'a> {
    store: &'a Store,
    source: &'a str,
    seen: SeenKeys,
    /// The source's recent sent items, by primary key (hex).
    sent: HashMap<String, SentItem>,
}

impl<'a> StoreKnows<'a> {
    pub fn load(store: &'a Store, source: &'a str) -> Result<StoreKnows<'a>, StoreError> {
        Ok(StoreKnows {
            store,
            source,
            seen: store.seen_keys(source)?,
            sent: store
                .sent_items(source)?
                .into_iter()
                .map(|i| (i.key.clone(), i))
                .collect(),
        })
    }
}

impl Known for StoreKnows<'_> {
    fn last_seen(&self, keys: &[Key]) -> Result<Vec<Option<u64>>, StoreError> {
        Ok(self.seen.last_seen(keys))
    }
    fn sent_alert(&self, reference: &str) -> Result<Option<SentAlert>, StoreError> {
        self.store.sent_alert(self.source, reference)
    }
    fn level(&self, key: &str) -> Result<Option<Level>, StoreError> {
        self.store.level(self.source, key)
    }
    fn story(&self, keys: &[Key]) -> Result<Option<StoryRecord>, StoreError> {
        self.store.story(keys)
    }
    fn sent_item(&self, key: &Key) -> Option<&SentItem> {
        if self.sent.is_empty() {
            return None;
        }
        self.sent.get(&corrections::key_hex(key))
    }
}

/// The items of a document, sorted into new and known.
#[derive(Debug, Default)]
pub struct Triage {
    /// New items, in document order.
    pub fresh: Vec<(Item, Identity)>,
    /// Keys of known items to re-stamp (still present).
    pub touch: Vec<Key>,
    /// The primary key of each distinct item of the document.
    pub present: Vec<Key>,
    /// Known items sent lately whose version changed since it was last seen.
    pub changed: Vec<corrections::Changed>,
}

/// Sorts a document's items into new and known (see the module's documentation).
pub fn triage(
    items: Vec<Item>,
    known: &dyn Known,
    now: DateTime<Utc>,
    source: &str,
) -> Result<Triage, StoreError> {
    let identified: Vec<(Item, Identity)> = items
        .into_iter()
        .map(|item| {
            let identity = Identity::of(&item);
            (item, identity)
        })
        .collect();
    let stamps = identified
        .iter()
        .map(|(_, identity)| known.last_seen(&identity.keys))
        .collect::<Result<Vec<_>, _>>()?;
    // How many items of this document carry each key: a secondary key shared with another
    // item of the document identifies neither. Only needed when a secondary key is known.
    let mut in_document: HashMap<Key, usize> = HashMap::new();
    if stamps.iter().any(|s| s.iter().skip(1).any(Option::is_some)) {
        for (_, identity) in &identified {
            for (i, key) in identity.keys.iter().enumerate() {
                if !identity.keys.get(..i).unwrap_or_default().contains(key) {
                    *in_document.entry(*key).or_default() += 1;
                }
            }
        }
    }
    let now_secs = now.timestamp().max(0) as u64;
    let mut out = Triage::default();
    let mut primaries: HashSet<Key> = HashSet::new();
    for ((item, identity), stamps) in identified.into_iter().zip(stamps) {
        let Some(primary) = identity.keys.first().copied() else {
            continue;
        };
        if !primaries.insert(primary) {
            tracing::debug!(source, title = %item.title, "the same item twice in one document");
            continue;
        }
        out.present.push(primary);
        match matched_key(&identity, &stamps, &in_document) {
            Some(matched) => {
                if matched == primary {
                    if let Some(sent) = known.sent_item(&primary) {
                        if corrections::Version::of(&item).fingerprint != sent.seen {
                            out.changed.push(corrections::Changed {
                                sent: sent.clone(),
                                identity: identity.clone(),
                                item: item.clone(),
                            });
                        }
                    }
                }
                let key = KeyKind::of(matched.kind);
                if matched != primary {
                    tracing::info!(
                        source, title = %item.title, ?key,
                        "already seen under another id (the feed changed its ids)"
                    );
                } else {
                    tracing::debug!(source, title = %item.title, ?key, "already seen");
                }
                for (key, stamp) in identity.keys.iter().zip(&stamps) {
                    if stamp.is_none_or(|s| now_secs.saturating_sub(s) > REFRESH_AFTER_SECS) {
                        out.touch.push(*key);
                    }
                }
            }
            None => out.fresh.push((item, identity)),
        }
    }
    Ok(out)
}

/// The stored key that makes an item known, if any.
fn matched_key(
    identity: &Identity,
    stamps: &[Option<u64>],
    in_document: &HashMap<Key, usize>,
) -> Option<Key> {
    let primary = identity.keys.first()?;
    let primary_kind = KeyKind::of(primary.kind);
    identity
        .keys
        .iter()
        .zip(stamps)
        .enumerate()
        .find(|(i, (key, stamp))| {
            if stamp.is_none() {
                return false;
            }
            if *i == 0 {
                return true;
            }
            let alone = in_document.get(key).copied().unwrap_or(0) <= 1;
            match (KeyKind::of(key.kind), primary_kind) {
                // Another id of the same item (the index entry that linked a CAP alert).
                (Some(KeyKind::Guid), _) => true,
                // The guid changed but the item kept its own link.
                (Some(KeyKind::Url), Some(KeyKind::Guid)) => alone,
                // Neither guid nor link: title and day.
                (Some(KeyKind::Title), Some(KeyKind::Content)) => alone,
                _ => false,
            }
        })
        .map(|(_, (key, _))| *key)
}

/// What happens to one new item.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Queued for delivery.
    Send(Message),
    /// Queued for an editor's review.
    Review(Message),
    /// Held with the source's batch for an admin (flood protection), and why.
    Held(Message, String),
    /// A correction of an item already sent: queued, or for review; `change` says what.
    Correct {
        message: Message,
        review: bool,
        change: String,
    },
    /// Recorded as seen, never sent.
    Drop(String),
    /// Recorded as seen, never sent: no message can be made of it.
    Unusable(FormatError),
    /// Left unrecorded: a later poll decides again (not tagged yet, article not read yet).
    Wait(String),
    /// The source's first poll: recorded, nothing sent.
    Baseline,
}

impl Action {
    /// The action's name in `preview --explain`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Send(_) => "send",
            Action::Review(_) | Action::Held(..) => "hold",
            Action::Drop(_) | Action::Unusable(_) | Action::Baseline => "drop",
            Action::Wait(_) => "wait",
            Action::Correct { .. } => "correct",
        }
    }

    /// Why, in words.
    pub fn reason(&self) -> String {
        match self {
            Action::Send(_) => "new item".into(),
            Action::Review(_) => "waits for an editor's review".into(),
            Action::Drop(r) | Action::Wait(r) | Action::Held(_, r) => r.clone(),
            Action::Correct { change, review, .. } => format!(
                "material change at the source{}: {change}",
                if *review { ", waits for review" } else { "" }
            ),
            Action::Unusable(e) => e.to_string(),
            Action::Baseline => "first poll: recorded as already there, nothing sent".into(),
        }
    }

    pub fn message(&self) -> Option<&Message> {
        match self {
            Action::Send(m) | Action::Review(m) | Action::Held(m, _) => Some(m),
            Action::Correct { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// One new item and what happens to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub title: String,
    /// The item's official page, when it has one.
    pub url: Option<String>,
    pub action: Action,
}

/// Everything a poll decided, ready to be committed.
#[derive(Debug, Default)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    /// Keys of the items recorded as seen (every decision but `Wait`).
    pub touch: Vec<Key>,
    /// Alerts queued by this plan, by CAP reference, so updates can refer to them.
    pub sent_alerts: Vec<(String, SentAlert)>,
    /// Bulletin levels announced by this plan's items.
    pub levels: Vec<(String, Level)>,
    /// Story keys of the items this plan sends or holds (one story, one message).
    pub stories: Vec<(Key, StoryRecord)>,
    /// Sent feed items to remember, for corrections.
    pub sent_items: Vec<SentItem>,
    /// Items waiting for review that the source changed (their new message)…
    pub queue_refresh: Vec<Message>,
    /// … or no longer lists (their ids).
    pub queue_removed: Vec<String>,
}

impl Plan {
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.decisions.iter().filter_map(|d| match &d.action {
            Action::Send(m) => Some(m),
            Action::Correct {
                message,
                review: false,
                ..
            } => Some(message),
            _ => None,
        })
    }

    pub fn review(&self) -> impl Iterator<Item = &Message> {
        self.decisions.iter().filter_map(|d| match &d.action {
            Action::Review(m) => Some(m),
            Action::Correct {
                message,
                review: true,
                ..
            } => Some(message),
            _ => None,
        })
    }

    /// Messages held with the source's batch (flood protection).
    pub fn held(&self) -> impl Iterator<Item = &Message> {
        self.decisions.iter().filter_map(|d| match &d.action {
            Action::Held(m, _) => Some(m),
            _ => None,
        })
    }

    /// Adds the decision about an item; unless it waits, its keys are recorded as seen (and
    /// a bulletin's level as announced).
    fn record(&mut self, item: Item, identity: &Identity, action: Action) {
        if !matches!(action, Action::Wait(_)) {
            self.touch.extend(identity.keys.iter().copied());
            self.levels
                .extend(item.alert.as_ref().and_then(alerts::bulletin_level));
        }
        self.decisions.push(Decision {
            url: item.url.as_ref().map(|u| u.to_string()),
            title: item.title,
            action,
        });
    }

    /// Items recorded as seen.
    pub fn recorded(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| !matches!(d.action, Action::Wait(_)))
            .count()
    }
}

/// A source's first poll: every new item is recorded, nothing is sent.
pub fn baseline(fresh: Vec<(Item, Identity)>) -> Plan {
    let mut plan = Plan::default();
    for (item, identity) in fresh {
        plan.record(item, &identity, Action::Baseline);
    }
    plan
}

/// The rules [`decide`] applies, from a source's configuration.
pub struct Rules<'a> {
    pub source: &'a SourceConfig,
    pub policy: &'a Policy,
    /// Most normal messages queued by one poll; older new items beyond it are recorded, not
    /// sent. Urgent items are never capped.
    pub max_new: usize,
    /// More normal items to send than this in one poll: the batch is held for an admin.
    pub flood_threshold: usize,
    /// How many items the document had (most of a feed new at once is a flood too).
    pub document_len: usize,
    /// A real poll (not the preview of a document): freshness applies, and an item sent on
    /// a later day than its publication shows its date.
    pub live: bool,
    /// The source is HELD already: its new normal items join the batch.
    pub held: bool,
    /// Dates in messages and reasons are local time here.
    pub tz: chrono_tz::Tz,
}

impl<'a> Rules<'a> {
    /// The rules of a preview: everything the document gives, no freshness, no flood.
    pub fn preview(source: &'a SourceConfig, policy: &'a Policy, tz: chrono_tz::Tz) -> Rules<'a> {
        Rules {
            source,
            policy,
            max_new: usize::MAX,
            flood_threshold: usize::MAX,
            document_len: 0,
            live: false,
            held: false,
            tz,
        }
    }
}

/// The formatter's options for a source.
pub fn format_options(src: &SourceConfig) -> FormatOptions {
    let mut opts = FormatOptions::new(&src.name, src.kind().as_str());
    if let Some(max) = src.max_chars {
        opts.max_chars = max;
    }
    opts.footer = src.footer.clone();
    opts.priority = src.default_priority();
    opts.template = src.template.clone();
    opts
}

#[cfg(test)]
mod tests;
