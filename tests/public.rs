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
