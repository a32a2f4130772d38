//! The citizens' page, served by the real daemon (`run` with `public_listen`): how to
//! subscribe (links and QR codes that decode back to them), the archive (paged, searched,
//! filtered, escaped, 404s), each message at its own address, the Atom and JSON feeds (parsed
//! back with feed-rs; ETag and Last-Modified answered with 304), the widget and the poster,
//! the security headers, and never a citizen's phone number or anything of the admin side.

#[path = "common/cloud.rs"]
mod cloud;
mod common;
#[path = "common/providers.rs"]
mod providers;

use common::{free_port, rss, source, stop, FeedServer, Route, Workdir};
use reqwest::StatusCode;

const SUBSCRIBER: &str = "393471234567";
const NEWS: usize = 25;

/// A daemon whose archive holds `NEWS` messages (one with markup in its title), with the
/// citizens' page on a free port; its address and the daemon.
async fn page_with_news() -> (String, tokio::process::Child, Workdir, FeedServer) {
    let feeds = FeedServer::start().await;
    // Old news already there: the new ones are not most of the feed (flood protection).
    let old: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("old{i}"),
                format!("https://comune.example.it/archivio/{i}/"),
            )
        })
        .collect();
    let old: Vec<(&str, &str, &str)> = old
        .iter()
        .map(|(g, l)| (g.as_str(), l.as_str(), "Notizia di ieri"))
        .collect();
    feeds.set("/feed", Route::feed(rss(&old)));
    let port = free_port();
    let settings = format!(
        "flood_threshold = 100\nmax_new_per_poll = 100\npublic_listen = \"127.0.0.1:{port}\"\n\
         public = {{ name = \"Comune di Prova\", channel_url = \"https://whatsapp.com/channel/0029VaPROVA\", \
         whatsapp_number = \"+39 0372 111222\", privacy_url = \"https://comune.example.it/privacy\", \
         url = \"https://avvisi.comune.example.it/\" }}"
    );
    let work = Workdir::new(&settings, &source("comune", &feeds.url("/feed"), ""));
    cloud::import(&work, &[SUBSCRIBER]);
    work.once().await; // the baseline
    let ids: Vec<(String, String, String)> = (0..NEWS)
        .map(|i| {
            let title = match i {
                3 => "Lavori &amp; chiusure, 3 &lt; 5 &lt;b&gt;".to_owned(),
                7 => "Mercato in piazza della Città".to_owned(),
                // A noncharacter XML forbids: dropped, or the whole Atom feed would not parse.
                9 => "Avviso numero 9 \u{fffe}".to_owned(),
                _ => format!("Avviso numero {i}"),
            };
            (
                format!("n{i}"),
                format!("https://comune.example.it/notizie/{i}/"),
                title,
            )
        })
        .collect();
    let items: Vec<(&str, &str, &str)> = ids
        .iter()
        .rev()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .chain(old.iter().copied())
        .collect();
    feeds.set("/feed", Route::feed(rss(&items)));
    let out = work.once().await;
    assert_eq!(
        work.messages().len(),
        NEWS,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let daemon = work.command(&["run"]).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if probe.get(format!("{base}/")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the citizens' page did not open");
    (base, daemon, work, feeds)
}

async fn get(url: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = reqwest::get(url).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

async fn text(url: &str) -> String {
    let (status, _, body) = get(url).await;
    assert_eq!(status, StatusCode::OK, "{url}");
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn the_citizens_page_serves_subscribe_archive_and_feeds() {
    let (base, mut daemon, work, _feeds) = page_with_news().await;

    // Iscriviti: both ways, their QR codes decode back to their links.
    let (status, headers, body) = get(&format!("{base}/")).await;
    assert_eq!(status, StatusCode::OK);
    let home = String::from_utf8(body).unwrap();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(
        home.contains("https://wa.me/390372111222?text=ISCRIVIMI"),
        "{home}"
    );
    assert!(home.contains("https://whatsapp.com/channel/0029VaPROVA"));
    assert!(home.contains("https://comune.example.it/privacy"));
    assert!(home.contains("STOP"));
    // The widget's code, ready to paste on another site.
    assert!(
        home.contains("&lt;iframe src=&quot;https://avvisi.comune.example.it/widget&quot;"),
        "{home}"
    );
    for (name, link) in [
        ("numero", "https://wa.me/390372111222?text=ISCRIVIMI"),
        ("canale", "https://whatsapp.com/channel/0029VaPROVA"),
    ] {
        let (status, headers, png) = get(&format!("{base}/qr/{name}.png?size=500")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "image/png");
        let image = image::load_from_memory(&png).unwrap().to_luma8();
        assert!(
            (500..=560).contains(&image.width()),
            "at least the size asked"
        );
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        assert_eq!(grids[0].decode().unwrap().1, link);
        let svg = text(&format!("{base}/qr/{name}.svg")).await;
        assert!(svg.contains("<svg"));
    }
    assert_eq!(
        get(&format!("{base}/qr/altro.svg")).await.0,
        StatusCode::NOT_FOUND
    );

    // The archive: newest first, paged, escaped.
    let first = text(&format!("{base}/archivio")).await;
    assert!(first.contains("Avviso numero 24"));
    assert!(!first.contains("Avviso numero 4<"), "page 2");
    assert!(first.contains("rel=\"next\""));
    let second = text(&format!("{base}/archivio?pagina=2")).await;
    assert!(second.contains("Avviso numero 0<"), "{second}");
    assert!(
        second.contains("Lavori &amp; chiusure, 3 &lt; 5"),
        "{second}"
    );
    assert!(!second.contains("3 < 5") && !second.contains("<b>"));
    assert!(second.contains("rel=\"prev\"") && !second.contains("rel=\"next\""));
    // A page past the end and a page that is no number are pages, not errors.
    assert!(text(&format!("{base}/archivio?pagina=99"))
        .await
        .contains("Nessun avviso trovato"));
    assert!(text(&format!("{base}/archivio?pagina=abc"))
        .await
        .contains("Avviso numero 24"));
    // Search forgives case and accents; the category and month filters.
    let found = text(&format!("{base}/archivio?q=CITTA")).await;
    assert!(found.contains("Mercato in piazza della Città"));
    assert!(!found.contains("Avviso numero"));
    assert!(text(&format!("{base}/archivio?categoria=Allerte"))
        .await
        .contains("Nessun avviso trovato"));
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert!(
        text(&format!("{base}/archivio?mese={month}&categoria=Notizie"))
            .await
            .contains("Avviso numero 24")
    );

    // One message at its address, as sent, with the official link.
    let link = first
        .split("href=\"/archivio/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let one = text(&format!("{base}/archivio/{link}")).await;
    assert!(one.contains("<strong>Avviso numero 24</strong>"), "{one}");
    assert!(one.contains("href=\"https://comune.example.it/notizie/24/\""));
    for missing in [
        "/archivio/999999",
        "/archivio/abc",
        "/admin",
        "/sources",
        "/log",
    ] {
        let (status, _, body) = get(&format!("{base}{missing}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert!(String::from_utf8(body)
            .unwrap()
            .contains("Pagina non trovata"));
    }

    // The feeds parse back, carry every message's text, and answer 304 to a reader who has
    // them.
    for (path, kind) in [
        ("/feed.xml", "application/atom+xml"),
        ("/feed.json", "application/feed+json"),
    ] {
        let (status, headers, body) = get(&format!("{base}{path}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        let feed = feed_rs::parser::parse(&body[..]).unwrap();
        assert_eq!(feed.entries.len(), NEWS);
        assert_eq!(
            feed.entries[0].title.as_ref().unwrap().content,
            "Avviso numero 24"
        );
        assert!(feed.entries[0]
            .id
            .starts_with("https://avvisi.comune.example.it/archivio/"));
        assert_eq!(headers["access-control-allow-origin"], "*");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let modified = headers["last-modified"].to_str().unwrap().to_owned();
        let client = reqwest::Client::new();
        let again = client
            .get(format!("{base}{path}"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let again = client
            .get(format!("{base}{path}"))
            .header("if-modified-since", &modified)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    // The widget may be framed by the comune's site; the poster prints the QR.
    let (_, headers, body) = get(&format!("{base}/widget")).await;
    assert!(!headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors"));
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("Avviso numero 24"));
    assert!(text(&format!("{base}/manifesto"))
        .await
        .contains("/qr/canale.svg"));

    // No citizen's number anywhere.
    for path in [
        "/",
        "/archivio",
        "/archivio?pagina=2",
        "/feed.xml",
        "/feed.json",
        "/widget",
    ] {
        assert!(
            !text(&format!("{base}{path}")).await.contains(SUBSCRIBER),
            "{path}"
        );
    }
    stop(&mut daemon).await;
    drop(work);
}

#[tokio::test]
async fn bad_public_settings_are_refused_with_their_reason() {
    let work = Workdir::new(
        "public_listen = \"dappertutto\"\npublic = { channel_url = \"http://whatsapp.com/channel/x\", whatsapp_number = \"12\" }",
        &source("comune", "https://comune.example.it/feed", ""),
    );
    let out = work.run(&["check"]).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("public_listen = \"dappertutto\" is not an address and port"),
        "{said}"
    );
    assert!(
        said.contains(
            "public.channel_url = \"http://whatsapp.com/channel/x\" is not an https address"
        ),
        "{said}"
    );
    assert!(
        said.contains("public.whatsapp_number = \"12\" is not a phone number"),
        "{said}"
    );
}

/// A signed inbound WhatsApp message, as Meta posts it to the webhook.
async fn citizen_writes(port: u16, from: &str, text: &str, id: &str) -> StatusCode {
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "390372111222", "phone_number_id": "123456789012345"},
        "contacts": [{"profile": {"name": "Cittadina"}, "wa_id": from}],
        "messages": [{"from": from, "id": id, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": text}}]}}]}]});
    let raw = serde_json::to_vec(&body).unwrap();
    let signature = banditore::sink::secret::hmac_sha256_hex(b"app-secret", &raw);
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/whatsapp/wa"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", format!("sha256={signature}"))
        .body(raw)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_citizen_signs_up_on_the_page_and_confirms_on_whatsapp() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[])));
    let (mock, addr) = providers::MockCloud::start().await;
    let (port, hooks) = (free_port(), free_port());
    let settings = format!(
        "public_listen = \"127.0.0.1:{port}\"\nwebhook_listen = \"127.0.0.1:{hooks}\"\n\
         public = {{ name = \"Comune di Prova\", whatsapp_number = \"+39 0372 111222\", \
         signup = {{ sink = \"wa\", template = {{ name = \"conferma_iscrizione\", language = \"it\" }}, per_day = 3 }} }}"
    );
    let work = Workdir::with_sinks(
        &settings,
        &source("comune", &feeds.url("/feed"), ""),
        &cloud::cloud_sink(addr, ""),
    );
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut home = String::new();
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/")).await {
            home = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(home.contains("action=\"/iscriviti\""), "{home}");
    let client = reqwest::Client::new();
    let sign_up = |number: &str, consent: bool| {
        let mut form = vec![("numero", number.to_owned())];
        if consent {
            form.push(("consenso", "si".to_owned()));
        }
        let request = client.post(format!("{base}/iscriviti")).form(&form);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };

    // No consent, no number: the form again, saying why; nothing sent.
    let (status, page) = sign_up("+39 347 765 4321", false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("serve il tuo consenso"), "{page}");
    let (status, page) = sign_up("12", true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("non sembra un cellulare"), "{page}");
    assert_eq!(mock.count(), 0);

    // The confirmation goes once, however often the form is sent for the number.
    let (status, page) = sign_up("+39 347 765 4321", true).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("rispondi ISCRIVIMI (o SÌ) entro 24 ore"),
        "{page}"
    );
    let (status, again) = sign_up("347 765 4321", true).await;
    assert_eq!((status, again), (StatusCode::OK, page.clone()));
    // The confirmation leaves after the answer (its timing tells nothing).
    common::wait_for(|| !mock.sends_to("393477654321").is_empty()).await;
    let sent = mock.sends_to("393477654321");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["template"]["name"], "conferma_iscrizione");
    assert_eq!(
        sent[0]["template"]["components"][0]["parameters"][0]["text"],
        "Comune di Prova"
    );
    assert!(mock.violations().is_empty(), "{:?}", mock.violations());
    // Not subscribed until the citizen answers.
    let count = work.run(&["subscribers", "count"]).await;
    assert!(String::from_utf8_lossy(&count.stdout).starts_with('0'));

    // Another site's page cannot post numbers through its visitors' browsers.
    let cross = client
        .post(format!("{base}/iscriviti"))
        .header("origin", "https://evil.example")
        .form(&[("numero", "+39 333 000 4444"), ("consenso", "si")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    // A number that says STOP is never written to by the page again, and the page says the
    // same as for anyone.
    assert_eq!(sign_up("+39 333 000 1111", true).await.0, StatusCode::OK);
    common::wait_for(|| !mock.sends_to("393330001111").is_empty()).await;
    citizen_writes(hooks, "393330001111", "STOP", "wamid.STOP1").await;
    let (status, said) = sign_up("+39 333 000 1111", true).await;
    assert_eq!((status, said), (StatusCode::OK, page));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let confirmations = mock
        .sends_to("393330001111")
        .into_iter()
        .filter(|m| m["type"] == "template")
        .count();
    assert_eq!(
        confirmations, 1,
        "the reply to STOP, and no second confirmation"
    );

    // The day's cap: one more confirmation, then none, whoever asks.
    assert_eq!(sign_up("+39 333 000 2222", true).await.0, StatusCode::OK);
    common::wait_for(|| !mock.sends_to("393330002222").is_empty()).await;
    let (status, page) = sign_up("+39 333 000 3333", true).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.contains("ISCRIVIMI al numero del Comune"), "{page}");
    assert_eq!(
        sign_up("+39 347 765 4321", true).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(mock.sends_to("393330003333").is_empty());
    // Ten requests an hour from one address (nine so far).
    assert_eq!(
        sign_up("+39 333 000 3333", true).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, _) = sign_up("+39 333 000 3333", true).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // A yes on WhatsApp completes the sign-up, with the consent as the page showed it.
    assert_eq!(
        citizen_writes(hooks, "393477654321", "Sì grazie", "wamid.SI1").await,
        StatusCode::OK
    );
    let export = work.run(&["subscribers", "export"]).await;
    let csv = String::from_utf8_lossy(&export.stdout);
    assert!(csv.contains("393477654321"), "{csv}");
    assert!(csv.contains("signed up on the citizens' page"), "{csv}");
    assert!(csv.contains("Acconsento a ricevere su WhatsApp"), "{csv}");
    // A yes from someone who asked nothing is nothing.
    citizen_writes(hooks, "393330009999", "sì", "wamid.SI2").await;
    let export = work.run(&["subscribers", "export"]).await;
    assert!(!String::from_utf8_lossy(&export.stdout).contains("393330009999"));

    // A sender abroad keeps its country: Iceland's 354 611 2233 is not an Italian mobile, and
    // deleting it as `subscribers list` prints it deletes it, not an Italian namesake.
    citizen_writes(hooks, "3546112233", "ISCRIVIMI", "wamid.IS1").await;
    let export = work.run(&["subscribers", "export"]).await;
    let csv = String::from_utf8_lossy(&export.stdout).into_owned();
    assert!(csv.contains("\n3546112233,"), "{csv}");
    assert!(!csv.contains("393546112233"), "{csv}");
    let out = work.run(&["subscribers", "delete", "3546112233"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = work.run(&["subscribers", "export"]).await;
    let csv = String::from_utf8_lossy(&export.stdout).into_owned();
    assert!(
        !csv.contains("3546112233") && csv.contains("393477654321"),
        "{csv}"
    );
    stop(&mut daemon).await;
}
