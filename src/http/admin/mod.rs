//! The admin web UI (`settings.admin_listen`, loopback by default): the review queue, the sent
//! log, the sinks' health with retry and resume (`health`), sources and their health,
//! subscriber counts.
//!
//! Security: every page but `/login`, `/healthz`, `/readyz` and `/metrics` needs a session (users from
//! the configuration, argon2 hashes; or the token in `BANDITORE_ADMIN_TOKEN`) or, for scripts,
//! `Authorization: Bearer <token>`. Session cookies are `HttpOnly`, `SameSite=Strict`, and
//! `Secure` when `admin_secure_cookies` is set. Sessions live in the store (so they survive a
//! restart), found by the SHA-256 of the cookie; each request checks that the session's user
//! is still configured with the same role (a token session: that the token still is), and
//! logging out ends every session of the user. Every form carries a per-session CSRF token.
//! The outcome of an action is kept in the session and shown once by the next page, never
//! read from the address. Login failures are limited per account and, more loosely, per
//! client address (behind `trusted_proxies`, the address `X-Forwarded-For` names). All HTML is
//! produced by maud, which escapes every value: a feed title `<script>` shows as text.

mod config_file;
mod config_words;
mod detect;
mod extract;
mod login;
mod metrics;

mod health;
mod queue;
mod reasons;
mod source_edit;
pub mod source_form;
pub mod sources;
mod subscribers;
pub mod users;
mod views;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use self::extract::Query;

use crate::config::{Role, SourceConfig};
use crate::daemon::{App, AppCell};
use crate::sink::secret::Secret;
use crate::store::{Flash, FlashLink, Session, SessionKey, StoreError};

const COOKIE: &str = "banditore_session";
/// How long a session lasts after its login.
const SESSION_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// The admin UI's state.
#[derive(Clone)]
pub struct Admin {
    cell: AppCell,
    config_path: Option<PathBuf>,
    token: Option<Secret>,
    failures: Arc<Mutex<login::Failures>>,
}

impl Admin {
    /// `config_path` is where added sources are written; without it the UI cannot add any.
    pub fn new(cell: AppCell, config_path: Option<PathBuf>) -> anyhow::Result<Admin> {
        let token = login::token_from_env()?;
        Ok(Admin::with_token(cell, config_path, token.map(Secret::new)))
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
            failures: Arc::default(),
        }
    }

    fn app(&self) -> App {
        self.cell.get()
    }

    /// Opens a session in the store; returns the cookie's value (the store keeps its hash).
    fn new_session(&self, user: &str, role: Role, by_token: bool) -> Result<String, StoreError> {
        let id = random_hex();
        let app = self.app();
        let session = Session {
            user: user.to_owned(),
            role,
            by_token,
            csrf: random_hex(),
            expires: app.now() + SESSION_TTL,
            flash: None,
        };
        app.store()
            .put_session(&SessionKey::of_cookie(&id), &session)?;
        Ok(id)
    }

    /// Whether a session's user may still do what the session says: a token session while
    /// the token is set, a user's while the configuration has that user with that role, enabled.
    fn still_valid(&self, session: &Session) -> bool {
        if session.by_token {
            self.token.is_some() && session.role == Role::Admin
        } else {
            self.app()
                .config()
                .users
                .iter()
                .any(|u| u.name == session.user && u.role == session.role && !u.disabled)
        }
    }

    /// The message the session's last action left, now removed.
    pub(super) fn take_flash(&self, user: &User) -> Option<Flash> {
        let session = user.session.as_ref()?;
        self.app()
            .store()
            .take_flash(&session.key)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read the session's message");
                None
            })
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
    /// `None` for bearer-token requests: no cookie, so no CSRF to defend against, and no
    /// session to leave a message in.
    session: Option<SignedIn>,
}

/// The session a request came with.
struct SignedIn {
    key: SessionKey,
    csrf: String,
    by_token: bool,
}

impl User {
    /// The key of the session this request came with (none for a bearer token).
    fn session_key(&self) -> Option<&SessionKey> {
        self.session.as_ref().map(|s| &s.key)
    }

    fn require(&self, role: Role) -> Result<(), Denied> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Denied::Role)
        }
    }

    fn check_csrf(&self, form: &HashMap<String, String>) -> Result<(), Denied> {
        match &self.session {
            None => Ok(()),
            Some(s)
                if form
                    .get("csrf")
                    .is_some_and(|t| constant_time_eq(t, &s.csrf)) =>
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
        self.session
            .as_ref()
            .map(|s| s.csrf.as_str())
            .unwrap_or_default()
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

/// The shortest `BANDITORE_ADMIN_TOKEN` accepted.
pub const MIN_TOKEN: usize = 20;

impl FromRequestParts<Admin> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, admin: &Admin) -> Result<Self, Self::Rejection> {
        if let Some(bearer) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            // Counted and limited like the login form's token box.
            let ip = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| {
                    login::client_ip(admin, c.0, &parts.headers)
                });
            let plain = |status: StatusCode, text: &'static str| {
                (
                    status,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    text,
                )
                    .into_response()
            };
            if login::token_attempt(admin, ip).is_err() {
                tracing::warn!(%ip, "admin API refused: too many wrong tokens");
                return Err(plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Troppi tentativi con un token sbagliato: riprova fra qualche minuto.\n",
                ));
            }
            return match &admin.token {
                Some(token) if constant_time_eq(bearer.trim(), token.expose()) => {
                    login::token_succeeded(admin, ip);
                    Ok(User {
                        name: "token".into(),
                        role: Role::Admin,
                        session: None,
                    })
                }
                _ => {
                    tracing::warn!(%ip, "admin API: wrong bearer token");
                    Err(plain(StatusCode::UNAUTHORIZED, "Token non valido.\n"))
                }
            };
        }
        // Back to the login page, telling the browser to forget a cookie that opens nothing.
        let to_login = || {
            (
                [(header::SET_COOKIE, admin.cookie("", 0))],
                Redirect::to("/login"),
            )
                .into_response()
        };
        let Some(cookie) = session_cookie(&parts.headers) else {
            return Err(Redirect::to("/login").into_response());
        };
        let key = SessionKey::of_cookie(&cookie);
        let app = admin.app();
        let session = match app.store().session(&key, app.now()) {
            Ok(Some(s)) => s,
            Ok(None) => return Err(to_login()),
            Err(e) => return Err(server_error(e)),
        };
        if !admin.still_valid(&session) {
            tracing::info!(user = %session.user, "admin session ended: the user or their role is no longer configured");
            if let Err(e) = app.store().end_session(&key) {
                return Err(server_error(e));
            }
            return Err(to_login());
        }
        Ok(User {
            name: session.user,
            role: session.role,
            session: Some(SignedIn {
                key,
                csrf: session.csrf,
                by_token: session.by_token,
            }),
        })
    }
}

pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", post(login::logout))
        .route("/", get(queue::page))
        .route("/queue/{id}/{action}", post(queue::action))
        .route("/log", get(log_page))
        .merge(health::routes())
        .route("/sources", get(sources_page))
        .route(
            "/sources/{name}/edit",
            get(source_edit::page).post(source_edit::save),
        )
        .route("/sources/{name}/delete", post(source_edit::delete))
        .route("/sources/{name}/test-send", post(source_edit::test_send))
        .route("/sources/{name}/{action}", post(source_edit::action))
        .route("/sources/preview", post(sources::preview))
        .route("/sources/add", post(sources::add))
        .route("/subscribers", get(subscribers_page))
        .route("/utenti", get(users::page))
        .route("/utenti/nuovo", post(users::add))
        .route("/utenti/{name}/{what}", post(users::change))
        .route("/password", get(users::own_page).post(users::own_change))
        .route(
            "/healthz",
            get(|State(admin): State<Admin>| crate::http::probes::healthz(admin.cell)),
        )
        .route(
            "/readyz",
            get(|State(admin): State<Admin>| crate::http::probes::readyz(admin.cell)),
        )
        .route("/metrics", get(metrics::metrics))
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
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(|| async {
            error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                "Metodo non consentito",
                "Questa pagina non accetta richieste di questo tipo: usa i pulsanti e i link dell'interfaccia.",
            )
        })
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

/// An Italian page for a request that cannot be served.
fn error_page(status: StatusCode, title: &str, text: &str) -> Response {
    (status, Html(views::message(title, text))).into_response()
}

/// A page, source, user or action that does not exist.
fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Pagina non trovata",
        "L'indirizzo non corrisponde a nessuna pagina: forse è cambiato, o quello che cercavi è stato eliminato.",
    )
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

/// Records an action in the audit log. A failure to record is logged; the action stands.
fn audit(
    app: &App,
    user: &User,
    action: crate::store::AuditAction,
    subject: &str,
    before: Option<String>,
    after: Option<String>,
) {
    let entry = crate::store::AuditEntry {
        at: app.now(),
        who: user.name.clone(),
        action,
        subject: subject.to_owned(),
        before,
        after,
        item: None,
    };
    if let Err(e) = app.store().audit(&entry) {
        tracing::error!(error = %e, "cannot record an action in the audit log");
    }
}

/// Back to the page `to` after an action, its outcome left in the user's session for that
/// page to show once. A script (a bearer token, no session) gets the outcome itself instead,
/// as plain text: 200 when it was done, 422 when it was refused.
fn back(admin: &Admin, user: &User, to: &str, outcome: Result<String, String>) -> Response {
    back_with_link(admin, user, to, outcome, None)
}

/// [`back`], the message followed by a link (to what it names).
fn back_with_link(
    admin: &Admin,
    user: &User,
    to: &str,
    outcome: Result<String, String>,
    link: Option<FlashLink>,
) -> Response {
    let Some(session) = &user.session else {
        let (status, text) = match outcome {
            Ok(text) => (StatusCode::OK, text),
            Err(text) => (StatusCode::UNPROCESSABLE_ENTITY, text),
        };
        return (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{text}\n"),
        )
            .into_response();
    };
    let flash = match outcome {
        Ok(text) => Flash {
            ok: true,
            text,
            link,
        },
        Err(text) => Flash {
            ok: false,
            text,
            link,
        },
    };
    if let Err(e) = admin.app().store().set_flash(&session.key, &flash) {
        tracing::error!(error = %e, "cannot keep the outcome of an action in the session");
    }
    Redirect::to(to).into_response()
}

/// The start of every form on one source: the admin role, the CSRF token, and the source
/// itself ("Pagina non trovata" when it is not configured).
fn source_form(
    admin: &Admin,
    user: &User,
    name: &str,
    form: &HashMap<String, String>,
) -> Result<(App, SourceConfig), NoSource> {
    user.admin_form(form).map_err(NoSource::Denied)?;
    let app = admin.app();
    let src = app
        .config()
        .source(name)
        .cloned()
        .ok_or(NoSource::Missing)?;
    Ok((app, src))
}

/// Why a form on a source goes no further.
enum NoSource {
    Denied(Denied),
    Missing,
}

impl IntoResponse for NoSource {
    fn into_response(self) -> Response {
        match self {
            NoSource::Denied(d) => d.into_response(),
            NoSource::Missing => not_found(),
        }
    }
}

/// Why a change to the configuration file was refused ("Modifica", "Eliminazione"): the
/// running configuration stays.
fn refused(what: &str, why: &str) -> String {
    format!("{what} rifiutata, la configurazione in uso resta quella di prima: {why}")
}

async fn log_page(
    State(admin): State<Admin>,
    user: User,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let app = admin.app();
    match views::log(&user, &app, &views::LogQuery::from_query(&q)) {
        Ok(page) => Html(page).into_response(),
        Err(e) => server_error(e),
    }
}

async fn sources_page(State(admin): State<Admin>, user: User) -> Response {
    if let Err(r) = user.require(Role::Admin) {
        return r.into_response();
    }
    let app = admin.app();
    match views::sources(
        &user,
        &app,
        admin.take_flash(&user),
        admin.config_path.is_some(),
    ) {
        Ok(page) => Html(page).into_response(),
        Err(e) => server_error(e),
    }
}

async fn subscribers_page(State(admin): State<Admin>, user: User) -> Response {
    if let Err(r) = user.require(Role::Admin) {
        return r.into_response();
    }
    let app = admin.app();
    match subscribers::subscribers(&user, &app) {
        Ok(page) => Html(page).into_response(),
        Err(e) => server_error(e),
    }
}
