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
use crate::store::{FailureOutcome, RecipientState, SinkFailure, Subscriber};

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
    "DISISCRIVIMI",
    "BASTA",
    "ANNULLA",
    "UNSUBSCRIBE",
    "DISATTIVA",
];

pub const REPLY_SUBSCRIBED: &str = "Iscrizione confermata: riceverai qui le comunicazioni ufficiali del Comune. Per non riceverle più scrivi STOP.";
pub const REPLY_ALREADY: &str = "Sei già iscritto. Per non ricevere più messaggi scrivi STOP.";
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
            if let Err(e) = inbound(&app, cloud, from, text, id, now).await {
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

fn keyword(text: &str) -> String {
    text.chars()
        .map(fold_accent)
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .trim()
        .to_uppercase()
}

/// Handles a message a citizen wrote: subscription keywords, or just the 24-hour window.
async fn inbound(
    app: &App,
    cloud: &CloudSink,
    from: &str,
    text: &str,
    id: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    let Some(phone) = Phone::parse(from) else {
        return Ok(());
    };
    let word = keyword(text);
    let store = app.store();
    let reply = if SUBSCRIBE.contains(&word.as_str()) {
        if store.subscriber(&phone)?.is_some() {
            store.note_inbound(&phone, now)?;
            REPLY_ALREADY
        } else {
            store.subscribe(
                &phone,
                &Subscriber {
                    consented_at: now,
                    consent_text: format!(
                        "wrote {:?} to the official WhatsApp number",
                        text.trim()
                    ),
                    consent_message_id: id,
                    last_inbound_at: Some(now),
                },
            )?;
            tracing::info!(sink = cloud.name(), "a citizen subscribed");
            REPLY_SUBSCRIBED
        }
    } else if UNSUBSCRIBE.contains(&word.as_str()) {
        store.unsubscribe(&phone)?;
        tracing::info!(sink = cloud.name(), "a citizen unsubscribed");
        REPLY_UNSUBSCRIBED
    } else {
        store.note_inbound(&phone, now)?;
        return Ok(());
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
    fn keywords() {
        assert_eq!(keyword("  Iscrivimi! "), "ISCRIVIMI");
        assert_eq!(keyword("stop."), "STOP");
    }
}
