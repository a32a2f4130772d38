//! The public endpoint for provider webhooks (`settings.webhook_listen`), separate from the
//! admin UI:
//!
//! - `GET  /webhooks/whatsapp/{sink}`: Meta's verification handshake (`hub.challenge`).
//! - `POST /webhooks/whatsapp/{sink}`: signed events (`X-Hub-Signature-256`, HMAC-SHA256 of
//!   the raw body with the app secret, compared in constant time). Inbound messages carry the
//!   subscription keywords; statuses update per-recipient delivery records.
//! - `POST /webhooks/gateway/{sink}`: WAHA events; `message.ack` updates the delivery record.
//!   Signed with `X-Webhook-Hmac` (HMAC-SHA512, the key named by `hmac_key_env`); an event
//!   without a valid signature is refused.
//!
//! Nothing from a webhook is trusted before its signature is checked, and nothing it holds
//! can make the handler panic: every field is optional.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::daemon::{App, AppCell};
use crate::ident::fold_accent;
use crate::phone::Phone;
use crate::sink::secret::{constant_time_eq, verify_hmac_hex};
use crate::sink::{CloudSink, Sink};
use crate::store::{
    Choice, FailureOutcome, KeywordOutcome, RecipientState, SinkFailure, Subscriber,
};

/// Words that subscribe, and words that unsubscribe (compared without case or accents).
pub const SUBSCRIBE: &[&str] = &[
    "ISCRIVIMI",
    "ISCRIZIONE",
    "ISCRIVI",
    "START",
    "ATTIVA",
    "INIZIA",
];
pub const UNSUBSCRIBE: &[&str] = &[
    "STOP",
    "CANCELLAMI",
    "CANCELLATEMI",
    "DISISCRIVIMI",
    "DISISCRIVETEMI",
    "RIMUOVIMI",
    "RIMUOVETEMI",
    "BASTA",
    "ANNULLA",
    "UNSUBSCRIBE",
    "DISATTIVA",
];

pub const REPLY_SUBSCRIBED: &str = "Iscrizione confermata: riceverai qui le comunicazioni ufficiali del Comune. Per non riceverle più scrivi STOP.";
pub const REPLY_ALREADY: &str = "Sei già iscritto. Per non ricevere più messaggi scrivi STOP.";
/// The reply to a message that speaks of stopping without being STOP ("stop messaggi"):
/// nothing changes, and the citizen learns how.
pub const REPLY_HOW_TO_STOP: &str =
    "Per non ricevere più messaggi da questo canale scrivi solo STOP.";
pub const REPLY_UNSUBSCRIBED: &str =
    "Fatto: non riceverai più messaggi da questo canale. Per iscriverti di nuovo scrivi ISCRIVIMI.";

pub fn router(app: AppCell) -> Router {
    Router::new()
        .route(
            "/webhooks/whatsapp/{sink}",
            get(verify).post(whatsapp_event),
        )
        .route(
            "/webhooks/gateway/{sink}",
            axum::routing::post(gateway_event),
        )
        .route("/healthz", get(super::probes::healthz))
        .route(
            "/readyz",
            get(|State(cell): State<AppCell>| super::probes::readyz(cell)),
        )
        .with_state(app)
}

fn cloud<'a>(app: &'a App, name: &str) -> Option<&'a CloudSink> {
    app.sinks().iter().find_map(|s| match s {
        Sink::Cloud(c) if c.name() == name => Some(c),
        _ => None,
    })
}

async fn verify(
    State(cell): State<AppCell>,
    Path(sink): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let app = cell.get();
    let Some(cloud) = cloud(&app, &sink) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mode_ok = q.get("hub.mode").is_some_and(|m| m == "subscribe");
    let token_ok = q
        .get("hub.verify_token")
        .is_some_and(|t| constant_time_eq(t.as_bytes(), cloud.verify_token.expose().as_bytes()));
    match (mode_ok && token_ok, q.get("hub.challenge")) {
        (true, Some(challenge)) => (StatusCode::OK, challenge.clone()).into_response(),
        _ => StatusCode::FORBIDDEN.into_response(),
    }
}

async fn whatsapp_event(
    State(cell): State<AppCell>,
    Path(sink): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let app = cell.get();
    let Some(cloud) = cloud(&app, &sink) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="));
    let valid = signature.is_some_and(|sig| {
        verify_hmac_hex(cloud.app_secret.expose().as_bytes(), &body, sig, false)
    });
    if !valid {
        tracing::warn!(sink, "webhook with a missing or invalid signature refused");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let now = app.now();
    for change in event["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
    {
        let value = &change["value"];
        for msg in value["messages"].as_array().into_iter().flatten() {
            let from = msg["from"].as_str().unwrap_or_default();
            let text = msg["text"]["body"]
                .as_str()
                .or(msg["button"]["text"].as_str())
                .unwrap_or_default();
            let id = msg["id"].as_str().map(str::to_owned);
            let sent_at = msg["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .unwrap_or(now);
            if let Err(e) = inbound(&app, cloud, from, text, id, sent_at, now).await {
                tracing::error!(sink, error = %e, "cannot record an inbound message");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
        for status in value["statuses"].as_array().into_iter().flatten() {
            let state = match status["status"].as_str() {
                Some("sent") => RecipientState::Sent,
                Some("delivered") => RecipientState::Delivered,
                Some("read") => RecipientState::Read,
                Some("failed") => RecipientState::Failed,
                _ => continue,
            };
            let at = status["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .unwrap_or(now);
            let code = status["errors"][0]["code"].as_i64();
            let words = status["errors"][0]["error_data"]["details"]
                .as_str()
                .or(status["errors"][0]["title"].as_str())
                .unwrap_or("failed");
            let detail = code.map(|code| format!("code {code}: {words}"));
            if let Some(id) = status["id"].as_str() {
                match app.store().apply_status(id, state, at, detail) {
                    Ok(true) if state == RecipientState::Failed => {
                        // A failure reported later (131049, 131026…) is the sink's last error.
                        let failure = SinkFailure {
                            at,
                            outcome: FailureOutcome::Failed,
                            message_id: None,
                            http_status: None,
                            code,
                            detail: words.to_owned(),
                        };
                        let noted = app.store().update_sink_health(&sink, |h| {
                            h.last_error = Some(failure.clone());
                        });
                        if let Err(e) = noted {
                            tracing::error!(sink, error = %e, "cannot record a failure");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(sink, error = %e, "cannot record a status");
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                }
            }
        }
    }
    StatusCode::OK.into_response()
}

/// Words a keyword may come with ("stop per favore", "iscrivimi grazie").
const COURTESY: &[&str] = &[
    "PER",
    "FAVORE",
    "PERFAVORE",
    "GRAZIE",
    "MILLE",
    "PREGO",
    "PLEASE",
    "THANKS",
    "THANK",
    "YOU",
    "CIAO",
    "SALVE",
    "BUONGIORNO",
    "BUONASERA",
];

/// What a citizen's message asks, if it is a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    Subscribe,
    Unsubscribe,
    /// An opt-out word among other words ("stop messaggi"): answered with how to stop.
    AskHowToStop,
}

/// Characters that show nothing (zero-width spaces and joiners, the soft hyphen, direction
/// marks, the byte order mark): removed, so that "ST\u{200B}OP" is STOP.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
    )
}

/// Reads a message the way people write keywords: compatibility forms folded (NFKC:
/// fullwidth "ＳＴＯＰ" is STOP), case, accents and punctuation ignored, letters spaced out
/// ("S T O P") joined, repeated ("STOP STOP") or with courtesy words ("stop per favore",
/// "iscrivimi grazie"). Anything else is not a keyword.
fn intent(text: &str) -> Option<Intent> {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = text
        .nfkc()
        .filter(|c| !invisible(*c))
        .flat_map(char::to_lowercase)
        .map(fold_accent)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .to_uppercase();
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

/// Handles a message a citizen wrote: subscription keywords, or just the 24-hour window.
async fn inbound(
    app: &App,
    cloud: &CloudSink,
    from: &str,
    text: &str,
    id: Option<String>,
    sent_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    let Some(phone) = Phone::parse(from) else {
        return Ok(());
    };
    let store = app.store();
    let choice = match intent(text) {
        Some(Intent::Subscribe) => Choice::Subscribe(Subscriber {
            consented_at: now,
            consent_text: format!("wrote {:?} to the official WhatsApp number", text.trim()),
            consent_message_id: id.clone(),
            last_inbound_at: Some(now),
        }),
        Some(Intent::Unsubscribe) => Choice::Unsubscribe,
        Some(Intent::AskHowToStop) => {
            store.note_inbound(&phone, now)?;
            let outcome = cloud
                .post(&CloudSink::text(REPLY_HOW_TO_STOP, phone.as_str()))
                .await;
            if !matches!(
                outcome,
                crate::sink::whatsapp_cloud::CloudOutcome::Sent { .. }
            ) {
                tracing::warn!(sink = cloud.name(), ?outcome, "the reply was not sent");
            }
            return Ok(());
        }
        None => {
            store.note_inbound(&phone, now)?;
            return Ok(());
        }
    };
    let reply = match store.apply_keyword(&phone, id.as_deref(), sent_at, &choice, now)? {
        KeywordOutcome::Subscribed => {
            tracing::info!(sink = cloud.name(), "a citizen subscribed");
            REPLY_SUBSCRIBED
        }
        KeywordOutcome::AlreadySubscribed => {
            store.note_inbound(&phone, now)?;
            REPLY_ALREADY
        }
        KeywordOutcome::Unsubscribed => {
            tracing::info!(sink = cloud.name(), "a citizen unsubscribed");
            REPLY_UNSUBSCRIBED
        }
        KeywordOutcome::Stale => {
            tracing::info!(
                sink = cloud.name(),
                "a keyword already handled, or older than the number's last one: ignored"
            );
            return Ok(());
        }
    };
    store.flush()?;
    // The citizen just wrote, so a free-form reply is allowed.
    let body = CloudSink::text(reply, phone.as_str());
    let outcome = cloud.post(&body).await;
    if !matches!(
        outcome,
        crate::sink::whatsapp_cloud::CloudOutcome::Sent { .. }
    ) {
        tracing::warn!(
            sink = cloud.name(),
            ?outcome,
            "the confirmation reply was not sent"
        );
    }
    Ok(())
}

async fn gateway_event(
    State(cell): State<AppCell>,
    Path(sink): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let app = cell.get();
    let gateway = app.sinks().iter().find_map(|s| match s {
        Sink::Gateway(g) if g.name() == sink => Some(g),
        _ => None,
    });
    let Some(gateway) = gateway else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let key = gateway.hmac_key.expose().as_bytes();
    let sig = headers.get("x-webhook-hmac").and_then(|v| v.to_str().ok());
    if !sig.is_some_and(|s| verify_hmac_hex(key, &body, s, true)) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if event["event"].as_str() == Some("message.ack") {
        let payload = &event["payload"];
        let state = match payload["ack"].as_i64() {
            Some(-1) => Some(RecipientState::Failed),
            Some(1) => Some(RecipientState::Sent),
            Some(2) => Some(RecipientState::Delivered),
            Some(3) | Some(4) => Some(RecipientState::Read),
            _ => None,
        };
        let at = event["timestamp"]
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or(app.now());
        if let (Some(state), Some(id)) = (state, payload["id"].as_str()) {
            if let Err(e) = app.store().apply_status(id, state, at, None) {
                tracing::error!(sink, error = %e, "cannot record an ack");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
    }
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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
