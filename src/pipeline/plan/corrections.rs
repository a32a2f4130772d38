//! Corrections: a feed item already sent changes at its source. A material change (the
//! title, a date, a time, a number, a place's words, "rinviato", "annullato", "sospeso")
//! makes a short correction linking the same page, sent at once or held for review as the
//! source's `corrections` says; a typo-level change makes nothing. Pure: the versions come
//! in, decisions and the records to remember go out.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Action, Decision, Plan, Rules};
use crate::config::{Corrections, SourceKind};
use crate::format::format;
use crate::ident::{normalise_title, Identity, Key};
use crate::item::Item;
use crate::store::{QueueItem, SentItem};
use crate::text::{html_to_text, strip_boilerplate, truncate};

/// A known item whose version differs from the last one seen, with what was sent.
#[derive(Debug, Clone)]
pub struct Changed {
    pub item: Item,
    pub identity: Identity,
    pub sent: SentItem,
}

/// An item's version: its fingerprint, title and plain text.
pub struct Version {
    pub fingerprint: String,
    pub title: String,
    pub text: String,
}

impl Version {
    pub fn of(item: &Item) -> Version {
        let text = if item.plain {
            item.summary.clone()
        } else {
            strip_boilerplate(&html_to_text(&item.summary))
        };
        let text = truncate(&text, 1000);
        let digest = Sha256::digest(format!(
            "{}\u{0}{}",
            normalise_title(&item.title),
            normalise_title(&text)
        ));
        Version {
            fingerprint: hex::encode(&digest[..8]),
            title: item.title.trim().to_owned(),
            text,
        }
    }
}

/// The stored form of a key.
pub fn key_hex(key: &Key) -> String {
    let mut bytes = Vec::with_capacity(17);
    bytes.push(key.kind);
    bytes.extend_from_slice(&key.hash);
    hex::encode(bytes)
}

/// Whether the source's sent items are watched for corrections.
pub fn watched(rules: &Rules) -> bool {
    rules.live
        && rules.source.kind() == SourceKind::Feed
        && rules.source.corrections != Corrections::Off
}

/// The record of an item being sent now.
pub fn remember(
    item: &Item,
    identity: &Identity,
    message_id: &str,
    now: DateTime<Utc>,
) -> Option<SentItem> {
    let key = identity.keys.first()?;
    let version = Version::of(item);
    Some(SentItem {
        key: key_hex(key),
        sent: version.fingerprint.clone(),
        seen: version.fingerprint,
        title: version.title,
        text: version.text,
        message_id: message_id.to_owned(),
        at: now,
    })
}

/// Words that change what citizens should do.
const TURNS: [&str; 9] = [
    "rinviat",
    "annullat",
    "sospes",
    "posticipat",
    "anticipat",
    "revocat",
    "cancellat",
    "spostat",
    "rimandat",
];

fn words(text: &str) -> BTreeSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What changed materially between the version sent and this one, in words; `None` for a
/// typo-level change.
pub fn material_change(
    old_title: &str,
    old_text: &str,
    new_title: &str,
    new_text: &str,
) -> Option<String> {
    let old = words(&format!("{old_title} {old_text}"));
    let new = words(&format!("{new_title} {new_text}"));
    let facts = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter()
            .filter(|w| {
                w.chars().any(|c| c.is_ascii_digit()) || crate::dates::DAYS_IT.contains(&w.as_str())
            })
            .cloned()
            .collect()
    };
    let turned = new
        .iter()
        .any(|w| TURNS.iter().any(|t| w.starts_with(t)) && !old.contains(w));
    let (old_t, new_t) = (words(old_title), words(new_title));
    let shared = old_t.intersection(&new_t).count() as f64;
    let union = old_t.union(&new_t).count().max(1) as f64;
    let retitled = shared / union < 0.6;
    if !(turned || retitled || facts(&old) != facts(&new)) {
        return None;
    }
    let sentences = |t: &str| -> Vec<String> {
        t.split_inclusive(['.', '!', '?'])
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let (before, after) = (sentences(old_text), sentences(new_text));
    let gone = before.iter().find(|s| !after.contains(s));
    let came = after.iter().find(|s| !before.contains(s));
    let mut out = Vec::new();
    if retitled {
        out.push(format!("Titolo, prima: «{}».", truncate(old_title, 160)));
    }
    match (gone, came) {
        (Some(g), Some(c)) => {
            let (before, after) = changed_words(g, c);
            out.push(format!(
                "Prima era scritto «{}», ora «{}».",
                truncate(&before, 240),
                truncate(&after, 240)
            ))
        }
        (None, Some(c)) => out.push(format!("Aggiunto: «{}»", truncate(c, 240))),
        _ => {}
    }
    Some(out.join("\n\n"))
}

/// The words that differ between two versions of a sentence, with the next word for
/// context ("martedì 2 dicembre" → "mercoledì 3 dicembre"); whole sentences when most of
/// it changed.
fn changed_words(old: &str, new: &str) -> (String, String) {
    let (a, b): (Vec<&str>, Vec<&str>) = (
        old.split_whitespace().collect(),
        new.split_whitespace().collect(),
    );
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_end, b_end) = (a.len() - suffix, b.len() - suffix);
    // One word of what follows, for context.
    let context = usize::from(suffix > 0);
    let (a_mid, b_mid) = (&a[prefix..a_end + context], &b[prefix..b_end + context]);
    if a_mid.len().max(b_mid.len()) > 12 {
        return (old.to_owned(), new.to_owned());
    }
    let trim = |w: &[&str]| {
        w.join(" ")
            .trim_end_matches([',', '.', ';', ':'])
            .to_owned()
    };
    (trim(a_mid), trim(b_mid))
}

/// Adds to `plan` a decision for each changed item, and the records to remember.
pub fn correct(plan: &mut Plan, rules: &Rules, changed: Vec<Changed>, now: DateTime<Utc>) {
    if !watched(rules) {
        return;
    }
    for Changed {
        item,
        identity,
        mut sent,
    } in changed
    {
        let version = Version::of(&item);
        sent.seen = version.fingerprint.clone();
        let Some(change) = material_change(&sent.title, &sent.text, &version.title, &version.text)
        else {
            // A typo-level change: remembered as seen, nothing sent.
            plan.sent_items.push(sent);
            continue;
        };
        let correction = Item {
            title: format!("Rettifica: {}", version.title),
            summary: format!("La notizia è stata corretta.\n\n{change}"),
            plain: true,
            image: None,
            ..item.clone()
        };
        let review = rules.source.corrections == Corrections::Review;
        let mut opts = super::format_options(rules.source);
        opts.max_chars = opts.max_chars.max(700);
        // "Rettifica" comes first: no category prefix in front of it.
        opts.template.prefix = None;
        opts.template.tag_prefixes.clear();
        let action = match format(&correction, &identity, &opts) {
            Ok(mut message) => {
                message.id = format!("{}-r{}", sent.message_id, &version.fingerprint[..8]);
                message
                    .extra
                    .insert("correction_of".into(), sent.message_id.clone().into());
                // The item as it reads now: a channel that can edit what it posted (Telegram)
                // puts it in place of the first message.
                if let Ok(now) = format(&item, &identity, &super::format_options(rules.source)) {
                    message
                        .extra
                        .insert("corrected_text".into(), now.text.into());
                }
                Action::Correct {
                    message,
                    review,
                    change: change.lines().next().unwrap_or_default().to_owned(),
                }
            }
            Err(e) => Action::Unusable(e),
        };
        // What was sent is now the corrected version.
        sent.sent = version.fingerprint;
        sent.title = version.title;
        sent.text = version.text;
        sent.at = now.max(sent.at);
        plan.sent_items.push(sent);
        plan.decisions.push(Decision {
            url: item.url.as_ref().map(|u| u.to_string()),
            title: item.title,
            action,
        });
    }
}

/// Items waiting for review that the source changed (a feed's item: its new message; an
/// editor's edit is kept by the store) or no longer lists (their ids), given what the
/// source lists now.
pub fn refresh_queue(
    rules: &Rules,
    listed: &[Item],
    queued: &[QueueItem],
    now: DateTime<Utc>,
) -> (Vec<crate::item::Message>, Vec<String>) {
    let src = rules.source;
    let mine: Vec<&QueueItem> = queued
        .iter()
        .filter(|q| q.message.source == src.name && q.rejected_at.is_none())
        .filter(|q| !q.message.extra.contains_key("correction_of"))
        .collect();
    if mine.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let present: std::collections::HashMap<String, &Item> = listed
        .iter()
        .map(|item| (Identity::of(item).message_id(&src.name), item))
        .collect();
    let (mut refresh, mut removed) = (Vec::new(), Vec::new());
    for q in mine {
        match present.get(&q.message.id) {
            Some(item) if src.kind() == SourceKind::Feed => {
                let mut opts = super::format_options(src);
                opts.note = super::decide::dateline(rules, item, now);
                let mut item = (*item).clone();
                item.priority = Some(q.message.priority);
                if let Ok(message) = format(&item, &Identity::of(&item), &opts) {
                    refresh.push(message);
                }
            }
            // Listed again: the store clears the flag.
            Some(_) if q.removed_at.is_some() => refresh.push(q.message.clone()),
            Some(_) => {}
            None => removed.push(q.message.id.clone()),
        }
    }
    (refresh, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_changes_and_typos() {
        let t = "Mercato di Natale in piazza";
        let cases = [
            (
                "a typo",
                t,
                "Il mercato si tiene giovedì 3 dicembre dalle 9.",
                t,
                "Il mercato si tiene giovedì 3 dicembre dalle 9 .",
                false,
            ),
            (
                "a spelling fix",
                t,
                "Il mercato si tiene giovedì 3 dicembre in piaza Roma.",
                t,
                "Il mercato si tiene giovedì 3 dicembre in piazza Roma.",
                false,
            ),
            (
                "the day",
                t,
                "Il mercato si tiene giovedì 3 dicembre.",
                t,
                "Il mercato si tiene venerdì 4 dicembre.",
                true,
            ),
            (
                "the time",
                t,
                "Dalle 9 alle 13.",
                t,
                "Dalle 10 alle 13.",
                true,
            ),
            (
                "postponed",
                t,
                "Il mercato si tiene domenica.",
                t,
                "Il mercato è rinviato a data da destinarsi.",
                true,
            ),
            (
                "a new title",
                t,
                "Testo.",
                "Annullato il mercato di Natale",
                "Testo.",
                true,
            ),
        ];
        for (what, ot, ox, nt, nx, material) in cases {
            assert_eq!(
                material_change(ot, ox, nt, nx).is_some(),
                material,
                "{what}"
            );
        }
        let change = material_change(
            t,
            "Il mercato si tiene giovedì 3 dicembre. Ingresso libero.",
            t,
            "Il mercato si tiene venerdì 4 dicembre. Ingresso libero.",
        )
        .unwrap();
        assert_eq!(
            change,
            "Prima era scritto «giovedì 3 dicembre», ora «venerdì 4 dicembre»."
        );
    }
}
