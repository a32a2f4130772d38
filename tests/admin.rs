//! The admin UI over HTTP: every route's protection (login, role, CSRF), escaping of feed
//! content, SSRF refusal, bearer tokens, login limits per account and per client address
//! (behind trusted proxies or not), sessions kept in the store (across a restart, ended
//! everywhere by logout, ended when the user's role changes), one-shot messages from the
//! session, and adding a source.

mod common;

use std::sync::Arc;

use banditore::config::Config;
use banditore::daemon::{App, AppCell};
use banditore::http::admin::Admin;
use banditore::sink::secret::Secret;
use common::admin::{csrf, english, Web, EDITOR_HASH, PASSWORD};
use common::{rss, source, FeedServer, Route, Workdir};
use reqwest::StatusCode;

const XSS: (&str, &str, &str) = (
    "x",
    "https://comune.example.it/n/x/",
    // Escaped twice: a title is read as HTML, so once-escaped markup would end as its text.
    "&amp;lt;svg onload=alert(1)&amp;gt; Avviso",
);

struct Ui {
    web: Web,
    work: Workdir,
    config: std::path::PathBuf,
    cell: AppCell,
}

impl std::ops::Deref for Ui {
    type Target = Web;
    fn deref(&self) -> &Web {
        &self.web
    }
}

async fn start(allow_private: bool) -> (Ui, FeedServer) {
    start_with(&format!("allow_private_sources = {allow_private}")).await
}

/// Two editors (`redazione`, `sindaco`) and the admin token; `settings` goes in `[settings]`.
async fn start_with(settings: &str) -> (Ui, FeedServer) {
    let server = FeedServer::start().await;
    server.set(
        "/feed",
        Route::feed(rss(&[("a", "https://comune.example.it/n/a/", "Avviso A")])),
    );
    let settings = format!("# impostazioni\n{settings}");
    let sources = format!(
        "{}\n[[user]]\nname = \"redazione\"\nrole = \"editor\"\npassword_hash = \"{EDITOR_HASH}\"\n\n[[user]]\nname = \"sindaco\"\nrole = \"editor\"\npassword_hash = \"{EDITOR_HASH}\"\n",
        source("comune", &server.url("/feed"), "forward = \"review\"")
    );
    let work = Workdir::new(&settings, &sources);
    let config = Config::load(&work.config()).unwrap();
    let app = App::build(
        config,
        &work.path().join("data"),
        Arc::new(banditore::schedule::SystemClock),
    )
    .unwrap();
    app.once().await.unwrap();
    server.set(
        "/feed",
        Route::feed(rss(&[
            XSS,
            ("a", "https://comune.example.it/n/a/", "Avviso A"),
        ])),
    );
    app.once().await.unwrap();
    (serve(work, app).await, server)
}

/// Serves the admin UI of `app` on a free loopback port.
async fn serve(work: Workdir, app: App) -> Ui {
    let cell = AppCell::new(app);
    let admin = Admin::with_token(
        cell.clone(),
        Some(work.config()),
        Some(Secret::new("tok-admin".into())),
    );
    let config = work.config();
    Ui {
        web: common::admin::serve(admin).await,
        work,
        config,
        cell,
    }
}

impl Ui {
    /// Stops the server and lets the application (and its store) go, then builds a new one on
    /// the same data directory and configuration: a restarted daemon.
    async fn restart(self) -> Ui {
        let Ui {
            web, work, cell, ..
        } = self;
        web.shut().await;
        drop(cell);
        let config = Config::load(&work.config()).unwrap();
        let app = App::build(
            config,
            &work.path().join("data"),
            Arc::new(banditore::schedule::SystemClock),
        )
        .unwrap();
        serve(work, app).await
    }

    /// A login whose request says it was forwarded for `forwarded_for`.
    async fn login_via(
        &self,
        form: &[(&str, &str)],
        forwarded_for: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.client.post(format!("{}/login", self.base)).form(form);
        if let Some(xff) = forwarded_for {
            req = req.header("x-forwarded-for", xff);
        }
        req.send().await.unwrap()
    }
}

/// The text of the page's one-shot message, if it shows one.
fn flash(html: &str) -> Option<String> {
    common::admin::flash_of(html).map(|(_, text)| text)
}

fn queued_ids(html: &str) -> Vec<String> {
    regex::Regex::new(r#"action="/queue/([0-9a-f]+)/approve""#)
        .unwrap()
        .captures_iter(html)
        .map(|c| c[1].to_owned())
        .collect()
}

#[tokio::test]
async fn every_route_is_protected() {
    let (ui, _server) = start(false).await;
    for path in [
        "/",
        "/log",
        "/sources",
        "/subscribers",
        "/sources/comune/edit",
        "/utenti",
        "/password",
    ] {
        let resp = ui
            .client
            .get(format!("{}{path}", ui.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(resp.headers()["location"], "/login");
    }
    for path in [
        "/queue/x/approve",
        "/sources/comune/pause",
        "/sources/preview",
        "/sources/add",
        "/sources/comune/edit",
        "/sources/comune/delete",
        "/sources/comune/test-send",
        "/utenti/nuovo",
        "/utenti/redazione/disattiva",
        "/password",
        "/logout",
    ] {
        let resp = ui
            .client
            .post(format!("{}{path}", ui.base))
            .form(&[("csrf", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
    }
    assert_eq!(
        ui.client
            .get(format!("{}/healthz", ui.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metrics = ui
        .client
        .get(format!("{}/metrics", ui.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("banditore_review_pending 1"), "{metrics}");
    // Scripts: a bearer token, and nothing else.
    let ok = ui
        .client
        .get(format!("{}/log", ui.base))
        .bearer_auth("tok-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let bad = ui
        .client
        .get(format!("{}/log", ui.base))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bad.text().await.unwrap(), "Token non valido.\n");
    let page = ui
        .client
        .get(format!("{}/login", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn roles_csrf_and_escaping() {
    let (ui, _server) = start(false).await;
    let editor = ui.editor("redazione").await;
    let queue = ui.get("/", &editor).await.text().await.unwrap();
    // The feed's title arrives as text, never as markup.
    assert!(
        queue.contains("&lt;svg onload=alert(1)&gt; Avviso"),
        "{queue}"
    );
    assert!(!queue.contains("<svg onload"), "unescaped feed content");
    assert_eq!(
        ui.get("/sources", &editor).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ui.get("/subscribers", &editor).await.status(),
        StatusCode::FORBIDDEN
    );
    let id = queued_ids(&queue).remove(0);
    let approve = format!("/queue/{id}/approve");
    assert_eq!(
        ui.post(&approve, &editor, &[]).await.status(),
        StatusCode::FORBIDDEN,
        "missing CSRF"
    );
    assert_eq!(
        ui.post(&approve, &editor, &[("csrf", "00")]).await.status(),
        StatusCode::FORBIDDEN,
        "bad CSRF"
    );
    let token = csrf(&queue);
    let done = ui.post(&approve, &editor, &[("csrf", &token)]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/");
    let queue = ui.get("/", &editor).await.text().await.unwrap();
    assert_eq!(queued_ids(&queue).len(), 0);
    assert_eq!(
        flash(&queue).as_deref(),
        Some("Messaggio approvato: è in invio.")
    );
    let log = ui.get("/log", &editor).await.text().await.unwrap();
    assert!(log.contains("Avviso"), "{log}");
    // Admin by token through the login form.
    let admin = ui.admin().await;
    assert_eq!(ui.get("/sources", &admin).await.status(), StatusCode::OK);
}

const GOOD: &[(&str, &str)] = &[("user", "redazione"), ("password", PASSWORD)];
const TYPO: &[(&str, &str)] = &[("user", "redazione"), ("password", "sbagliata")];
const ADDRESS_LOCKED: &str = "Troppi tentativi di accesso da questo indirizzo";
const ACCOUNT_LOCKED: &str = "Troppi tentativi di accesso per questo utente";

/// `n` failed logins, each for another unknown account, so only the address's count grows.
async fn spray(ui: &Ui, n: usize, forwarded_for: Option<&str>) {
    for i in 0..n {
        let name = format!("nessuno-{i}");
        let resp = ui
            .login_via(&[("user", &name), ("password", "x")], forwarded_for)
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
}

async fn refused_because(resp: reqwest::Response, why: &str) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let page = resp.text().await.unwrap();
    assert!(page.contains(why), "{page}");
}

#[tokio::test]
async fn an_account_is_locked_alone() {
    let (ui, _server) = start(false).await;
    for _ in 0..5 {
        assert_eq!(ui.login(TYPO).await.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password, for the rest of the window.
    refused_because(ui.login(GOOD).await, ACCOUNT_LOCKED).await;
    // Everybody else behind the same address signs in.
    ui.editor("sindaco").await;
    ui.admin().await;
}

/// Bearer tokens are counted like logins with the token: five wrong ones lock the token
/// for the window, the right one included.
#[tokio::test]
async fn wrong_bearer_tokens_are_limited_like_logins() {
    let (ui, _server) = start(false).await;
    let get = |token: &'static str| {
        ui.client
            .get(format!("{}/log", ui.base))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get("tok-admin").await.unwrap().status(), StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(
            get("guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let refused = get("tok-admin").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.text().await.unwrap().contains("token sbagliato"));
    // People with a name and a password still sign in.
    ui.editor("sindaco").await;
}

#[tokio::test]
async fn an_address_trying_many_accounts_is_stopped() {
    let (ui, _server) = start(false).await;
    spray(&ui, 19, None).await;
    // Below the address's limit a good login still works, and does not reset it.
    ui.session(GOOD).await;
    spray(&ui, 1, None).await;
    refused_because(ui.login(GOOD).await, ADDRESS_LOCKED).await;
    refused_because(ui.login(&[("token", "tok-admin")]).await, ADDRESS_LOCKED).await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // No trusted_proxies: the test's own address (127.0.0.1) is the client, whatever the
    // header says; a new address per attempt changes nothing.
    let (ui, _server) = start(false).await;
    for i in 0..20 {
        let resp = ui
            .login_via(
                &[("user", &format!("nessuno-{i}")), ("password", "x")],
                Some(&format!("198.51.100.{i}")),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    refused_because(
        ui.login_via(GOOD, Some("198.51.100.200")).await,
        ADDRESS_LOCKED,
    )
    .await;
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let (ui, _server) = start_with("trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]").await;
    // What the client wrote (the first entry) is ignored: the proxies' entries name it.
    spray(&ui, 20, Some("203.0.113.1, 198.51.100.7, 10.1.2.3")).await;
    refused_because(
        ui.login_via(GOOD, Some("203.0.113.99, 198.51.100.7")).await,
        ADDRESS_LOCKED,
    )
    .await;
    // Another client behind the same proxy, and the proxy itself, are not locked.
    assert_eq!(
        ui.login_via(GOOD, Some("198.51.100.8")).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(ui.login(GOOD).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let (ui, _server) = start(false).await;
    let editor = ui.session(GOOD).await;
    let token = csrf(&ui.get("/", &editor).await.text().await.unwrap());
    let value = editor.split_once('=').unwrap().1.to_owned();
    let ui = ui.restart().await;
    let page = ui.get("/", &editor).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Esci (redazione)"), "{page}");
    assert_eq!(csrf(&page), token, "same session, same CSRF token");
    // Only the hash of the cookie is stored: its value is in no file of the data directory.
    ui.cell.get().store().flush().unwrap();
    let mut files = vec![ui.work.path().join("data")];
    let mut read = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            read += bytes.len();
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{} holds the session cookie",
                path.display()
            );
        }
    }
    assert!(read > 0);
}

#[tokio::test]
async fn logout_ends_every_session_of_the_user() {
    let (ui, _server) = start(false).await;
    let laptop = ui.session(GOOD).await;
    let phone = ui.session(GOOD).await;
    let other = ui.editor("sindaco").await;
    let token = csrf(&ui.get("/", &laptop).await.text().await.unwrap());
    let out = ui.post("/logout", &laptop, &[("csrf", &token)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "/login");
    for gone in [&laptop, &phone] {
        let resp = ui.get("/", gone).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["location"], "/login");
    }
    assert_eq!(ui.get("/", &other).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_ends_when_its_user_changes() {
    let (ui, _server) = start(false).await;
    let editor = ui.session(GOOD).await;
    let mayor = ui.editor("sindaco").await;
    let admin = ui.admin().await;
    assert_eq!(ui.get("/", &editor).await.status(), StatusCode::OK);
    // redazione becomes an admin, sindaco is removed: neither session keeps its old rights.
    let text = std::fs::read_to_string(&ui.config).unwrap();
    let mayor_table = format!(
        "[[user]]\nname = \"sindaco\"\nrole = \"editor\"\npassword_hash = \"{EDITOR_HASH}\"\n"
    );
    assert!(text.contains(&mayor_table));
    let text = text.replace(&mayor_table, "").replace(
        "name = \"redazione\"\nrole = \"editor\"",
        "name = \"redazione\"\nrole = \"admin\"",
    );
    std::fs::write(&ui.config, text).unwrap();
    ui.cell.replace(Config::load(&ui.config).unwrap()).unwrap();
    for ended in [&editor, &mayor] {
        let resp = ui.get("/", ended).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["location"], "/login");
    }
    // The token's session lasts while the token is set.
    assert_eq!(ui.get("/sources", &admin).await.status(), StatusCode::OK);
    // Signing in again gives the new role.
    let editor = ui.session(GOOD).await;
    assert_eq!(ui.get("/sources", &editor).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn messages_come_from_the_session_and_show_once() {
    let (ui, _server) = start(false).await;
    let editor = ui.session(GOOD).await;
    // A crafted link puts nothing on the page.
    for query in [
        "/?ok=%3Cscript%3Ealert(2)%3C%2Fscript%3E",
        "/?errore=La%20tua%20password%20%C3%A8%20scaduta",
    ] {
        let page = ui.get(query, &editor).await.text().await.unwrap();
        assert_eq!(flash(&page), None, "{query}: {page}");
        assert!(
            !page.contains("alert(2)") && !page.contains("scaduta"),
            "{page}"
        );
    }
    let page = ui.get("/", &editor).await.text().await.unwrap();
    let id = queued_ids(&page).remove(0);
    let done = ui
        .post(
            &format!("/queue/{id}/reject"),
            &editor,
            &[("csrf", &csrf(&page))],
        )
        .await;
    assert_eq!(done.headers()["location"], "/");
    // Another session of the same user does not get it.
    let other = ui.session(GOOD).await;
    assert_eq!(
        flash(&ui.get("/", &other).await.text().await.unwrap()),
        None
    );
    let page = ui.get("/", &editor).await.text().await.unwrap();
    assert_eq!(
        flash(&page).as_deref(),
        Some("Messaggio rifiutato. Per un minuto puoi ancora annullare il rifiuto.")
    );
    let page = ui.get("/", &editor).await.text().await.unwrap();
    assert_eq!(flash(&page), None, "shown once");
}
#[tokio::test]
async fn no_ssrf_through_the_admin_ui() {
    let (ui, server) = start(false).await;
    let admin = ui.admin().await;
    let token = csrf(&ui.get("/sources", &admin).await.text().await.unwrap());
    for target in [
        server.url("/feed"),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[::1]/".into(),
        "http://10.0.0.1/".into(),
        "file:///etc/passwd".into(),
    ] {
        let resp = preview(&ui, &admin, &token, &target).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{target}");
        assert_eq!(resp.headers()["location"], "/sources", "{target}");
        let page = ui.get("/sources", &admin).await.text().await.unwrap();
        assert!(page.contains(r#"class="flash errore""#), "{target}: {page}");
    }
    let added = ui
        .post(
            "/sources/add",
            &admin,
            &[
                ("csrf", &token),
                ("name", "locale"),
                ("kind", "feed"),
                ("url", &server.url("/feed")),
            ],
        )
        .await;
    assert_eq!(added.headers()["location"], "/sources");
    assert!(ui
        .get("/sources", &admin)
        .await
        .text()
        .await
        .unwrap()
        .contains(r#"class="flash errore""#));
    assert!(!std::fs::read_to_string(&ui.config)
        .unwrap()
        .contains("locale"));
}

#[tokio::test]
async fn adding_a_source_keeps_the_file_and_applies_at_once() {
    let (ui, server) = start(true).await;
    server.set(
        "/altro/feed.xml",
        Route::feed(rss(&[(
            "n1",
            "https://altro.example.it/n1",
            "Notizia dall'altro sito",
        )])),
    );
    let mut page = Route::feed(format!(
        "<!DOCTYPE html><html><head><link rel=\"alternate\" type=\"application/rss+xml\" href=\"{}\"></head><body></body></html>",
        server.url("/altro/feed.xml")
    ));
    page.content_type = "text/html".into();
    server.set("/altro/", page);
    let admin = ui.admin().await;
    let token = csrf(&ui.get("/sources", &admin).await.text().await.unwrap());
    let preview = preview(&ui, &admin, &token, &server.url("/altro/")).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let html = preview.text().await.unwrap();
    assert!(
        html.contains("Notizia dall&#39;altro sito") || html.contains("Notizia dall'altro sito"),
        "{html}"
    );
    assert!(
        html.contains("altro/feed.xml"),
        "the discovered feed is used: {html}"
    );
    let add = ui
        .post(
            "/sources/add",
            &admin,
            &[
                ("csrf", &token),
                ("name", "altro-sito"),
                ("kind", "feed"),
                ("url", &server.url("/altro/feed.xml")),
            ],
        )
        .await;
    assert_eq!(add.headers()["location"], "/sources", "{:?}", add.headers());
    let file = std::fs::read_to_string(&ui.config).unwrap();
    assert!(
        file.starts_with("[settings]\n# impostazioni"),
        "comments kept: {file}"
    );
    assert!(file.contains("name = \"altro-sito\""));
    let sources = ui.get("/sources", &admin).await.text().await.unwrap();
    assert!(sources.contains("altro-sito"), "applied without restart");
    assert_eq!(
        flash(&sources).as_deref(),
        Some("Fonte altro-sito aggiunta e attiva.")
    );
    // An invalid change is refused and the file stays as it was.
    let before = std::fs::read_to_string(&ui.config).unwrap();
    let bad = ui
        .post(
            "/sources/add",
            &admin,
            &[
                ("csrf", &token),
                ("name", "altro-sito"),
                ("kind", "feed"),
                ("url", &server.url("/altro/feed.xml")),
            ],
        )
        .await;
    assert_eq!(bad.headers()["location"], "/sources");
    let page = ui.get("/sources", &admin).await.text().await.unwrap();
    assert!(
        flash(&page).is_some_and(|f| f.starts_with("C'è già una fonte di nome altro-sito")),
        "{page}"
    );
    assert_eq!(std::fs::read_to_string(&ui.config).unwrap(), before);
}

#[tokio::test]
async fn admins_pause_and_resume_sources() {
    let (ui, _server) = start(false).await;
    let admin = ui.admin().await;
    let page = ui.get("/sources", &admin).await.text().await.unwrap();
    assert!(!page.contains("in pausa"));
    let token = csrf(&page);
    let paused = ui
        .post("/sources/comune/pause", &admin, &[("csrf", &token)])
        .await;
    assert_eq!(paused.headers()["location"], "/sources");
    let page = ui.get("/sources", &admin).await.text().await.unwrap();
    assert_eq!(flash(&page).as_deref(), Some("comune: in pausa."));
    assert!(
        page.contains("in pausa") && page.contains("Riprendi"),
        "{page}"
    );
    ui.post("/sources/comune/resume", &admin, &[("csrf", &token)])
        .await;
    assert!(!ui
        .get("/sources", &admin)
        .await
        .text()
        .await
        .unwrap()
        .contains("in pausa"));
    assert_eq!(
        ui.post("/sources/nessuna/pause", &admin, &[("csrf", &token)])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn sources_are_edited_and_deleted_in_the_ui_and_addresses_followed_once() {
    let (ui, server) = start(true).await;
    let admin = ui.admin().await;
    let editor = ui.editor("redazione").await;
    assert_eq!(
        ui.get("/sources/comune/edit", &editor).await.status(),
        StatusCode::FORBIDDEN
    );
    let page = ui.get("/sources/comune/edit", &admin).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains(r#"value="review" checked"#), "{page}");
    let token = csrf(&page);
    let feed = server.url("/feed");

    // Edit: forward only tagged items, every 15 minutes.
    let saved = ui
        .post(
            "/sources/comune/edit",
            &admin,
            &[
                ("csrf", &token),
                ("url", &feed),
                ("forward", "tagged"),
                ("tags", "whatsapp, avvisi"),
                ("every", "15m"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let file = std::fs::read_to_string(&ui.config).unwrap();
    assert!(file.starts_with("[settings]\n# impostazioni"), "{file}");
    assert!(file.contains("forward = \"tagged\""), "{file}");
    assert!(file.contains("tags = [\"whatsapp\", \"avvisi\"]"), "{file}");
    assert!(file.contains("every = \"15m\""), "{file}");
    let page = ui
        .get("/sources/comune/edit", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"value="tagged" checked"#),
        "applied: {page}"
    );

    // Refused with the reason, and the file stays: tagged without tags, a bad rhythm.
    for form in [
        [("forward", "tagged"), ("tags", ""), ("every", "")],
        [("forward", "all"), ("tags", ""), ("every", "spesso")],
    ] {
        let mut fields = vec![("csrf", token.as_str()), ("url", feed.as_str())];
        fields.extend(form);
        let refused = ui.post("/sources/comune/edit", &admin, &fields).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = refused.text().await.unwrap();
        assert!(
            flash(&page).is_some_and(|f| f.contains("etichetta") || f.contains("intervallo")),
            "the reason is on the edit page: {page}"
        );
        // The form shows what the admin chose, not the file's values.
        assert!(
            page.contains(&format!(r#"value="{}" checked"#, form[0].1)),
            "{page}"
        );
        assert_eq!(std::fs::read_to_string(&ui.config).unwrap(), file);
    }

    // The same address cannot be followed twice (a second source would send twice).
    let twice = ui
        .post(
            "/sources/add",
            &admin,
            &[
                ("csrf", &token),
                ("name", "doppione"),
                ("kind", "feed"),
                ("url", &feed),
            ],
        )
        .await;
    assert_eq!(twice.headers()["location"], "/sources");
    let page = ui.get("/sources", &admin).await.text().await.unwrap();
    assert!(
        flash(&page).is_some_and(|f| f.contains("già seguito dalla fonte «comune»")),
        "{page}"
    );
    assert_eq!(std::fs::read_to_string(&ui.config).unwrap(), file);

    // Another address is added (with no source left under review, every item is the
    // default; the unit tests cover review as the default).
    server.set(
        "/altro.xml",
        Route::feed(rss(&[("n1", "https://altro.example.it/n1", "Altra")])),
    );
    ui.post(
        "/sources/add",
        &admin,
        &[
            ("csrf", &token),
            ("name", "altro"),
            ("kind", "feed"),
            ("url", &server.url("/altro.xml")),
        ],
    )
    .await;
    let file = std::fs::read_to_string(&ui.config).unwrap();
    assert!(file.contains("name = \"altro\""), "{file}");

    // Delete: only with the confirmation.
    let unconfirmed = ui
        .post("/sources/comune/delete", &admin, &[("csrf", &token)])
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::SEE_OTHER);
    assert_eq!(std::fs::read_to_string(&ui.config).unwrap(), file);
    assert_eq!(
        ui.post(
            "/sources/comune/delete",
            &editor,
            &[("csrf", &token), ("conferma", "si")]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    ui.post(
        "/sources/comune/delete",
        &admin,
        &[("csrf", &token), ("conferma", "si")],
    )
    .await;
    let file = std::fs::read_to_string(&ui.config).unwrap();
    assert!(!file.contains("name = \"comune\""), "{file}");
    assert!(file.contains("name = \"altro\""), "{file}");
    let list = ui.get("/sources", &admin).await.text().await.unwrap();
    assert!(!list.contains("/sources/comune/edit"), "{list}");
    assert_eq!(
        ui.get("/sources/comune/edit", &admin).await.status(),
        StatusCode::NOT_FOUND
    );

    // Added again under the same name: a baseline, so nothing old reaches citizens.
    let sent_before = ui.work.messages().len();
    ui.post(
        "/sources/add",
        &admin,
        &[
            ("csrf", &token),
            ("name", "comune"),
            ("kind", "feed"),
            ("url", &feed),
            ("forward", "all"),
        ],
    )
    .await;
    assert!(std::fs::read_to_string(&ui.config)
        .unwrap()
        .contains("name = \"comune\""));
    let _ = ui.cell.get().once().await;
    assert_eq!(ui.work.messages().len(), sent_before, "nothing old is sent");

    // Saves at the same moment are applied one after the other: none is lost.
    let adds = (1..=6).map(|i| {
        let (ui, admin, token, url) = (&ui, &admin, &token, server.url(&format!("/par{i}.xml")));
        async move {
            let name = format!("par{i}");
            ui.post(
                "/sources/add",
                admin,
                &[
                    ("csrf", token),
                    ("name", &name),
                    ("kind", "feed"),
                    ("url", &url),
                ],
            )
            .await
        }
    });
    futures_util::future::join_all(adds).await;
    let file = std::fs::read_to_string(&ui.config).unwrap();
    for i in 1..=6 {
        assert!(
            file.contains(&format!("name = \"par{i}\"")),
            "par{i}: {file}"
        );
    }
}

#[tokio::test]
async fn a_refused_edit_keeps_the_editors_text_and_says_why_in_italian() {
    let (ui, _server) = start(false).await;
    let editor = ui.editor("redazione").await;
    let queue = ui.get("/", &editor).await.text().await.unwrap();
    let token = csrf(&queue);
    let id = queued_ids(&queue).remove(0);
    // The editor rewrote the text and dropped the official link, then pressed "Approva".
    let draft = "*Avviso* riscritto dalla redazione, senza link <b>grassetto</b>";
    let refused = ui
        .post(
            &format!("/queue/{id}/approve"),
            &editor,
            &[("csrf", &token), ("title", "Avviso"), ("text", draft)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("riscritto dalla redazione, senza link &lt;b&gt;grassetto&lt;/b&gt;"),
        "the editor's text is there, escaped: {page}"
    );
    assert!(page.contains("deve restare nel testo"), "{page}");
    assert!(
        page.contains("<strong>Avviso</strong> riscritto"),
        "the bubble shows *bold* as WhatsApp does: {page}"
    );
    // Nothing was approved or changed.
    let queue = ui.get("/", &editor).await.text().await.unwrap();
    assert!(queued_ids(&queue).contains(&id));
    assert!(!queue.contains("riscritto dalla redazione"));
    // A past time to send is refused the same way.
    let past = ui
        .post(
            &format!("/queue/{id}/schedule"),
            &editor,
            &[
                ("csrf", &token),
                ("title", "Avviso"),
                ("text", "testo"),
                ("at", "2001-01-01T10:00"),
            ],
        )
        .await;
    assert_eq!(past.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = past.text().await.unwrap();
    assert!(page.contains("future"), "{page}");
}

#[tokio::test]
async fn a_test_send_reaches_the_chosen_sink_marked_as_a_test_and_nothing_else_moves() {
    let (ui, _server) = start(false).await;
    let admin = ui.admin().await;
    let page = ui
        .get("/sources/comune/edit", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Manda una prova"), "{page}");
    let token = csrf(&page);
    let queue_before = queued_ids(&ui.get("/", &admin).await.text().await.unwrap());
    let sent = ui
        .post(
            "/sources/comune/test-send",
            &admin,
            &[("csrf", &token), ("sink", "out"), ("phone", "")],
        )
        .await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let messages = ui.work.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert!(m["id"].as_str().unwrap().starts_with("prova-"), "{m}");
    assert!(m["title"].as_str().unwrap().starts_with("[PROVA]"), "{m}");
    assert_eq!(m["test"], true, "{m}");
    // Not a delivery: the review queue and the sent log are as they were.
    assert_eq!(
        queued_ids(&ui.get("/", &admin).await.text().await.unwrap()),
        queue_before
    );
    let log = ui.get("/log", &admin).await.text().await.unwrap();
    assert!(!log.contains("[PROVA]"), "{log}");
    // A bad number is refused before anything is sent.
    ui.post(
        "/sources/comune/test-send",
        &admin,
        &[("csrf", &token), ("sink", "out"), ("phone", "ciao")],
    )
    .await;
    assert_eq!(ui.work.messages().len(), 1);
}

#[tokio::test]
async fn a_failing_source_says_why_in_italian() {
    let (ui, server) = start(false).await;
    server.set("/feed", Route::status(503));
    let _ = ui.cell.get().once().await;
    let admin = ui.admin().await;
    let page = ui.get("/sources", &admin).await.text().await.unwrap();
    assert!(page.contains("il server ha risposto 503"), "{page}");
    assert!(page.contains("1 volta di fila"), "{page}");
    assert!(!page.contains("the server answered"), "{page}");
}

#[tokio::test]
async fn admins_manage_people_and_everyone_changes_their_own_password() {
    let (ui, _server) = start(false).await;
    let admin = ui.admin().await;
    let editor = ui.editor("redazione").await;
    assert_eq!(
        ui.get("/utenti", &editor).await.status(),
        StatusCode::FORBIDDEN
    );
    let page = ui.get("/utenti", &admin).await.text().await.unwrap();
    assert!(page.contains("redazione"), "{page}");
    let token = csrf(&page);
    // Too short a password, and a bad name, are refused.
    for form in [
        [("nome", "mario"), ("ruolo", "editor"), ("nuova", "corta")],
        [
            ("nome", "Mario!"),
            ("ruolo", "editor"),
            ("nuova", "abbastanza-lunga"),
        ],
    ] {
        let mut f = vec![("csrf", token.as_str())];
        f.extend(form);
        ui.post("/utenti/nuovo", &admin, &f).await;
        let page = ui.get("/utenti", &admin).await.text().await.unwrap();
        assert!(
            flash(&page).is_some_and(|f| f.starts_with("Non fatto")),
            "{page}"
        );
        assert!(!std::fs::read_to_string(&ui.config)
            .unwrap()
            .to_lowercase()
            .contains("mario"));
    }
    ui.post(
        "/utenti/nuovo",
        &admin,
        &[
            ("csrf", &token),
            ("nome", "mario"),
            ("ruolo", "editor"),
            ("nuova", "prima-password-mario"),
        ],
    )
    .await;
    let file = std::fs::read_to_string(&ui.config).unwrap();
    assert!(file.contains("name = \"mario\""), "{file}");
    assert!(
        !file.contains("prima-password-mario"),
        "only the hash is written"
    );
    assert!(file.starts_with("[settings]\n# impostazioni"), "{file}");
    ui.session(&[("user", "mario"), ("password", "prima-password-mario")])
        .await;

    // A new password set by an admin replaces the old one and signs Mario out everywhere.
    let before_reset = ui
        .session(&[("user", "mario"), ("password", "prima-password-mario")])
        .await;
    ui.post(
        "/utenti/mario/password",
        &admin,
        &[("csrf", &token), ("nuova", "seconda-password-mario")],
    )
    .await;
    assert_eq!(
        ui.get("/", &before_reset).await.status(),
        StatusCode::SEE_OTHER,
        "signed out by the reset"
    );
    assert_eq!(
        ui.login(&[("user", "mario"), ("password", "prima-password-mario")])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let mario = ui
        .session(&[("user", "mario"), ("password", "seconda-password-mario")])
        .await;

    // Mario changes his own: the current one must be right, the new one typed twice.
    let own = ui.get("/password", &mario).await.text().await.unwrap();
    let mario_token = csrf(&own);
    ui.post(
        "/password",
        &mario,
        &[
            ("csrf", &mario_token),
            ("attuale", "sbagliata-del-tutto"),
            ("nuova", "terza-password-mario"),
            ("ripeti", "terza-password-mario"),
        ],
    )
    .await;
    let own = ui.get("/password", &mario).await.text().await.unwrap();
    assert_eq!(
        flash(&own).as_deref(),
        Some("La password attuale non è giusta.")
    );
    ui.post(
        "/password",
        &mario,
        &[
            ("csrf", &mario_token),
            ("attuale", "seconda-password-mario"),
            ("nuova", "terza-password-mario"),
            ("ripeti", "terza-password-mario"),
        ],
    )
    .await;
    assert_eq!(
        ui.login(&[("user", "mario"), ("password", "seconda-password-mario")])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    ui.session(&[("user", "mario"), ("password", "terza-password-mario")])
        .await;
    // The session that changed the password stays signed in.
    assert_eq!(ui.get("/", &mario).await.status(), StatusCode::OK);

    // Made admin, then disabled: a disabled person cannot log in.
    ui.post(
        "/utenti/mario/ruolo",
        &admin,
        &[("csrf", &token), ("ruolo", "admin")],
    )
    .await;
    assert!(std::fs::read_to_string(&ui.config)
        .unwrap()
        .contains("role = \"admin\""));
    ui.post("/utenti/mario/disattiva", &admin, &[("csrf", &token)])
        .await;
    assert_eq!(
        ui.login(&[("user", "mario"), ("password", "terza-password-mario")])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    ui.post("/utenti/mario/attiva", &admin, &[("csrf", &token)])
        .await;
    ui.session(&[("user", "mario"), ("password", "terza-password-mario")])
        .await;
    // The audit names the changes, never a password or its hash.
    let log = ui.get("/log", &admin).await.text().await.unwrap();
    assert!(log.contains("persona aggiunta"), "{log}");
    assert!(!log.contains("argon2"), "{log}");
}

#[tokio::test]
async fn a_rejection_can_be_undone_from_the_queue_page() {
    let (ui, _server) = start(false).await;
    let editor = ui.editor("redazione").await;
    let queue = ui.get("/", &editor).await.text().await.unwrap();
    let token = csrf(&queue);
    let id = queued_ids(&queue).remove(0);
    ui.post(&format!("/queue/{id}/reject"), &editor, &[("csrf", &token)])
        .await;
    let queue = ui.get("/", &editor).await.text().await.unwrap();
    assert!(!queued_ids(&queue).contains(&id));
    assert!(queue.contains(&format!("/queue/{id}/undo")), "{queue}");
    ui.post(&format!("/queue/{id}/undo"), &editor, &[("csrf", &token)])
        .await;
    let queue = ui.get("/", &editor).await.text().await.unwrap();
    assert!(queued_ids(&queue).contains(&id), "back for review: {queue}");
    assert!(!queue.contains("/undo"), "{queue}");
}

#[tokio::test]
async fn the_sent_log_is_searched_by_text_and_day() {
    let (ui, _server) = start(false).await;
    let editor = ui.editor("redazione").await;
    let queue = ui.get("/", &editor).await.text().await.unwrap();
    let token = csrf(&queue);
    for id in queued_ids(&queue) {
        ui.post(
            &format!("/queue/{id}/approve"),
            &editor,
            &[("csrf", &token)],
        )
        .await;
    }
    ui.cell
        .get()
        .deliver(&tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    let found = ui
        .get("/log?testo=AVVISO", &editor)
        .await
        .text()
        .await
        .unwrap();
    assert!(found.contains("Avviso"), "{found}");
    assert!(found.contains("Testo inviato"), "{found}");
    let none = ui
        .get("/log?testo=nessuna+notizia+cos%C3%AC", &editor)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        none.contains("Nessun messaggio inviato corrisponde"),
        "{none}"
    );
    let old = ui
        .get("/log?dal=2001-01-01&al=2001-01-31", &editor)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        old.contains("Nessun messaggio inviato corrisponde"),
        "{old}"
    );
    // Search text is shown back escaped.
    let xss = ui
        .get("/log?testo=%3Cscript%3Ex", &editor)
        .await
        .text()
        .await
        .unwrap();
    assert!(!xss.contains("<script>x"), "{xss}");
}

/// The Fonti page's "Riconosci e mostra l'anteprima" for `url`.
async fn preview(ui: &Ui, cookie: &str, token: &str, url: &str) -> reqwest::Response {
    ui.post("/sources/preview", cookie, &[("csrf", token), ("url", url)])
        .await
}

/// A form on the Fonti page posted straight to `/sources/add` (no preview first).
async fn add_source(ui: &Ui, cookie: &str, token: &str, kind: &str, url: &str) -> String {
    let resp = ui
        .post(
            "/sources/add",
            cookie,
            &[
                ("csrf", token),
                ("name", "doppione"),
                ("kind", kind),
                ("url", url),
            ],
        )
        .await;
    assert_eq!(resp.headers()["location"], "/sources");
    ui.page("/sources", cookie).await
}

#[tokio::test]
async fn an_address_already_followed_is_refused_however_it_is_written_or_reached() {
    let (ui, server) = start(true).await;
    let admin = ui.admin().await;
    let token = csrf(&ui.page("/sources", &admin).await);
    let file = std::fs::read_to_string(&ui.config).unwrap();
    // "comune" follows /feed; the site's home page names that feed.
    server.set(
        "/home",
        Route {
            content_type: "text/html; charset=utf-8".into(),
            ..Route::feed(r#"<html><head><link rel="alternate" type="application/rss+xml" href="/feed"></head><body><a href="/n/1">Notizia</a></body></html>"#)
        },
    );
    let port = server.addr.port();
    let refused_for = |page: &str, words: &str| {
        let f = flash(page).unwrap_or_default();
        assert!(
            f.contains(words) && f.contains("già seguito dalla fonte «comune»"),
            "{f}"
        );
        assert!(
            page.contains(r#"<a href="/sources/comune/edit">Apri la fonte comune</a>"#),
            "a link to the source: {page}"
        );
        assert!(english(page).is_empty(), "{:?}", english(page));
    };
    // Posted straight to /sources/add, written another way: host case, repeated slashes,
    // a trailing slash, a fragment.
    for url in [
        format!("http://127.0.0.1:{port}//feed/#sezione"),
        format!("HTTP://127.0.0.1:{port}/feed//"),
    ] {
        let page = add_source(&ui, &admin, &token, "feed", &url).await;
        refused_for(&page, "Questo indirizzo");
    }
    // The home page as a page source: its feed is followed.
    let page = add_source(&ui, &admin, &token, "page", &server.url("/home")).await;
    refused_for(&page, "Il feed di questa pagina");
    // Through detection: the home page's feed is the one followed.
    let preview = preview(&ui, &admin, &token, &server.url("/home")).await;
    assert_eq!(preview.headers()["location"], "/sources");
    let page = ui.page("/sources", &admin).await;
    refused_for(&page, "Il suo feed");
    assert_eq!(std::fs::read_to_string(&ui.config).unwrap(), file);
}

#[tokio::test]
async fn nothing_english_reaches_people() {
    let (ui, server) = start(true).await;
    let admin = ui.admin().await;
    let token = csrf(&ui.page("/sources", &admin).await);
    let italian = |page: &str, words: &str| {
        assert!(page.contains(words), "{words}: {page}");
        assert!(english(page).is_empty(), "{:?} in {page}", english(page));
    };

    // Pages that do not exist, methods a page does not take, requests that do not read.
    let missing = ui.get("/non-esiste", &admin).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    italian(&missing.text().await.unwrap(), "Pagina non trovata");
    let missing = ui
        .post("/sources/nessuna/edit", &admin, &[("csrf", &token)])
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    italian(&missing.text().await.unwrap(), "Pagina non trovata");
    let method = ui.get("/logout", &admin).await;
    assert_eq!(method.status(), StatusCode::METHOD_NOT_ALLOWED);
    italian(&method.text().await.unwrap(), "Metodo non consentito");
    let not_a_form = ui
        .client
        .post(format!("{}/sources/comune/pause", ui.base))
        .header("cookie", &admin)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(not_a_form.status().is_client_error());
    italian(&not_a_form.text().await.unwrap(), "Richiesta non valida");
    let bad_path = ui.get("/sources/%FF%FE/edit", &admin).await;
    assert_eq!(bad_path.status(), StatusCode::BAD_REQUEST);
    italian(&bad_path.text().await.unwrap(), "Richiesta non valida");

    // Detection that cannot reach the address says why in Italian.
    let closed = format!("http://127.0.0.1:{}/feed", common::free_port());
    for (url, words) in [
        (closed.as_str(), "rifiutato la connessione"),
        ("http://banditore-prova.invalid/feed", "errore DNS"),
    ] {
        let resp = preview(&ui, &admin, &token, url).await;
        assert_eq!(resp.headers()["location"], "/sources");
        italian(&ui.page("/sources", &admin).await, words);
    }

    // A save refused by the configuration check (a source broken by hand in the file).
    let mut file = std::fs::read_to_string(&ui.config).unwrap();
    file.push_str("\n[[source]]\nname = \"rotta\"\nkind = \"feed\"\nurl = \"https://x.example/f\"\nevery = \"spesso\"\n");
    std::fs::write(&ui.config, &file).unwrap();
    let resp = ui
        .post(
            "/sources/comune/edit",
            &admin,
            &[
                ("csrf", &token),
                ("url", &server.url("/feed")),
                ("forward", "all"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = resp.text().await.unwrap();
    italian(&page, "fonte «rotta»: every «spesso» non è un intervallo");
    assert_eq!(std::fs::read_to_string(&ui.config).unwrap(), file);
}

#[tokio::test]
async fn a_wrong_current_password_counts_like_a_failed_login() {
    let (ui, _server) = start(false).await;
    let editor = ui.editor("redazione").await;
    let token = csrf(&ui.page("/password", &editor).await);
    let change = |current: &'static str| {
        let (ui, editor, token) = (&ui, &editor, &token);
        async move {
            let resp = ui
                .post(
                    "/password",
                    editor,
                    &[
                        ("csrf", token),
                        ("attuale", current),
                        ("nuova", "un-altra-password"),
                        ("ripeti", "un-altra-password"),
                    ],
                )
                .await;
            assert_eq!(resp.headers()["location"], "/password");
            flash(&ui.page("/password", editor).await).unwrap_or_default()
        }
    };
    for _ in 0..5 {
        assert_eq!(
            change("tentativo-sbagliato").await,
            "La password attuale non è giusta."
        );
    }
    // Locked: even the right password is not checked, here or at the login.
    let refused = change(PASSWORD).await;
    assert!(refused.contains("Troppi tentativi"), "{refused}");
    let login = ui
        .login(&[("user", "redazione"), ("password", PASSWORD)])
        .await;
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account is not locked by it.
    ui.editor("sindaco").await;
    assert!(std::fs::read_to_string(&ui.config)
        .unwrap()
        .contains(EDITOR_HASH));
}

#[tokio::test]
async fn an_unknown_name_takes_as_long_as_a_wrong_password() {
    let (ui, _server) = start(false).await;
    // The quickest of a few tries each, so that a busy machine does not decide.
    let quickest = |form: [(&'static str, &'static str); 2]| {
        let ui = &ui;
        async move {
            let mut best = std::time::Duration::MAX;
            for _ in 0..3 {
                let t = std::time::Instant::now();
                let resp = ui.login(&form).await;
                best = best.min(t.elapsed());
                assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
            }
            best
        }
    };
    let known = quickest([("user", "redazione"), ("password", "sbagliata-1")]).await;
    let unknown = quickest([("user", "nessuno"), ("password", "sbagliata-1")]).await;
    assert!(
        unknown * 3 >= known,
        "an unknown name answers in {unknown:?}, a wrong password in {known:?}"
    );
}

#[tokio::test]
async fn an_item_approved_by_someone_else_keeps_the_editors_text_and_says_by_whom() {
    let (ui, _server) = start(false).await;
    let editor = ui.editor("redazione").await;
    let mayor = ui.editor("sindaco").await;
    let page = ui.page("/", &editor).await;
    assert!(
        page.contains("Dalla notizia pubblicata più di recente"),
        "{page}"
    );
    let token = csrf(&page);
    let id = queued_ids(&page).remove(0);
    let mayors = csrf(&ui.page("/", &mayor).await);
    let done = ui
        .post(
            &format!("/queue/{id}/approve"),
            &mayor,
            &[("csrf", &mayors)],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let text =
        "*Titolo <b>della</b> redazione*\n\nTesto riscritto.\n\nhttps://comune.example.it/n/x/";
    for action in ["approve", "edit"] {
        let late = ui
            .post(
                &format!("/queue/{id}/{action}"),
                &editor,
                &[("csrf", &token), ("text", text)],
            )
            .await;
        assert_eq!(late.status(), StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        let page = late.text().await.unwrap();
        assert!(
            page.contains("già stato approvato da sindaco"),
            "{action}: {page}"
        );
        assert!(
            page.contains("Testo riscritto.")
                && page.contains("Titolo &lt;b&gt;della&lt;/b&gt; redazione"),
            "the editor's text is on the page, escaped: {page}"
        );
        assert!(!page.contains("<b>della</b>"));
        assert!(english(&page).is_empty(), "{:?}", english(&page));
    }
    // Sent once, as the mayor approved it.
    let log = ui.page("/log", &editor).await;
    assert!(!log.contains("Testo riscritto."), "{log}");
}

#[tokio::test]
async fn scripts_with_a_bearer_token_get_the_outcome_not_a_redirect() {
    let (ui, server) = start(true).await;
    let bearer = |path: &str, form: &[(&str, &str)]| {
        ui.client
            .post(format!("{}{path}", ui.base))
            .bearer_auth("tok-admin")
            .form(form)
            .send()
    };
    let plain = |resp: reqwest::Response| async move {
        let status = resp.status();
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        (status, resp.text().await.unwrap())
    };
    let (status, text) = plain(bearer("/sources/comune/pause", &[]).await.unwrap()).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "comune: in pausa.\n")
    );
    let (status, text) = plain(
        bearer(
            "/sources/add",
            &[
                ("name", "doppione"),
                ("kind", "feed"),
                ("url", &server.url("/feed")),
            ],
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("già seguito dalla fonte «comune»"), "{text}");
    // A review action refused for what it carries: the reason, not the page.
    let editor = ui.editor("redazione").await;
    let id = queued_ids(&ui.page("/", &editor).await).remove(0);
    let (status, text) = plain(
        bearer(&format!("/queue/{id}/approve"), &[("text", "senza link")])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("deve restare nel testo"), "{text}");
    let (status, text) = plain(bearer(&format!("/queue/{id}/approve"), &[]).await.unwrap()).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "Messaggio approvato: è in invio.\n")
    );
}

/// An editor approving at night is told when the message will really leave (quiet hours
/// hold it), and Inviati and Consegne say why it waits, rather than "in invio" / "in attesa".
#[tokio::test]
async fn approving_in_quiet_hours_says_when_the_message_will_leave() {
    use chrono::TimeZone;
    let server = FeedServer::start().await;
    server.set(
        "/feed",
        Route::feed(rss(&[("a", "https://comune.example.it/n/a/", "Avviso A")])),
    );
    let sources = format!(
        "{}\n[[user]]\nname = \"redazione\"\nrole = \"editor\"\npassword_hash = \"{EDITOR_HASH}\"\n",
        source("comune", &server.url("/feed"), "forward = \"review\"")
    );
    let work = Workdir::new(
        "timezone = \"Europe/Rome\"\nquiet_hours = \"21:00-07:30\"",
        &sources,
    );
    // 23:00 in Rome.
    let clock =
        common::ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 22, 0, 0).unwrap());
    let app = App::build(
        Config::load(&work.config()).unwrap(),
        &work.path().join("data"),
        clock.clone(),
    )
    .unwrap();
    app.once().await.unwrap();
    server.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/n/b/", "Avviso B"),
            ("a", "https://comune.example.it/n/a/", "Avviso A"),
        ])),
    );
    app.once().await.unwrap();
    let ui = serve(work, app.clone()).await;
    let editor = ui.editor("redazione").await;
    let queue = ui.page("/", &editor).await;
    let token = csrf(&queue);
    let id = queued_ids(&queue).remove(0);
    let approved = ui
        .post(
            &format!("/queue/{id}/approve"),
            &editor,
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let said = flash(&ui.page("/", &editor).await).unwrap();
    assert!(!said.contains("in invio"), "{said}");
    assert!(
        said.contains("ore di silenzio") && said.contains("02/12/2026 alle 07:30"),
        "{said}"
    );
    app.once().await.unwrap();
    assert!(ui.work.messages().is_empty(), "held until morning");
    let log = ui.page("/log", &editor).await;
    assert!(
        log.contains("in attesa della fine delle ore di silenzio: partirà il 02/12/2026 07:30"),
        "{log}"
    );
    let health = ui.page("/consegne", &editor).await;
    assert!(health.contains("Ore di silenzio"), "{health}");
    // In the morning it leaves, and nobody is told about quiet hours any more.
    clock.advance(chrono::Duration::hours(9));
    app.once().await.unwrap();
    assert_eq!(ui.work.messages().len(), 1);
    assert!(!ui
        .page("/consegne", &editor)
        .await
        .contains("Ore di silenzio"));
}

/// A changed text whose first line is not the bold title would go out under the old title
/// (the file sink's `title`, the WhatsApp template's first parameter): refused with the
/// reason, the editor's text kept, nothing sent.
#[tokio::test]
async fn an_edit_without_the_bold_title_line_is_refused_not_sent_under_the_old_title() {
    let (ui, _server) = start(false).await;
    let editor = ui.editor("redazione").await;
    let queue = ui.page("/", &editor).await;
    let token = csrf(&queue);
    let id = queued_ids(&queue).remove(0);
    let text = "Avviso RINVIATO a lunedì\n\nNuova data.\n\nhttps://comune.example.it/n/x/";
    let refused = ui
        .post(
            &format!("/queue/{id}/approve"),
            &editor,
            &[("csrf", &token), ("text", text)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("in grassetto"), "{page}");
    assert!(page.contains("Avviso RINVIATO a lunedì"), "{page}");
    assert!(queued_ids(&ui.page("/", &editor).await).contains(&id));
    ui.cell.get().once().await.unwrap();
    assert!(ui.work.messages().is_empty());
    // With its bold title line it goes, and the title is that line.
    let text = format!(
        "*Avviso RINVIATO a lunedì*\n\n{}",
        text.split_once("\n\n").unwrap().1
    );
    ui.post(
        &format!("/queue/{id}/approve"),
        &editor,
        &[("csrf", &token), ("text", &text)],
    )
    .await;
    ui.cell.get().once().await.unwrap();
    let sent = ui.work.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["title"], "Avviso RINVIATO a lunedì");
    assert_eq!(sent[0]["text"], text.as_str());
}

/// Inviati's search finds a message still in delivery (one stuck on a failing sink is the
/// one an editor looks for), not only those finished.
#[tokio::test]
async fn the_sent_log_search_finds_messages_still_in_delivery() {
    let (ui, _server) = start(false).await;
    let editor = ui.editor("redazione").await;
    let queue = ui.page("/", &editor).await;
    let token = csrf(&queue);
    let id = queued_ids(&queue).remove(0);
    ui.post(
        &format!("/queue/{id}/approve"),
        &editor,
        &[("csrf", &token)],
    )
    .await;
    // Approved, not delivered yet: in the outbox.
    let all = ui.page("/log", &editor).await;
    assert!(all.contains("in consegna dal"), "{all}");
    let found = ui.page("/log?testo=avviso", &editor).await;
    assert!(found.contains("in consegna dal"), "{found}");
    assert!(!found.contains("Nessun messaggio"), "{found}");
    let other = ui.page("/log?testo=nessuna+notizia", &editor).await;
    assert!(!other.contains("in consegna dal"), "{other}");
}

/// "Leggi ora" on a paused source reads nothing (the source loop skips it): the admin is told
/// so instead of "lettura richiesta", and Fonti shows no next read for it.
#[tokio::test]
async fn reading_a_paused_source_now_says_it_is_paused() {
    let (ui, _server) = start(false).await;
    let admin = ui.admin().await;
    let token = csrf(&ui.page("/sources", &admin).await);
    ui.post("/sources/comune/pause", &admin, &[("csrf", &token)])
        .await;
    let read = ui
        .post("/sources/comune/poll", &admin, &[("csrf", &token)])
        .await;
    assert_eq!(read.headers()["location"], "/sources");
    let page = ui.page("/sources", &admin).await;
    let said = common::admin::flash_of(&page).unwrap();
    assert!(said.0, "an error: {said:?}");
    assert!(said.1.contains("è in pausa"), "{said:?}");
    assert!(page.contains("— (in pausa)"), "{page}");
    ui.post("/sources/comune/resume", &admin, &[("csrf", &token)])
        .await;
    ui.post("/sources/comune/poll", &admin, &[("csrf", &token)])
        .await;
    let page = ui.page("/sources", &admin).await;
    assert_eq!(flash(&page).as_deref(), Some("comune: lettura richiesta."));
}

/// A batch held by flood protection shows on Fonti (before, the source just said "ok" and
/// only the command line could act): admins send it to the review queue, or discard it.
#[tokio::test]
async fn a_held_flood_shows_on_fonti_and_is_released_or_discarded_there() {
    let (ui, server) = start(false).await;
    let flood = |prefix: &str| -> Vec<(String, String, String)> {
        (1..=12)
            .map(|i| {
                (
                    format!("{prefix}-{i}"),
                    format!("https://comune.example.it/{prefix}/{i}/"),
                    format!("Notizia {prefix} {i}"),
                )
            })
            .collect()
    };
    let publish = |items: Vec<(String, String, String)>| {
        let items: Vec<(&str, &str, &str)> = items
            .iter()
            .map(|(g, l, t)| (g.as_str(), l.as_str(), t.as_str()))
            .collect();
        server.set("/feed", Route::feed(rss(&items)));
    };
    publish(flood("nuovo"));
    ui.cell.get().once().await.unwrap();
    let admin = ui.admin().await;
    let editor = ui.editor("redazione").await;
    let waiting = queued_ids(&ui.page("/", &editor).await).len();
    let page = ui.page("/sources", &admin).await;
    assert!(page.contains("trattenute"), "{page}");
    assert!(page.contains("12 notizie nuove arrivate"), "{page}");
    let token = csrf(&page);
    ui.post("/sources/comune/release", &admin, &[("csrf", &token)])
        .await;
    let page = ui.page("/sources", &admin).await;
    assert_eq!(
        flash(&page).as_deref(),
        Some("comune: 12 notizie trattenute sono ora in «Da approvare»: la redazione le approva o rifiuta una per una.")
    );
    assert!(!page.contains("trattenute:"), "{page}");
    assert_eq!(queued_ids(&ui.page("/", &editor).await).len(), waiting + 12);
    // A second flood, discarded: never sent, never queued.
    let mut second = flood("nuovo");
    second.extend(flood("altro"));
    publish(second);
    ui.cell.get().once().await.unwrap();
    assert!(ui.page("/sources", &admin).await.contains("trattenute"));
    ui.post("/sources/comune/discard", &admin, &[("csrf", &token)])
        .await;
    let page = ui.page("/sources", &admin).await;
    assert!(
        flash(&page)
            .unwrap()
            .contains("12 notizie trattenute scartate"),
        "{page}"
    );
    assert_eq!(queued_ids(&ui.page("/", &editor).await).len(), waiting + 12);
    assert!(ui.work.messages().is_empty());
    // Editors cannot, and nothing is left to release.
    let editors = csrf(&ui.page("/", &editor).await);
    assert_eq!(
        ui.post("/sources/comune/release", &editor, &[("csrf", &editors)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    ui.post("/sources/comune/release", &admin, &[("csrf", &token)])
        .await;
    let page = ui.page("/sources", &admin).await;
    assert_eq!(
        flash(&page).as_deref(),
        Some("comune: nessuna notizia trattenuta.")
    );
}

/// A refused source edit shows the form as the admin filled it, with the reason: before, the
/// page came back with the file's values and the admin's other changes were lost unseen.
#[tokio::test]
async fn a_refused_source_edit_keeps_what_the_admin_wrote() {
    let (ui, _server) = start(false).await;
    let admin = ui.admin().await;
    let token = csrf(&ui.page("/sources/comune/edit", &admin).await);
    let file = std::fs::read_to_string(&ui.config).unwrap();
    let refused = ui
        .post(
            "/sources/comune/edit",
            &admin,
            &[
                ("csrf", &token),
                ("url", "http://127.0.0.1:9/nuovo-feed"),
                ("forward", "tagged"),
                ("tags", "whatsapp, <b>avvisi</b>"),
                ("every", "1h"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(flash(&page).is_some(), "{page}");
    assert!(
        page.contains(r#"value="http://127.0.0.1:9/nuovo-feed""#),
        "{page}"
    );
    assert!(page.contains(r#"value="tagged" checked"#), "{page}");
    assert!(
        page.contains("whatsapp, &lt;b&gt;avvisi&lt;/b&gt;"),
        "escaped: {page}"
    );
    assert!(page.contains(r#"value="1h" selected"#), "{page}");
    assert!(english(&page).is_empty(), "{:?}", english(&page));
    assert_eq!(std::fs::read_to_string(&ui.config).unwrap(), file);
}

/// INGV's feed added without the comune's position: the preview says the position is needed,
/// and the refused save says what is missing instead of "valore non accettato".
#[tokio::test]
async fn an_earthquake_source_without_the_comunes_position_says_what_is_missing() {
    let (ui, server) = start(true).await;
    let atom = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/quake/ingv-cnt-atom-3.xml"),
    )
    .unwrap();
    server.set("/terremoti", Route::feed(atom));
    let admin = ui.admin().await;
    let token = csrf(&ui.page("/sources", &admin).await);
    let url = server.url("/terremoti");
    let preview = preview(&ui, &admin, &token, &url).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let page = preview.text().await.unwrap();
    assert!(page.contains("terremoti (INGV)"), "{page}");
    assert!(page.contains("serve la posizione del comune"), "{page}");
    let page = add_source(&ui, &admin, &token, "quake", &url).await;
    let said = flash(&page).unwrap();
    assert!(said.contains("serve la sua posizione"), "{said}");
    assert!(!said.contains("valore non accettato"), "{said}");
}
