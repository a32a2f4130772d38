//! The admin web UI (`settings.admin_listen`, loopback by default): the review queue, the sent
//! log, the sinks' health with retry and resume (`health`), sources and their health,
//! subscriber counts.
//!
//! Security: every page but `/login`, `/healthz` and `/metrics` needs a session (users from
//! the configuration, argon2 hashes; or the token in `BANDITORE_ADMIN_TOKEN`) or, for scripts,
//! `Authorization: Bearer <token>`. Session cookies are `HttpOnly`, `SameSite=Strict`, and
//! `Secure` when `admin_secure_cookies` is set. Every form carries a per-session CSRF token.
//! Login failures are rate-limited per client address. All HTML is produced by maud, which
//! escapes every value: a feed title `<script>` shows as text.

mod health;
mod reasons;
pub mod sources;
mod views;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use crate::config::Role;
use crate::daemon::{App, AppCell};
use crate::sink::secret::Secret;

const COOKIE: &str = "banditore_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
const LOGIN_WINDOW: Duration = Duration::from_secs(600);
const LOGIN_ATTEMPTS: u32 = 5;

#[derive(Clone)]
struct Session {
    user: String,
    role: Role,
    csrf: String,
    expires: Instant,
}

/// The admin UI's state.
#[derive(Clone)]
pub struct Admin {
    cell: AppCell,
    config_path: Option<PathBuf>,
    token: Option<Secret>,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    failures: Arc<Mutex<HashMap<IpAddr, (u32, Instant)>>>,
}

impl Admin {
    /// `config_path` is where added sources are written; without it the UI cannot add any.
    pub fn new(cell: AppCell, config_path: Option<PathBuf>) -> anyhow::Result<Admin> {
        let token = std::env::var("BANDITORE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(Secret::new);
        Ok(Admin::with_token(cell, config_path, token))
    }

    pub fn with_token(cell: AppCell, config_path: Option<PathBuf>, token: Option<Secret>) -> Admin {
        if token.is_none() && cell.get().config().users.is_empty() {
            tracing::warn!(
                "the admin UI has no users and BANDITORE_ADMIN_TOKEN is not set: nobody can log in"
            );
        }
        Admin {
            cell,
            config_path,
            token,
            sessions: Arc::default(),
            failures: Arc::default(),
        }
    }

    fn app(&self) -> App {
        self.cell.get()
    }

    fn new_session(&self, user: &str, role: Role) -> String {
        let id = random_hex();
        let session = Session {
            user: user.to_owned(),
            role,
            csrf: random_hex(),
            expires: Instant::now() + SESSION_TTL,
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.expires > Instant::now());
        sessions.insert(id.clone(), session);
        id
    }

    fn cookie(&self, id: &str, max_age: u64) -> String {
        let secure = if self.app().config().settings.admin_secure_cookies {
            "; Secure"
        } else {
            ""
        };
        format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    crate::sink::secret::constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// Why a signed-in request is refused (both are 403).
pub enum Denied {
    Role,
    Csrf,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let (title, text) = match self {
            Denied::Role => (
                "Accesso negato",
                "Questa pagina è riservata agli amministratori.",
            ),
            Denied::Csrf => (
                "Richiesta rifiutata",
                "Il modulo è scaduto o non valido (CSRF). Ricarica la pagina e riprova.",
            ),
        };
        (StatusCode::FORBIDDEN, Html(views::message(title, text))).into_response()
    }
}

/// Who is making a request.
pub struct User {
    name: String,
    role: Role,
    /// `None` for bearer-token requests: no cookie, so no CSRF to defend against.
    csrf: Option<String>,
}

impl User {
    fn require(&self, role: Role) -> Result<(), Denied> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Denied::Role)
        }
    }

    fn check_csrf(&self, form: &HashMap<String, String>) -> Result<(), Denied> {
        match &self.csrf {
            None => Ok(()),
            Some(expected)
                if form
                    .get("csrf")
                    .is_some_and(|t| constant_time_eq(t, expected)) =>
            {
                Ok(())
            }
            Some(_) => Err(Denied::Csrf),
        }
    }

    /// The guard of every admin form: the admin role and a valid CSRF token.
    fn admin_form(&self, form: &HashMap<String, String>) -> Result<(), Denied> {
        self.require(Role::Admin)?;
        self.check_csrf(form)
    }

    fn csrf(&self) -> &str {
        self.csrf.as_deref().unwrap_or_default()
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })
}

impl FromRequestParts<Admin> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, admin: &Admin) -> Result<Self, Self::Rejection> {
        if let Some(bearer) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            return match &admin.token {
                Some(token) if constant_time_eq(bearer.trim(), token.expose()) => Ok(User {
                    name: "token".into(),
                    role: Role::Admin,
                    csrf: None,
                }),
                _ => Err(StatusCode::UNAUTHORIZED.into_response()),
            };
        }
        let session = session_cookie(&parts.headers).and_then(|id| {
            let sessions = admin.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions
                .get(&id)
                .filter(|s| s.expires > Instant::now())
                .cloned()
        });
        match session {
            Some(s) => Ok(User {
                name: s.user,
                role: s.role,
                csrf: Some(s.csrf),
            }),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/", get(queue_page))
        .route("/queue/{id}/{action}", post(queue_action))
        .route("/log", get(log_page))
        .merge(health::routes())
        .route("/sources", get(sources_page))
        .route("/sources/{name}/{action}", post(source_action))
        .route("/sources/preview", post(sources::preview))
        .route("/sources/add", post(sources::add))
        .route("/subscribers", get(subscribers_page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/static/app.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    include_str!("app.css"),
                )
            }),
        )
        .route(
            "/static/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    include_str!("app.js"),
                )
            }),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(admin)
}

/// No framing, no sniffing, no external anything.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

async fn login_page() -> Html<String> {
    Html(views::login(None))
}

async fn login(
    State(admin): State<Admin>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ip = peer.ip();
    {
        let mut failures = admin.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, (_, first)| first.elapsed() < LOGIN_WINDOW);
        if failures.get(&ip).is_some_and(|(n, _)| *n >= LOGIN_ATTEMPTS) {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Html(views::login(Some(
                    "Troppi tentativi: riprova fra qualche minuto.",
                ))),
            )
                .into_response();
        }
    }
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or_default();
    let user = if !field("token").is_empty() {
        admin
            .token
            .as_ref()
            .filter(|t| constant_time_eq(field("token"), t.expose()))
            .map(|_| ("amministratore".to_owned(), Role::Admin))
    } else {
        let name = field("user");
        let password = form.get("password").map(String::as_str).unwrap_or_default();
        admin
            .app()
            .config()
            .users
            .iter()
            .find(|u| u.name == name)
            .and_then(|u| {
                use argon2::PasswordVerifier;
                let hash = argon2::PasswordHash::new(&u.password_hash).ok()?;
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .ok()
                    .map(|_| (u.name.clone(), u.role))
            })
    };
    match user {
        Some((name, role)) => {
            admin
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&ip);
            tracing::info!(user = %name, "admin login");
            let id = admin.new_session(&name, role);
            (
                [(header::SET_COOKIE, admin.cookie(&id, SESSION_TTL.as_secs()))],
                Redirect::to("/"),
            )
                .into_response()
        }
        None => {
            let mut failures = admin.failures.lock().unwrap_or_else(|p| p.into_inner());
            let entry = failures.entry(ip).or_insert((0, Instant::now()));
            entry.0 += 1;
            tracing::warn!(%ip, "admin login failed");
            (
                StatusCode::UNAUTHORIZED,
                Html(views::login(Some("Nome, password o token non validi."))),
            )
                .into_response()
        }
    }
}

async fn logout(
    State(admin): State<Admin>,
    user: User,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.check_csrf(&form) {
        return r.into_response();
    }
    if let Some(id) = session_cookie(&headers) {
        admin
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
    (
        [(header::SET_COOKIE, admin.cookie("", 0))],
        Redirect::to("/login"),
    )
        .into_response()
}

fn flash(q: &HashMap<String, String>) -> Option<(bool, String)> {
    q.get("ok")
        .map(|m| (true, m.clone()))
        .or_else(|| q.get("errore").map(|m| (false, m.clone())))
}

async fn queue_page(
    State(admin): State<Admin>,
    user: User,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let app = admin.app();
    match app.pending() {
        Ok(items) => Html(views::queue(&user, &app, &items, flash(&q))).into_response(),
        Err(e) => server_error(e),
    }
}

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(views::message(
            "Errore",
            "Qualcosa non ha funzionato; i dettagli sono nel log del server.",
        )),
    )
        .into_response()
}

fn back(to: &str, ok: Result<String, String>) -> Response {
    let (key, msg) = match ok {
        Ok(m) => ("ok", m),
        Err(m) => ("errore", m),
    };
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(key, &msg)
        .finish();
    Redirect::to(&format!("{to}?{query}")).into_response()
}

async fn queue_action(
    State(admin): State<Admin>,
    user: User,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.check_csrf(&form) {
        return r.into_response();
    }
    let app = admin.app();
    let who = user.name.clone();
    // What the editor sees in the box is what is sent: approving or scheduling saves the
    // title and text of the form first (nothing when unchanged; refused when invalid).
    let keep_edits = || match (form.get("title"), form.get("text")) {
        (Some(title), Some(text)) => app.edit(&id, &who, title, text).map(|_| ()),
        _ => Ok(()),
    };
    let result = match action.as_str() {
        "approve" => keep_edits()
            .and_then(|()| app.approve(&id, &who, None))
            .map(|_| "Messaggio approvato: è in invio.".to_owned()),
        "reject" => app
            .reject(&id, &who)
            .map(|_| "Messaggio rifiutato.".to_owned()),
        "edit" => app
            .edit(
                &id,
                &who,
                form.get("title").map(String::as_str).unwrap_or_default(),
                form.get("text").map(String::as_str).unwrap_or_default(),
            )
            .map(|_| "Modifiche salvate.".to_owned()),
        "schedule" => {
            let tz = app.config().settings.tz();
            let at = form
                .get("at")
                .and_then(|v| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M").ok())
                .and_then(|n| chrono::TimeZone::from_local_datetime(&tz, &n).earliest())
                .map(|t| t.with_timezone(&chrono::Utc));
            match at {
                Some(at) if at > app.now() => keep_edits()
                    .and_then(|()| app.approve(&id, &who, Some(at)))
                    .map(|_| {
                        format!(
                            "Invio programmato per {}.",
                            at.with_timezone(&tz).format("%d/%m/%Y %H:%M")
                        )
                    }),
                _ => Ok(String::new()).and(Err(crate::review::ReviewError::Invalid(
                    "Indica una data e un'ora future.".into(),
                ))),
            }
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    back("/", result.map_err(|e| e.to_string()))
}

async fn log_page(State(admin): State<Admin>, user: User) -> Response {
    let app = admin.app();
    match views::log(&user, &app) {
        Ok(page) => Html(page).into_response(),
        Err(e) => server_error(e),
    }
}

async fn sources_page(
    State(admin): State<Admin>,
    user: User,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.require(Role::Admin) {
        return r.into_response();
    }
    let app = admin.app();
    match views::sources(&user, &app, flash(&q), admin.config_path.is_some()) {
        Ok(page) => Html(page).into_response(),
        Err(e) => server_error(e),
    }
}

async fn source_action(
    State(admin): State<Admin>,
    user: User,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.admin_form(&form) {
        return r.into_response();
    }
    let app = admin.app();
    if app.config().source(&name).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    use crate::store::AuditAction;
    let (result, audited) = match action.as_str() {
        "pause" => (
            app.set_paused(&name, true)
                .map(|_| format!("{name}: in pausa.")),
            AuditAction::SourcePause,
        ),
        "resume" => (
            app.set_paused(&name, false)
                .map(|_| format!("{name}: ripresa.")),
            AuditAction::SourceResume,
        ),
        "poll" => {
            app.poll_soon(&name);
            (
                Ok(format!("{name}: lettura richiesta.")),
                AuditAction::SourcePoll,
            )
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let _ = app.store().audit(&crate::store::AuditEntry {
        at: app.now(),
        who: user.name.clone(),
        action: audited,
        subject: name.clone(),
        before: None,
        after: None,
    });
    back("/sources", result.map_err(|e| e.to_string()))
}

async fn subscribers_page(State(admin): State<Admin>, user: User) -> Response {
    if let Err(r) = user.require(Role::Admin) {
        return r.into_response();
    }
    let app = admin.app();
    match views::subscribers(&user, &app) {
        Ok(page) => Html(page).into_response(),
        Err(e) => server_error(e),
    }
}

/// Prometheus text format. No personal data: counts only.
async fn metrics(State(admin): State<Admin>) -> Response {
    let app = admin.app();
    let store = app.store();
    let mut out = String::new();
    out.push_str("# HELP banditore_outbox_messages Messages waiting for delivery.\n# TYPE banditore_outbox_messages gauge\n");
    out.push_str(&format!(
        "banditore_outbox_messages {}\n",
        store.outbox_len()
    ));
    out.push_str("# HELP banditore_review_pending Messages waiting for an editor.\n# TYPE banditore_review_pending gauge\n");
    out.push_str(&format!("banditore_review_pending {}\n", store.queue_len()));
    out.push_str(
        "# HELP banditore_subscribers Opted-in subscribers.\n# TYPE banditore_subscribers gauge\n",
    );
    out.push_str(&format!(
        "banditore_subscribers {}\n",
        store.subscriber_count()
    ));
    out.push_str("# HELP banditore_source_consecutive_failures Failed polls in a row, per source.\n# TYPE banditore_source_consecutive_failures gauge\n");
    for src in &app.config().sources {
        let failures = store
            .source_state(&src.name)
            .map(|s| s.consecutive_failures)
            .unwrap_or_default();
        out.push_str(&format!(
            "banditore_source_consecutive_failures{{source=\"{}\"}} {failures}\n",
            src.name
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
