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

use crate::config::words::LIST;
use crate::config::{Audience, Priority};
use crate::item::Message;
use crate::text::fold_keyword;

/// What a subscriber chose. Empty: the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Topics chosen ("ISCRIVIMI ALLERTE"); none: the default; [`EVERYTHING`]: everything,
    /// whatever the default (TUTTO ON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Topics stopped explicitly ("STOP EVENTI"): never received, urgent or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<String>,
    /// Zones chosen ("ISCRIVIMI SAN ROCCO"); none: every zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Zones stopped explicitly ("STOP SAN ROCCO"): their news is not received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped_zones: Vec<String>,
    /// Every change after the consent, with the words that made it (the newest
    /// [`KEEP_CHANGES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// In [`Selection::topics`]: everything was asked for (a topic may not be named so).
pub const EVERYTHING: &str = "tutto";

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
        if !self.stopped_zones.is_empty() {
            out.push_str(&format!(
                "; tranne le zone: {}",
                self.stopped_zones.join(", ")
            ));
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
    /// It tells something of no topic (a message of no topic; a digest with such a line).
    pub general: bool,
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
                        .any(|tag| t.tags.iter().any(|w| fold(w) == fold(tag)))
            })
            .map(|t| t.name.clone())
            .collect();
        let topics: Vec<String> = topics;
        let digest = !told.is_empty();
        let general = if digest {
            told.iter().any(|s| {
                !audience
                    .topics
                    .iter()
                    .any(|t| t.sources.iter().any(|w| w == s))
            })
        } else {
            topics.is_empty()
        };
        if digest {
            // A line about a zone does not make the whole digest that zone's news.
            return Reach {
                topics,
                zones: Vec::new(),
                urgent,
                general,
            };
        }
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
            general,
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
        || (selection.zones.is_empty()
            && !reach
                .zones
                .iter()
                .all(|z| selection.stopped_zones.contains(z)))
        || reach.zones.iter().any(|z| selection.zones.contains(z));
    let chosen = chosen(selection, audience);
    let topic = match chosen {
        // Everything, but what was stopped.
        None => reach.general || !reach.topics.iter().all(stopped),
        Some(chosen) => reach
            .topics
            .iter()
            .any(|t| chosen.contains(&t.as_str()) && !stopped(t)),
    };
    zone && topic
}

/// Whether a subscriber receives `topic`'s messages (an urgent topic's: unless stopped).
pub fn receives_topic(
    selection: &Selection,
    topic: &crate::config::Topic,
    audience: &Audience,
) -> bool {
    if selection.stopped.contains(&topic.name) {
        return false;
    }
    topic.urgent
        || chosen(selection, audience).is_none_or(|chosen| chosen.contains(&topic.name.as_str()))
}

/// The topics a subscriber receives: `None` for everything.
fn chosen<'a>(selection: &'a Selection, audience: &'a Audience) -> Option<Vec<&'a str>> {
    if selection.topics.iter().any(|t| t == EVERYTHING) {
        return None;
    }
    let chosen: Vec<&str> = if selection.topics.is_empty() {
        audience
            .topics
            .iter()
            .filter(|t| t.default)
            .map(|t| t.name.as_str())
            .collect()
    } else {
        selection.topics.iter().map(String::as_str).collect()
    };
    (!chosen.is_empty()).then_some(chosen)
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

/// Articles and prepositions between ISCRIVIMI and a topic ("alle allerte").
const FILLERS: &[&str] = &[
    "A", "AD", "AL", "ALLA", "ALLE", "AGLI", "AI", "ALL", "LE", "LA", "GLI", "I", "IL", "L", "PER",
    "DI", "DELLA", "DELLE", "DEGLI", "DEI",
];

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
    // "iscrivimi alle allerte", "ISCRIVIMI A SAN ROCCO": the little words go.
    let rest: Vec<&str> = match rest {
        [first, tail @ ..] if FILLERS.contains(first) && !tail.is_empty() => tail.to_vec(),
        rest => rest.to_vec(),
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

/// What `ask` makes of `current` (`None`: not subscribed); `defaults`, the topics a
/// subscriber who chose nothing gets (none: everything).
pub fn apply(current: Option<&Selection>, ask: &Ask, defaults: &[String]) -> Applied {
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
    let everything = next.topics.iter().any(|t| t == EVERYTHING)
        || (next.topics.is_empty() && defaults.is_empty());
    match ask {
        Ask::Everything => {
            next.stopped.clear();
            next.topics = if defaults.is_empty() {
                Vec::new()
            } else {
                vec![EVERYTHING.to_owned()]
            };
        }
        Ask::Topic(t) => {
            next.stopped.retain(|s| s != t);
            if !everything {
                if next.topics.is_empty() {
                    next.topics = defaults.to_vec();
                }
                if !next.topics.contains(t) {
                    next.topics.push(t.clone());
                }
            }
        }
        Ask::Zone(z) => {
            next.stopped_zones.retain(|s| s != z);
            if !next.zones.contains(z) {
                next.zones.push(z.clone());
            }
        }
        Ask::Stop => return Applied::Left,
        Ask::StopTopic(t) => {
            // Stopped explicitly: not even its urgent messages.
            if !next.stopped.contains(t) {
                next.stopped.push(t.clone());
            }
            if !everything {
                if next.topics.is_empty() {
                    next.topics = defaults.to_vec();
                }
                let had = next.topics.contains(t);
                next.topics.retain(|c| c != t);
                if had && next.topics.is_empty() {
                    return Applied::Left;
                }
            }
        }
        Ask::StopZone(z) => {
            next.zones.retain(|c| c != z);
            if !next.stopped_zones.contains(z) {
                next.stopped_zones.push(z.clone());
            }
        }
        Ask::List => {}
    }
    if next == *current {
        Applied::Same
    } else {
        Applied::Changed(next)
    }
}

/// The names of the topics a subscriber who chose nothing gets.
pub fn defaults(audience: &Audience) -> Vec<String> {
    audience
        .topics
        .iter()
        .filter(|t| t.default)
        .map(|t| t.name.clone())
        .collect()
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
    let chosen: Vec<&crate::config::Topic> = chosen(selection, audience)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| audience.topic(t))
        .filter(|t| !selection.stopped.contains(&t.name))
        .collect();
    // Urgent messages reach everyone: said unless a chosen topic already says it, or they
    // stopped one.
    let urgent = if chosen.iter().any(|t| t.urgent) || !selection.stopped.is_empty() {
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
    let zone_labels = |names: &[String]| -> String {
        names
            .iter()
            .map(|z| {
                audience
                    .zone(z)
                    .map_or_else(|| z.clone(), |z| z.label.clone())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !selection.zones.is_empty() {
        out.push_str(&format!(
            "; delle notizie di una zona, solo quelle di: {}",
            zone_labels(&selection.zones)
        ));
    } else if !selection.stopped_zones.is_empty() {
        out.push_str(&format!(
            "; non le notizie della zona: {}",
            zone_labels(&selection.stopped_zones)
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
        let word = t.keywords.first().unwrap_or(&t.name).to_uppercase();
        out.push_str(&format!(
            "• {}: scrivi ISCRIVIMI {word} (o STOP {word})\n",
            t.label
        ));
    }
    for z in &audience.zones {
        let word = z.words.first().unwrap_or(&z.label).to_uppercase();
        out.push_str(&format!(
            "• solo la zona {}: scrivi ISCRIVIMI {word} (o STOP {word})\n",
            z.label
        ));
    }
    out.push_str(
        "Le allerte urgenti arrivano a tutti gli iscritti, tranne a chi ne ha fermato l'argomento. ",
    );
    out.push_str("Scrivi ISCRIVIMI per ricevere tutto, STOP per non ricevere più nulla.");
    out
}

#[cfg(test)]
mod tests;
