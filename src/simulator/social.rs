//! Telegram's Bot API and a Mastodon instance, as the sinks use them (`sink::telegram`,
//! `sink::mastodon`): each post is recorded and answered the way the provider answers.

use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Shared;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/{bot}/{method}", post(telegram))
        .route("/api/v1/statuses", post(mastodon_status))
        .route("/api/v2/media", post(mastodon_media))
        .route(
            "/api/v1/media/{id}",
            get(|Path(id): Path<String>| async move {
                Json(json!({"id": id, "type": "image", "url": format!("/media/{id}.jpg")}))
            }),
        )
}

/// `POST /bot<token>/sendMessage|sendPhoto`: `{"ok": true, "result": {"message_id": n}}`.
async fn telegram(
    State(shared): State<Shared>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let chat = body["chat_id"].as_str().unwrap_or_default();
    if !bot.starts_with("bot") || chat.is_empty() {
        let error =
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    let id = shared.count.load(Ordering::Relaxed) + 1;
    let mut kind = method;
    if let Some(earlier) = body["reply_parameters"]["message_id"].as_i64() {
        kind.push_str(&format!(", a reply to {earlier}"));
    }
    if body["disable_notification"] == true {
        kind.push_str(", silent");
    }
    shared.record("Telegram", chat, &kind, id.to_string());
    Json(json!({"ok": true, "result": {"message_id": id, "chat": {"id": chat}, "date": 0}}))
        .into_response()
}

/// `POST /api/v1/statuses`: the created Status; the same one again for a repeated
/// `Idempotency-Key`.
async fn mastodon_status(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|k| k.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if body["status"].as_str().is_none_or(str::is_empty) {
        let error = json!({"error": "Validation failed: Text can't be blank"});
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(error)).into_response();
    }
    let id = {
        let mut statuses = shared.statuses.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = statuses.get(&key).filter(|_| !key.is_empty()) {
            return Json(json!({"id": id, "visibility": body["visibility"]})).into_response();
        }
        let id = format!("1135{:08}", shared.count.load(Ordering::Relaxed) + 1);
        statuses.insert(key, id.clone());
        id
    };
    let media = body["media_ids"].as_array().map_or(0, Vec::len);
    let mut kind = match media {
        0 => "status".to_owned(),
        n => format!("status with {n} image"),
    };
    if let Some(warning) = body["spoiler_text"].as_str().filter(|w| !w.is_empty()) {
        kind.push_str(&format!(", behind the content warning «{warning}»"));
    }
    let visibility = body["visibility"].as_str().unwrap_or("public");
    shared.record("Mastodon", visibility, &kind, id.clone());
    Json(json!({"id": id, "visibility": visibility, "content": body["status"]})).into_response()
}

/// `POST /api/v2/media`: the MediaAttachment, processed at once.
async fn mastodon_media(State(shared): State<Shared>) -> Response {
    let id = format!("media{}", shared.count.load(Ordering::Relaxed) + 1);
    Json(json!({"id": id, "type": "image", "url": format!("/media/{id}.jpg")})).into_response()
}
