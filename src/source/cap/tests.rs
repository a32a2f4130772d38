use super::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/fixtures/cap/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ctx() -> ParseContext {
    ParseContext::new(None, chrono_tz::Europe::Rome)
}

fn at(s: &str) -> Option<DateTime<Utc>> {
    Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

#[test]
fn thunderstorm_polygon_inside_and_outside() {
    let text = fixture("a2-thunderstorm.xml");
    let mut c = ctx();
    c.base = Some(Url::parse("https://comune.example.it/allerte").unwrap());
    // Inside the warned polygon (Sacramento area, as in the CAP 1.2 example).
    c.alerts.location = Some(Location {
        lat: 38.49,
        lon: -119.93,
    });
    let items = parse(&text, &c).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].priority, Some(Priority::Urgent));
    c.alerts.location = Some(Location {
        lat: 45.133,
        lon: 10.027,
    });
    assert!(parse(&text, &c).unwrap().is_empty());
}

#[test]
fn test_exercise_and_restricted_give_nothing() {
    let base = fixture("a1-homeland-security.xml");
    assert_eq!(parse(&base, &ctx()).unwrap().len(), 1);
    for (from, to) in [
        ("<status>Actual</status>", "<status>Test</status>"),
        ("<status>Actual</status>", "<status>Exercise</status>"),
        ("<scope>Public</scope>", "<scope>Restricted</scope>"),
    ] {
        let changed = base.replace(from, to);
        assert_ne!(changed, base);
        assert!(parse(&changed, &ctx()).unwrap().is_empty(), "{to}");
    }
}

#[test]
fn italian_info_is_preferred() {
    let text = fixture("a1-homeland-security.xml").replace(
        "</info>",
        "</info><info><language>it-IT</language><category>Security</category><event>Allerta</event>\
         <urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>\
         <headline>Allerta sicurezza nazionale</headline><description>Testo italiano.</description></info>",
    );
    let items = parse(&text, &ctx()).unwrap();
    assert_eq!(items[0].title, "Allerta sicurezza nazionale");
}

#[test]
fn expired_alerts_are_dropped() {
    let text = fixture("a2-thunderstorm.xml");
    let mut c = ctx();
    c.base = Some(Url::parse("https://comune.example.it/allerte").unwrap());
    c.alerts.now = at("2003-06-17T15:00:00-07:00");
    assert_eq!(parse(&text, &c).unwrap().len(), 1);
    c.alerts.now = at("2003-06-17T17:00:00-07:00");
    assert!(parse(&text, &c).unwrap().is_empty());
}

#[test]
fn update_and_cancel_reference_the_original() {
    let text = fixture("a3-earthquake-update.xml");
    let items = parse(&text, &ctx()).unwrap();
    let meta = items[0].alert.as_ref().unwrap();
    assert_eq!(meta.msg_type, MsgType::Update);
    assert_eq!(meta.references.len(), 1);
    assert!(
        meta.references[0].starts_with("hsas@dhs.gov,") || meta.references[0].contains(','),
        "{:?}",
        meta.references
    );
    let cancel = fixture("cancel-ipaws-nv-2019-04-19.xml");
    let items = parse(&cancel, &ctx()).unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].title.starts_with("REVOCA"));
    assert_eq!(items[0].alert.as_ref().unwrap().msg_type, MsgType::Cancel);
}

#[test]
fn min_severity_filters() {
    let text = fixture("a2-thunderstorm.xml");
    let mut c = ctx();
    c.base = Some(Url::parse("https://comune.example.it/allerte").unwrap());
    c.alerts.min_severity = Some(Severity::Extreme);
    assert!(parse(&text, &c).unwrap().is_empty());
}

#[test]
fn hostile_xml_is_refused_without_reading_files() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert><identifier>&x;</identifier></alert>"#;
    assert!(matches!(
        parse_document(xxe, None),
        Err(ParseError::Hostile(_))
    ));
    let mut laughs = String::from("<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">");
    for i in 1..10 {
        laughs.push_str(&format!(
            "<!ENTITY a{i} \"{}\">",
            format!(
                "&a{};",
                if i == 1 {
                    String::new()
                } else {
                    (i - 1).to_string()
                }
            )
            .repeat(10)
        ));
    }
    laughs.push_str("]><alert>&a9;</alert>");
    assert!(matches!(
        parse_document(&laughs, None),
        Err(ParseError::Hostile(_))
    ));
}

#[test]
fn meteoalarm_index_inline_fields_and_geocodes() {
    let text = fixture("meteoalarm_france_legacy.atom.xml");
    let CapDocument::Index(entries) = parse_document(&text, None).unwrap() else {
        panic!()
    };
    assert!(entries.len() > 5);
    assert!(entries.iter().all(|e| e
        .link
        .as_ref()
        .is_some_and(|l| l.as_str().contains("feeds-france"))));
    let mut c = ctx();
    c.alerts.geocodes = vec![("NUTS3".into(), "FR718".into())];
    let items = parse(&text, &c).unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|i| i.extra["area"] == "Haute Savoie"),
        "{items:#?}"
    );
}

#[test]
fn an_area_the_headline_already_names_is_not_repeated() {
    let alert = |headline: &str| {
        format!(
            r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>f-1</identifier><sender>rfs</sender><sent>2026-11-25T10:00:00+00:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope><info><event>Fire</event><urgency>Immediate</urgency><severity>Severe</severity><certainty>Observed</certainty><headline>{headline}</headline><instruction>Recommended Actions: Stay informed.</instruction><area><areaDesc>Yerong Creek</areaDesc></area></info></alert>"#
        )
    };
    let mut c = ctx();
    c.base = Some(Url::parse("https://comune.example.it/allerte").unwrap());
    let named = parse(&alert("Yerong Creek Structure Fire"), &c).unwrap();
    assert!(!named[0].summary.contains("Zona:"), "{}", named[0].summary);
    assert!(
        named[0].summary.contains("Cosa fare: Stay informed."),
        "the sender's label is dropped: {}",
        named[0].summary
    );
    let other = parse(&alert("Structure Fire"), &c).unwrap();
    assert!(
        other[0].summary.contains("Zona: Yerong Creek"),
        "{}",
        other[0].summary
    );
}
