//! `[[topic]]` and `[[zone]]`, checked: names used once, keywords that no other topic, zone
//! or the subscription words already say, sources that exist.

use std::collections::HashSet;
use std::ops::Range;

use super::{each_table, Table};
use crate::config::problem::{Lines, Problem};
use crate::config::raw::{RawTopic, RawZone};
use crate::config::topics::{Audience, Topic, Zone};
use crate::config::{SinkConfig, SourceConfig};

/// Whether a word already means something in a citizen's message (subscribing, stopping,
/// confirming, asking the list, a courtesy word that is dropped).
fn reserved(word: &str) -> bool {
    use crate::config::words::{CONFIRM, COURTESY, LIST, SUBSCRIBE, SWITCHES, UNSUBSCRIBE};
    [SUBSCRIBE, UNSUBSCRIBE, COURTESY, CONFIRM, LIST, SWITCHES]
        .iter()
        .any(|list| list.contains(&word))
}
/// Words as citizens' messages are compared, near enough to find a clash: upper case,
/// accents and punctuation aside, one space between words. (`text::fold_keyword` does it
/// exactly, above this layer.)
fn folded(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    word.nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Words already taken by a topic or a zone (across both), to refuse a second.
#[derive(Default)]
pub(super) struct Taken {
    names: HashSet<String>,
    words: HashSet<String>,
}

impl Taken {
    fn name(&mut self, what: &str, name: Option<String>, t: &mut Table) -> Option<String> {
        let name = t.need(
            "name",
            name,
            &format!("name = \"allerte\" (the {what}'s short name)"),
        )?;
        let name = name.trim().to_owned();
        let fine = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !fine {
            t.problem(
                "name",
                format!("{what} name {name:?}: lower-case letters, digits and - only"),
                Some("name = \"san-rocco\""),
            );
            return None;
        }
        if name == "tutto" {
            t.problem(
                "name",
                "\"tutto\" means every topic: choose another name",
                None,
            );
            return None;
        }
        if !self.names.insert(name.clone()) {
            t.problem("name", format!("{what} name {name:?} is used twice"), None);
            return None;
        }
        Some(name)
    }

    /// The words as written, each refused when reserved or taken.
    fn words(&mut self, key: &str, words: Vec<String>, t: &mut Table) -> Vec<String> {
        let mut out = Vec::new();
        for word in words {
            let folded = folded(&word);
            if folded.is_empty() {
                continue;
            }
            if reserved(&folded) {
                t.problem(
                    key,
                    format!("{word:?} is one of the words that subscribe or stop everything"),
                    None,
                );
            } else if !self.words.insert(folded.clone()) {
                t.problem(
                    key,
                    format!("{word:?} already chooses another topic or zone"),
                    Some("each word chooses one topic or one zone"),
                );
            } else {
                out.push(word.trim().to_owned());
            }
        }
        out
    }
}

/// The `[[topic]]` and `[[zone]]` tables, checked, and the sinks' `topics = [...]` against
/// them.
pub(super) fn check(
    (topics, zones): (
        Vec<toml::Spanned<toml::Table>>,
        Vec<toml::Spanned<toml::Table>>,
    ),
    sources: &[(SourceConfig, usize)],
    sinks: &[(SinkConfig, usize)],
    lines: &Lines,
    table_span: &dyn Fn(Range<usize>) -> Range<usize>,
    problems: &mut Vec<Problem>,
) -> Audience {
    let source_names: HashSet<&str> = sources.iter().map(|(s, _)| s.name.as_str()).collect();
    let mut taken = Taken::default();
    let topics = each_table(topics, "topic", lines, table_span, problems, |raw, t| {
        topic(raw, &mut taken, &source_names, t)
    });
    let zones = each_table(zones, "zone", lines, table_span, problems, |raw, t| {
        zone(raw, &mut taken, t)
    });
    // A word, a name or a label that would choose two things: the citizen gets the first.
    let mut said: std::collections::HashMap<String, &str> = Default::default();
    let owned = topics
        .iter()
        .map(|(t, line)| (&t.name, &t.label, &t.keywords, *line))
        .chain(
            zones
                .iter()
                .map(|(z, line)| (&z.name, &z.label, &z.words, *line)),
        );
    for (name, label, words, line) in owned {
        let mut mine: Vec<String> = words.iter().map(|w| folded(w)).collect();
        mine.push(folded(name));
        mine.push(folded(label));
        mine.sort_unstable();
        mine.dedup();
        for word in mine {
            match said.get(word.as_str()) {
                Some(other) if *other != name.as_str() => problems.push(Problem {
                    line: Some(line),
                    message: format!(
                        "{name:?}: {word:?} already chooses {other:?} (as its word, name or label)"
                    ),
                    hint: Some("each word, name and label chooses one topic or zone".into()),
                }),
                _ => {
                    said.insert(word, name.as_str());
                }
            }
        }
    }
    let chosen = Audience {
        topics: topics.into_iter().map(|(t, _)| t).collect(),
        zones: zones.into_iter().map(|(z, _)| z).collect(),
    };
    for (sink, line) in sinks {
        for topic in &sink.filter.topics {
            if chosen.topic(topic).is_none() {
                problems.push(Problem {
                    line: Some(*line),
                    message: format!(
                        "sink {:?}: topics names {topic:?}, which is no [[topic]]",
                        sink.name
                    ),
                    hint: None,
                });
            }
        }
    }
    chosen
}

fn topic(
    raw: RawTopic,
    taken: &mut Taken,
    sources: &HashSet<&str>,
    t: &mut Table,
) -> Option<Topic> {
    let name = taken.name("topic", raw.name, t);
    let label = t.need(
        "label",
        raw.label,
        "label = \"Allerte di protezione civile\" (what citizens read)",
    );
    let keywords = raw.keywords.unwrap_or_default();
    if keywords.is_empty() {
        t.problem(
            "keywords",
            "a topic needs the words citizens write to choose it",
            Some("keywords = [\"ALLERTE\", \"PROTEZIONE CIVILE\"]"),
        );
    }
    let keywords = taken.words("keywords", keywords, t);
    let topic_sources: Vec<String> = raw.sources.unwrap_or_default();
    for source in &topic_sources {
        if !sources.contains(source.as_str()) {
            t.problem(
                "sources",
                format!("sources names {source:?}, which is no [[source]]"),
                None,
            );
        }
    }
    let tags: Vec<String> = raw
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let urgent = raw.urgent.unwrap_or(false);
    if topic_sources.is_empty() && tags.is_empty() && !urgent {
        t.problem(
            "sources",
            "the topic takes no item: give it sources, tags or urgent = true",
            Some("sources = [\"eventi\"]"),
        );
    }
    Some(Topic {
        name: name?,
        label: label?.trim().to_owned(),
        keywords,
        sources: topic_sources,
        tags,
        urgent,
        default: raw.default.unwrap_or(false),
    })
}

fn zone(raw: RawZone, taken: &mut Taken, t: &mut Table) -> Option<Zone> {
    let name = taken.name("zone", raw.name, t);
    let label = t.need("label", raw.label, "label = \"San Rocco\"");
    let words = raw.words.unwrap_or_default();
    if words.is_empty() {
        t.problem(
            "words",
            "a zone needs the words that name it in a text",
            Some("words = [\"San Rocco\", \"frazione San Rocco\"]"),
        );
    }
    let words = taken.words("words", words, t);
    Some(Zone {
        name: name?,
        label: label?.trim().to_owned(),
        words,
    })
}
