//! The Mastodon sink against a loopback mock of an instance, built from Mastodon's API
//! documentation (docs.joinmastodon.org/methods/statuses: `POST /api/v1/statuses` with a
//! Bearer token, `status`, `visibility`, `language`; the `Idempotency-Key` header, a repeated
//! key answered with the status already made; the Status's `id`): a status within 500
//! characters (an address counting 23) with the title first and the link last, and a request
//! whose answer was lost sent again under the same key, making one status; the image uploaded
//! (`POST /api/v2/media`, multipart `file` and `description`, 202 while processing, asked
//! again at `GET /api/v1/media/:id`) and attached by `media_ids`; a revoked token (401)
//! pausing the sink until `sink resume`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{rss, source, FeedServer, Route, Workdir};
use serde_json::{json, Value};

/// An upload: (file name, content type, length, description).
type Upload = (String, String, usize, String);

#[derive(Clone, Default)]
struct MockInstance {
    /// Idempotency key → (id, body) of every status made.
    statuses: Arc<Mutex<HashMap<String, (String, Value)>>>,
    requests: Arc<Mutex<usize>>,
    /// Make the status, then answer 502 (the answer lost on its way back), this many times.
    lose_answers: Arc<Mutex<usize>>,
    violations: Arc<Mutex<Vec<String>>>,
    /// Each upload: (file name, content type, bytes, description).
    uploads: Arc<Mutex<Vec<Upload>>>,
    /// How many `GET /api/v1/media/:id` answered "still processing" (206) before 200.
    processing: Arc<Mutex<usize>>,
    /// Answer every status with 401 (a revoked token).
    revoked: Arc<Mutex<bool>>,
}

/// `POST /api/v2/media` (docs.joinmastodon.org/methods/media): multipart `file` and
/// `description`; 202 with the attachment's id while it is processed.
async fn upload(State(mock): State<MockInstance>, mut form: Multipart) -> Response {
    let (mut file, mut description) = (None, String::new());
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let kind = field.content_type().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.unwrap();
                file = Some((name, kind, bytes.len()));
            }
            Some("description") => description = field.text().await.unwrap(),
            _ => {}
        }
    }
    let Some((name, kind, len)) = file else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "no file"})),
        )
            .into_response();
    };
    mock.uploads
        .lock()
        .unwrap()
        .push((name, kind, len, description));
    (
        StatusCode::ACCEPTED,
        Json(json!({"id": "22", "type": "image", "url": null, "preview_url": "https://x/p.jpg"})),
    )
        .into_response()
}

/// `GET /api/v1/media/:id`: 206 while processing, then 200.
async fn media(State(mock): State<MockInstance>) -> Response {
    let mut checks = mock.processing.lock().unwrap();
    *checks += 1;
    if *checks < 2 {
        return (
            StatusCode::PARTIAL_CONTENT,
            Json(json!({"id": "22", "url": null})),
        )
            .into_response();
    }
    Json(json!({"id": "22", "type": "image", "url": "https://x/22.jpg"})).into_response()
}

async fn statuses(
    State(mock): State<MockInstance>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    *mock.requests.lock().unwrap() += 1;
    if *mock.revoked.lock().unwrap() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "The access token was revoked"})),
        )
            .into_response();
    }
    let mut problems = Vec::new();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer token-mastodon") {
        problems.push("missing or wrong Bearer token".to_owned());
    }
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        mock.violations
            .lock()
            .unwrap()
            .push("no Idempotency-Key".into());
        return StatusCode::BAD_REQUEST.into_response();
    };
    let text = body["status"].as_str().unwrap_or_default();
    let counted: usize = banditore::sink::mastodon::counted(text);
    if counted > 500 || text.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "Validation failed: Text character limit of 500 exceeded"})),
        )
            .into_response();
    }
    if body["visibility"] != "public" || body["language"] != "it" {
        problems.push(format!("visibility/language: {body}"));
    }
    mock.violations.lock().unwrap().extend(problems);
    let id = {
        let mut made = mock.statuses.lock().unwrap();
        let n = made.len();
        made.entry(key)
            .or_insert_with(|| (format!("1100{n}"), body.clone()))
            .0
            .clone()
    };
    {
        let mut lose = mock.lose_answers.lock().unwrap();
        if *lose > 0 {
            *lose -= 1;
            return (StatusCode::BAD_GATEWAY, "upstream timed out").into_response();
        }
    }
    Json(json!({"id": id, "visibility": "public", "language": "it", "content": "<p>…</p>"}))
        .into_response()
}

async fn start() -> (MockInstance, std::net::SocketAddr) {
    let mock = MockInstance::default();
    let app = Router::new()
        .route("/api/v1/statuses", post(statuses))
        .route("/api/v2/media", post(upload))
        .route("/api/v1/media/{id}", get(media))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (mock, addr)
}

async fn once(work: &Workdir) {
    let out = work
        .command(&["once"])
        .env("MASTODON_TOKEN", "token-mastodon")
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        !log.contains("token-mastodon"),
        "the token in a log line: {log}"
    );
}

#[tokio::test]
async fn a_status_fits_and_a_lost_answer_makes_no_second_status() {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[("a", "https://comune.example.it/n/a/", "Avviso A")])),
    );
    let (mock, addr) = start().await;
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), "max_chars = 3000"),
        &format!(
            "[[sink]]\nname = \"mastodon\"\nkind = \"mastodon\"\napi_base = \"http://{addr}\"\ntoken_env = \"MASTODON_TOKEN\"\n"
        ),
    );
    once(&work).await; // the baseline
    let long_link = "https://comune.example.it/notizie/lavori-in-via-roma-e-nelle-strade-vicine-per-tutta-la-settimana/";
    let mut feed = rss(&[
        ("b", long_link, "Lavori in via Roma"),
        ("a", "https://comune.example.it/n/a/", "Avviso A"),
    ]);
    // A long text: the status keeps the title and the link and cuts the middle.
    feed = feed.replace(
        "Testo della notizia Lavori in via Roma.",
        &"Da lunedì la strada è chiusa al traffico per i lavori della rete idrica. ".repeat(20),
    );
    feeds.set("/feed", Route::feed(feed));
    *mock.lose_answers.lock().unwrap() = 1;
    once(&work).await;
    // The answer was lost: the next cycle sends again under the same key.
    once(&work).await;
    assert_eq!(*mock.requests.lock().unwrap(), 2);
    let made = mock.statuses.lock().unwrap().clone();
    assert_eq!(made.len(), 1, "one status: {made:?}");
    let (_, body) = made.values().next().unwrap();
    let status = body["status"].as_str().unwrap();
    assert!(
        status.starts_with("Lavori in via Roma\n\nDa lunedì"),
        "{status}"
    );
    assert!(status.ends_with(long_link), "{status}");
    assert!(banditore::sink::mastodon::counted(status) <= 500);
    assert!(
        mock.violations.lock().unwrap().is_empty(),
        "{:?}",
        mock.violations.lock().unwrap()
    );
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(log.contains("mastodon: sent"), "{log}");
}

/// A feed with one item followed by "comune", a Mastodon sink on the mock, the baseline taken.
async fn baselined() -> (FeedServer, MockInstance, Workdir) {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[("a", "https://comune.example.it/n/a/", "Avviso A")])),
    );
    let (mock, addr) = start().await;
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), ""),
        &format!(
            "[[sink]]\nname = \"mastodon\"\nkind = \"mastodon\"\napi_base = \"http://{addr}\"\ntoken_env = \"MASTODON_TOKEN\"\n"
        ),
    );
    once(&work).await;
    (feeds, mock, work)
}

#[tokio::test]
async fn the_image_is_uploaded_with_its_description_and_attached() {
    let (feeds, mock, work) = baselined().await;
    // The image is on the source's own server (the fetcher's address guard lets it through).
    let image = feeds.url("/foto/cantiere.png");
    feeds.set(
        "/foto/cantiere.png",
        Route {
            content_type: "image/png".into(),
            body: vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3],
            ..Route::feed("")
        },
    );
    let feed = rss(&[
        ("b", "https://comune.example.it/n/b/", "Cantiere in piazza"),
        ("a", "https://comune.example.it/n/a/", "Avviso A"),
    ])
    .replacen(
        "</title>",
        &format!("</title><enclosure url=\"{image}\" type=\"image/png\" length=\"8\"/>"),
        2,
    );
    feeds.set("/feed", Route::feed(feed));
    once(&work).await;
    let uploads = mock.uploads.lock().unwrap().clone();
    assert_eq!(
        uploads,
        [(
            "cantiere.png".to_owned(),
            "image/png".to_owned(),
            8,
            "Immagine: Cantiere in piazza".to_owned()
        )]
    );
    let made = mock.statuses.lock().unwrap().clone();
    let (_, body) = made.values().next().unwrap();
    assert_eq!(
        body["media_ids"],
        json!(["22"]),
        "attached once processed: {body}"
    );
}

#[tokio::test]
async fn a_revoked_token_pauses_the_sink_until_an_admin_resumes_it() {
    let (feeds, mock, work) = baselined().await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/n/b/", "Avviso B"),
            ("a", "https://comune.example.it/n/a/", "Avviso A"),
        ])),
    );
    *mock.revoked.lock().unwrap() = true;
    once(&work).await;
    once(&work).await;
    assert_eq!(*mock.requests.lock().unwrap(), 1, "paused after the 401");
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(!log.contains("mastodon: sent"), "{log}");
    *mock.revoked.lock().unwrap() = false;
    let out = work.run(&["sink", "resume", "mastodon"]).await;
    assert!(out.status.success(), "{out:?}");
    once(&work).await;
    assert_eq!(mock.statuses.lock().unwrap().len(), 1);
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(log.contains("mastodon: sent"), "{log}");
}
