//! Sign-up from the citizens' page, double opt-in (`public.signup`): a citizen leaves a
//! number and ticks the consent; banditore sends the confirmation template to that number and
//! subscribes it only when its owner replies (ISCRIVIMI, or SÌ) within a day (see
//! `http::webhooks`). No CAPTCHA, and still no way to spam a stranger: one confirmation per
//! number a day (a second request sends nothing), never again to a number that said STOP,
//! [`PER_ADDRESS`] requests an hour from one network, `per_day` confirmations a day in all,
//! posts from other sites refused. The page answers the same, at once, whatever the number's
//! state (the confirmation goes after the answer): it never says who is subscribed.

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

use crate::config::PublicSettings;
use crate::daemon::{App, AppCell};
use crate::phone::Phone;
use crate::sink::whatsapp_cloud::{CloudOutcome, CloudSink};
use crate::sink::Sink;
use crate::store::{NoSignup, Signup};

/// The consent a citizen gives, word for word (kept with the subscription).
pub fn consent(name: &str) -> String {
    format!(
        "Acconsento a ricevere su WhatsApp, a questo numero, gli avvisi ufficiali di «{name}» e al trattamento del numero per questo scopo; posso smettere in qualunque momento scrivendo STOP."
    )
}

/// Requests one network (an IPv4 address, an IPv6 /64: one household's) may make in
/// [`ADDRESS_WINDOW`].
pub const PER_ADDRESS: usize = 10;
const ADDRESS_WINDOW: Duration = Duration::from_secs(3600);

/// Recent requests per client network (in memory: a restart forgets them; the per-number and
/// daily limits are in the store).
#[derive(Default)]
pub struct Limits(Mutex<HashMap<IpAddr, Vec<Instant>>>);

impl Limits {
    /// Whether `ip` may make another request now (and counts it).
    fn allow(&self, ip: IpAddr) -> bool {
        // An IPv6 host has a whole /64 to pick addresses from.
        let ip = match ip {
            IpAddr::V6(v6) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
            v4 => v4,
        };
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
pub fn form(public: &PublicSettings, error: Option<&str>, number: &str) -> maud::Markup {
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
                    input #numero type="tel" name="numero" autocomplete="tel" inputmode="tel" required maxlength="32" value=(number) placeholder="+39 340 123 4567";
                }
                div.consent {
                    input #consenso type="checkbox" name="consenso" value="si" required;
                    label for="consenso" { (consent(&public.name)) }
                }
                @if let Some(privacy) = &public.privacy_url {
                    p.small { a href=(privacy) { "Informativa privacy" } }
                }
                button type="submit" { "Iscrivimi" }
            }
        }
    }
}

/// Whether a form post comes from this page: a browser says where a request comes from
/// (`Sec-Fetch-Site`, `Origin`); another site's page must not post numbers through its
/// visitors' browsers (each visitor a new address for the limits).
fn same_site(headers: &HeaderMap, public: &PublicSettings) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
        return false;
    }
    let Some(origin) = header("origin") else {
        return true; // not a browser's cross-site form: those always send Origin
    };
    let host_of = |u: url::Url| {
        u.host_str()
            .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
    };
    let theirs = url::Url::parse(origin).ok().and_then(host_of);
    let ours = match &public.url {
        Some(url) => host_of(url.clone()),
        None => header("host")
            .and_then(|h| url::Url::parse(&format!("http://{h}/")).ok())
            .and_then(host_of),
    };
    theirs.is_some() && theirs == ours
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
    let public = &settings.public;
    let Some(config) = public.signup.clone() else {
        return super::not_found(State(cell)).await;
    };
    if !same_site(&headers, public) {
        tracing::warn!("citizens' page: a sign-up posted from another site was refused");
        return answer(
            &app,
            StatusCode::FORBIDDEN,
            "Richiesta non valida",
            "Il modulo va inviato da questa pagina.",
        );
    }
    let client =
        crate::http::client::client_address(peer.ip(), &headers, &settings.trusted_proxies);
    if !limits.allow(client) {
        tracing::warn!("citizens' page: too many sign-ups from one network; refused");
        return answer(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            "Troppe richieste",
            "Da questa rete sono arrivate troppe richieste: riprova tra un'ora, oppure scrivi ISCRIVIMI al numero del Comune su WhatsApp.",
        );
    }
    let form = match form {
        Ok(Form(form)) => form,
        Err(FormRejection::BytesRejection(_)) => {
            return answer(
                &app,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Richiesta non valida",
                "Il modulo è troppo grande.",
            );
        }
        Err(_) => return again(&app, "Il modulo non è arrivato intero: riprova.", ""),
    };
    // Shown back as typed (cut), but read whole: a cut number would be another number.
    let number: String = form.numero.chars().take(64).collect();
    if form.consenso != "si" {
        return again(
            &app,
            "Per iscriverti serve il tuo consenso: spunta di nuovo la casella.",
            &number,
        );
    }
    let Some(phone) = Phone::typed_mobile(&form.numero) else {
        return again(
            &app,
            "Il numero non sembra un cellulare: scrivilo con il prefisso, per esempio +39 340 123 4567 (solo cifre e spazi).",
            &number,
        );
    };
    let now = app.now();
    // The cap is the same for every number: said at once.
    match app.store().signups_full(config.per_day, now) {
        Err(e) => return super::trouble(e),
        Ok(true) => {
            tracing::warn!(
                per_day = config.per_day,
                "citizens' page: the day's sign-up confirmations are all gone"
            );
            return answer(
                &app,
                StatusCode::SERVICE_UNAVAILABLE,
                "Riprova domani",
                "Oggi sono arrivate dal sito troppe iscrizioni. Puoi iscriverti subito scrivendo ISCRIVIMI al numero del Comune su WhatsApp.",
            );
        }
        Ok(false) => {}
    }
    // Everything about the number happens after the answer, which is therefore the same, in
    // its words and in its time, whether the number is new, waiting, subscribed or refused.
    tokio::spawn(record_and_send(app.clone(), config, phone));
    answer(
        &app,
        StatusCode::OK,
        "Controlla WhatsApp",
        "Se il numero è su WhatsApp, ti scriviamo dal numero del Comune: rispondi ISCRIVIMI (o SÌ) entro 24 ore per confermare. Se non rispondi, il numero viene dimenticato.",
    )
}

/// One sign-up at a time: two requests for the same number cannot both send.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records the sign-up and sends the confirmation, unless the number is subscribed already,
/// has a confirmation waiting, said STOP, or the day's cap was reached meanwhile. A failed
/// send is logged (without the number); the sign-up stays, so the form cannot be used to try
/// the number again today.
async fn record_and_send(app: App, config: crate::config::SignupSettings, phone: Phone) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let now = app.now();
    let store = app.store();
    let recorded = (|| {
        if store.subscriber(&phone)?.is_some() {
            return Ok(Err(NoSignup::Waiting));
        }
        let signup = Signup {
            at: now,
            consent_text: consent(&app.config().settings.public.name),
        };
        store.add_signup(&phone, &signup, config.per_day, now)
    })();
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return,
        Err(e) => {
            tracing::error!(error = %e, "citizens' page: cannot record a sign-up");
            return;
        }
    }
    let Some(cloud) = app.sinks().iter().find_map(|s| match s {
        Sink::Cloud(c) if c.name() == config.sink => Some(c),
        _ => None,
    }) else {
        tracing::error!(sink = %config.sink, "citizens' page: the sign-up's sink is not configured");
        return;
    };
    let name = &app.config().settings.public.name;
    let body = CloudSink::template_with(&config.template, &[name], phone.as_str());
    match cloud.post(&body).await {
        CloudOutcome::Sent { .. } => {
            tracing::info!(sink = cloud.name(), "sign-up confirmation sent")
        }
        failed => tracing::warn!(
            sink = cloud.name(),
            error = %crate::phone::mask_numbers(failed.detail()),
            "sign-up confirmation not sent"
        ),
    }
}

/// A page that says how it went, with the way to write to the comune's number.
fn answer(app: &App, status: StatusCode, title: &str, words: &str) -> Response {
    let public = &app.config().settings.public;
    let body = html! {
        p role="status" { (words) }
        @if let Some(number) = &public.whatsapp_number {
            p { "Il numero del Comune su WhatsApp: " strong { "+" (number.as_str()) } }
            p { a.button href=(format!("https://wa.me/{}?text=ISCRIVIMI", number.as_str())) { "Scrivi ISCRIVIMI su WhatsApp" } }
        }
        p { a href="/" { "← Torna alla pagina per iscriversi" } }
    };
    let mut response = super::html(super::pages::page(public, title, "", body));
    *response.status_mut() = status;
    response
}

/// The form again, with what was wrong.
fn again(app: &App, error: &str, number: &str) -> Response {
    let public = &app.config().settings.public;
    let body = form(public, Some(error), number);
    let mut response = super::html(super::pages::page(public, "Iscriviti", "", body));
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}
