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

use super::inbound::{self, Intent};
use crate::daemon::{App, AppCell};
use crate::phone::Phone;
use crate::sink::secret::{constant_time_eq, verify_hmac_hex};
use crate::sink::{CloudSink, Sink};
use crate::store::{
    Choice, FailureOutcome, KeywordOutcome, RecipientState, SinkFailure, Subscriber,
};

/// The reply to a topic or zone stopped by a number that is not subscribed.
pub const REPLY_NOT_SUBSCRIBED: &str = "Non risulti iscritto. Per ricevere le comunicazioni ufficiali scrivi ISCRIVIMI (ARGOMENTI per scegliere cosa ricevere).";
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
        .route(
            "/healthz",
            get(|State(cell): State<AppCell>| super::probes::healthz(cell)),
        )
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
    let Ok(event) = inbound::cloud_event(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let now = app.now();
    for msg in event.messages {
        let sent_at = msg.sent_at.unwrap_or(now);
        if let Err(e) =
            handle_message(&app, cloud, &msg.from, &msg.text, msg.id, sent_at, now).await
        {
            tracing::error!(sink, error = %e, "cannot record an inbound message");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    for status in event.statuses {
        let at = status.at.unwrap_or(now);
        let detail = status
            .code
            .map(|code| format!("code {code}: {}", status.words));
        match app
            .store()
            .apply_status(&status.id, status.state, at, detail)
        {
            Ok(true) if status.state == RecipientState::Failed => {
                // A failure reported later (131049, 131026…) is the sink's last error.
                let failure = SinkFailure {
                    at,
                    outcome: FailureOutcome::Failed,
                    message_id: None,
                    http_status: None,
                    code: status.code,
                    detail: status.words.clone(),
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
    StatusCode::OK.into_response()
}

/// Handles a message a citizen wrote: subscription keywords, or just the 24-hour window.
async fn handle_message(
    app: &App,
    cloud: &CloudSink,
    from: &str,
    text: &str,
    id: Option<String>,
    sent_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    // WhatsApp names the sender in international digits: never read as a local number.
    let Some(phone) = Phone::international(from) else {
        return Ok(());
    };
    let store = app.store();
    // A sign-up from the citizens' page waiting for this number's reply: a yes completes it.
    // Within a day of the confirmation by the reply's own time (a reply delivered late counts).
    let signup = store.signup(&phone, sent_at.min(now))?;
    let config = app.config();
    let audience = &config.audience;
    let public = &config.settings.public;
    // Topics and zones first: "ISCRIVIMI ALLERTE" chooses a topic, "ISCRIVIMI" everything.
    let asked = inbound::topic_ask(text, audience);
    let intent = match inbound::intent(text) {
        None if signup.is_some() && inbound::confirms(text) => Some(Intent::Subscribe),
        intent => intent,
    };
    // What a new subscriber will receive, and the welcome that says it (kept with the consent).
    let joining = match &asked {
        Some(ask) => match crate::audience::apply(None, ask, &[]) {
            crate::audience::Applied::Joined(selection) => selection,
            _ => Default::default(),
        },
        None => Default::default(),
    };
    let welcome = crate::audience::welcome(
        &public.name,
        &joining,
        audience,
        public.min_age,
        public.privacy_url.as_ref().map(url::Url::as_str),
    );
    let new = Subscriber {
        consented_at: now,
        consent_text: match &signup {
            Some(s) => format!(
                "signed up on the citizens' page at {} ({:?}), confirmed by writing {:?} to the official WhatsApp number; answered: {welcome:?}",
                s.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                s.consent_text,
                text.trim()
            ),
            None => format!(
                "wrote {:?} to the official WhatsApp number; answered: {welcome:?}",
                text.trim()
            ),
        },
        consent_message_id: id.clone(),
        last_inbound_at: Some(now),
        selection: Default::default(),
    };
    let choice = match (asked, intent) {
        (Some(crate::audience::Ask::List), _) => {
            store.note_inbound(&phone, now)?;
            reply(cloud, &phone, &crate::audience::list(audience)).await;
            return Ok(());
        }
        (Some(ask), _) => Choice::Choose {
            new,
            ask,
            wrote: text.trim().to_owned(),
            defaults: crate::audience::defaults(audience),
        },
        // With topics, a plain ISCRIVIMI is "everything", also for a subscriber of some.
        (None, Some(Intent::Subscribe)) if !audience.topics.is_empty() => Choice::Choose {
            new,
            ask: crate::audience::Ask::Everything,
            wrote: text.trim().to_owned(),
            defaults: crate::audience::defaults(audience),
        },
        (None, Some(Intent::Subscribe)) => Choice::Subscribe(new),
        (None, Some(Intent::Unsubscribe)) => Choice::Unsubscribe,
        (None, Some(Intent::AskHowToStop)) => {
            store.note_inbound(&phone, now)?;
            reply(cloud, &phone, REPLY_HOW_TO_STOP).await;
            return Ok(());
        }
        // "ISCRIVIMI <something not configured>": how to choose.
        (None, None) if inbound::asks_for_something(text, audience) => {
            store.note_inbound(&phone, now)?;
            reply(cloud, &phone, &crate::audience::list(audience)).await;
            return Ok(());
        }
        (None, None) => {
            store.note_inbound(&phone, now)?;
            return Ok(());
        }
    };
    let leaving = matches!(choice, Choice::Unsubscribe);
    let applied = store.apply_keyword(&phone, id.as_deref(), sent_at, &choice, now)?;
    if !matches!(applied, KeywordOutcome::Stale) {
        // Nothing waits for this number any more; after a STOP the citizens' page never
        // writes to it again (its owner's ISCRIVIMI lifts that).
        store.answer_signup(
            &phone,
            leaving || applied == KeywordOutcome::Unsubscribed,
            now,
        )?;
    }
    let answer = match applied {
        KeywordOutcome::Subscribed => {
            tracing::info!(sink = cloud.name(), "a citizen subscribed");
            welcome
        }
        KeywordOutcome::AlreadySubscribed => {
            store.note_inbound(&phone, now)?;
            REPLY_ALREADY.to_owned()
        }
        KeywordOutcome::Changed(selection) => {
            tracing::info!(sink = cloud.name(), "a citizen changed topics or zones");
            store.note_inbound(&phone, now)?;
            crate::audience::changed(&selection, audience)
        }
        KeywordOutcome::NotSubscribed => {
            store.note_inbound(&phone, now)?;
            REPLY_NOT_SUBSCRIBED.to_owned()
        }
        KeywordOutcome::Unsubscribed => {
            tracing::info!(sink = cloud.name(), "a citizen unsubscribed");
            REPLY_UNSUBSCRIBED.to_owned()
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
    reply(cloud, &phone, &answer).await;
    Ok(())
}

/// Answers a citizen who just wrote (a free-form text is allowed within 24 hours).
async fn reply(cloud: &CloudSink, phone: &Phone, text: &str) {
    let outcome = cloud.post(&CloudSink::text(text, phone.as_str())).await;
    if !matches!(
        outcome,
        crate::sink::whatsapp_cloud::CloudOutcome::Sent { .. }
    ) {
        tracing::warn!(
            sink = cloud.name(),
            error = %crate::phone::mask_numbers(outcome.detail()),
            "the reply was not sent"
        );
    }
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
    let Ok(ack) = inbound::gateway_ack(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Some(ack) = ack {
        let at = ack.at.unwrap_or(app.now());
        if let Err(e) = app.store().apply_status(&ack.id, ack.state, at, None) {
            tracing::error!(sink, error = %e, "cannot record an ack");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    StatusCode::OK.into_response()
}
