//! Who receives what, when citizens choose topics and zones (`[[topic]]`, `[[zone]]`): the
//! topics and zones a message belongs to ([`Reach`]), a subscriber's choice ([`Selection`]),
//! what a keyword asks ([`Ask`]) and what it makes of a choice ([`apply`]), and the replies
//! citizens read. Pure.
//!
//! The rules: a subscriber who chose nothing gets the topics the comune marks `default` (none
//! marked: everything); one who chose topics gets theirs; an urgent message goes to every
//! subscriber unless they stopped one of its topics explicitly ("STOP ALLERTE"); a normal
//! message that names a zone goes to the subscribers of that zone and to those who chose no
//! zone; one that names none goes to everyone, as without zones.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Audience, Priority};
use crate::item::Message;
use crate::text::fold_keyword;

/// What a subscriber chose. Empty: the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Topics chosen ("ISCRIVIMI ALLERTE"); none: the default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Topics stopped explicitly ("STOP EVENTI"): never received, urgent or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<String>,
    /// Zones chosen ("ISCRIVIMI SAN ROCCO"); none: every zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Every change after the consent, with the words that made it (the newest
    /// [`KEEP_CHANGES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// Changes kept per subscriber.
pub const KEEP_CHANGES: usize = 50;

/// One change of a subscriber's choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub at: DateTime<Utc>,
    /// What the citizen wrote.
    pub wrote: String,
    /// The choice after it, as [`Selection::describe`] says it.
    pub now: String,
}

impl Selection {
    /// "allerte, eventi; zone: san-rocco", or "tutto".
    pub fn describe(&self) -> String {
        let mut out = if self.topics.is_empty() {
            "tutto".to_owned()
        } else {
            self.topics.join(", ")
        };
        if !self.stopped.is_empty() {
            out.push_str(&format!(" tranne {}", self.stopped.join(", ")));
        }
        if !self.zones.is_empty() {
            out.push_str(&format!("; zone: {}", self.zones.join(", ")));
        }
        out
    }
}

/// The topics and zones a message belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    pub topics: Vec<String>,
    pub zones: Vec<String>,
    pub urgent: bool,
}

impl Reach {
    pub fn of(message: &Message, audience: &Audience) -> Reach {
        let urgent = message.priority == Priority::Urgent;
        // A digest's sources are those of the messages it tells.
        let told: Vec<&str> = message
            .extra
            .get("digest_sources")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        let topics = audience
            .topics
            .iter()
            .filter(|t| {
                t.sources.contains(&message.source)
                    || told.iter().any(|s| t.sources.iter().any(|w| w == s))
                    || (t.urgent && urgent)
                    || message
                        .tags
                        .iter()
                        .any(|tag| t.tags.iter().any(|w| w.eq_ignore_ascii_case(tag)))
            })
            .map(|t| t.name.clone())
            .collect();
        // Whole words: " SAN ROCCO " in " … VIA DI SAN ROCCO … ", never "SANROCCO".
        let words = fold_keyword(&format!("{}\n{}", message.title, message.text));
        let text = format!(
            " {} ",
            words.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        let zones = audience
            .zones
            .iter()
            .filter(|z| {
                z.words
                    .iter()
                    .any(|w| text.contains(&format!(" {} ", fold(w))))
            })
            .map(|z| z.name.clone())
            .collect();
        Reach {
            topics,
            zones,
            urgent,
        }
    }
}

/// Whether a subscriber with `selection` receives a message that reaches `reach`.
pub fn receives(selection: &Selection, reach: &Reach, audience: &Audience) -> bool {
    let stopped = |t: &String| selection.stopped.contains(t);
    if reach.urgent {
        return !reach.topics.iter().any(stopped);
    }
    let zone = reach.zones.is_empty()
        || selection.zones.is_empty()
        || reach.zones.iter().any(|z| selection.zones.contains(z));
    let chosen: Vec<&String> = if selection.topics.is_empty() {
        audience
            .topics
            .iter()
            .filter(|t| t.default)
            .map(|t| &t.name)
            .collect()
    } else {
        selection.topics.iter().collect()
    };
    let topic = if chosen.is_empty() {
        // Everything, but what was stopped.
        reach.topics.is_empty() || !reach.topics.iter().all(stopped)
    } else {
        reach
            .topics
            .iter()
            .any(|t| chosen.contains(&t) && !stopped(t))
    };
    zone && topic
}

/// What a citizen's keyword asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ask {
    /// ISCRIVIMI, TUTTO ON: everything.
    Everything,
    Topic(String),
    Zone(String),
    /// STOP: nothing any more.
    Stop,
    StopTopic(String),
    StopZone(String),
    /// ARGOMENTI: the topics and how to choose (a reply; nothing changes).
    List,
}

/// Words that ask for the list of topics.
const LIST: &[&str] = &["ARGOMENTI", "TEMI", "MENU", "OPZIONI"];

/// What `words` (a message folded by [`fold_keyword`], courtesy words removed) ask of the
/// topics and zones: `subscribe` / `stop` are the configuration's general words.
pub fn ask(words: &[&str], audience: &Audience, subscribe: &[&str], stop: &[&str]) -> Option<Ask> {
    if let [one] = words {
        if LIST.contains(one) && !(audience.topics.is_empty() && audience.zones.is_empty()) {
            return Some(Ask::List);
        }
    }
    let (joining, rest) = match words {
        [first, rest @ ..] if subscribe.contains(first) => (true, rest),
        [first, rest @ ..] if stop.contains(first) => (false, rest),
        [rest @ .., "ON"] => (true, rest),
        [rest @ .., "OFF"] => (false, rest),
        _ => return None,
    };
    let phrase = rest.join(" ");
    if phrase.is_empty() {
        return None;
    }
    if phrase == "TUTTO" {
        return Some(if joining { Ask::Everything } else { Ask::Stop });
    }
    let same = |written: &str| fold(written) == phrase;
    let named = |words: &[String], name: &str, label: &str| {
        words.iter().any(|w| same(w)) || same(name) || same(label)
    };
    if let Some(t) = audience
        .topics
        .iter()
        .find(|t| named(&t.keywords, &t.name.replace('-', " "), &t.label))
    {
        let name = t.name.clone();
        return Some(if joining {
            Ask::Topic(name)
        } else {
            Ask::StopTopic(name)
        });
    }
    let z = audience
        .zones
        .iter()
        .find(|z| named(&z.words, &z.name.replace('-', " "), &z.label))?;
    let name = z.name.clone();
    Some(if joining {
        Ask::Zone(name)
    } else {
        Ask::StopZone(name)
    })
}

/// What a keyword made of a subscriber's choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Not subscribed before: now with this choice.
    Joined(Selection),
    Changed(Selection),
    /// Nothing to change.
    Same,
    /// Nothing left to receive: unsubscribed.
    Left,
}

/// What `ask` makes of `current` (`None`: not subscribed).
pub fn apply(current: Option<&Selection>, ask: &Ask) -> Applied {
    let Some(current) = current else {
        return match ask {
            Ask::Everything => Applied::Joined(Selection::default()),
            Ask::Topic(t) => Applied::Joined(Selection {
                topics: vec![t.clone()],
                ..Selection::default()
            }),
            Ask::Zone(z) => Applied::Joined(Selection {
                zones: vec![z.clone()],
                ..Selection::default()
            }),
            Ask::Stop | Ask::StopTopic(_) | Ask::StopZone(_) | Ask::List => Applied::Same,
        };
    };
    let mut next = current.clone();
    match ask {
        Ask::Everything => {
            next.topics.clear();
            next.stopped.clear();
        }
        Ask::Topic(t) => {
            next.stopped.retain(|s| s != t);
            if !next.topics.is_empty() && !next.topics.contains(t) {
                next.topics.push(t.clone());
            }
        }
        Ask::Zone(z) => {
            if !next.zones.contains(z) {
                next.zones.push(z.clone());
            }
        }
        Ask::Stop => return Applied::Left,
        Ask::StopTopic(t) => {
            if next.topics.is_empty() {
                if !next.stopped.contains(t) {
                    next.stopped.push(t.clone());
                }
            } else {
                next.topics.retain(|c| c != t);
                if next.topics.is_empty() {
                    return Applied::Left;
                }
            }
        }
        Ask::StopZone(z) => next.zones.retain(|c| c != z),
        Ask::List => {}
    }
    if next == *current {
        Applied::Same
    } else {
        Applied::Changed(next)
    }
}

/// Words as citizens' keywords are compared: [`fold_keyword`], one space between words.
fn fold(words: &str) -> String {
    fold_keyword(words)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a subscriber with `selection` receives, in words ("le notizie su: Allerte di
/// protezione civile; solo per la zona San Rocco").
pub fn what_you_receive(selection: &Selection, audience: &Audience) -> String {
    let label = |name: &String| {
        audience
            .topic(name)
            .map_or_else(|| name.clone(), |t| t.label.clone())
    };
    let chosen: Vec<&crate::config::Topic> = if selection.topics.is_empty() {
        audience.topics.iter().filter(|t| t.default).collect()
    } else {
        selection
            .topics
            .iter()
            .filter_map(|t| audience.topic(t))
            .collect()
    };
    // Urgent messages reach everyone: said unless a chosen topic already says it.
    let urgent = if chosen.iter().any(|t| t.urgent) {
        ""
    } else {
        " (e le allerte urgenti)"
    };
    let mut out = if !chosen.is_empty() {
        let labels: Vec<&str> = chosen.iter().map(|t| t.label.as_str()).collect();
        format!("le comunicazioni su: {}{urgent}", labels.join(", "))
    } else {
        "tutte le comunicazioni ufficiali".to_owned()
    };
    if !selection.stopped.is_empty() {
        out.push_str(&format!(
            ", tranne: {}",
            selection
                .stopped
                .iter()
                .map(label)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !selection.zones.is_empty() {
        let zones: Vec<String> = selection
            .zones
            .iter()
            .map(|z| {
                audience
                    .zone(z)
                    .map_or_else(|| z.clone(), |z| z.label.clone())
            })
            .collect();
        out.push_str(&format!(
            "; delle notizie di una zona, solo quelle di: {}",
            zones.join(", ")
        ));
    }
    out
}

/// The reply to a new subscriber: who writes, what they will receive, how to change it and
/// to stop, the age they declare, the privacy notice. Kept word for word with their consent.
pub fn welcome(
    comune: &str,
    selection: &Selection,
    audience: &Audience,
    min_age: Option<u8>,
    privacy: Option<&str>,
) -> String {
    let mut out = format!(
        "Iscrizione confermata al canale ufficiale di {comune}: riceverai qui {}.",
        what_you_receive(selection, audience)
    );
    if !audience.topics.is_empty() || !audience.zones.is_empty() {
        out.push_str(" Scrivi ARGOMENTI per scegliere cosa ricevere.");
    }
    out.push_str(" Per non ricevere più nulla scrivi STOP.");
    if let Some(age) = min_age {
        out.push_str(&format!(
            " Iscrivendoti dichiari di avere almeno {age} anni: se non è così, scrivi STOP."
        ));
    }
    if let Some(url) = privacy {
        out.push_str(&format!(" Come trattiamo il tuo numero: {url}"));
    }
    out
}

/// The reply to a change of topics or zones.
pub fn changed(selection: &Selection, audience: &Audience) -> String {
    format!(
        "Fatto: ora ricevi {}. Scrivi ARGOMENTI per cambiare, STOP per non ricevere più nulla.",
        what_you_receive(selection, audience)
    )
}

/// The reply to ARGOMENTI: each topic and zone with the words that choose it.
pub fn list(audience: &Audience) -> String {
    let mut out = String::from("Puoi scegliere cosa ricevere:\n");
    for t in &audience.topics {
        let word = fold(t.keywords.first().unwrap_or(&t.name));
        out.push_str(&format!(
            "• {}: scrivi ISCRIVIMI {word} (o STOP {word})\n",
            t.label
        ));
    }
    for z in &audience.zones {
        let word = fold(z.words.first().unwrap_or(&z.label));
        out.push_str(&format!(
            "• solo la zona {}: scrivi ISCRIVIMI {word}\n",
            z.label
        ));
    }
    out.push_str("Scrivi ISCRIVIMI per ricevere tutto, STOP per non ricevere più nulla.");
    out
}

#[cfg(test)]
mod tests;
