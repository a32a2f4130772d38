//! "Consegne": how each configured sink is doing (last success, last error and why, failures
//! in a row, next retry, pause, deliveries by state), and the admins' actions on it: retry a
//! `failed` or `unknown` delivery (an `unknown` one only with a confirmation: it may have
//! arrived) and resume a paused sink. Both go through the daemon (`App::retry_delivery`,
//! `App::resume_sink`), which writes the audit entry and wakes delivery.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::extract::{Form, Query};
use super::reasons::{count, describe};
use super::views::{flash_box, page, when};
use super::{back, server_error, Admin, Flash, User};
use crate::config::{Role, SinkConfig, SinkSettings};
use crate::daemon::App;
use crate::deliver::RetryError;
use crate::item::Message;
use crate::store::{
    DeliveryCounts, DeliveryRecord, DeliveryState, RecipientState, SinkHealth, StoreError,
};

/// The page and its two forms.
pub(super) fn routes() -> Router<Admin> {
    Router::new()
        .route("/consegne", get(health))
        .route("/consegne/riprova", get(retry_page).post(retry))
        .route("/consegne/riprendi", post(resume))
}

/// Messages looked at for deliveries to retry: the most recent queued and finished ones.
const RECENT: usize = 50;

/// A delivery of one message to one sink that an admin may retry.
pub(super) struct Problem {
    /// `Failed` or `Unknown`.
    pub state: DeliveryState,
    /// For a broadcast: how many recipients are in that state.
    pub recipients: Option<usize>,
    /// The sink's words about it.
    pub detail: Option<String>,
}

fn is_broadcast(sink: &SinkConfig) -> bool {
    matches!(sink.settings, SinkSettings::WhatsappCloud(_))
}

/// The retryable deliveries of a message to a sink: its record when `failed` or `unknown`;
/// for the Cloud API broadcast, once it is over, its recipients in those states.
pub(super) fn problems(
    app: &App,
    message_id: &str,
    sink: &SinkConfig,
) -> Result<Vec<Problem>, StoreError> {
    let store = app.store();
    let record = store.delivery(message_id, &sink.name)?;
    // Recipients are read only for a broadcast that is over.
    let counts = match &record {
        Some(r) if is_broadcast(sink) && r.state == DeliveryState::Sent => {
            store.recipient_counts(message_id, &sink.name)?
        }
        _ => Vec::new(),
    };
    Ok(problems_of(sink, record, &counts))
}

/// [`problems`] from the delivery record and the recipients' counts, already read.
pub(super) fn problems_of(
    sink: &SinkConfig,
    record: Option<DeliveryRecord>,
    counts: &[(RecipientState, usize)],
) -> Vec<Problem> {
    let Some(record) = record else {
        return Vec::new();
    };
    if !is_broadcast(sink) {
        return match record.state {
            DeliveryState::Failed | DeliveryState::Unknown => vec![Problem {
                state: record.state,
                recipients: None,
                detail: record.detail,
            }],
            _ => Vec::new(),
        };
    }
    if record.state != DeliveryState::Sent {
        return Vec::new(); // still going, or already put back
    }
    counts
        .iter()
        .filter_map(|&(state, n)| {
            let state = match state {
                RecipientState::Failed => DeliveryState::Failed,
                RecipientState::Unknown => DeliveryState::Unknown,
                _ => return None,
            };
            Some(Problem {
                state,
                recipients: Some(n),
                detail: None,
            })
        })
        .collect()
}

/// The retry form: for an `unknown` delivery, the warning and the confirmation box.
pub(super) fn retry_form(user: &User, message_id: &str, sink: &str, problem: &Problem) -> Markup {
    html! {
        form.riprova method="post" action="/consegne/riprova" {
            input type="hidden" name="csrf" value=(user.csrf());
            input type="hidden" name="messaggio" value=(message_id);
            input type="hidden" name="canale" value=(sink);
            input type="hidden" name="stato" value=(problem.state.label().en());
            @if problem.state == DeliveryState::Unknown {
                p.avviso role="note" {
                    strong { "Attenzione: " }
                    "questo messaggio potrebbe essere già arrivato: riprovando i cittadini potrebbero riceverlo due volte."
                }
                label.conferma {
                    input type="checkbox" name="conferma" value="si" required;
                    " Ho capito: riprova comunque"
                }
            }
            button.secondario type="submit" {
                @match problem.recipients {
                    Some(n) => { "Riprova " (count(n, "destinatario", "destinatari")) }
                    None => { "Riprova l'invio" }
                }
            }
        }
    }
}

/// A problem in words: "non riuscito", "3 destinatari con esito incerto".
fn problem_words(problem: &Problem) -> String {
    match (problem.recipients, problem.state) {
        (Some(n), DeliveryState::Unknown) => count(
            n,
            "destinatario con esito incerto",
            "destinatari con esito incerto",
        ),
        (Some(n), _) => count(n, "destinatario non riuscito", "destinatari non riusciti"),
        (None, state) => state.label().it().to_owned(),
    }
}

/// The sink's last error in Italian, when it is about this message.
fn reason(health: &SinkHealth, message_id: &str) -> Option<String> {
    health
        .last_error
        .as_ref()
        .filter(|e| e.message_id.as_deref() == Some(message_id))
        .map(describe)
}

/// A provider's own words (often English), set apart as technical details.
fn details(detail: Option<&str>) -> Markup {
    html! {
        @if let Some(d) = detail.filter(|d| !d.is_empty()) {
            br; span.dettagli { "Dettagli tecnici: " (d) }
        }
    }
}

fn kind(sink: &SinkConfig) -> (&'static str, Option<String>) {
    let host = |url: &url::Url| url.host_str().map(str::to_owned);
    match &sink.settings {
        SinkSettings::Console => ("console (prova)", None),
        SinkSettings::File { path } => ("file", Some(path.display().to_string())),
        SinkSettings::WhatsappCloud(_) => ("WhatsApp Cloud API, agli iscritti", None),
        SinkSettings::WhatsappGateway(g) => ("canale WhatsApp (gateway)", host(&g.api_base)),
        SinkSettings::Webhook(w) => ("webhook", host(&w.url)),
        SinkSettings::Email(e) if e.to.is_empty() => (
            "e-mail",
            Some(format!("{} indirizzi in copia nascosta", e.bcc.len())),
        ),
        SinkSettings::Email(e) => ("e-mail", Some(e.to.join(", "))),
        SinkSettings::Telegram(t) => ("Telegram", Some(t.chat_id.clone())),
        SinkSettings::Mastodon(m) => ("Mastodon", host(&m.api_base)),
    }
}

fn card(
    user: &User,
    app: &App,
    sink: &SinkConfig,
    counts: DeliveryCounts,
    recent: &[Message],
) -> Result<Markup, StoreError> {
    let store = app.store();
    let now = app.now();
    let health = store.sink_health(&sink.name)?;
    let pause = store.pause(&sink.name)?.filter(|p| p.until > now);
    let mut todo = Vec::new();
    for message in recent {
        for problem in problems(app, &message.id, sink)? {
            todo.push((message, problem));
        }
    }
    let failing = health.failures > 0 && health.last_error.is_some();
    let admin = user.role >= Role::Admin;
    let (kind, destination) = kind(sink);
    let next_retry = health
        .next_retry
        .filter(|_| failing || counts.pending > 0)
        .map(|t| {
            if t > now {
                when(t, app)
            } else {
                "a breve".to_owned()
            }
        });
    let tallies: Vec<String> = [
        (counts.sent, "messaggio inviato", "messaggi inviati"),
        (
            counts.failed,
            "messaggio non riuscito",
            "messaggi non riusciti",
        ),
        (
            counts.unknown,
            "messaggio con esito incerto",
            "messaggi con esito incerto",
        ),
        (
            counts.pending,
            "messaggio da consegnare",
            "messaggi da consegnare",
        ),
    ]
    .into_iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, one, many)| count(n, one, many))
    .collect();
    let reason = |message: &Message| reason(&health, &message.id);
    Ok(html! {
        article.card.canale {
            h2 { (sink.name) }
            p.meta { (kind) @if let Some(d) = destination { " · " span.indirizzo { (d) } } }
            @if let Some(p) = &pause {
                p {
                    span.stato-ko { "In pausa" } " fino al " (when(p.until, app)) ". Motivo: "
                    (p.code.map(super::reasons::cloud_code).unwrap_or_else(|| p.reason.clone())) "."
                }
                @if admin {
                    form method="post" action="/consegne/riprendi" {
                        input type="hidden" name="csrf" value=(user.csrf());
                        input type="hidden" name="canale" value=(sink.name);
                        button type="submit" { "Riprendi gli invii ora" }
                    }
                }
            } @else if let (true, Some(e)) = (failing, &health.last_error) {
                p { span.stato-ko { "In errore" } ": " (describe(e)) "." }
            } @else if health.last_success.is_some() {
                p { span.stato-ok { "Funziona" } }
            } @else {
                p { "Nessun invio ancora." }
            }
            ul.fatti {
                li { "Ultimo invio riuscito: " (health.last_success.map(|t| when(t, app)).unwrap_or_else(|| "mai".into())) }
                @if let Some(e) = &health.last_error {
                    li {
                        "Ultimo errore, il " (when(e.at, app))
                        // Said already, just above.
                        @if !failing || pause.is_some() { ": " (describe(e)) }
                        " (" (e.outcome.label().it()) ")."
                        (details(Some(&e.detail)))
                    }
                }
                @if health.failures > 0 {
                    li { (count(health.failures as usize, "tentativo fallito di fila", "tentativi falliti di fila")) }
                }
                @if let Some(next) = next_retry { li { "Prossimo tentativo: " (next) } }
            }
            @if tallies.is_empty() {
                p { "Nessuna consegna registrata." }
            } @else {
                p { "Consegne: " (tallies.join(" · ")) "." }
            }
            @if !todo.is_empty() {
                h3 { "Da riprovare (fra gli ultimi messaggi)" }
                ul.problemi {
                    @for (message, problem) in &todo {
                        li {
                            strong { (message.title) } " — " (problem_words(problem))
                            @if let (None, Some(r)) = (problem.recipients, reason(message)) { ": " (r) }
                            (details(problem.detail.as_deref()))
                            @if admin { (retry_form(user, &message.id, &sink.name, problem)) }
                        }
                    }
                }
            }
        }
    })
}

/// The most recent messages, queued first.
fn recent(app: &App) -> Result<Vec<Message>, StoreError> {
    let store = app.store();
    let mut messages: Vec<Message> = store
        .outbox()
        .take(RECENT)
        .map(|r| r.map(|(_, e)| e.message))
        .collect::<Result<_, _>>()?;
    messages.extend(store.recent_log(RECENT)?.into_iter().map(|e| e.message));
    Ok(messages)
}

fn health_page(user: &User, app: &App, flash: Option<Flash>) -> Result<String, StoreError> {
    let recent = recent(app)?;
    // The alert sinks carry no news: nothing to deliver or retry there.
    let sinks: Vec<&SinkConfig> = app.config().news_sinks().collect();
    let names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
    let counts = app.store().delivery_counts(&names)?;
    let mut cards = Vec::new();
    for (sink, counts) in sinks.iter().zip(counts) {
        cards.push(card(user, app, sink, counts, &recent)?);
    }
    let quiet = app.quiet_until(crate::config::Priority::Normal, app.now());
    let body = html! {
        (flash_box(flash))
        @if let Some(end) = quiet {
            p.card { "Ore di silenzio: i messaggi normali partono il " (when(end, app)) "; quelli urgenti subito." }
        }
        @if cards.is_empty() { p { "Nessun canale configurato." } }
        @for c in cards { (c) }
    };
    Ok(page("Consegne", Some(user), "/consegne", body))
}

pub(super) async fn health(State(admin): State<Admin>, user: User) -> Response {
    match health_page(&user, &admin.app(), admin.take_flash(&user)) {
        Ok(page) => Html(page).into_response(),
        Err(e) => server_error(e),
    }
}

/// `GET /consegne/riprova?messaggio=…&canale=…`: one message's deliveries to one sink,
/// with their retry forms (linked from "Inviati").
pub(super) async fn retry_page(
    State(admin): State<Admin>,
    user: User,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.require(Role::Admin) {
        return r.into_response();
    }
    let app = admin.app();
    let field = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let Some(sink) = app
        .config()
        .sinks
        .iter()
        .find(|s| s.name == field("canale"))
    else {
        return super::not_found();
    };
    let found = app.store().find_message(field("messaggio"));
    let message = match found {
        Ok(Some((_, message, _))) => message,
        Ok(None) => return super::not_found(),
        Err(e) => return server_error(e),
    };
    let (todo, health) = match (
        problems(&app, &message.id, sink),
        app.store().sink_health(&sink.name),
    ) {
        (Ok(todo), Ok(health)) => (todo, health),
        (Err(e), _) | (_, Err(e)) => return server_error(e),
    };
    let body = html! {
        article.card {
            h2 { (message.title) }
            p.meta { (message.source) " · " a href=(message.url) { "pagina ufficiale" } " · canale " strong { (sink.name) } }
            @if todo.is_empty() {
                p { "Non c'è niente da riprovare per questo messaggio su questo canale." }
            }
            @for problem in &todo {
                p {
                    (problem_words(problem))
                    @if let (None, Some(r)) = (problem.recipients, reason(&health, &message.id)) { ": " (r) }
                    (details(problem.detail.as_deref()))
                }
                (retry_form(&user, &message.id, &sink.name, problem))
            }
        }
        p { a href="/consegne" { "Torna alle consegne" } }
    };
    Html(page("Riprova l'invio", Some(&user), "/consegne", body)).into_response()
}

/// `POST /consegne/riprova`: puts a delivery back for another try.
pub(super) async fn retry(
    State(admin): State<Admin>,
    user: User,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.admin_form(&form) {
        return r.into_response();
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let state = match field("stato") {
        "failed" => DeliveryState::Failed,
        "unknown" => DeliveryState::Unknown,
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    let (message, sink) = (field("messaggio"), field("canale"));
    let confirmed = field("conferma") == "si";
    match admin
        .app()
        .retry_delivery(message, sink, state, confirmed, &user.name)
    {
        Ok(done) => {
            let what = match done.recipients {
                0 => String::new(),
                n => format!(" per {}", count(n, "destinatario", "destinatari")),
            };
            back(
                &admin,
                &user,
                "/consegne",
                Ok(format!(
                    "«{}» è di nuovo in coda{what} sul canale {sink}.",
                    done.title
                )),
            )
        }
        Err(RetryError::Store(e)) => server_error(e),
        Err(e) => back(&admin, &user, "/consegne", Err(e.to_string())),
    }
}

/// `POST /consegne/riprendi`: ends a sink's pause now.
pub(super) async fn resume(
    State(admin): State<Admin>,
    user: User,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.admin_form(&form) {
        return r.into_response();
    }
    let app = admin.app();
    let sink = form.get("canale").map(String::as_str).unwrap_or_default();
    if !app.config().sinks.iter().any(|s| s.name == sink) {
        return super::not_found();
    }
    match app.resume_sink(sink, &user.name) {
        Ok(Some(_)) => back(
            &admin,
            &user,
            "/consegne",
            Ok(format!("Canale {sink} ripreso: gli invii ricominciano.")),
        ),
        Ok(None) => back(
            &admin,
            &user,
            "/consegne",
            Err(format!("Il canale {sink} non è in pausa.")),
        ),
        Err(e) => server_error(e),
    }
}

/// The admin alerts raised and not cleared, for the top of the Sources page.
pub fn alarms_box(alarms: &[crate::store::RaisedAlarm], tz: chrono_tz::Tz) -> Markup {
    html! {
        @if !alarms.is_empty() {
            section.card.allarmi aria-labelledby="allarmi" {
                h2 id="allarmi" { "Allarmi" }
                ul {
                    @for a in alarms {
                        li {
                            strong { (a.title) } " (dal " (crate::report::when(Some(a.since), tz)) "): " (a.detail)
                        }
                    }
                }
            }
        }
    }
}
