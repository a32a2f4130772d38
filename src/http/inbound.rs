//! What providers' webhooks say, read: a WhatsApp Cloud API event's messages and statuses,
//! a gateway's acknowledgement, and the keyword a citizen's message asks for. Pure functions
//! of the body; every field is optional, nothing here can panic on what a sender writes (the
//! `webhook` fuzz target drives them). `webhooks.rs` checks signatures first and does the I/O.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::words::{CONFIRM, COURTESY, SUBSCRIBE, UNSUBSCRIBE};
use crate::store::RecipientState;

/// One message a citizen wrote, from a Cloud API event.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The sender's number as the provider wrote it (not yet checked).
    pub from: String,
    /// The text, or a quick-reply button's.
    pub text: String,
    /// The provider's message id (inbound messages are applied once by id).
    pub id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What a provider says became of a message it accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The provider's message id.
    pub id: String,
    pub state: RecipientState,
    pub at: Option<DateTime<Utc>>,
    /// The provider's error code and words, for a failure.
    pub code: Option<i64>,
    pub words: String,
}

/// A Cloud API event: the messages and statuses of all its entries and changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CloudEvent {
    pub messages: Vec<Inbound>,
    pub statuses: Vec<Status>,
}

/// Reads a Cloud API webhook body. Only a body that is not JSON is an error; what is missing
/// or of another type is left out.
pub fn cloud_event(body: &[u8]) -> Result<CloudEvent, serde_json::Error> {
    let event: Value = serde_json::from_slice(body)?;
    let mut read = CloudEvent::default();
    let seconds = |v: &Value| {
        v.as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0))
    };
    for change in event["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
    {
        let value = &change["value"];
        for msg in value["messages"].as_array().into_iter().flatten() {
            read.messages.push(Inbound {
                from: msg["from"].as_str().unwrap_or_default().to_owned(),
                text: msg["text"]["body"]
                    .as_str()
                    .or(msg["button"]["text"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                id: msg["id"].as_str().map(str::to_owned),
                sent_at: seconds(&msg["timestamp"]),
            });
        }
        for status in value["statuses"].as_array().into_iter().flatten() {
            let state = match status["status"].as_str() {
                Some("sent") => RecipientState::Sent,
                Some("delivered") => RecipientState::Delivered,
                Some("read") => RecipientState::Read,
                Some("failed") => RecipientState::Failed,
                _ => continue,
            };
            let Some(id) = status["id"].as_str() else {
                continue;
            };
            let error = &status["errors"][0];
            read.statuses.push(Status {
                id: id.to_owned(),
                state,
                at: seconds(&status["timestamp"]),
                code: error["code"].as_i64(),
                words: error["error_data"]["details"]
                    .as_str()
                    .or(error["title"].as_str())
                    .unwrap_or("failed")
                    .to_owned(),
            });
        }
    }
    Ok(read)
}

/// A gateway's (WAHA) `message.ack` event; `None` for any other event, or an ack without an
/// id or a known level.
pub fn gateway_ack(body: &[u8]) -> Result<Option<Status>, serde_json::Error> {
    let event: Value = serde_json::from_slice(body)?;
    if event["event"].as_str() != Some("message.ack") {
        return Ok(None);
    }
    let payload = &event["payload"];
    let state = match payload["ack"].as_i64() {
        Some(-1) => RecipientState::Failed,
        Some(1) => RecipientState::Sent,
        Some(2) => RecipientState::Delivered,
        Some(3) | Some(4) => RecipientState::Read,
        _ => return Ok(None),
    };
    let Some(id) = payload["id"].as_str() else {
        return Ok(None);
    };
    Ok(Some(Status {
        id: id.to_owned(),
        state,
        at: event["timestamp"]
            .as_i64()
            .and_then(DateTime::from_timestamp_millis),
        code: None,
        words: String::new(),
    }))
}

/// What a citizen's message asks, if it is a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Subscribe,
    Unsubscribe,
    /// An opt-out word among other words ("stop messaggi"): answered with how to stop.
    AskHowToStop,
}

/// Whether a message confirms something asked of its writer: a confirming word, perhaps with
/// courtesy words, and nothing else.
pub fn confirms(text: &str) -> bool {
    let folded = crate::text::fold_keyword(text);
    let words: Vec<&str> = folded.split_whitespace().collect();
    words.iter().any(|w| CONFIRM.contains(w))
        && words
            .iter()
            .all(|w| CONFIRM.contains(w) || COURTESY.contains(w))
}

/// What a message asks of the configuration's topics and zones ("ISCRIVIMI ALLERTE", "EVENTI
/// OFF", "ARGOMENTI"), read with the same tolerance as [`intent`]; `None` for anything else
/// (a plain ISCRIVIMI or STOP is [`intent`]'s).
pub fn topic_ask(text: &str, audience: &crate::config::Audience) -> Option<crate::audience::Ask> {
    if audience.topics.is_empty() && audience.zones.is_empty() {
        return None;
    }
    let folded = crate::text::fold_keyword(text);
    let words: Vec<&str> = folded
        .split_whitespace()
        .filter(|w| !COURTESY.contains(w))
        .collect();
    crate::audience::ask(&words, audience, SUBSCRIBE, UNSUBSCRIBE)
}

/// Whether a message starts with a subscription word and goes on with words that name no
/// topic or zone ("iscrivimi calcio"): with topics configured, it is answered with the list.
pub fn asks_for_something(text: &str, audience: &crate::config::Audience) -> bool {
    if audience.topics.is_empty() && audience.zones.is_empty() {
        return false;
    }
    let folded = crate::text::fold_keyword(text);
    let words: Vec<&str> = folded
        .split_whitespace()
        .filter(|w| !COURTESY.contains(w))
        .collect();
    matches!(words.as_slice(), [first, _, ..] if SUBSCRIBE.contains(first) || *first == "ISCRIVERMI" || *first == "VORREI")
}

/// Reads a message the way people write keywords: compatibility forms folded (NFKC:
/// fullwidth "ＳＴＯＰ" is STOP), case, accents and punctuation ignored, letters spaced out
/// ("S T O P") joined, repeated ("STOP STOP") or with courtesy words ("stop per favore",
/// "iscrivimi grazie"). Anything else is not a keyword.
pub fn intent(text: &str) -> Option<Intent> {
    let folded = crate::text::fold_keyword(text);
    let words: Vec<&str> = folded.split_whitespace().collect();
    let of = |word: &str| {
        if UNSUBSCRIBE.contains(&word) {
            Some(Intent::Unsubscribe)
        } else if SUBSCRIBE.contains(&word) {
            Some(Intent::Subscribe)
        } else {
            None
        }
    };
    // "S T O P": every word one letter.
    if words.len() > 1 && words.iter().all(|w| w.chars().count() == 1) {
        return of(&words.concat());
    }
    let mut found = None;
    let mut other_words = false;
    for word in &words {
        match (of(word), found) {
            (Some(i), None) => found = Some(i),
            (Some(i), Some(f)) if i == f => {}
            (Some(_), Some(_)) => return None, // "iscrivimi stop": ask again
            (None, _) if COURTESY.contains(word) => {}
            (None, _) => other_words = true,
        }
    }
    match found {
        Some(Intent::Unsubscribe) if other_words => Some(Intent::AskHowToStop),
        _ if other_words => None,
        found => found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_up_is_confirmed_by_a_yes_and_nothing_else() {
        for yes in ["Sì", "si", "SI!", "sì grazie", "Confermo"] {
            assert!(confirms(yes), "{yes}");
        }
        for not in ["", "sì ma domani", "no", "stop", "si stop", "ok"] {
            assert!(!confirms(not), "{not}");
        }
    }

    #[test]
    fn keywords_the_way_people_write_them() {
        for text in [
            "STOP",
            "stop.",
            "Stop per favore",
            "stop grazie",
            "STOP STOP",
            "S T O P",
            "ＳＴＯＰ",
            "cancellami",
            "Disiscrivimi!",
            "basta, grazie mille",
            "  Stop 🙏 ",
            "ST\u{200B}OP",
            "ST\u{00AD}OP",
            "S\u{200D}TOP",
            "cancellatemi",
            "Disiscrivetemi per favore",
        ] {
            assert_eq!(intent(text), Some(Intent::Unsubscribe), "{text}");
        }
        for text in [
            "stop messaggi",
            "Stop, non voglio più messaggi",
            "basta messaggi!",
            "non fermatevi, stop alle buche",
        ] {
            assert_eq!(intent(text), Some(Intent::AskHowToStop), "{text}");
        }
        for text in [
            "  Iscrivimi! ",
            "ISCRIVIMI per favore",
            "iscrizione",
            "Ìscrivimi",
        ] {
            assert_eq!(intent(text), Some(Intent::Subscribe), "{text}");
        }
        for text in [
            "",
            "quando passa il camion dei rifiuti?",
            "iscrivimi stop",
            "S T",
        ] {
            assert_eq!(intent(text), None, "{text}");
        }
    }
}

#[cfg(test)]
mod reading {
    use super::*;

    #[test]
    fn events_of_any_shape_read_without_failing() {
        for body in [
            r#"{}"#,
            r#"[]"#,
            r#"{"entry": 3}"#,
            r#"{"entry": [{"changes": [{"value": {"messages": [{"from": 7, "timestamp": "99999999999999999999"}]}}]}]}"#,
            r#"{"entry": [{"changes": [{"value": {"statuses": [{"status": "failed", "errors": "x"}]}}]}]}"#,
        ] {
            assert!(cloud_event(body.as_bytes()).is_ok(), "{body}");
        }
        assert!(cloud_event(b"not json").is_err());
        let event = cloud_event(
            br#"{"entry": [{"changes": [{"value": {
                "messages": [{"from": "393331234567", "id": "wamid.A", "timestamp": "1764000000", "text": {"body": "STOP"}}],
                "statuses": [{"id": "wamid.B", "status": "failed", "timestamp": "1764000001",
                              "errors": [{"code": 131049, "title": "not delivered"}]}]}}]}]}"#,
        )
        .unwrap();
        assert_eq!(event.messages[0].text, "STOP");
        assert_eq!(event.messages[0].id.as_deref(), Some("wamid.A"));
        assert_eq!(event.statuses[0].code, Some(131049));
        assert_eq!(event.statuses[0].words, "not delivered");
    }

    #[test]
    fn only_acks_with_an_id_and_a_level_count() {
        let ack = |body: &str| gateway_ack(body.as_bytes()).unwrap();
        assert_eq!(ack(r#"{"event": "message.any"}"#), None);
        assert_eq!(
            ack(r#"{"event": "message.ack", "payload": {"ack": 9, "id": "x"}}"#),
            None
        );
        assert_eq!(
            ack(r#"{"event": "message.ack", "payload": {"ack": 2}}"#),
            None
        );
        let read = ack(
            r#"{"event": "message.ack", "timestamp": -1e300, "payload": {"ack": 3, "id": "x"}}"#,
        );
        assert_eq!(
            read.map(|s| (s.id, s.state, s.at)),
            Some(("x".into(), RecipientState::Read, None))
        );
    }
}
