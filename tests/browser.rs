//! End to end in a real headless browser (Debian's chromium and chromium-driver, installed by
//! `.ci/run`): log in, see a pending item, edit it and approve it at once (the edited text is
//! what is sent) and find it in the file sink;
//! see a failing sink on the Consegne page at a phone's width; add a source and see its
//! preview; visit the citizens' page on a phone, with axe-core's WCAG 2.1 AA check on each
//! page (axe-core from npm, installed by `.ci/run` into `target/axe`). Screenshots of the
//! main pages go to `target/screenshots/`.
//!
//! chromedriver is driven over its plain-HTTP WebDriver protocol with reqwest: a few JSON
//! requests, no WebDriver crate and its TLS stack for a loopback-only conversation.

mod common;

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use common::{free_port, rss, source, stop, wait_for, FeedServer, Route, Workdir};
use serde_json::{json, Value};

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$JrOaxvPILV1NcOwU/9PtAA$kzomt0r335h0+0VL9goCca0cP4kpvkl9wiJ2X59OPIg";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let value: Value = resp.json().await.unwrap();
        assert!(
            value["value"]["error"].is_null(),
            "webdriver {path}: {value}"
        );
        value["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            json!({}),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            json!({"text": text}),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            json!({}),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until the page shows `text` (a click on a submit button returns before the
    /// next page has loaded) and returns the page.
    async fn wait_for_text(&self, text: &str) -> String {
        let mut page = String::new();
        for _ in 0..100 {
            page = self.source().await;
            if page.contains(text) {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {text:?}:\n{page}");
    }

    /// Whether the page fits the window's width (no sideways scrolling).
    async fn fits(&self) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": "return document.documentElement.scrollWidth <= window.innerWidth", "args": []}),
        )
        .await
    }

    async fn screenshot(&self, name: &str) {
        let png = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

fn chromedriver() -> Option<&'static str> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

#[tokio::test]
async fn an_editor_approves_and_an_admin_adds_a_source_in_a_real_browser() {
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium and chromium-driver (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let feeds = FeedServer::start().await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[("a", "https://comune.example.it/n/a/", "Avviso A")])),
    );
    feeds.set(
        "/altro/feed.xml",
        Route::feed(rss(&[(
            "z",
            "https://altro.example.it/z",
            "Notizia di un altro sito",
        )])),
    );
    let admin_port = free_port();
    let public_port = free_port();
    let sources = format!(
        "{}\n[[user]]\nname = \"redazione\"\nrole = \"admin\"\npassword_hash = \"{HASH}\"\n",
        source("comune", &feeds.url("/feed"), "forward = \"review\"")
    );
    // A webhook sink that answers 500: the Consegne page must say so, and fit a phone.
    let hook = "/automazione";
    feeds.set(hook, Route::status(500));
    let work = Workdir::with_sinks(
        &format!(
            "admin_listen = \"127.0.0.1:{admin_port}\"\nallow_private_sources = true\n\
             public_listen = \"127.0.0.1:{public_port}\"\n\
             webhook_listen = \"127.0.0.1:{}\"\n\
             public = {{ name = \"Comune di Prova\", channel_url = \"https://whatsapp.com/channel/0029VaPROVA\", \
             whatsapp_number = \"+39 0372 111222\", privacy_url = \"https://comune.example.it/privacy\", \
             signup = {{ sink = \"wa\", template = {{ name = \"conferma_iscrizione\", language = \"it\" }} }} }}",
            free_port()
        ),
        &sources,
        &format!(
            "[[sink]]\nname = \"automazione\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"WEBHOOK_SECRET\"\n\n\
             [[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\napi_base = \"http://127.0.0.1:9\"\nphone_number_id = \"1\"\n\
             token_env = \"WHATSAPP_TOKEN\"\napp_secret_env = \"WHATSAPP_APP_SECRET\"\nverify_token_env = \"WHATSAPP_VERIFY_TOKEN\"\n",
            feeds.url(hook)
        ),
    );
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    let ui = format!("http://127.0.0.1:{admin_port}");
    let http = reqwest::Client::new();
    // The baseline, then a new item waiting for review.
    wait_for(|| feeds.requests("/feed").len() >= 2).await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            (
                "b",
                "https://comune.example.it/n/b/",
                "Chiusura di via Roma",
            ),
            ("a", "https://comune.example.it/n/a/", "Avviso A"),
        ])),
    );
    let mut pending = false;
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{ui}/metrics")).send().await {
            if r.text()
                .await
                .unwrap_or_default()
                .contains("banditore_review_pending 1")
            {
                pending = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pending, "no item reached the review queue");

    let driver_port = free_port();
    let profile = tempfile::tempdir().unwrap();
    let mut driver = tokio::process::Command::new(driver_path)
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let driver_url = format!("http://127.0.0.1:{driver_port}");
    let mut session = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1024,1400",
                     format!("--user-data-dir={}", profile.path().display())]}}}});
        if let Ok(r) = http
            .post(format!("{driver_url}/session"))
            .json(&caps)
            .send()
            .await
        {
            session = r.json().await.unwrap_or(Value::Null);
            break;
        }
    }
    let id = session["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no browser session: {session}"))
        .to_owned();
    let b = Browser {
        http: http.clone(),
        base: format!("{driver_url}/session/{id}"),
    };

    // Log in.
    b.go(&format!("{ui}/")).await;
    b.wait_for_text("Nome utente").await;
    b.screenshot("login").await;
    b.type_into("#user", "redazione").await;
    b.type_into("#password", "una-password-lunga").await;
    b.click("form.card button[type=submit]").await;
    b.wait_for_text("Chiusura di via Roma").await;

    // Edit, with the live preview and counter, then approve.
    let edited = "*Chiusura di via Roma*\n\nDa lunedì via Roma è chiusa al traffico per lavori.\n\nhttps://comune.example.it/n/b/";
    b.type_into("textarea[name=text]", edited).await;
    let counter = b.source().await;
    assert!(
        counter.contains(&format!(
            "{} caratteri (consigliati fino a",
            edited.chars().count()
        )),
        "live counter"
    );
    assert!(
        counter.contains("<strong>Chiusura di via Roma</strong>"),
        "the live bubble shows *bold* as WhatsApp does"
    );
    b.screenshot("queue").await;
    // Approved straight away, without "Salva le modifiche": what the editor sees is sent.
    b.click("button[formaction$='/approve']").await;
    b.wait_for_text("Messaggio approvato").await;
    wait_for(|| work.messages().iter().any(|m| m["text"] == edited)).await;

    // The sent log.
    b.go(&format!("{ui}/log")).await;
    b.wait_for_text("Chiusura di via Roma").await;
    b.screenshot("log").await;

    // Delivery health, on a 390-pixel-wide phone: nothing wider than the screen.
    b.cmd(
        reqwest::Method::POST,
        "/window/rect",
        json!({"width": 390, "height": 1400}),
    )
    .await;
    b.go(&format!("{ui}/consegne")).await;
    b.wait_for_text("HTTP 500").await;
    let widths = b
        .cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": "return [window.innerWidth, document.documentElement.scrollWidth];", "args": []}),
        )
        .await;
    let (inner, scroll) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
    assert!(inner <= 400, "the window is a phone's: {widths}");
    assert!(scroll <= inner, "the page scrolls sideways: {widths}");
    b.screenshot("consegne-phone").await;
    b.cmd(
        reqwest::Method::POST,
        "/window/rect",
        json!({"width": 1024, "height": 1400}),
    )
    .await;

    // Add a source and see its preview first.
    b.go(&format!("{ui}/sources")).await;
    b.screenshot("sources").await;
    b.type_into("#new-url", &feeds.url("/altro/feed.xml")).await;
    b.click("form[action='/sources/preview'] button").await;
    b.wait_for_text("Notizia di un altro sito").await;
    b.screenshot("source-preview").await;
    b.type_into("#save-name", "altro-sito").await;
    b.click("form[action='/sources/add'] button").await;
    b.wait_for_text("Fonte altro-sito aggiunta e attiva.").await;
    assert!(std::fs::read_to_string(work.config())
        .unwrap()
        .contains("altro-sito"));

    // On a phone (390 px wide): every page fits without scrolling sideways. The screenshots
    // are in target/screenshots/phone-*.png.
    b.cmd(
        reqwest::Method::POST,
        "/window/rect",
        json!({"width": 390, "height": 844}),
    )
    .await;
    let width = b
        .cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": "return window.innerWidth", "args": []}),
        )
        .await;
    assert!(width.as_u64().is_some_and(|w| w <= 420), "{width}");
    for (path, name) in [
        ("/", "phone-queue"),
        ("/log", "phone-log"),
        ("/sources", "phone-sources"),
        ("/sources/altro-sito/edit", "phone-source-edit"),
        ("/utenti", "phone-people"),
        ("/password", "phone-password"),
    ] {
        b.go(&format!("{ui}{path}")).await;
        b.wait_for_text("</main>").await;
        let fits = b.fits().await;
        b.screenshot(name).await;
        assert_eq!(
            fits,
            Value::Bool(true),
            "{path} scrolls sideways on a phone"
        );
    }

    // The citizens' page, on the same phone: it fits, and axe finds no WCAG 2.1 AA violation.
    let axe = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/axe/node_modules/axe-core/axe.min.js"),
    );
    if axe.is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install axe-core (.ci/run does)"
        );
        eprintln!("axe-core not installed (npm install --prefix target/axe axe-core): accessibility not checked");
    }
    let public = format!("http://127.0.0.1:{public_port}");
    b.go(&format!("{public}/archivio")).await;
    let archive = b.wait_for_text("Chiusura di via Roma").await;
    let first = archive
        .split("href=\"/archivio/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    for (path, name) in [
        ("/".to_owned(), "public-home"),
        ("/archivio".to_owned(), "public-archive"),
        (format!("/archivio/{first}"), "public-message"),
        (
            "/archivio?q=nessuna+corrispondenza".to_owned(),
            "public-search",
        ),
        ("/widget".to_owned(), "public-widget"),
        ("/manifesto".to_owned(), "public-poster"),
    ] {
        b.go(&format!("{public}{path}")).await;
        b.wait_for_text("</main>").await;
        let fits = b.fits().await;
        b.screenshot(name).await;
        assert_eq!(
            fits,
            Value::Bool(true),
            "{path} scrolls sideways on a phone"
        );
        if let Ok(axe) = &axe {
            b.cmd(
                reqwest::Method::POST,
                "/execute/sync",
                json!({"script": format!("{axe}\nreturn true;"), "args": []}),
            )
            .await;
            let violations = b
                .cmd(
                    reqwest::Method::POST,
                    "/execute/async",
                    json!({"script": "const done = arguments[arguments.length - 1]; \
                        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}) \
                        .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' ' + v.nodes.map(n => n.target.join(' ')).join(', ')))) \
                        .catch(e => done(['axe failed: ' + e]));", "args": []}),
                )
                .await;
            assert_eq!(violations, json!([]), "{path}: accessibility");
        }
    }

    let _ = http
        .delete(format!("{driver_url}/session/{id}"))
        .send()
        .await;
    let _ = driver.kill().await;
    assert!(stop(&mut daemon).await.success());
}
