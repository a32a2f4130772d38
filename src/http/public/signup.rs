//! Sign-up from the citizens' page, double opt-in (`public.signup`): a citizen leaves a
//! number and ticks the consent; banditore sends the confirmation template to that number and
//! subscribes it only when its owner replies (ISCRIVIMI, or SÌ) within a day (see
//! `http::webhooks`). No CAPTCHA, and still no way to spam a stranger: one confirmation per
//! number a day (a second request sends nothing), [`PER_ADDRESS`] requests an hour from one
//! address, `per_day` confirmations a day in all. The page answers the same whether the number
//! was already subscribed or waiting: it never says who is.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use crate::daemon::{App, AppCell};
use crate::phone::Phone;
use crate::sink::whatsapp_cloud::{CloudOutcome, CloudSink};
use crate::sink::Sink;
use crate::store::{Signup, SIGNUP_WINDOW};

/// The consent a citizen gives, word for word (kept with the subscription).
pub const CONSENT: &str = "Acconsento a ricevere su WhatsApp gli avvisi del Comune a questo numero e al trattamento del numero per questo scopo; posso smettere in qualunque momento scrivendo STOP.";

/// Requests one address may make in [`ADDRESS_WINDOW`].
pub const PER_ADDRESS: usize = 10;
const ADDRESS_WINDOW: Duration = Duration::from_secs(3600);

/// Recent requests per client address (in memory: a restart forgets them, the per-number and
/// daily limits are in the store).
#[derive(Default)]
pub struct Limits(Mutex<HashMap<IpAddr, Vec<Instant>>>);

impl Limits {
    /// Whether `ip` may make another request now (and counts it).
    fn allow(&self, ip: IpAddr) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, times| {
            times.retain(|t| now.duration_since(*t) < ADDRESS_WINDOW);
            !times.is_empty()
        });
        let times = map.entry(ip).or_default();
        if times.len() >= PER_ADDRESS {
            return false;
        }
        times.push(now);
        true
    }
}

#[derive(Deserialize, Default)]
pub struct SignupForm {
    #[serde(default)]
    numero: String,
    #[serde(default)]
    consenso: String,
}

/// The form, for the home page.
pub fn form(error: Option<&str>, number: &str) -> maud::Markup {
    html! {
        section.way aria-labelledby="via-modulo" {
            h2 id="via-modulo" { "Iscriviti con il tuo numero" }
            p { "Lascia il numero: ti scriviamo su WhatsApp e l'iscrizione vale solo quando rispondi ISCRIVIMI (o SÌ) entro 24 ore." }
            @if let Some(error) = error {
                p.notice role="alert" { (error) }
            }
            form.signup method="post" action="/iscriviti" {
                div {
                    label for="numero" { "Numero di cellulare (con WhatsApp)" }
                    input #numero type="tel" name="numero" autocomplete="tel" inputmode="tel" required value=(number) placeholder="+39 340 123 4567";
                }
                div.consent {
                    input #consenso type="checkbox" name="consenso" value="si" required;
                    label for="consenso" { (CONSENT) }
                }
                button type="submit" { "Iscrivimi" }
            }
        }
    }
}

/// `POST /iscriviti`.
pub async fn signup(
    State(cell): State<AppCell>,
    Extension(limits): Extension<Arc<Limits>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<SignupForm>, FormRejection>,
) -> Response {
    let app = cell.get();
    let settings = &app.config().settings;
    let Some(config) = settings.public.signup.clone() else {
        return super::not_found(State(cell)).await;
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let client =
        crate::http::client::client_address(peer.ip(), &headers, &settings.trusted_proxies);
    if !limits.allow(client) {
        return answer(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            "Troppe richieste",
            "Da questa rete sono arrivate troppe richieste: riprova tra un'ora.",
        );
    }
    let number: String = form.numero.chars().take(40).collect();
    if form.consenso != "si" {
        return again(
            &app,
            "Per iscriverti serve il tuo consenso: spunta la casella.",
            &number,
        );
    }
    let Some(phone) = Phone::parse(&number) else {
        return again(
            &app,
            "Il numero non sembra un cellulare: scrivilo con il prefisso, per esempio +39 340 123 4567.",
            &number,
        );
    };
    let Some(cloud) = app.sinks().iter().find_map(|s| match s {
        Sink::Cloud(c) if c.name() == config.sink => Some(c),
        _ => None,
    }) else {
        return super::trouble("the sign-up's sink is not configured");
    };
    let now = app.now();
    let sent = match send(&app, cloud, &config, &phone, now).await {
        Ok(sent) => sent,
        Err(response) => return response,
    };
    match sent {
        Sent::Asked | Sent::Nothing => answer(
            &app,
            StatusCode::OK,
            "Controlla WhatsApp",
            "Se il numero è su WhatsApp, ti abbiamo scritto dal numero del Comune: rispondi ISCRIVIMI (o SÌ) entro 24 ore per confermare. Se non rispondi, il numero viene dimenticato.",
        ),
        Sent::Full => answer(
            &app,
            StatusCode::SERVICE_UNAVAILABLE,
            "Riprova domani",
            "Oggi sono arrivate dal sito troppe iscrizioni. Puoi iscriverti subito scrivendo ISCRIVIMI al numero del Comune su WhatsApp.",
        ),
        Sent::Failed => again(
            &app,
            "Non è stato possibile scriverti su WhatsApp: controlla il numero, oppure scrivi ISCRIVIMI al numero del Comune.",
            &number,
        ),
    }
}

/// What the request came to.
enum Sent {
    /// The confirmation went.
    Asked,
    /// Nothing sent: the number is subscribed already or has a confirmation waiting (the
    /// page says the same as for `Asked`).
    Nothing,
    /// The day's confirmations are all gone.
    Full,
    /// WhatsApp refused it.
    Failed,
}

async fn send(
    app: &App,
    cloud: &CloudSink,
    config: &crate::config::SignupSettings,
    phone: &Phone,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Sent, Response> {
    let store = app.store();
    let checked = (|| {
        if store.subscriber(phone)?.is_some() {
            return Ok(Some(Sent::Nothing));
        }
        if store.signups_since(now - SIGNUP_WINDOW)? >= config.per_day {
            return Ok(Some(Sent::Full));
        }
        let signup = Signup {
            at: now,
            consent_text: CONSENT.into(),
        };
        Ok::<_, crate::store::StoreError>(
            (!store.add_signup(phone, &signup, now)?).then_some(Sent::Nothing),
        )
    })();
    match checked {
        Ok(Some(done)) => return Ok(done),
        Ok(None) => {}
        Err(e) => return Err(super::trouble(e)),
    }
    let name = &app.config().settings.public.name;
    let body = CloudSink::template_with(&config.template, &[name], phone.as_str());
    match cloud.post(&body).await {
        CloudOutcome::Sent { .. } => {
            tracing::info!(sink = cloud.name(), "sign-up confirmation sent");
            Ok(Sent::Asked)
        }
        failed => {
            tracing::warn!(sink = cloud.name(), error = %failed.detail(), "sign-up confirmation not sent");
            if let Err(e) = store.remove_signup(phone) {
                return Err(super::trouble(e));
            }
            Ok(Sent::Failed)
        }
    }
}

/// A page that says how it went.
fn answer(app: &App, status: StatusCode, title: &str, words: &str) -> Response {
    let public = &app.config().settings.public;
    let body = html! {
        p role="status" { (words) }
        p { a href="/" { "← Torna alla pagina per iscriversi" } }
    };
    let mut response = super::html(super::pages::page(public, title, "", body));
    *response.status_mut() = status;
    response
}

/// The form again, with what was wrong.
fn again(app: &App, error: &str, number: &str) -> Response {
    let public = &app.config().settings.public;
    let body = form(Some(error), number);
    let mut response = super::html(super::pages::page(public, "Iscriviti", "", body));
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}
