//! Press-release pages end to end: a Design Comuni listing, its articles, a template change.

mod common;

use common::{FeedServer, Route, Workdir};

/// A listing date `days_ago` days back, as the template writes it ("25 NOV 2026").
fn day(days_ago: i64) -> String {
    const MONTHS: [&str; 12] = [
        "GEN", "FEB", "MAR", "APR", "MAG", "GIU", "LUG", "AGO", "SET", "OTT", "NOV", "DIC",
    ];
    use chrono::Datelike;
    let d = chrono::Utc::now().date_naive() - chrono::Duration::days(days_ago);
    format!(
        "{:02} {} {}",
        d.day(),
        MONTHS[d.month0() as usize],
        d.year()
    )
}

fn card(slug: &str, title: &str, date: &str) -> String {
    format!(
        r#"<div class="card-wrapper"><div class="card"><div class="card-body">
        <div class="category-top"><a class="category" href="/novita/notizie">NOTIZIE</a><span class="data">{date}</span></div>
        <a href="/novita/{slug}/" data-element="news-category-link"><h3 class="card-title">{title}</h3></a>
        <p class="card-text">Anteprima di {title}.</p></div></div></div>"#
    )
}

fn listing(cards: &[String]) -> Route {
    let mut r = Route::feed(format!(
        "<!DOCTYPE html><html lang=\"it\"><head><title>Novità</title></head><body><header><a href=\"/\">Comune</a></header><main>{}</main></body></html>",
        cards.join("\n")
    ));
    r.content_type = "text/html; charset=utf-8".into();
    r
}

/// An article page published an hour ago.
fn article(title: &str, description: &str) -> Route {
    let published = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut r = Route::feed(format!(
        r#"<!DOCTYPE html><html lang="it"><head><title>{title} - Comune di Esempio</title>
        <meta property="og:title" content="{title}"><meta property="og:description" content="{description}">
        <meta property="og:image" content="/img/foto.jpg"><meta property="article:published_time" content="{published}">
        </head><body><main><h1>{title}</h1><p>{description}</p></main></body></html>"#
    ));
    r.content_type = "text/html".into();
    r
}

#[tokio::test]
async fn listing_articles_and_template_change() {
    let server = FeedServer::start().await;
    server.set(
        "/novita/",
        listing(&[card("mercato", "Il mercato cambia piazza", &day(1))]),
    );
    let source = format!(
        "[[source]]\nname = \"comunicati\"\nkind = \"page\"\nurl = \"{}\"\npreset = \"design-comuni\"\n",
        server.url("/novita/")
    );
    let work = Workdir::new("", &source);
    work.once().await;
    assert!(work.messages().is_empty());
    assert!(
        server.requests("/novita/mercato/").is_empty(),
        "the baseline reads no articles"
    );

    server.set(
        "/novita/acqua/",
        article(
            "Interruzione dell'acqua in via Roma",
            "Martedì l'acqua sarà sospesa dalle 8 alle 13.",
        ),
    );
    server.set(
        "/novita/",
        listing(&[
            card("acqua", "Acqua sospesa", &day(0)),
            card("mercato", "Il mercato cambia piazza", &day(1)),
        ]),
    );
    work.once().await;
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["kind"], "page");
    assert_eq!(
        m[0]["title"], "Interruzione dell'acqua in via Roma",
        "og:title wins"
    );
    assert_eq!(m[0]["url"], server.url("/novita/acqua/"));
    assert_eq!(m[0]["image"], server.url("/img/foto.jpg"));
    assert!(m[0]["published"].is_string(), "the article's date wins");
    assert!(m[0]["text"]
        .as_str()
        .unwrap()
        .contains("Martedì l'acqua sarà sospesa dalle 8 alle 13."));
    assert_eq!(server.requests("/novita/acqua/").len(), 1);

    // The site moves to a new template: not "no news" but an unhealthy source.
    let mut redesigned = Route::feed("<!DOCTYPE html><html><body><main><ul class=\"news\"><li>Nuovo sito</li></ul></main></body></html>");
    redesigned.content_type = "text/html".into();
    server.set("/novita/", redesigned);
    work.once().await;
    let list = work.run(&["source", "list"]).await;
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("comunicati [page] FAILING"), "{list}");
    assert!(
        list.contains("matched nothing: has the site changed its template?"),
        "{list}"
    );
    assert_eq!(work.messages().len(), 1);
}

/// A listing on a configured (loopback) host links an article on another non-public host:
/// the article is not fetched, and nothing of it reaches a message.
#[tokio::test]
async fn links_to_internal_hosts_are_not_followed() {
    internal_link_not_followed(false).await;
}

/// The same through an HTTP proxy from the environment (the proxy, not banditore, would
/// resolve the name): still never fetched.
#[tokio::test]
async fn links_to_internal_hosts_are_not_followed_through_a_proxy() {
    internal_link_not_followed(true).await;
}

async fn internal_link_not_followed(proxy: bool) {
    let server = FeedServer::start().await;
    server.set(
        "/novita/",
        listing(&[card("mercato", "Il mercato", &day(1))]),
    );
    let source = format!(
        "[[source]]\nname = \"comunicati\"\nkind = \"page\"\nurl = \"{}\"\npreset = \"design-comuni\"\n",
        server.url("/novita/")
    );
    let work = Workdir::new("", &source);
    // The feed server answers requests in a proxy's form too ("GET http://host/path").
    let once = || async {
        let mut cmd = work.command(&["once"]);
        if proxy {
            cmd.env("HTTP_PROXY", server.url("")).env_remove("NO_PROXY");
        }
        let out = cmd.output().await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    once().await;
    // "localhost" is the same machine under another name: not the host the admin configured.
    let internal = server.url("/interno/").replace("127.0.0.1", "localhost");
    server.set(
        "/interno/",
        article("Pannello interno", "password del router: segreta"),
    );
    let inside = card("x", "Avviso interno", &day(0)).replace("/novita/x/", &internal);
    server.set(
        "/novita/",
        listing(&[inside, card("mercato", "Il mercato", &day(1))]),
    );
    once().await;
    assert!(server.requests("/interno/").is_empty(), "never fetched");
    let m = work.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(!m[0]["text"].as_str().unwrap().contains("segreta"), "{m:?}");
}
