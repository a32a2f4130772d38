//! Mock providers on 127.0.0.1 that check every request against the shapes of the reference
//! specs (WhatsApp Cloud API v23.0, WAHA) and answer like them, including real error bodies.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub const TOKEN: &str = "test-token-EAAG";
pub const API_KEY: &str = "waha-key";

#[derive(Default)]
pub struct CloudState {
    /// (arrival, body) of every send.
    pub requests: Vec<(Instant, Value)>,
    /// Shape problems found in requests (must stay empty).
    pub violations: Vec<String>,
    /// Per recipient, the error codes to answer with before succeeding.
    pub script: HashMap<String, VecDeque<i64>>,
    pub next_id: u64,
}

#[derive(Clone, Default)]
pub struct MockCloud {
    pub state: Arc<Mutex<CloudState>>,
}

/// A Graph API error body as Meta sends it.
pub fn graph_error(code: i64) -> Value {
    json!({"error": {
        "message": format!("(#{code}) error"),
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": format!("details for {code}")},
        "fbtrace_id": "AbCdEf123"
    }})
}

fn check_shape(body: &Value, auth: Option<&str>) -> Vec<String> {
    let mut v = Vec::new();
    if auth != Some(&format!("Bearer {TOKEN}")) {
        v.push(format!("bad Authorization header: {auth:?}"));
    }
    if body["messaging_product"] != "whatsapp" {
        v.push("messaging_product must be \"whatsapp\"".into());
    }
    if body["recipient_type"] != "individual" {
        v.push("recipient_type must be \"individual\"".into());
    }
    let to = body["to"].as_str().unwrap_or_default();
    if to.is_empty() || !to.chars().all(|c| c.is_ascii_digit()) {
        v.push(format!("to must be international digits: {to:?}"));
    }
    match body["type"].as_str() {
        Some("text") => {
            let text = body["text"]["body"].as_str().unwrap_or_default();
            if text.is_empty() || text.chars().count() > 4096 {
                v.push("text.body must be 1..=4096 characters".into());
            }
            if !body["text"]["preview_url"].is_boolean() {
                v.push("text.preview_url must be a boolean".into());
            }
        }
        Some("image") => {
            if !body["image"]["link"]
                .as_str()
                .is_some_and(|l| l.starts_with("http"))
            {
                v.push("image.link must be an http(s) URL".into());
            }
            if body["image"]["caption"]
                .as_str()
                .is_some_and(|c| c.chars().count() > 1024)
            {
                v.push("image.caption must be at most 1024 characters".into());
            }
        }
        Some("template") => {
            let t = &body["template"];
            if !t["name"].is_string() || !t["language"]["code"].is_string() {
                v.push("template needs name and language.code".into());
            }
            for p in t["components"][0]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let text = p["text"].as_str().unwrap_or_default();
                if p["type"] != "text"
                    || text.contains('\n')
                    || text.contains('\t')
                    || text.contains("    ")
                {
                    v.push(format!("template parameter not allowed: {text:?}"));
                }
            }
        }
        other => v.push(format!("unknown type {other:?}")),
    }
    v
}

async fn cloud_send(
    State(mock): State<MockCloud>,
    Path((_version, _phone_id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let mut s = mock.state.lock().unwrap();
    let problems = check_shape(&body, auth);
    s.requests.push((Instant::now(), body.clone()));
    if !problems.is_empty() {
        s.violations.extend(problems);
        return (StatusCode::BAD_REQUEST, Json(graph_error(100))).into_response();
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    if let Some(code) = s.script.get_mut(&to).and_then(|q| q.pop_front()) {
        return (StatusCode::BAD_REQUEST, Json(graph_error(code))).into_response();
    }
    s.next_id += 1;
    let id = format!("wamid.TEST{}", s.next_id);
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": id, "message_status": "accepted"}]
    }))
    .into_response()
}

impl MockCloud {
    pub async fn start() -> (MockCloud, SocketAddr) {
        let mock = MockCloud::default();
        let app = Router::new()
            .route("/{version}/{phone_id}/messages", post(cloud_send))
            .with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (mock, addr)
    }

    pub fn script(&self, to: &str, codes: &[i64]) {
        self.state
            .lock()
            .unwrap()
            .script
            .insert(to.into(), codes.iter().copied().collect());
    }

    pub fn sends_to(&self, to: &str) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.requests
            .iter()
            .filter(|(_, b)| b["to"] == to)
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// The most requests that arrived within any one second.
    pub fn max_per_second(&self) -> usize {
        let s = self.state.lock().unwrap();
        let times: Vec<Instant> = s.requests.iter().map(|(t, _)| *t).collect();
        times
            .iter()
            .map(|start| {
                times
                    .iter()
                    .filter(|t| **t >= *start && t.duration_since(*start).as_millis() < 1000)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}

#[derive(Default)]
pub struct GatewayState {
    pub sends: Vec<(String, Value)>,
    pub violations: Vec<String>,
    pub session_checks: usize,
    /// The session's status (WORKING unless a test says otherwise).
    pub status: Option<String>,
}

#[derive(Clone, Default)]
pub struct MockGateway {
    pub state: Arc<Mutex<GatewayState>>,
}

impl MockGateway {
    pub async fn start() -> (MockGateway, SocketAddr) {
        let mock = MockGateway::default();
        let m1 = mock.clone();
        let m2 = mock.clone();
        let app = Router::new()
            .route(
                "/api/sessions/{session}",
                get(move |headers: HeaderMap, Path(session): Path<String>| {
                    let m = m1.clone();
                    async move {
                        let status = {
                            let mut s = m.state.lock().unwrap();
                            s.session_checks += 1;
                            s.status.clone().unwrap_or_else(|| "WORKING".into())
                        };
                        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
                            return (StatusCode::UNAUTHORIZED, Json(json!({"message": "Unauthorized"}))).into_response();
                        }
                        Json(json!({"name": session, "status": status})).into_response()
                    }
                }),
            )
            .route(
                "/api/{action}",
                post(move |headers: HeaderMap, Path(action): Path<String>, body: Bytes| {
                    let m = m2.clone();
                    async move {
                        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let mut s = m.state.lock().unwrap();
                        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
                            s.violations.push("missing X-Api-Key".into());
                        }
                        if !body["session"].is_string() || !body["chatId"].as_str().is_some_and(|c| c.ends_with("@newsletter")) {
                            s.violations.push(format!("session and a @newsletter chatId are required: {body}"));
                        }
                        match action.as_str() {
                            "sendText" if body["text"].is_string() && body["linkPreview"].is_boolean() => {}
                            "sendImage" if body["file"]["url"].is_string() && body["file"]["mimetype"].is_string() => {}
                            other => s.violations.push(format!("bad {other} body: {body}")),
                        }
                        let id = format!("true_120363000000000000@newsletter_{}", s.sends.len() + 1);
                        s.sends.push((action, body));
                        (StatusCode::CREATED, Json(json!({"id": id, "timestamp": 1764072000, "fromMe": true, "ack": 1, "ackName": "SERVER"}))).into_response()
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (mock, addr)
    }
}

/// A webhook receiver that keeps (headers, body) of every POST.
#[derive(Clone, Default)]
pub struct Receiver {
    pub hits: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    pub fail_first: Arc<Mutex<usize>>,
}

impl Receiver {
    pub async fn start() -> (Receiver, SocketAddr) {
        let r = Receiver::default();
        let r2 = r.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let r = r2.clone();
                async move {
                    r.hits.lock().unwrap().push((headers, body));
                    let mut fail = r.fail_first.lock().unwrap();
                    if *fail > 0 {
                        *fail -= 1;
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, addr)
    }
}
