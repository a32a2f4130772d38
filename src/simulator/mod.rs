//! Simulated providers on loopback, for `demo`, `bench` and the tests: a WhatsApp Cloud API
//! that accepts sends and answers with message ids, a WAHA-style gateway whose session is
//! WORKING, Telegram's Bot API, a Mastodon instance (`social`) and a mailbox that speaks SMTP
//! (`smtp`). Nothing here is used by `run`.

mod smtp;
mod social;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// One request the simulator received.
#[derive(Debug, Clone)]
pub struct SimEvent {
    /// "WhatsApp Cloud API", "channel gateway", "Telegram", "Mastodon" or "mailbox".
    pub api: &'static str,
    pub to: String,
    pub kind: String,
    pub id: String,
}

/// Requests kept for display; beyond this only the count grows (the benchmark sends 10 000).
const KEEP: usize = 100;

#[derive(Clone, Default)]
struct Shared {
    events: Arc<Mutex<Vec<SimEvent>>>,
    count: Arc<AtomicU64>,
    /// How long the Cloud API takes to answer (the benchmark's round trip).
    latency: std::time::Duration,
    /// When each distinct text first arrived at the Cloud API.
    first_seen: Arc<Mutex<std::collections::HashMap<String, std::time::Instant>>>,
    /// Mastodon's statuses by `Idempotency-Key`.
    statuses: Arc<Mutex<std::collections::HashMap<String, String>>>,
    /// The mails the mailbox took, whole.
    mails: Arc<Mutex<Vec<String>>>,
    /// The Cloud API's texts and templates: (to, the text or the template's name).
    texts: Arc<Mutex<Vec<(String, String)>>>,
}

impl Shared {
    fn keep_mail(&self, mail: String) {
        let mut mails = self.mails.lock().unwrap_or_else(|p| p.into_inner());
        if mails.len() < KEEP {
            mails.push(mail);
        }
    }

    fn record(&self, api: &'static str, to: &str, kind: &str, id: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.len() < KEEP {
            events.push(SimEvent {
                api,
                to: to.to_owned(),
                kind: kind.to_owned(),
                id,
            });
        }
    }
}

pub struct Simulator {
    /// The HTTP providers (every API has its own paths).
    pub addr: SocketAddr,
    /// The mailbox's SMTP server.
    pub smtp: SocketAddr,
    shared: Shared,
}

async fn cloud_send(State(shared): State<Shared>, Json(body): Json<Value>) -> Response {
    let arrived = std::time::Instant::now();
    if let Some(text) = body["text"]["body"].as_str() {
        let mut seen = shared.first_seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.entry(text.to_owned()).or_insert(arrived);
    }
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let to = body["to"].as_str().unwrap_or_default();
    let said = body["text"]["body"]
        .as_str()
        .or(body["image"]["caption"].as_str())
        .or(body["template"]["name"].as_str())
        .unwrap_or_default();
    {
        let mut texts = shared.texts.lock().unwrap_or_else(|p| p.into_inner());
        if texts.len() < KEEP {
            texts.push((to.to_owned(), said.to_owned()));
        }
    }
    if body["messaging_product"] != "whatsapp" || to.is_empty() {
        let error = json!({"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100, "fbtrace_id": "SIM"}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    let id = format!("wamid.SIM{}", shared.count.load(Ordering::Relaxed) + 1);
    shared.record(
        "WhatsApp Cloud API",
        to,
        body["type"].as_str().unwrap_or("?"),
        id.clone(),
    );
    Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": id, "message_status": "accepted"}]}))
        .into_response()
}

async fn gateway_send(
    State(shared): State<Shared>,
    Path(action): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let chat = body["chatId"].as_str().unwrap_or_default();
    let id = format!(
        "true_{chat}_SIM{}",
        shared.count.load(Ordering::Relaxed) + 1
    );
    shared.record("channel gateway", chat, &action, id.clone());
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "fromMe": true, "ack": 1, "ackName": "SERVER"})),
    )
        .into_response()
}

impl Simulator {
    pub async fn start() -> std::io::Result<Simulator> {
        Simulator::with_latency(std::time::Duration::ZERO).await
    }

    /// A simulator whose Cloud API answers after `latency`.
    pub async fn with_latency(latency: std::time::Duration) -> std::io::Result<Simulator> {
        let shared = Shared {
            latency,
            ..Shared::default()
        };
        let router = Router::new()
            .route("/{version}/{phone_id}/messages", post(cloud_send))
            .route(
                "/api/sessions/{session}",
                get(|Path(s): Path<String>| async move {
                    Json(json!({"name": s, "status": "WORKING"}))
                }),
            )
            .route("/api/{action}", post(gateway_send))
            .merge(social::routes())
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        let smtp = smtp::serve(shared.clone()).await?;
        Ok(Simulator { addr, smtp, shared })
    }

    /// The requests received since the last call (at most the first hundred are kept).
    pub fn take_events(&self) -> Vec<SimEvent> {
        std::mem::take(&mut *self.shared.events.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// What the Cloud API was asked to send to `to` (texts, captions, template names), in
    /// order (of the first hundred requests).
    pub fn texts_to(&self, to: &str) -> Vec<String> {
        let texts = self.shared.texts.lock().unwrap_or_else(|p| p.into_inner());
        texts
            .iter()
            .filter(|(t, _)| t == to)
            .map(|(_, text)| text.clone())
            .collect()
    }

    /// The mails the mailbox took (at most the first hundred), whole: headers and body.
    pub fn mails(&self) -> Vec<String> {
        self.shared
            .mails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// When a request whose text contains `needle` first arrived at the Cloud API.
    pub fn first_seen_containing(&self, needle: &str) -> Option<std::time::Instant> {
        let seen = self
            .shared
            .first_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .filter(|(text, _)| text.contains(needle))
            .map(|(_, at)| *at)
            .min()
    }

    /// When a request with this text first arrived at the Cloud API.
    pub fn first_seen(&self, text: &str) -> Option<std::time::Instant> {
        let seen = self
            .shared
            .first_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        seen.get(text).copied()
    }
}
