//! The simulated comune of Borgo Esempio: its website, news feed, press releases, events and
//! the regional civil protection's CAP alerts, on an ephemeral loopback port. What it
//! publishes moves on with the demo's stages.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, Utc};

const COMUNE_FEED: &str = include_str!("../../fixtures/demo/comune-esempio.rss.xml");
const NEW_ITEM: &str = include_str!("../../fixtures/demo/new-item.xml");
const MESSAGGERO_FEED: &str =
    include_str!("../../fixtures/feeds/ilmessaggero_mondo_italian_dates.rss.xml");
const COMUNICATI: &str = include_str!("../../fixtures/demo/comunicati.html");
const NEW_CARD: &str = include_str!("../../fixtures/demo/new-card.html");
const COMUNICATO: &str = include_str!("../../fixtures/demo/comunicato.html");
const CAP_TEMPLATE: &str = include_str!("../../fixtures/demo/allerta.cap.xml");
const EVENTS_FEED: &str = include_str!("../../fixtures/demo/eventi.rss.xml");
const NEW_EVENT: &str = include_str!("../../fixtures/demo/new-event.xml");

/// What the simulated comune has published so far.
pub(super) const STAGE_BASELINE: u8 = 0;
pub(super) const STAGE_NEWS: u8 = 1;
pub(super) const STAGE_ALERT: u8 = 2;
pub(super) const STAGE_DOWNGRADE: u8 = 3;
pub(super) const STAGE_CANCEL: u8 = 4;
pub(super) const STAGE_CORRECTION: u8 = 5;
pub(super) const STAGE_NIGHT: u8 = 6;
pub(super) const STAGE_FLOOD: u8 = 7;

/// How many items the comune's new website publishes at once in the flood stage.
pub(super) const FLOOD_ITEMS: usize = 12;

/// The simulated website.
pub(super) struct Site {
    base: String,
    stage: AtomicU8,
    /// The demo's first moment (simulated time); everything published is dated from it.
    start: DateTime<Utc>,
}

impl Site {
    pub(super) fn set_stage(&self, stage: u8) {
        self.stage.store(stage, Ordering::SeqCst);
    }

    fn stage(&self) -> u8 {
        self.stage.load(Ordering::SeqCst)
    }

    fn feed(&self) -> (String, String) {
        let stage = self.stage();
        if stage >= STAGE_FLOOD {
            return (self.flood_feed(), format!("\"v{stage}\""));
        }
        let mut items = String::new();
        if stage >= STAGE_NIGHT {
            items.push_str(&self.night_item());
        }
        if stage >= STAGE_CORRECTION {
            // The comune corrects the day of the water cut.
            items.push_str(&NEW_ITEM.replace("martedì 2 dicembre", "mercoledì 3 dicembre"));
        } else if stage >= STAGE_NEWS {
            items.push_str(NEW_ITEM);
        }
        let body = COMUNE_FEED
            .replace("{new_item}", &items)
            .replace("{base}", &self.base);
        (body, format!("\"v{stage}\""))
    }

    /// Four items the comune publishes late in the evening, during quiet hours: three for
    /// the days ahead, one about the night itself.
    fn night_item(&self) -> String {
        let at = |minutes: i64| (self.start + Duration::minutes(minutes)).to_rfc2822();
        format!(
            "<item><title>Mercato straordinario di Natale domenica in piazza Garibaldi</title>\
             <link>{base}/notizie/mercato-di-natale/</link><guid isPermaLink=\"false\">{base}/?p=4140</guid>\
             <pubDate>{}</pubDate><description>Domenica dalle 9 alle 19 le bancarelle del mercato di Natale in piazza Garibaldi. Parcheggio gratuito in via Mazzini.</description></item>\n\
             <item><title>Via Po chiusa per lavori urgenti</title>\
             <link>{base}/notizie/via-po-chiusa/</link><guid isPermaLink=\"false\">{base}/?p=4141</guid>\
             <pubDate>{}</pubDate><description>Via Po resta chiusa stanotte dalle 23 alle 5 per la riparazione di una condotta.</description></item>\n\
             <item><title>Iscrizioni aperte al centro estivo comunale</title>\
             <link>{base}/notizie/centro-estivo/</link><guid isPermaLink=\"false\">{base}/?p=4142</guid>\
             <pubDate>{}</pubDate><description>Le iscrizioni al centro estivo si ricevono fino al 15 dicembre allo sportello scuola.</description></item>\n\
             <item><title>Nuovi orari della biblioteca da lunedì</title>\
             <link>{base}/notizie/orari-biblioteca/</link><guid isPermaLink=\"false\">{base}/?p=4143</guid>\
             <pubDate>{}</pubDate><description>Da lunedì la biblioteca apre dalle 9 alle 19, il sabato dalle 9 alle 13.</description></item>\n",
            at(12 * 60 + 5),
            at(12 * 60 + 8),
            at(12 * 60 + 12),
            at(12 * 60 + 15),
            base = self.base
        )
    }

    /// The comune's new website: every item at a new address at once.
    fn flood_feed(&self) -> String {
        let at = self.start + Duration::hours(24);
        let items: String = (1..=FLOOD_ITEMS)
            .map(|i| {
                format!(
                    "<item><title>Notizia {i} dal nuovo sito</title><link>{base}/nuovo/notizie/{i}/</link>\
                     <guid isPermaLink=\"false\">{base}/nuovo/?id={i}</guid><pubDate>{}</pubDate>\
                     <description>Testo della notizia {i}.</description></item>\n",
                    (at - Duration::minutes(i as i64)).to_rfc2822(),
                    base = self.base
                )
            })
            .collect();
        COMUNE_FEED
            .replace("{new_item}", &items)
            .replace("{base}", &self.base)
    }

    fn cap(&self, alert: CapAlert) -> String {
        let time = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
        let issued = self.start + Duration::hours(2);
        CAP_TEMPLATE
            .replace("{id}", alert.id)
            .replace("{msg_type}", alert.msg_type)
            .replace("{event}", alert.event)
            .replace("{headline}", alert.headline)
            .replace("{references}", &alert.references)
            .replace(
                "<severity>Severe</severity>",
                &format!("<severity>{}</severity>", alert.severity),
            )
            .replace("{sent}", &time(self.start + alert.sent_after))
            .replace("{onset}", &time(issued))
            .replace("{expires}", &time(issued + Duration::hours(36)))
            .replace("{base}", &self.base)
    }

    /// The civil protection's current alert document.
    fn alert(&self) -> String {
        const SENDER: &str = "protezionecivile@regione.esempio.it";
        let original = format!(
            "{SENDER},po-1,{}",
            (self.start + Duration::hours(2)).format("%Y-%m-%dT%H:%M:%S+00:00")
        );
        let base = CapAlert {
            id: "po-1",
            msg_type: "Alert",
            event: "Piena fluviale",
            headline: "Allerta arancione: piena del fiume Po",
            severity: "Severe",
            references: String::new(),
            sent_after: Duration::hours(2),
        };
        match self.stage() {
            STAGE_ALERT => self.cap(base),
            STAGE_DOWNGRADE => self.cap(CapAlert {
                id: "po-2",
                msg_type: "Update",
                headline: "Allerta gialla: piena del fiume Po",
                severity: "Moderate",
                references: format!("<references>{original}</references>"),
                sent_after: Duration::hours(4),
                ..base
            }),
            s if s >= STAGE_CANCEL => self.cap(CapAlert {
                id: "po-3",
                msg_type: "Cancel",
                headline: "Cessata allerta per la piena del fiume Po",
                references: format!("<references>{original}</references>"),
                sent_after: Duration::hours(6),
                ..base
            }),
            _ => self.cap(CapAlert {
                id: "vento-1",
                event: "Vento forte",
                headline: "Allerta gialla: vento forte in collina",
                severity: "Moderate",
                sent_after: Duration::zero(),
                ..base
            }),
        }
    }
}

/// One CAP document of the demo.
struct CapAlert {
    id: &'static str,
    msg_type: &'static str,
    event: &'static str,
    headline: &'static str,
    severity: &'static str,
    references: String,
    /// Sent this long after the demo's start.
    sent_after: Duration,
}

async fn comune_feed(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    let (body, etag) = site.feed();
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/rss+xml; charset=UTF-8"),
            (header::ETAG, etag.as_str()),
        ],
        body,
    )
        .into_response()
}

async fn news_page(Path(slug): Path<String>) -> Html<String> {
    let slug = html_escape::encode_text(&slug);
    Html(format!(
        "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\"><title>{slug}</title></head>\
         <body><h1>Comune di Borgo Esempio</h1><p>Pagina della notizia «{slug}».</p></body></html>"
    ))
}

async fn eventi(State(site): State<Arc<Site>>) -> Response {
    let item = if site.stage() >= STAGE_NEWS {
        NEW_EVENT
    } else {
        ""
    };
    let body = EVENTS_FEED
        .replace("{new_item}", item)
        .replace("{base}", &site.base);
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=UTF-8")],
        body,
    )
        .into_response()
}

async fn comunicati(State(site): State<Arc<Site>>) -> Html<String> {
    let card = if site.stage() >= STAGE_NEWS {
        NEW_CARD
    } else {
        ""
    };
    Html(COMUNICATI.replace("{new_card}", card))
}

async fn allerta(State(site): State<Arc<Site>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/cap+xml")],
        site.alert(),
    )
        .into_response()
}

/// Starts the simulated site on an ephemeral loopback port; `start` is the demo's first
/// moment.
pub(super) async fn serve_site(start: DateTime<Utc>) -> anyhow::Result<(Arc<Site>, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let site = Arc::new(Site {
        base: format!("http://{addr}"),
        stage: AtomicU8::new(STAGE_BASELINE),
        start,
    });
    let router = Router::new()
        .route("/feed/", get(comune_feed))
        .route("/notizie/{slug}/", get(news_page))
        .route("/comunicati/", get(comunicati))
        .route("/eventi/feed/", get(eventi))
        .route(
            "/comunicati/illuminazione-led-via-garibaldi/",
            get(|| async { Html(COMUNICATO) }),
        )
        .route("/allerte/regione.cap.xml", get(allerta))
        .route(
            "/messaggero/rss.xml",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/rss+xml")],
                    MESSAGGERO_FEED,
                )
            }),
        )
        .route(
            "/guasto/feed/",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "manutenzione in corso") }),
        )
        .with_state(site.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "demo site stopped");
        }
    });
    Ok((site, addr))
}

pub(super) fn demo_config(
    addr: SocketAddr,
    sim: SocketAddr,
    smtp: SocketAddr,
    out: &std::path::Path,
) -> String {
    format!(
        r#"[settings]
timezone = "Europe/Rome"
location = {{ lat = 45.133, lon = 10.027 }}
public = {{ name = "Comune di Borgo Esempio", channel_url = "https://whatsapp.com/channel/0029VaDEMO0000000000000", whatsapp_number = "+39 0372 000000", privacy_url = "https://www.comune.example.it/privacy" }}

[[source]]
name = "borgo-esempio"
kind = "feed"
url = "http://{addr}/feed/"
every = "5m"
footer = "Comune di Borgo Esempio · canale ufficiale"
corrections = "auto"

[[source]]
name = "borgo-comunicati"
kind = "page"
url = "http://{addr}/comunicati/"
preset = "design-comuni"
every = "15m"

[[source]]
name = "protezione-civile"
kind = "cap"
url = "http://{addr}/allerte/regione.cap.xml"
every = "1m"
min_severity = "severe"

[[source]]
name = "borgo-eventi"
kind = "feed"
url = "http://{addr}/eventi/feed/"
every = "15m"
forward = "review"

[[source]]
name = "il-messaggero"
kind = "feed"
url = "http://{addr}/messaggero/rss.xml"
every = "15m"

[[source]]
name = "sito-in-manutenzione"
kind = "feed"
url = "http://{addr}/guasto/feed/"
every = "5m"

[[topic]]
name = "allerte"
label = "Allerte di protezione civile"
keywords = ["ALLERTE", "PROTEZIONE CIVILE"]
sources = ["protezione-civile"]
urgent = true

[[topic]]
name = "eventi"
label = "Eventi e manifestazioni"
keywords = ["EVENTI"]
sources = ["borgo-eventi"]

[[sink]]
name = "console"
kind = "console"

[[sink]]
name = "archivio"
kind = "file"
path = "{}"

[[sink]]
name = "whatsapp"
kind = "whatsapp-cloud"
api_base = "http://{sim}"
api_version = "v23.0"
phone_number_id = "100000000000001"
token_env = "DEMO_WHATSAPP_TOKEN"
app_secret_env = "DEMO_WHATSAPP_APP_SECRET"
verify_token_env = "DEMO_WHATSAPP_VERIFY_TOKEN"
template = {{ name = "notizia_comune", language = "it" }}
messages_per_second = 20

[[sink]]
name = "canale"
kind = "whatsapp-gateway"
api_base = "http://{sim}"
session = "default"
chat_id = "120363000000000000@newsletter"
hmac_key_env = "DEMO_WAHA_HMAC"

[[sink]]
name = "telegram"
kind = "telegram"
api_base = "http://{sim}"
token_env = "DEMO_TELEGRAM_TOKEN"
chat_id = "@borgo_esempio"

[[sink]]
name = "mastodon"
kind = "mastodon"
api_base = "http://{sim}"
token_env = "DEMO_MASTODON_TOKEN"
visibility = "public"
urgent_content_warning = true

[[sink]]
name = "newsletter"
kind = "email"
smtp_host = "{smtp_host}"
smtp_port = {smtp_port}
tls = "none"
from = "Comune di Borgo Esempio <notizie@comune.example.it>"
to = ["newsletter@comune.example.it"]
list_unsubscribe = "mailto:newsletter@comune.example.it?subject=cancellami"
"#,
        out.display(),
        smtp_host = smtp.ip(),
        smtp_port = smtp.port(),
    )
}
