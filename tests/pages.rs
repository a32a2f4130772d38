//! Press-release pages end to end: a Design Comuni listing, its articles, a template change.

mod common;

use common::{FeedServer, Route, Workdir};

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

fn article(title: &str, description: &str) -> Route {
    let mut r = Route::feed(format!(
        r#"<!DOCTYPE html><html lang="it"><head><title>{title} - Comune di Esempio</title>
        <meta property="og:title" content="{title}"><meta property="og:description" content="{description}">
        <meta property="og:image" content="/img/foto.jpg"><meta property="article:published_time" content="2026-11-25T09:00:00+01:00">
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
        listing(&[card("mercato", "Il mercato cambia piazza", "24 NOV 2025")]),
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
            card("acqua", "Acqua sospesa", "25 NOV 2025"),
            card("mercato", "Il mercato cambia piazza", "24 NOV 2025"),
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
    assert_eq!(m[0]["published"], "2026-11-25T08:00:00Z");
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
