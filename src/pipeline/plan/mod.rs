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
use crate::format::{format, FormatError, FormatOptions};
use crate::ident::{Identity, Key, KeyKind};
use crate::item::{AlertMeta, Item, Message, MsgType};
use crate::policy::{Policy, Verdict};
use crate::store::{Level, SeenKeys, SentAlert, Store, StoreError};

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
}

impl<'a> StoreKnows<'a> {
    pub fn load(store: &'a Store, source: &'a str) -> Result<StoreKnows<'a>, StoreError> {
        Ok(StoreKnows {
            store,
            source,
            seen: store.seen_keys(source)?,
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
            Action::Review(_) => "hold",
            Action::Drop(_) | Action::Unusable(_) | Action::Baseline => "drop",
            Action::Wait(_) => "wait",
        }
    }

    /// Why, in words.
    pub fn reason(&self) -> String {
        match self {
            Action::Send(_) => "new item".into(),
            Action::Review(_) => "waits for an editor's review".into(),
            Action::Drop(r) | Action::Wait(r) => r.clone(),
            Action::Unusable(e) => e.to_string(),
            Action::Baseline => "first poll: recorded as already there, nothing sent".into(),
        }
    }

    pub fn message(&self) -> Option<&Message> {
        match self {
            Action::Send(m) | Action::Review(m) => Some(m),
            _ => None,
        }
    }
}

/// One new item and what happens to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub title: String,
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
}

impl Plan {
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.decisions.iter().filter_map(|d| match &d.action {
            Action::Send(m) => Some(m),
            _ => None,
        })
    }

    pub fn review(&self) -> impl Iterator<Item = &Message> {
        self.decisions.iter().filter_map(|d| match &d.action {
            Action::Review(m) => Some(m),
            _ => None,
        })
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
        plan.touch.extend(identity.keys.iter().copied());
        plan.levels
            .extend(item.alert.as_ref().and_then(bulletin_level));
        plan.decisions.push(Decision {
            title: item.title,
            action: Action::Baseline,
        });
    }
    plan
}

/// The rules [`decide`] applies, from a source's configuration.
pub struct Rules<'a> {
    pub source: &'a SourceConfig,
    pub policy: &'a Policy,
    /// Most messages queued by one poll; older new items beyond it are recorded, not sent.
    pub max_new: usize,
}

/// Decides, oldest first, what happens to each new item (see the module's documentation).
pub fn decide(
    rules: &Rules,
    mut fresh: Vec<(Item, Identity)>,
    known: &dyn Known,
    now: DateTime<Utc>,
) -> Result<Plan, StoreError> {
    let src = rules.source;
    // Feeds list newest first; deliver in the order things happened.
    fresh.reverse();
    fresh.sort_by_key(|(item, _)| item.published);
    // The source's explicit priority wins over the item's, and is known before the policy
    // judges (an urgent item skips review only when it is urgent in the end).
    let default_priority = src.default_priority();
    for (item, _) in &mut fresh {
        let priority = src.priority.or(item.priority).unwrap_or(default_priority);
        item.priority = Some(priority);
    }
    let to_send = fresh
        .iter()
        .filter(|(item, _)| rules.policy.judge(item) == Verdict::Send)
        .count();
    let mut over_cap = to_send.saturating_sub(rules.max_new);
    let opts = format_options(src);
    let mut plan = Plan::default();
    for (mut item, identity) in fresh {
        let verdict = match thread_alert(&mut item, known, now)? {
            Verdict::Send => rules.policy.judge(&item),
            other => other,
        };
        let action = match verdict {
            Verdict::Wait(reason) => Action::Wait(reason),
            Verdict::Drop(reason) => Action::Drop(reason),
            Verdict::Send if over_cap > 0 => {
                over_cap -= 1;
                Action::Drop(format!(
                    "too many new items in one poll (max_new_per_poll = {}): older ones are recorded, not sent",
                    rules.max_new
                ))
            }
            Verdict::Review | Verdict::Send => match format(&item, &identity, &opts) {
                Err(e) => Action::Unusable(e),
                Ok(message) if verdict == Verdict::Review => Action::Review(message),
                Ok(message) => {
                    if let Some(alert) = &item.alert {
                        let sent = SentAlert {
                            title: message.title.clone(),
                            url: message.url.clone(),
                            sent_at: None,
                        };
                        plan.sent_alerts.push((alert.reference.clone(), sent));
                    }
                    Action::Send(message)
                }
            },
        };
        if !matches!(action, Action::Wait(_)) {
            plan.touch.extend(identity.keys.iter().copied());
            plan.levels
                .extend(item.alert.as_ref().and_then(bulletin_level));
        }
        plan.decisions.push(Decision {
            title: item.title,
            action,
        });
    }
    Ok(plan)
}

/// Threads CAP updates and cancellations to the alerts they refer to, and silences bulletins
/// that repeat the level already announced.
fn thread_alert(
    item: &mut Item,
    known: &dyn Known,
    now: DateTime<Utc>,
) -> Result<Verdict, StoreError> {
    let Some(alert) = item.alert.clone() else {
        return Ok(Verdict::Send);
    };
    let mut original = None;
    for reference in &alert.references {
        if let Some(sent) = known.sent_alert(reference)? {
            original = Some(sent);
            break;
        }
    }
    match (alert.msg_type, original) {
        (MsgType::Cancel, None) => Ok(Verdict::Drop("cancels an alert that was not sent".into())),
        (MsgType::Cancel, Some(original)) => {
            if item.title == "REVOCA: Allerta" {
                item.title = format!("REVOCA: {}", original.title);
            }
            if item.url.is_none() {
                item.url = url::Url::parse(&original.url).ok();
            }
            Ok(Verdict::Send)
        }
        (MsgType::Update, Some(_)) => {
            item.title = format!("AGGIORNAMENTO: {}", item.title);
            Ok(Verdict::Send)
        }
        _ => {
            if let Some(key) = &alert.level_key {
                if let Some(previous) = known.level(key)? {
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

/// The level record a bulletin leaves, if it is one.
fn bulletin_level(alert: &AlertMeta) -> Option<(String, Level)> {
    alert.level_key.clone().map(|key| {
        (
            key,
            Level {
                level: alert.level.clone(),
                expires: alert.expires,
                at: None,
            },
        )
    })
}

/// The formatter's options for a source.
pub fn format_options(src: &SourceConfig) -> FormatOptions {
    let mut opts = FormatOptions::new(&src.name, src.kind().as_str());
    if let Some(max) = src.max_chars {
        opts.max_chars = max;
    }
    opts.footer = src.footer.clone();
    opts.priority = src.default_priority();
    opts
}

#[cfg(test)]
mod tests;
