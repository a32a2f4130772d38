//! Digests: several normal messages told as one ("Notizie della notte" after quiet hours,
//! "Altre notizie di oggi" past the daily cap, a batch flood protection held, released as
//! one): a line and the official link each, within WhatsApp's limit. Pure.

use chrono::{DateTime, Utc};

use crate::config::Priority;
use crate::format::MAX_TEXT;
use crate::item::Message;
use crate::text::truncate;

/// The digest of `messages` under `title`; its id names the moment, so it is made once.
pub fn digest(title: &str, messages: &[&Message], now: DateTime<Utc>) -> Message {
    let mut text = format!("*{title}*\n\n");
    let mut told = 0;
    for m in messages {
        let line = format!("• {}\n{}\n\n", truncate(&m.title, 160), m.url);
        // Room for the closing line.
        if text.chars().count() + line.chars().count() > MAX_TEXT - 80 {
            break;
        }
        text.push_str(&line);
        told += 1;
    }
    if told < messages.len() {
        text.push_str(&format!(
            "e altre {} notizie sul sito del comune.",
            messages.len() - told
        ));
    }
    let text = text.trim_end().to_owned();
    let mut extra = serde_json::Map::new();
    extra.insert("digest".into(), true.into());
    extra.insert(
        "digest_of".into(),
        messages
            .iter()
            .map(|m| m.id.clone())
            .collect::<Vec<_>>()
            .into(),
    );
    // What the digest tells belongs to the topics of what it tells (`audience::Reach`).
    let mut sources: Vec<&str> = messages.iter().map(|m| m.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    extra.insert("digest_sources".into(), sources.into());
    let mut tags: Vec<String> = messages.iter().flat_map(|m| m.tags.clone()).collect();
    tags.sort_unstable();
    tags.dedup();
    Message {
        id: format!("digest-{}", now.format("%Y%m%d%H%M%S")),
        source: "banditore".into(),
        kind: "digest".into(),
        title: title.to_owned(),
        url: messages.first().map(|m| m.url.clone()).unwrap_or_default(),
        text,
        image: None,
        priority: Priority::Normal,
        published: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        tags,
        extra,
    }
}

/// Whether a message is a digest (never deferred again, never digested).
pub fn is_digest(message: &Message) -> bool {
    message.extra.get("digest").and_then(|d| d.as_bool()) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: usize) -> Message {
        Message {
            id: format!("m{i}"),
            source: "comune".into(),
            kind: "feed".into(),
            title: format!("Notizia {i}"),
            url: format!("https://comune.example.it/{i}/"),
            text: String::new(),
            image: None,
            priority: Priority::Normal,
            published: None,
            tags: Vec::new(),
            extra: Default::default(),
        }
    }

    #[test]
    fn a_line_and_a_link_each_within_the_limit() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let few: Vec<Message> = (1..=2).map(message).collect();
        let d = digest(
            "Altre notizie di oggi",
            &few.iter().collect::<Vec<_>>(),
            now,
        );
        assert_eq!(
            d.text,
            "*Altre notizie di oggi*\n\n• Notizia 1\nhttps://comune.example.it/1/\n\n• Notizia 2\nhttps://comune.example.it/2/"
        );
        assert!(is_digest(&d));
        let many: Vec<Message> = (1..=200).map(message).collect();
        let d = digest(
            "Altre notizie di oggi",
            &many.iter().collect::<Vec<_>>(),
            now,
        );
        assert!(d.text.chars().count() <= MAX_TEXT);
        assert!(
            d.text.ends_with("notizie sul sito del comune."),
            "{}",
            d.text
        );
    }
}
