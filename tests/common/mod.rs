//! Shared helpers for the integration tests: a scriptable feed server on 127.0.0.1 and a
//! runner for the real `banditore` binary.

#![allow(dead_code)] // each test file uses its own subset

pub mod admin;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Router;

/// How the server answers one path.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Never answer (the client must time out).
    pub hang: bool,
}

impl Route {
    pub fn feed(body: impl Into<String>) -> Route {
        Route {
            status: 200,
            body: body.into().into_bytes(),
            content_type: "application/rss+xml; charset=utf-8".into(),
            etag: None,
            last_modified: None,
            hang: false,
        }
    }

    pub fn status(status: u16) -> Route {
        Route {
            status,
            body: b"error".to_vec(),
            content_type: "text/plain".into(),
            ..Route::feed("")
        }
    }

    pub fn hang() -> Route {
        Route {
            hang: true,
            ..Route::feed("")
        }
    }
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    requests: Vec<(String, HeaderMap)>,
    in_flight: usize,
}

/// A feed server on an ephemeral loopback port.
#[derive(Clone)]
pub struct FeedServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FeedServer {
    pub async fn start() -> FeedServer {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let state = shared.clone();
            async move { answer(state, uri, headers).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FeedServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), route);
    }

    /// Request headers seen for a path, in order.
    pub fn requests(&self, path: &str) -> Vec<HeaderMap> {
        let state = self.state.lock().unwrap();
        state
            .requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }

    pub fn in_flight(&self) -> usize {
        self.state.lock().unwrap().in_flight
    }
}

async fn answer(state: Arc<Mutex<State>>, uri: Uri, headers: HeaderMap) -> Response {
    let route = {
        let mut s = state.lock().unwrap();
        s.requests.push((uri.path().to_owned(), headers.clone()));
        s.routes.get(uri.path()).cloned()
    };
    let Some(route) = route else {
        return Response::builder()
            .status(404)
            .body(Body::from("not found"))
            .unwrap();
    };
    if route.hang {
        state.lock().unwrap().in_flight += 1;
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let not_modified = route.etag.as_ref().is_some_and(|e| {
        headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == e.as_bytes())
    }) || route.last_modified.as_ref().is_some_and(|lm| {
        headers
            .get(header::IF_MODIFIED_SINCE)
            .is_some_and(|v| v.as_bytes() == lm.as_bytes())
    });
    let mut builder = Response::builder();
    if let Some(e) = &route.etag {
        builder = builder.header(header::ETAG, e);
    }
    if let Some(lm) = &route.last_modified {
        builder = builder.header(header::LAST_MODIFIED, lm);
    }
    if not_modified {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap();
    }
    builder
        .status(route.status)
        .header(header::CONTENT_TYPE, route.content_type)
        .body(Body::from(route.body))
        .unwrap()
}

/// An RSS document with the given (guid, link, title) items.
pub fn rss(items: &[(&str, &str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Comune</title><link>https://comune.example.it/</link>",
    );
    for (guid, link, title) in items {
        out.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><link>{link}</link><title>{title}</title>\
             <description>&lt;p&gt;Testo della notizia {title}.&lt;/p&gt;</description></item>"
        ));
    }
    out.push_str("</channel></rss>");
    out
}

/// A working directory with a configuration, a data directory and a file sink.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    /// `sources` is TOML for the `[[source]]` tables; a file sink is added.
    pub fn new(settings: &str, sources: &str) -> Workdir {
        Workdir::with_sinks(settings, sources, "")
    }

    /// Like `new`, with more `[[sink]]` tables. Quiet hours (on by default) are switched off
    /// unless `settings` names them: tests run at any hour.
    pub fn with_sinks(settings: &str, sources: &str, sinks: &str) -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        let settings = if settings.contains("quiet_hours") {
            settings.to_owned()
        } else {
            format!("{settings}\nquiet_hours = \"off\"")
        };
        let config = format!(
            "[settings]\n{settings}\n\n{sources}\n\n[[sink]]\nname = \"out\"\nkind = \"file\"\npath = \"{}\"\n\n{sinks}\n",
            dir.path().join("messages.jsonl").display()
        );
        std::fs::write(dir.path().join("sources.toml"), config).unwrap();
        Workdir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("sources.toml")
    }

    /// The messages the file sink wrote.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        match std::fs::read_to_string(self.dir.path().join("messages.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Err(_) => vec![],
        }
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_banditore"));
        cmd.args(args)
            .env("BANDITORE_CONFIG", self.config())
            .env("BANDITORE_DATA", self.dir.path().join("data"))
            .env("RUST_LOG", "banditore=debug")
            .env("WHATSAPP_TOKEN", "test-token-EAAG")
            .env("WHATSAPP_APP_SECRET", "app-secret")
            .env("WHATSAPP_VERIFY_TOKEN", "verify-me")
            .env("WAHA_API_KEY", "waha-key")
            .env("WAHA_HMAC", "waha-hmac")
            .env("WEBHOOK_SECRET", "hook-secret")
            .env_remove("BANDITORE_FAILPOINT")
            .kill_on_drop(true);
        cmd
    }

    /// Runs `banditore <args>` to completion.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.unwrap()
    }

    pub async fn once(&self) -> Output {
        let out = self.run(&["once"]).await;
        assert!(
            out.status.success(),
            "once failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// A clock the test moves by hand, for in-process apps: back-offs, schedules, quiet hours
/// and expiry are tested without sleeping.
pub struct ManualClock(pub Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    pub fn at(t: chrono::DateTime<chrono::Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(t)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl banditore::schedule::Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `cond` every 50 ms for up to 20 s.
pub async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 20 s");
}

/// Sends SIGTERM and waits for the process to end.
pub async fn stop(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("daemon did not stop")
        .unwrap()
}

/// A `[[source]]` table.
pub fn source(name: &str, url: &str, extra: &str) -> String {
    format!("[[source]]\nname = \"{name}\"\nkind = \"feed\"\nurl = \"{url}\"\nevery = \"1s\"\n{extra}\n")
}

/// A fixed-offset time zone in which it is now `hour` o'clock (`Etc/GMT-3` is UTC+3).
pub fn zone_where_it_is(hour: i64) -> String {
    let utc = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 3600)
        % 24;
    let mut offset = (hour - utc).rem_euclid(24);
    if offset > 11 {
        offset -= 24;
    }
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}
