use super::*;

fn corpus(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/fixtures/pages/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ctx(base: &str, preset: Preset) -> ParseContext {
    let mut c = ParseContext::new(Some(Url::parse(base).unwrap()), chrono_tz::Europe::Rome);
    c.page = PageRules::new(preset, None);
    c
}

#[test]
fn design_comuni_listing() {
    let html = corpus("dci_statiche_novita_listing.html");
    let items = parse_listing(
        &html,
        &ctx(
            "https://www.comune.example.it/sito/novita.html",
            Preset::DesignComuni,
        ),
    )
    .unwrap();
    // Nine news cards all link to the same article; category cards link to "#".
    assert_eq!(items.len(), 1, "{items:#?}");
    let first = &items[0];
    assert_eq!(
        first.url.as_ref().unwrap().as_str(),
        "https://www.comune.example.it/sito/novita-dettaglio.html"
    );
    assert_eq!(
        first.title,
        "Sport nel verde: le iniziative della prossima edizione"
    );
    assert_eq!(
        first.published.unwrap().to_rfc3339(),
        "2023-02-27T23:00:00+00:00"
    );
    assert_eq!(
        first.image.as_ref().unwrap().as_str(),
        "https://www.comune.example.it/assets/images/notizia-sport-nel-verde.png"
    );
    assert_eq!(first.tags, vec!["NOTIZIE"]);
}

#[test]
fn design_comuni_article() {
    let html = corpus("dci_statiche_novita_dettaglio.html");
    assert!(looks_like_article(&html));
    let item = parse_article(
        &html,
        &ctx(
            "https://www.comune.example.it/sito/novita-dettaglio.html",
            Preset::Auto,
        ),
    );
    assert_eq!(
        item.title,
        "Stralcio automatico dei debiti fino a mille euro"
    );
    assert!(
        item.summary.starts_with("Delibera del Consiglio comunale"),
        "{}",
        item.summary
    );
    assert_eq!(
        item.published.unwrap().to_rfc3339(),
        "2023-01-30T23:00:00+00:00"
    );
}

#[test]
fn wordpress_article_metadata() {
    let html = corpus("readability_wordpress.html");
    let item = parse_article(
        &html,
        &ctx("https://wptavern.com/some-post", Preset::Wordpress),
    );
    assert!(!item.title.contains(" – "), "{}", item.title);
    assert!(item
        .url
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with("https://wptavern.com/"));
    assert!(!item.summary.is_empty());
    assert!(item
        .image
        .as_ref()
        .is_none_or(|i| i.scheme().starts_with("http")));
}

#[test]
fn template_change_is_an_error_not_silence() {
    let err = parse_listing(
        "<html><body><p>Nuovo sito</p></body></html>",
        &ctx("https://a.example/", Preset::DesignComuni),
    )
    .unwrap_err();
    assert!(matches!(err, ParseError::NothingMatched { .. }));
    assert!(err.to_string().contains(".card"), "{err}");
}

#[test]
fn auto_finds_headline_links() {
    let html = r#"<html><body><nav><a href="/chi-siamo/uffici-e-orari-del-comune">Uffici e orari del comune</a></nav>
        <main><ul><li><a href="/notizie/chiusura-strada-provinciale-per-lavori">Chiusura della strada provinciale per lavori</a></li>
        <li><a href="/notizie/nuovi-orari-biblioteca">Nuovi orari della biblioteca comunale</a></li>
        <li><a href="https://altro.example/x/y">Un link verso un altro sito qualsiasi</a></li>
        <li><a href="/x">Breve</a></li></ul></main></body></html>"#;
    let items = parse_listing(
        html,
        &ctx("https://comune.example.it/notizie/", Preset::Auto),
    )
    .unwrap();
    let urls: Vec<_> = items
        .iter()
        .map(|i| i.url.as_ref().unwrap().path().to_owned())
        .collect();
    assert_eq!(
        urls,
        [
            "/notizie/chiusura-strada-provinciale-per-lavori",
            "/notizie/nuovi-orari-biblioteca"
        ]
    );
}

#[test]
fn a_page_not_found_yields_nothing() {
    let pages = [
        "<html><head><title>Pagina non trovata – Comune di Esempio</title></head><body><main><h1>Pagina non trovata</h1><p>La pagina che cercavi non esiste più o è stata spostata.</p></main></body></html>",
        "<html><head><title>404 - Pagina non trovata | Comune</title><meta property='og:type' content='article'></head><body><article><h1>Ops!</h1><p>Il contenuto non è disponibile.</p></article></body></html>",
        "<html><head><title>Comune di Esempio</title></head><body><h1>Errore 404</h1></body></html>",
        "<html><head><title>Comune di Esempio</title></head><body><h1>Spiacenti, pagina non trovata</h1></body></html>",
        "<html><head><title>Comune di Esempio</title></head><body><h1>Oops! Questa pagina non esiste</h1></body></html>",
        "<html><head><title>Comune di Esempio</title></head><body><h1>La pagina non è stata trovata</h1></body></html>",
        "<html><head><title>Comune di Esempio</title></head><body><h1>Ops! La pagina cercata non è disponibile</h1></body></html>",
        "<html><head><title>Comune di Esempio</title></head><body><main><h1>Attenzione! La pagina richiesta non esiste.</h1></main></body></html>",
    ];
    for html in pages {
        let base = "https://comune.example.it/notizie/rimossa";
        let article = parse_article(html, &ctx(base, Preset::Auto));
        assert_eq!(article.title, "", "{html}");
        // Completing a listing's item, the listing's own title and text stand.
        let listing = Item {
            title: "Nuovi orari della biblioteca".into(),
            summary: "Dal 1° dicembre la biblioteca apre anche il sabato.".into(),
            ..Item::default()
        };
        let merged = merge(listing, article);
        assert_eq!(merged.title, "Nuovi orari della biblioteca");
        assert!(merged.summary.starts_with("Dal 1°"), "{}", merged.summary);
        assert!(parse(html, &ctx(base, Preset::Auto)).is_err(), "{html}");
    }
    // A heading that only starts with a number is an article.
    let html = "<html><head><title>404 nuovi alloggi popolari</title><meta property='og:type' content='article'><link rel='canonical' href='https://comune.example.it/notizie/alloggi'></head><body><article><h1>404 nuovi alloggi popolari</h1><p>Il Comune assegna 404 alloggi.</p></article></body></html>";
    let items = parse(
        html,
        &ctx("https://comune.example.it/notizie/alloggi", Preset::Auto),
    )
    .unwrap();
    assert_eq!(items[0].title, "404 nuovi alloggi popolari");
}
