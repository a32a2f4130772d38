//! [`decide`]: what happens to each new item of a poll, oldest first.
//!
//! 1. Priority: the source's explicit priority wins over the item's (known before the policy
//!    judges, so an urgent item skips review only when it ends up urgent).
//! 2. Threading of CAP updates and cancellations ([`alerts::thread_alert`]), then the
//!    source's policy (forward mode, tags, include/exclude).
//! 3. Freshness (a real poll only): an item first seen longer than `max_age` after its
//!    publication is recorded, not sent; so is an event already over.
//! 4. Emergencies: three or more earthquakes become one sequence message about the strongest.
//! 5. Flood protection: more normal items than `flood_threshold`, most of the feed new at
//!    once, or a source already HELD: the normal items are held for an admin.
//! 6. The per-poll cap on normal items (urgent items are never capped).
//! 7. The formatter; urgent messages go out strongest first.

use chrono::{DateTime, Utc};

use super::alerts::{self, strength, SWARM_MIN};
use super::{format_options, Action, Decision, Known, Plan, Rules};
use crate::config::Priority;
use crate::dates::{days_mentioned, italian_date, italian_day, italian_when};
use crate::format::format;
use crate::ident::{story_keys, Identity};
use crate::item::Item;
use crate::policy::Verdict;
use crate::store::{SentAlert, StoreError, StoryRecord, STORY_WINDOW};

/// One item on its way through the steps.
struct Judged {
    item: Item,
    identity: Identity,
    verdict: Verdict,
    /// Continues the story of an alert that was sent: never held, never too old.
    story: bool,
}

impl Judged {
    fn goes_out(&self) -> bool {
        matches!(self.verdict, Verdict::Send | Verdict::Review)
    }
    fn urgent(&self) -> bool {
        self.item.priority == Some(Priority::Urgent)
    }
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
    let default_priority = src.default_priority();
    let mut judged = Vec::with_capacity(fresh.len());
    for (mut item, identity) in fresh {
        item.priority = Some(src.priority.or(item.priority).unwrap_or(default_priority));
        let (verdict, story) = alerts::thread_alert(&mut item, known, now)?;
        let verdict = match verdict {
            Verdict::Send => rules.policy.judge(&item),
            other => other,
        };
        let verdict = match stale(rules, &item, now).or_else(|| event_over(rules, &item, now)) {
            Some(reason) if !story && matches!(verdict, Verdict::Send | Verdict::Review) => {
                Verdict::Drop(reason)
            }
            _ => verdict,
        };
        let verdict = match verdict {
            Verdict::Send | Verdict::Review if item.alert.is_none() => {
                match told_elsewhere(rules, &item, known, now)? {
                    Some(reason) => Verdict::Drop(reason),
                    None => verdict,
                }
            }
            other => other,
        };
        judged.push(Judged {
            item,
            identity,
            verdict,
            story,
        });
    }
    collapse_swarm(&mut judged, rules);
    let flood = flood_reason(rules, &judged);
    let normal_out = judged
        .iter()
        .filter(|j| j.goes_out() && !j.urgent() && !j.story)
        .count();
    let mut over_cap = if flood.is_some() {
        0
    } else {
        normal_out.saturating_sub(rules.max_new)
    };
    let base_opts = format_options(src);
    let mut plan = Plan::default();
    for Judged {
        item,
        identity,
        verdict,
        story,
    } in judged
    {
        let urgent = item.priority == Some(Priority::Urgent);
        let held = flood.as_ref().filter(|_| !urgent && !story);
        let capped = !urgent && !story && verdict == Verdict::Send && over_cap > 0;
        let action = match verdict {
            Verdict::Wait(reason) => Action::Wait(reason),
            Verdict::Drop(reason) => Action::Drop(reason),
            Verdict::Send if capped && held.is_none() => {
                over_cap -= 1;
                Action::Drop(format!(
                    "too many new items in one poll (max_new_per_poll = {}): older ones are recorded, not sent",
                    rules.max_new
                ))
            }
            Verdict::Review | Verdict::Send => {
                let mut opts = base_opts.clone();
                opts.note = dateline(rules, &item, now);
                match format(&item, &identity, &opts) {
                    Err(e) => Action::Unusable(e),
                    Ok(message) => match held {
                        Some(reason) => Action::Held(message, reason.clone()),
                        None if verdict == Verdict::Review => Action::Review(message),
                        None => {
                            if let Some(alert) = &item.alert {
                                let sent = SentAlert {
                                    title: message.title.clone(),
                                    url: message.url.clone(),
                                    sent_at: None,
                                    colour: alert.colour.clone(),
                                    urgent,
                                };
                                plan.sent_alerts.push((alert.reference.clone(), sent));
                            }
                            if super::corrections::watched(rules) {
                                plan.sent_items.extend(super::corrections::remember(
                                    &item,
                                    &identity,
                                    &message.id,
                                    now,
                                ));
                            }
                            Action::Send(message)
                        }
                    },
                }
            }
        };
        // Only what is sent tells a story: an item held or waiting for review may never go.
        if let (Action::Send(message), true) = (&action, rules.live) {
            let record = StoryRecord {
                source: src.name.clone(),
                title: item.title.clone(),
                at: now,
                message_id: Some(message.id.clone()),
            };
            plan.stories
                .extend(story_keys(&item).into_iter().map(|k| (k, record.clone())));
        }
        plan.record(item, &identity, action);
    }
    rank_urgent(&mut plan);
    Ok(plan)
}

/// Why an item is too old to send, in a real poll: first seen longer than the source's
/// `max_age` after its publication.
fn stale(rules: &Rules, item: &Item, now: DateTime<Utc>) -> Option<String> {
    let max_age = rules.source.max_age.filter(|_| rules.live)?;
    let published = item.published?;
    let age = now.signed_duration_since(published).to_std().ok()?;
    (age > max_age).then(|| {
        format!(
            "older than max_age ({}): published {}",
            humantime::format_duration(max_age),
            italian_day(published, rules.tz)
        )
    })
}

/// Where an item's link or category says it is an event ("/eventi/…", "Eventi").
const EVENT_WORDS: &[&str] = &[
    "evento",
    "eventi",
    "event",
    "events",
    "manifestazioni",
    "appuntamenti",
];

/// Why an event is not sent, in a real poll: it is over. An item is an event by its link or
/// its category; it is over when the last day its title names (or else its text) has
/// passed, and that day is not before its publication (a report of what happened is news,
/// not an invitation).
fn event_over(rules: &Rules, item: &Item, now: DateTime<Utc>) -> Option<String> {
    if !rules.live || item.alert.is_some() {
        return None;
    }
    let in_path = item
        .url
        .as_ref()
        .and_then(|u| u.path_segments())
        .is_some_and(|mut parts| {
            parts.any(|p| EVENT_WORDS.contains(&crate::text::fold(p).as_str()))
        });
    let tagged = item
        .tags
        .iter()
        .any(|t| EVENT_WORDS.contains(&crate::text::fold(t.trim()).as_str()));
    if !in_path && !tagged {
        return None;
    }
    let today = now.with_timezone(&rules.tz).date_naive();
    let mut days = days_mentioned(&item.title, today);
    if days.is_empty() {
        let text = if item.plain {
            item.summary.clone()
        } else {
            crate::text::html_to_text(&item.summary)
        };
        days = days_mentioned(&text, today);
    }
    let last = days.into_iter().max()?;
    let published = item
        .published
        .map(|p| p.with_timezone(&rules.tz).date_naive());
    (last < today && published.is_none_or(|p| last >= p)).then(|| {
        format!(
            "an event already over: the last day it names, {}, has passed",
            italian_date(last)
        )
    })
}

/// The same story went out from another source lately (same link, or the same specific
/// title): one story, one message.
fn told_elsewhere(
    rules: &Rules,
    item: &Item,
    known: &dyn Known,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    if !rules.live {
        return Ok(None);
    }
    let Some(story) = known.story(&story_keys(item))? else {
        return Ok(None);
    };
    let recent = now.signed_duration_since(story.at) <= STORY_WINDOW;
    Ok((recent && story.source != rules.source.name)
        .then(|| format!("same story as {}: «{}»", story.source, story.title)))
}

/// "Pubblicato venerdì 28 novembre 2026." for an item sent on a later day than its
/// publication (a real poll only), or always when the source's template shows the date.
pub(super) fn dateline(rules: &Rules, item: &Item, now: DateTime<Utc>) -> Option<String> {
    let published = item.published?;
    let day = |t: DateTime<Utc>| t.with_timezone(&rules.tz).date_naive();
    let later = rules.live && day(published) < day(now);
    (later || rules.source.template.show_date)
        .then(|| format!("Pubblicato {}.", italian_day(published, rules.tz)))
}

/// Three or more earthquakes going out from one poll: the strongest tells the sequence, the
/// others are recorded with the reason.
fn collapse_swarm(judged: &mut [Judged], rules: &Rules) {
    let all: Vec<usize> = judged
        .iter()
        .enumerate()
        .filter(|(_, j)| j.goes_out() && j.item.extra.contains_key("magnitude"))
        .map(|(i, _)| i)
        .collect();
    if all.len() < SWARM_MIN {
        return;
    }
    let Some(&strongest) = all.iter().max_by(|&&a, &&b| {
        strength(&judged[a].item.extra).total_cmp(&strength(&judged[b].item.extra))
    }) else {
        return;
    };
    // A sequence is the strongest's neighbours: near it, in space and in time. Earthquakes
    // elsewhere are told on their own.
    let quakes: Vec<usize> = all
        .into_iter()
        .filter(|&i| alerts::same_sequence(&judged[strongest].item, &judged[i].item))
        .collect();
    if quakes.len() < SWARM_MIN {
        return;
    }
    let times: Vec<DateTime<Utc>> = quakes
        .iter()
        .filter_map(|&i| judged[i].item.published)
        .collect();
    let (first, last) = match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) => (*a, *b),
        _ => return,
    };
    let year = chrono::Datelike::year(&first.with_timezone(&rules.tz));
    let when = |t: DateTime<Utc>| {
        if first.with_timezone(&rules.tz).date_naive() == last.with_timezone(&rules.tz).date_naive()
        {
            t.with_timezone(&rules.tz).format("%H:%M").to_string()
        } else {
            italian_when(t, rules.tz, year)
        }
    };
    let magnitude = strength(&judged[strongest].item.extra);
    let count = quakes.len();
    for &i in &quakes {
        if i != strongest {
            judged[i].verdict = Verdict::Drop(format!(
                "part of a seismic sequence of {count}: told in one message about the strongest (M{magnitude:.1})"
            ));
        }
    }
    alerts::tell_swarm(
        &mut judged[strongest].item,
        count,
        &when(first),
        &when(last),
    );
}

/// Why the normal items of this poll are held, if they are: a flood of new items, most of
/// the feed new at once (a CMS migration), or the source already HELD.
fn flood_reason(rules: &Rules, judged: &[Judged]) -> Option<String> {
    let count = judged
        .iter()
        .filter(|j| j.goes_out() && !j.urgent() && !j.story)
        .count();
    if count == 0 {
        return None;
    }
    if rules.held {
        return Some("held: the source is HELD, new items join the batch for an admin".into());
    }
    if count > rules.flood_threshold {
        return Some(format!(
            "held: {count} new items in one poll (flood_threshold = {}); an admin releases or discards the batch",
            rules.flood_threshold
        ));
    }
    let fresh = judged.len();
    if rules.document_len >= 10 && fresh >= 5 && fresh * 5 >= rules.document_len * 4 {
        return Some(format!(
            "held: {fresh} of the feed's {} items are new at once (the site changed its addresses?); an admin releases or discards the batch",
            rules.document_len
        ));
    }
    None
}

/// Urgent messages go out strongest first (the mainshock before its aftershocks, an Extreme
/// alert before a Severe one); everything else keeps the order things happened.
fn rank_urgent(plan: &mut Plan) {
    let rank = |d: &Decision| match &d.action {
        Action::Send(m) if m.priority == Priority::Urgent => (0, -strength(&m.extra)),
        _ => (1, 0.0),
    };
    let urgent = plan.decisions.iter().filter(|d| rank(d).0 == 0).count();
    if urgent > 1 {
        plan.decisions.sort_by(|a, b| {
            rank(a)
                .partial_cmp(&rank(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
}
