//! The "Consegne" page and its actions over HTTP: a failing webhook shows as failing (with
//! its HTTP status and the next retry), a failed delivery retried after the sink recovers
//! arrives once, an `unknown` one needs the confirmation, the Cloud API broadcast retries
//! only the recipients that failed, a paused sink is resumed; editors see but cannot act,
//! forms need the CSRF token, feed text is escaped; Telegram, Mastodon and e-mail each have
//! their card, and a Telegram bot whose token was revoked shows as paused.

mod common;
#[path = "common/providers.rs"]
mod providers;

use std::collections::HashMap;
use std::sync::Arc;

use banditore::daemon::{App, AppCell};
use banditore::http::admin::Admin;
use banditore::phone::Phone;
use banditore::sink::secret::{Secret, Secrets};
use banditore::store::{DeliveryState, RecipientState, Subscriber};
use common::admin::{csrf, Web, EDITOR_HASH};
use common::{rss, source, FeedServer, Route, Workdir};
use providers::MockCloud;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

const A: (&str, &str, &str) = ("a", "https://comune.example.it/n/a/", "Avviso A");
const XSS: (&str, &str, &str) = (
    "x",
    "https://comune.example.it/n/x/",
    // Escaped twice: a title is read as HTML, so once-escaped markup would end as its text.
    "&amp;lt;svg onload=alert(1)&amp;gt; Avviso",
);
const ESCAPED: &str = "&lt;svg onload=alert(1)&gt; Avviso";
const WARNING: &str =
    "potrebbe essere già arrivato: riprovando i cittadini potrebbero riceverlo due volte";

struct Ui {
    web: Web,
    app: App,
    feeds: FeedServer,
    work: Workdir,
}

fn webhook(feeds: &FeedServer) -> String {
    format!(
        "[[sink]]\nname = \"automazione\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"WEBHOOK_SECRET\"\n",
        feeds.url("/hook")
    )
}

fn cloud(addr: std::net::SocketAddr) -> String {
    format!(
        "[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\napi_base = \"http://{addr}\"\napi_version = \"v23.0\"\n\
         phone_number_id = \"123456789012345\"\ntoken_env = \"WHATSAPP_TOKEN\"\napp_secret_env = \"WHATSAPP_APP_SECRET\"\n\
         verify_token_env = \"WHATSAPP_VERIFY_TOKEN\"\nmessages_per_second = 80\n"
    )
}

/// An app on the given sinks (beside the file sink "out"), its first poll done (the
/// baseline: nothing sent), and the admin UI on a loopback port. Nothing runs in the
/// background: the test delivers with `Ui::deliver`.
async fn start(sinks: impl FnOnce(&FeedServer) -> String) -> Ui {
    start_with("", sinks).await
}

/// [`start`], with more keys (`extra`) in the source's table.
async fn start_with(extra: &str, sinks: impl FnOnce(&FeedServer) -> String) -> Ui {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    feeds.set("/hook", Route::status(200));
    let sources = format!(
        "{}\n[[user]]\nname = \"redazione\"\nrole = \"editor\"\npassword_hash = \"{EDITOR_HASH}\"\n",
        source("comune", &feeds.url("/feed"), extra)
    );
    let work = Workdir::with_sinks("", &sources, &sinks(&feeds));
    let config = banditore::config::Config::load(&work.config()).unwrap();
    let secrets = Secrets::Fixed(HashMap::from(
        [
            ("WEBHOOK_SECRET", "hook-secret"),
            ("WHATSAPP_TOKEN", providers::TOKEN),
            ("WHATSAPP_APP_SECRET", "app-secret"),
            ("WHATSAPP_VERIFY_TOKEN", "verify-me"),
            ("TELEGRAM_TOKEN", "123:revocato"),
            ("MASTODON_TOKEN", "token-mastodon"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    ));
    let app = App::build_with(
        config,
        &work.path().join("data"),
        Arc::new(banditore::schedule::SystemClock),
        &secrets,
    )
    .unwrap();
    app.once().await.unwrap();
    let admin = Admin::with_token(
        AppCell::new(app.clone()),
        None,
        Some(Secret::new("tok-admin".into())),
    );
    Ui {
        web: common::admin::serve(admin).await,
        app,
        feeds,
        work,
    }
}

impl std::ops::Deref for Ui {
    type Target = Web;
    fn deref(&self) -> &Web {
        &self.web
    }
}

impl Ui {
    /// A subscriber whose consent was collected on paper: they never wrote, so only the
    /// template reaches them.
    fn subscribe_imported(&self, phone: &str) {
        let sub = Subscriber {
            consented_at: chrono::DateTime::from_timestamp(1_735_722_000, 0).unwrap(),
            consent_text: "modulo cartaceo firmato".into(),
            consent_message_id: None,
            last_inbound_at: None,
            selection: Default::default(),
        };
        self.app
            .store()
            .subscribe(&Phone::parse(phone).unwrap(), &sub)
            .unwrap();
    }

    async fn editor(&self) -> String {
        self.web.editor("redazione").await
    }

    /// Posts a form and follows the redirect: `"<page>?ok=<message>"` or
    /// `"<page>?errore=<message>"`, the message being what the page then shows once (it is
    /// kept in the session, never in the address).
    async fn submit(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> String {
        let resp = self.post(path, cookie, form).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path} {form:?}");
        let to = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(!to.contains('?'), "no message in the address: {to}");
        let page = self.page(&to, cookie).await;
        let flash = common::admin::flash_of(&page).map(|(error, text)| {
            let kind = if error { "errore" } else { "ok" };
            format!("{to}?{kind}={text}")
        });
        flash.unwrap_or(to)
    }

    /// A new item in the feed, polled and delivered once.
    async fn publish(&self, items: &[(&str, &str, &str)]) {
        self.feeds.set("/feed", Route::feed(rss(items)));
        self.app.once().await.unwrap();
    }

    async fn deliver(&self) {
        self.app.deliver(&CancellationToken::new()).await.unwrap();
    }

    fn last_message(&self) -> String {
        let store = self.app.store();
        match store.outbox().next() {
            Some(r) => r.unwrap().1.message.id,
            None => store.recent_log(1).unwrap().remove(0).message.id,
        }
    }

    fn state(&self, sink: &str) -> Option<DeliveryState> {
        let id = self.last_message();
        self.app
            .store()
            .delivery(&id, sink)
            .unwrap()
            .map(|r| r.state)
    }
}

/// A form with its CSRF field replaced (or left out).
fn with_csrf<'a>(form: &[(&'a str, &'a str)], csrf: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form: Vec<_> = form.iter().filter(|(k, _)| *k != "csrf").copied().collect();
    if let Some(t) = csrf {
        form.push(("csrf", t));
    }
    form
}

/// The card of one sink on the Consegne page.
fn card<'a>(html: &'a str, sink: &str) -> &'a str {
    let start = html
        .find(&format!("<h2>{sink}</h2>"))
        .unwrap_or_else(|| panic!("no card for {sink}: {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</article>").unwrap()]
}

#[tokio::test]
async fn a_webhook_answering_500_shows_as_failing_not_waiting() {
    let ui = start(webhook).await;
    ui.feeds.set("/hook", Route::status(500));
    ui.publish(&[XSS, A]).await;
    assert_eq!(ui.feeds.requests("/hook").len(), 1);
    assert_eq!(ui.state("automazione"), None, "retried by the deliverer");
    let editor = ui.editor().await;
    let page = ui.page("/consegne", &editor).await;
    assert!(page.contains(r#"href="/consegne""#), "in the navigation");
    let hook = card(&page, "automazione");
    assert!(hook.contains("In errore"), "{hook}");
    assert!(
        hook.contains("HTTP 500 (errore interno del server)"),
        "{hook}"
    );
    assert!(hook.contains("Prossimo tentativo: "), "{hook}");
    assert!(hook.contains("1 tentativo fallito di fila"), "{hook}");
    assert!(hook.contains("1 messaggio da consegnare"), "{hook}");
    assert!(!hook.contains("in attesa"), "{hook}");
    assert!(card(&page, "out").contains("1 messaggio inviato"), "{page}");
    // The sent messages say why it waits, too.
    let log = ui.page("/log", &editor).await;
    assert!(
        log.contains("da riprovare, il canale è in errore: il servizio ha risposto HTTP 500"),
        "{log}"
    );
    assert!(!log.contains("in attesa"), "{log}");
    assert!(
        log.contains(ESCAPED) && !log.contains("<svg onload"),
        "{log}"
    );
}

#[tokio::test]
async fn a_failed_delivery_retried_after_the_sink_recovers_arrives_once() {
    let ui = start(webhook).await;
    ui.feeds.set("/hook", Route::status(400));
    ui.publish(&[XSS, A]).await;
    assert_eq!(ui.state("automazione"), Some(DeliveryState::Failed));
    assert_eq!(ui.app.store().outbox_len(), 0, "finished: in the log");
    let id = ui.last_message();
    let admin = ui.admin().await;
    let page = ui.page("/consegne", &admin).await;
    let hook = card(&page, "automazione");
    assert!(hook.contains("HTTP 400 (richiesta non valida)"), "{hook}");
    assert!(hook.contains("1 messaggio non riuscito"), "{hook}");
    // Feed text is escaped wherever it appears (here the title's markup ended as text).
    assert!(!page.contains("<svg onload"), "{page}");
    assert!(hook.contains(r#"action="/consegne/riprova""#), "{hook}");
    assert!(!hook.contains(WARNING), "no warning for a failed delivery");
    // "Inviati" links the failed delivery to its retry page.
    let log = ui.page("/log", &admin).await;
    let link = format!("/consegne/riprova?messaggio={id}&amp;canale=automazione");
    assert!(log.contains(&link), "{log}");
    let retry_page = ui
        .page(
            &format!("/consegne/riprova?messaggio={id}&canale=automazione"),
            &admin,
        )
        .await;
    assert!(!retry_page.contains("<svg onload"), "{retry_page}");
    assert!(retry_page.contains("Riprova l&#39;invio") || retry_page.contains("Riprova l'invio"));

    ui.feeds.set("/hook", Route::status(200));
    let token = csrf(&page);
    let done = ui
        .submit(
            "/consegne/riprova",
            &admin,
            &[
                ("csrf", &token),
                ("messaggio", &id),
                ("canale", "automazione"),
                ("stato", "failed"),
            ],
        )
        .await;
    assert!(done.starts_with("/consegne?ok="), "{done}");
    assert_eq!(ui.state("automazione"), Some(DeliveryState::Requeued));
    assert_eq!(ui.app.store().outbox_len(), 1, "back in the outbox");
    ui.deliver().await;
    ui.deliver().await;
    assert_eq!(
        ui.feeds.requests("/hook").len(),
        2,
        "one more request, once"
    );
    assert_eq!(ui.state("automazione"), Some(DeliveryState::Sent));
    assert_eq!(ui.state("out"), Some(DeliveryState::Sent));
    assert_eq!(
        ui.work.messages().len(),
        1,
        "the file sink is not sent again"
    );
    assert_eq!(ui.app.store().outbox_len(), 0);
    // Twice is refused: nothing is failed any more.
    let again = ui
        .submit(
            "/consegne/riprova",
            &admin,
            &[
                ("csrf", &token),
                ("messaggio", &id),
                ("canale", "automazione"),
                ("stato", "failed"),
            ],
        )
        .await;
    assert!(again.starts_with("/consegne?errore="), "{again}");
    let page = ui.page("/consegne", &admin).await;
    let hook = card(&page, "automazione");
    assert!(hook.contains("Funziona"), "{hook}");
    assert!(hook.contains("1 messaggio inviato"), "{hook}");
    assert!(!hook.contains(r#"action="/consegne/riprova""#), "{hook}");
    let log = ui.page("/log", &admin).await;
    assert!(log.contains("consegna riprovata"), "audited: {log}");
}

#[tokio::test]
async fn an_unknown_delivery_needs_the_confirmation() {
    // An append whose end nobody knows (a crash between the write and its record, or a
    // file that could not be cut back): the delivery is unknown.
    let archive = tempfile::NamedTempFile::new().unwrap();
    let path = archive.path().display().to_string();
    let ui = start(move |_| {
        format!("[[sink]]\nname = \"archivio\"\nkind = \"file\"\npath = \"{path}\"\n")
    })
    .await;
    ui.publish(&[XSS, A]).await;
    let unknown = banditore::store::DeliveryRecord {
        state: DeliveryState::Unknown,
        at: chrono::Utc::now(),
        provider_id: None,
        detail: Some("archivio.jsonl: the write's end is not known".into()),
    };
    ui.app
        .store()
        .set_delivery(&ui.last_message(), "archivio", &unknown)
        .await
        .unwrap();
    assert_eq!(ui.state("archivio"), Some(DeliveryState::Unknown));
    let id = ui.last_message();
    let admin = ui.admin().await;
    let page = ui.page("/consegne", &admin).await;
    let archive = card(&page, "archivio");
    assert!(archive.contains(WARNING), "{archive}");
    assert!(archive.contains(r#"name="conferma""#), "{archive}");
    assert!(
        archive.contains("1 messaggio con esito incerto"),
        "{archive}"
    );
    let token = csrf(&page);
    let form = [
        ("csrf", token.as_str()),
        ("messaggio", id.as_str()),
        ("canale", "archivio"),
        ("stato", "unknown"),
    ];
    let refused = ui.submit("/consegne/riprova", &admin, &form).await;
    assert!(refused.starts_with("/consegne?errore="), "{refused}");
    assert_eq!(ui.state("archivio"), Some(DeliveryState::Unknown));
    assert_eq!(ui.app.store().outbox_len(), 0);
    let wrong = [&form[..], &[("conferma", "forse")]].concat();
    ui.submit("/consegne/riprova", &admin, &wrong).await;
    assert_eq!(ui.state("archivio"), Some(DeliveryState::Unknown));
    let confirmed = [&form[..], &[("conferma", "si")]].concat();
    let done = ui.submit("/consegne/riprova", &admin, &confirmed).await;
    assert!(done.starts_with("/consegne?ok="), "{done}");
    assert_eq!(ui.state("archivio"), Some(DeliveryState::Requeued));
    assert_eq!(ui.app.store().outbox_len(), 1);
}

#[tokio::test]
async fn editors_see_but_cannot_act_and_forms_need_the_csrf_token() {
    let ui = start(webhook).await;
    ui.feeds.set("/hook", Route::status(400));
    ui.publish(&[XSS, A]).await;
    let id = ui.last_message();
    let editor = ui.editor().await;
    let page = ui.page("/consegne", &editor).await;
    assert!(
        card(&page, "automazione").contains("non riuscito"),
        "{page}"
    );
    assert!(
        !page.contains(r#"action="/consegne/riprova""#),
        "no retry form for editors"
    );
    assert!(!ui.page("/log", &editor).await.contains("/consegne/riprova"));
    let token = csrf(&page);
    let retry = [
        ("csrf", token.as_str()),
        ("messaggio", id.as_str()),
        ("canale", "automazione"),
        ("stato", "failed"),
    ];
    let resume = [("csrf", token.as_str()), ("canale", "automazione")];
    assert_eq!(
        ui.post("/consegne/riprova", &editor, &retry).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ui.post("/consegne/riprendi", &editor, &resume)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let get = ui
        .client
        .get(format!(
            "{}/consegne/riprova?messaggio={id}&canale=automazione",
            ui.base
        ))
        .header("cookie", &editor)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::FORBIDDEN);
    // An admin without the token, or with another session's, is refused too.
    let admin = ui.admin().await;
    for csrf in [None, Some("00"), Some(token.as_str())] {
        for (path, form) in [
            ("/consegne/riprova", with_csrf(&retry, csrf)),
            ("/consegne/riprendi", with_csrf(&resume, csrf)),
        ] {
            let resp = ui.post(path, &admin, &form).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path} {csrf:?}");
        }
    }
    assert_eq!(ui.state("automazione"), Some(DeliveryState::Failed));
    // Without a session: to the login page.
    let anonymous = ui
        .client
        .post(format!("{}/consegne/riprova", ui.base))
        .form(&retry)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.headers()["location"], "/login");
}

#[tokio::test]
async fn the_broadcast_retries_only_failed_recipients_and_a_paused_sink_resumes() {
    let (mock, addr) = MockCloud::start().await;
    let ui = start(|_| cloud(addr)).await;
    let (ok, ko) = ("393400000001", "393400000002");
    for phone in [ok, ko] {
        ui.subscribe_imported(phone);
    }
    mock.script(ko, &[131026]);
    ui.publish(&[XSS, A]).await;
    assert_eq!(ui.state("wa"), Some(DeliveryState::Sent));
    let id = ui.last_message();
    let admin = ui.admin().await;
    let page = ui.page("/consegne", &admin).await;
    let wa = card(&page, "wa");
    assert!(
        wa.contains("Funziona"),
        "one recipient's refusal is not the sink failing: {wa}"
    );
    assert!(wa.contains("1 destinatario non riuscito"), "{wa}");
    assert!(wa.contains("non può ricevere il messaggio"), "{wa}");
    assert!(wa.contains("(codice 131026)"), "{wa}");
    assert!(wa.contains("Riprova 1 destinatario"), "{wa}");
    let token = csrf(&page);
    let done = ui
        .submit(
            "/consegne/riprova",
            &admin,
            &[
                ("csrf", &token),
                ("messaggio", &id),
                ("canale", "wa"),
                ("stato", "failed"),
            ],
        )
        .await;
    assert!(done.starts_with("/consegne?ok="), "{done}");
    ui.deliver().await;
    assert_eq!(mock.sends_to(ok).len(), 1, "already sent: not again");
    assert_eq!(mock.sends_to(ko).len(), 2, "the failed one, once more");
    let record = ui.app.store().recipient(&id, "wa", ko).unwrap().unwrap();
    assert_eq!(record.state, RecipientState::Sent);
    assert_eq!(ui.state("wa"), Some(DeliveryState::Sent));
    assert_eq!(
        ui.work.messages().len(),
        1,
        "the file sink is not sent again"
    );

    // 190: the token is refused, the sink pauses; an admin resumes it.
    mock.script(ok, &[190]);
    ui.publish(&[("b", "https://comune.example.it/n/b/", "Avviso B"), XSS, A])
        .await;
    assert!(ui.app.store().pause("wa").unwrap().is_some());
    let page = ui.page("/consegne", &admin).await;
    let wa = card(&page, "wa");
    assert!(wa.contains("In pausa"), "{wa}");
    assert!(wa.contains("il token di accesso è scaduto"), "{wa}");
    assert!(wa.contains(r#"action="/consegne/riprendi""#), "{wa}");
    let editor = ui.editor().await;
    assert!(!ui
        .page("/consegne", &editor)
        .await
        .contains(r#"action="/consegne/riprendi""#));
    let resumed = ui
        .submit(
            "/consegne/riprendi",
            &admin,
            &[("csrf", &token), ("canale", "wa")],
        )
        .await;
    assert!(resumed.starts_with("/consegne?ok="), "{resumed}");
    assert_eq!(ui.app.store().pause("wa").unwrap(), None);
    ui.deliver().await;
    assert_eq!(mock.sends_to(ok).len(), 3, "sent after the resume");
    assert_eq!(ui.state("wa"), Some(DeliveryState::Sent));
    let again = ui
        .submit(
            "/consegne/riprendi",
            &admin,
            &[("csrf", &token), ("canale", "wa")],
        )
        .await;
    assert!(
        again.starts_with("/consegne?errore="),
        "not paused: {again}"
    );
    let log = ui.page("/log", &admin).await;
    assert!(log.contains("canale ripreso"), "audited: {log}");
    assert!(mock.violations().is_empty(), "{:?}", mock.violations());
}

#[tokio::test]
async fn the_edited_text_is_what_every_sink_carries_the_cloud_template_included() {
    let (mock, addr) = MockCloud::start().await;
    let ui = start_with("forward = \"review\"", |_| {
        format!(
            "{}template = {{ name = \"notizia_comune\", language = \"it\" }}\n",
            cloud(addr)
        )
    })
    .await;
    // A subscriber who never wrote: only the template reaches them.
    let phone = "393400000009";
    ui.subscribe_imported(phone);
    ui.publish(&[XSS, A]).await;
    let editor = ui.editor().await;
    let page = ui.page("/", &editor).await;
    let id = regex::Regex::new(r#"action="/queue/([0-9a-f]+)/approve""#)
        .unwrap()
        .captures(&page)
        .unwrap()[1]
        .to_owned();
    let text = format!("*Strada chiusa per la fiera*\n\nDa sabato.\n\n{}", XSS.1);
    let done = ui
        .submit(
            &format!("/queue/{id}/approve"),
            &editor,
            &[("csrf", &csrf(&page)), ("text", &text)],
        )
        .await;
    assert!(done.contains("approvato"), "{done}");
    ui.deliver().await;
    let sent = mock.sends_to(phone);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let parameters = &sent[0]["template"]["components"][0]["parameters"];
    assert_eq!(parameters[0]["text"], "Strada chiusa per la fiera");
    assert_eq!(parameters[1]["text"], XSS.1);
    let file = ui.work.messages();
    let last = file.last().unwrap();
    assert_eq!(last["text"], text.as_str());
    assert_eq!(last["title"], "Strada chiusa per la fiera");
}

/// A test send that fails says why in Italian, like Consegne does: the sink's HTTP status
/// with its meaning, or why the source could not be read; never the English of the sink.
#[tokio::test]
async fn a_failed_test_send_says_why_in_italian() {
    let ui = start(webhook).await;
    ui.feeds.set("/hook", Route::status(500));
    let send = |sink: &'static str| {
        ui.client
            .post(format!("{}/sources/comune/test-send", ui.base))
            .bearer_auth("tok-admin")
            .form(&[("sink", sink), ("phone", "")])
            .send()
    };
    let resp = send("automazione").await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("non inviato a automazione: il servizio ha risposto HTTP 500 (errore interno del server)"),
        "{text}"
    );
    assert!(
        !text.contains("not sent") && !text.contains("Internal Server Error"),
        "{text}"
    );
    ui.feeds.set("/feed", Route::status(503));
    let text = send("out").await.unwrap().text().await.unwrap();
    assert!(
        text.contains("non riesco a leggere la fonte: il server ha risposto 503"),
        "{text}"
    );
    assert!(!text.contains("fetch failed"), "{text}");
}

#[tokio::test]
async fn every_channel_has_its_card_and_a_revoked_bot_shows_paused() {
    let sim = banditore::simulator::Simulator::start().await.unwrap();
    let ui = start(|feeds| {
        format!(
            "[[sink]]\nname = \"telegram\"\nkind = \"telegram\"\napi_base = \"{base}\"\n\
             token_env = \"TELEGRAM_TOKEN\"\nchat_id = \"@comune_prova\"\n\n\
             [[sink]]\nname = \"mastodon\"\nkind = \"mastodon\"\napi_base = \"http://{sim}\"\n\
             token_env = \"MASTODON_TOKEN\"\n\n\
             [[sink]]\nname = \"newsletter\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\n\
             smtp_port = {port}\ntls = \"none\"\nfrom = \"notizie@comune.example.it\"\n\
             bcc = [\"anna@example.org\", \"bruno@example.org\"]\n",
            base = feeds.url("").trim_end_matches('/'),
            sim = sim.addr,
            port = sim.smtp.port(),
        )
    })
    .await;
    // The bot's token was revoked: Telegram answers 401.
    ui.feeds.set(
        "/bot123:revocato/sendMessage",
        Route {
            status: 401,
            body: br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.to_vec(),
            content_type: "application/json".into(),
            ..Route::feed("")
        },
    );
    ui.publish(&[("b", "https://comune.example.it/n/b/", "Avviso B"), A])
        .await;
    let admin = ui.admin().await;
    let page = ui.page("/consegne", &admin).await;
    let telegram = card(&page, "telegram");
    assert!(
        telegram.contains("Telegram") && telegram.contains("@comune_prova"),
        "{telegram}"
    );
    assert!(telegram.contains("In pausa"), "{telegram}");
    assert!(telegram.contains("HTTP 401"), "{telegram}");
    assert!(
        telegram.contains(r#"action="/consegne/riprendi""#),
        "{telegram}"
    );
    let mastodon = card(&page, "mastodon");
    assert!(mastodon.contains("1 messaggio inviato"), "{mastodon}");
    let mail = card(&page, "newsletter");
    assert!(mail.contains("1 messaggio inviato"), "{mail}");
    assert!(mail.contains("2 indirizzi in copia nascosta"), "{mail}");
    assert!(!mail.contains("anna@"), "the list is not shown: {mail}");
}
