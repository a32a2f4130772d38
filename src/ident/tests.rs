use super::*;

fn canon(s: &str) -> String {
    canonical_url(&Url::parse(s).unwrap())
}

#[test]
fn title_key_day_is_spelled_as_chrono_spells_it() {
    for (y, m, d) in [(2025, 3, 7), (999, 12, 31), (1, 1, 1), (9999, 1, 2)] {
        let at = chrono::NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(23, 59, 0)
            .unwrap()
            .and_utc();
        assert_eq!(
            title_key("t", Some(at)),
            format!("t|{}", at.format("%Y-%m-%d"))
        );
    }
}

#[test]
fn canonical_urls_fold_scheme_tracking_and_fragment() {
    assert_eq!(
        canon("https://www.Comune.Example.it/notizie/lavori/?utm_source=fb&id=3&fbclid=x#top"),
        "comune.example.it/notizie/lavori?id=3"
    );
    assert_eq!(
        canon("http://comune.example.it/notizie/lavori"),
        "comune.example.it/notizie/lavori"
    );
    assert_eq!(canon("https://a.example/?b=2&a=1"), "a.example?a=1&b=2");
    assert_eq!(canon("https://a.example:8443/x"), "a.example:8443/x");
    assert_eq!(canon("http://a.example:80/x"), "a.example/x");
}

#[test]
fn tracking_is_stripped_from_links() {
    let u = Url::parse("https://a.example/n/?utm_source=rss&utm_medium=rss").unwrap();
    assert_eq!(strip_tracking(&u).as_str(), "https://a.example/n/");
    let u = Url::parse("https://a.example/n?id=3&fbclid=x#p").unwrap();
    assert_eq!(strip_tracking(&u).as_str(), "https://a.example/n?id=3#p");
}

#[test]
fn titles_normalise() {
    assert_eq!(
        normalise_title("  Interruzione  IDRICA: via Roma!"),
        "interruzione idrica via roma"
    );
    assert_eq!(normalise_title("Città più sicura"), "citta piu sicura");
}

fn item(guid: Option<&str>, url: Option<&str>, title: &str) -> Item {
    Item {
        guid: guid.map(str::to_owned),
        url: url.map(|u| Url::parse(u).unwrap()),
        title: title.into(),
        ..Item::default()
    }
}

/// Whether two items share a story key.
fn shares(a: &Item, b: &Item) -> bool {
    let theirs = story_keys(b);
    story_keys(a).iter().any(|k| theirs.contains(k))
}

#[test]
fn a_story_is_one_title_with_one_text() {
    let title = "Sportello anagrafe chiuso per aggiornamento informatico";
    let with = |url: &str, text: &str| Item {
        summary: format!("<p>{text}</p>"),
        ..item(None, Some(url), title)
    };
    let ravenna = with(
        "https://www.comune.ravenna.ra.it/avvisi/20/sportello",
        "Si comunica che lunedì 10 marzo gli uffici saranno chiusi al pubblico.",
    );
    // The same release on the same site's press-release page: one story.
    let release = with(
        "https://comune.ravenna.ra.it/comunicati/sportello",
        "Si comunica che lunedì 10 marzo gli uffici saranno chiusi al pubblico.",
    );
    assert!(shares(&ravenna, &release));
    // The same title a week later, on the same site, with other facts: two stories.
    let next_week = with(
        "https://www.comune.ravenna.ra.it/avvisi/21/sportello",
        "Si comunica che lunedì 17 marzo dalle 9 gli uffici saranno chiusi.",
    );
    assert!(!shares(&ravenna, &next_week));
    // Without a text, the same title on the same site is taken as one story.
    let bare = |url| item(None, Some(url), title);
    assert!(shares(
        &bare("https://www.comune.ravenna.ra.it/a"),
        &bare("https://comune.ravenna.ra.it/b")
    ));
    assert!(!shares(
        &bare("https://www.comune.ravenna.ra.it/a"),
        &bare("https://www.comune.modena.mo.it/a")
    ));
    // Another comune's site, the same title and opening (a shared template): another
    // comune's notice.
    let copy = with(
        "https://www.comune.faenza.ra.it/sportello",
        "Si comunica che <strong>lunedì</strong> 10 marzo gli uffici saranno chiusi al pubblico.",
    );
    assert!(!shares(&ravenna, &copy));
    // Another comune with the same title and its own text: two stories.
    let modena = with(
        "https://www.comune.modena.mo.it/avvisi/18/sportello",
        "Con l'ordinanza pubblicata oggi si dispone che giovedì le scuole resteranno chiuse.",
    );
    assert!(!shares(&ravenna, &modena));
    // One link, another text: the page was replaced (another notice, or a correction
    // that its own source tells); the same text under another title: one story.
    let replaced = Item {
        title: "Anagrafe: chiusura straordinaria".into(),
        ..with(
            "https://www.comune.ravenna.ra.it/avvisi/20/sportello",
            "Lunedì 17 marzo chiusura straordinaria dello sportello.",
        )
    };
    assert!(!shares(&ravenna, &replaced));
    let retitled = Item {
        title: "Anagrafe: chiusura straordinaria".into(),
        ..ravenna.clone()
    };
    assert!(shares(&ravenna, &retitled));
    // A short title says too little, whatever the site.
    let short = |url| item(None, Some(url), "Interruzione idrica");
    assert!(!shares(
        &short("https://a.example/1"),
        &short("https://a.example/2")
    ));
}

#[test]
fn primary_prefers_guid_then_url_then_content() {
    assert_eq!(
        Identity::of(&item(Some("abc"), Some("https://a.example/1"), "T")).primary,
        "guid:abc"
    );
    assert_eq!(
        Identity::of(&item(None, Some("https://a.example/1"), "T")).primary,
        "url:a.example/1"
    );
    let id = Identity::of(&item(None, None, "Solo titolo"));
    assert!(id.primary.starts_with("hash:"));
    assert_eq!(id.keys.len(), 2);
}

#[test]
fn strict_items_are_known_by_their_ids_only() {
    let mut a = item(Some("cap:a"), Some("https://pc.example.it/"), "Allerta");
    a.strict_id = true;
    a.alt_ids = vec!["cap-doc:x".into()];
    let id = Identity::of(&a);
    assert_eq!(id.keys.len(), 2);
    assert!(id.keys.iter().all(|k| k.kind == KeyKind::Guid as u8));
}

#[test]
fn stored_hashes_are_pinned() {
    // If this fails, stored keys from earlier versions no longer match: see the module docs.
    let id = Identity::of(&item(Some("abc"), Some("https://a.example/1"), "Avviso"));
    assert_eq!(
        hex::encode(id.keys[0].hash),
        "ba7816bf8f01cfea414140de5dae2223"
    );
    assert_eq!(
        id.message_id("comune"),
        Identity::of(&item(Some("abc"), None, "x")).message_id("comune")
    );
    assert_ne!(id.message_id("comune"), id.message_id("altro"));
}

#[test]
fn titles_differing_in_form_on_one_site_are_one_story() {
    let with = |url: &str, title: &str, text: &str| Item {
        summary: format!("<p>{text}</p>"),
        ..item(None, Some(url), title)
    };
    let news = with(
        "https://www.comune.esempio.it/notizie/acqua",
        "Interruzione dell’acqua in via Roma martedì 2 dicembre",
        "Martedì 2 dicembre, dalle 8:30, manca l'acqua in via Roma.",
    );
    let release = with(
        "https://comune.esempio.it/comunicati/123",
        "INTERRUZIONE DELL'ACQUA IN VIA ROMA – MARTEDÌ 02 DICEMBRE",
        "Per lavori alla rete idrica l'erogazione sarà sospesa dalle 8:30 alle 13.",
    );
    assert!(shares(&news, &release));
    let next_day = with(
        "https://comune.esempio.it/comunicati/124",
        "INTERRUZIONE DELL'ACQUA IN VIA ROMA – MERCOLEDÌ 03 DICEMBRE",
        "Per lavori alla rete idrica l'erogazione sarà sospesa dalle 8:30 alle 13.",
    );
    assert!(!shares(&news, &next_day));
    let elsewhere = with(
        "https://www.comune.altrove.it/notizie/acqua",
        "Interruzione dell’acqua in via Roma martedì 2 dicembre",
        "Martedì 2 dicembre manca l'acqua in via Roma, dalle 9.",
    );
    assert!(!shares(&news, &elsewhere));
}
