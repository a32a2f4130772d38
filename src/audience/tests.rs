use super::*;
use crate::config::{Topic, Zone};

fn audience() -> Audience {
    let topic =
        |name: &str, label: &str, keywords: &[&str], sources: &[&str], urgent: bool| Topic {
            name: name.into(),
            label: label.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            tags: vec![],
            urgent,
            default: false,
        };
    Audience {
        topics: vec![
            topic(
                "allerte",
                "Allerte di protezione civile",
                &["ALLERTE", "PROTEZIONE CIVILE"],
                &["protezione-civile"],
                true,
            ),
            topic("eventi", "Eventi", &["EVENTI"], &["eventi"], false),
        ],
        zones: vec![Zone {
            name: "san-rocco".into(),
            label: "San Rocco".into(),
            words: vec!["SAN ROCCO".into(), "FRAZIONE SAN ROCCO".into()],
        }],
    }
}

fn message(source: &str, title: &str, urgent: bool) -> Message {
    Message {
        id: "m".into(),
        source: source.into(),
        kind: "feed".into(),
        title: title.into(),
        url: "https://x.it/".into(),
        text: format!("*{title}*"),
        image: None,
        priority: if urgent {
            Priority::Urgent
        } else {
            Priority::Normal
        },
        published: None,
        tags: vec![],
        extra: Default::default(),
    }
}

const SUBSCRIBE: &[&str] = &["ISCRIVIMI", "ISCRIZIONE"];
const STOP: &[&str] = &["STOP", "CANCELLAMI"];

fn asked(text: &str) -> Option<Ask> {
    let folded = fold_keyword(text);
    let words: Vec<&str> = folded.split_whitespace().collect();
    ask(&words, &audience(), SUBSCRIBE, STOP)
}

#[test]
fn keywords_for_topics_and_zones_the_way_people_write_them() {
    let cases: &[(&str, Option<Ask>)] = &[
        ("ISCRIVIMI ALLERTE", Some(Ask::Topic("allerte".into()))),
        ("iscrivimi allerte", Some(Ask::Topic("allerte".into()))),
        ("Allerte ON", Some(Ask::Topic("allerte".into()))),
        ("PROTEZIONE CIVILE ON", Some(Ask::Topic("allerte".into()))),
        ("protezione  civile on", Some(Ask::Topic("allerte".into()))),
        ("STOP EVENTI", Some(Ask::StopTopic("eventi".into()))),
        ("Eventi off", Some(Ask::StopTopic("eventi".into()))),
        ("cancellami eventi", Some(Ask::StopTopic("eventi".into()))),
        ("ISCRIVIMI SAN ROCCO", Some(Ask::Zone("san-rocco".into()))),
        (
            "iscrivimi frazione san rocco",
            Some(Ask::Zone("san-rocco".into())),
        ),
        ("STOP SAN ROCCO", Some(Ask::StopZone("san-rocco".into()))),
        ("ISCRIVIMI TUTTO", Some(Ask::Everything)),
        ("TUTTO ON", Some(Ask::Everything)),
        ("STOP TUTTO", Some(Ask::Stop)),
        ("ARGOMENTI", Some(Ask::List)),
        ("argomenti", Some(Ask::List)),
        // Not a topic: left to the general keywords.
        ("ISCRIVIMI", None),
        ("STOP", None),
        ("STOP MESSAGGI", None),
        ("ISCRIVIMI CALCIO", None),
        ("allerte", None),
    ];
    for (text, expected) in cases {
        assert_eq!(&asked(text), expected, "{text:?}");
    }
}

#[test]
fn three_subscribers_on_different_topics_get_exactly_theirs() {
    let a = audience();
    let everything = Selection::default();
    let alerts = Selection {
        topics: vec!["allerte".into()],
        ..Selection::default()
    };
    let no_events = Selection {
        stopped: vec!["eventi".into()],
        ..Selection::default()
    };
    let san_rocco = Selection {
        zones: vec!["san-rocco".into()],
        ..Selection::default()
    };
    let news = Reach::of(&message("comune", "Mercato in piazza", false), &a);
    let event = Reach::of(&message("eventi", "Concerto in piazza", false), &a);
    let alert = Reach::of(&message("protezione-civile", "Allerta arancione", true), &a);
    let quake = Reach::of(&message("ingv", "Terremoto M4.2", true), &a);
    let cut = Reach::of(
        &message("comune", "Acqua sospesa in via di San Rocco", false),
        &a,
    );
    assert_eq!(alert.topics, ["allerte"]);
    assert_eq!(quake.topics, ["allerte"], "every urgent item is an alert");
    assert_eq!(cut.zones, ["san-rocco"]);
    let table = [
        // (selection, news, event, alert, quake, water cut in San Rocco)
        (&everything, [true, true, true, true, true]),
        (&alerts, [false, false, true, true, false]),
        (&no_events, [true, false, true, true, true]),
        (&san_rocco, [true, true, true, true, true]),
    ];
    for (selection, expected) in table {
        let got = [&news, &event, &alert, &quake, &cut].map(|r| receives(selection, r, &a));
        assert_eq!(got, expected, "{}", selection.describe());
    }
    // A zone's subscriber does not get another zone's news.
    let centro = Selection {
        zones: vec!["centro".into()],
        ..Selection::default()
    };
    assert!(!receives(&centro, &cut, &a));
    // Urgent reaches everyone but who stopped its topic explicitly.
    let no_alerts = Selection {
        stopped: vec!["allerte".into()],
        ..Selection::default()
    };
    assert!(!receives(&no_alerts, &alert, &a));
    assert!(receives(&no_alerts, &news, &a));
}

#[test]
fn a_digest_belongs_to_the_topics_of_what_it_tells() {
    let a = audience();
    let event = message("eventi", "Concerto", false);
    let news = message("comune", "Mercato", false);
    let digest = crate::digest::digest("Notizie della notte", &[&news, &event], chrono::Utc::now());
    assert_eq!(Reach::of(&digest, &a).topics, ["eventi"]);
    let events_only = Selection {
        topics: vec!["eventi".into()],
        ..Selection::default()
    };
    assert!(receives(&events_only, &Reach::of(&digest, &a), &a));
    let news_only = crate::digest::digest("Altre notizie", &[&news], chrono::Utc::now());
    assert!(!receives(&events_only, &Reach::of(&news_only, &a), &a));
    // Who stopped the events still gets a digest that tells other news too; a line about a
    // zone does not make the digest that zone's.
    let no_events = Selection {
        stopped: vec!["eventi".into()],
        ..Selection::default()
    };
    assert!(receives(&no_events, &Reach::of(&digest, &a), &a));
    let cut = message("comune", "Acqua sospesa a San Rocco", false);
    let mixed = crate::digest::digest("Altre notizie", &[&cut, &news], chrono::Utc::now());
    let centro = Selection {
        zones: vec!["centro".into()],
        ..Selection::default()
    };
    assert!(receives(&centro, &Reach::of(&mixed, &a), &a));
}

#[test]
fn the_default_topics_are_what_a_plain_subscriber_gets() {
    let mut a = audience();
    a.topics[0].default = true; // allerte only by default
    let plain = Selection::default();
    let news = Reach::of(&message("comune", "Mercato", false), &a);
    let event = Reach::of(&message("eventi", "Concerto", false), &a);
    let alert = Reach::of(&message("protezione-civile", "Allerta", true), &a);
    assert!(!receives(&plain, &news, &a));
    assert!(!receives(&plain, &event, &a));
    assert!(receives(&plain, &alert, &a));
    assert!(what_you_receive(&plain, &a).contains("Allerte di protezione civile"));
}

#[test]
fn keywords_change_a_choice_step_by_step() {
    use Applied::*;
    let t = |name: &str| Ask::Topic(name.into());
    let stop = |name: &str| Ask::StopTopic(name.into());
    let sel = |topics: &[&str], stopped: &[&str]| Selection {
        topics: topics.iter().map(|s| s.to_string()).collect(),
        stopped: stopped.iter().map(|s| s.to_string()).collect(),
        ..Selection::default()
    };
    let none: &[String] = &[];
    // Not subscribed: a topic subscribes to it alone; a stop changes nothing.
    let only_alerts = sel(&["allerte"], &[]);
    assert_eq!(
        apply(None, &t("allerte"), none),
        Joined(only_alerts.clone())
    );
    assert_eq!(apply(None, &stop("eventi"), none), Same);
    // Adding a topic, stopping one, then the last: unsubscribed.
    let two = sel(&["allerte", "eventi"], &[]);
    assert_eq!(
        apply(Some(&only_alerts), &t("eventi"), none),
        Changed(two.clone())
    );
    assert_eq!(apply(Some(&two), &t("eventi"), none), Same);
    let events = sel(&["eventi"], &["allerte"]);
    assert_eq!(
        apply(Some(&two), &stop("allerte"), none),
        Changed(events.clone())
    );
    assert_eq!(apply(Some(&events), &stop("eventi"), none), Left);
    // Stopping a topic one did not choose holds too: its urgent messages stop.
    let events_no_alerts = sel(&["eventi"], &["allerte"]);
    assert_eq!(
        apply(Some(&sel(&["eventi"], &[])), &stop("allerte"), none),
        Changed(events_no_alerts.clone())
    );
    let a = audience();
    let alert = Reach::of(&message("protezione-civile", "Allerta", true), &a);
    assert!(!receives(&events_no_alerts, &alert, &a));
    // Everything, then STOP EVENTI: everything but the events; ISCRIVIMI EVENTI takes them back.
    let all = Selection::default();
    let no_events = sel(&[], &["eventi"]);
    assert_eq!(
        apply(Some(&all), &stop("eventi"), none),
        Changed(no_events.clone())
    );
    assert_eq!(
        apply(Some(&no_events), &t("eventi"), none),
        Changed(all.clone())
    );
    // ISCRIVIMI (everything) after some topics.
    assert_eq!(
        apply(Some(&only_alerts), &Ask::Everything, none),
        Changed(all.clone())
    );
    // Zones come and go; a zone stopped is stopped.
    let zoned = Selection {
        zones: vec!["san-rocco".into()],
        ..Selection::default()
    };
    assert_eq!(
        apply(Some(&all), &Ask::Zone("san-rocco".into()), none),
        Changed(zoned.clone())
    );
    let no_zone = Selection {
        stopped_zones: vec!["san-rocco".into()],
        ..Selection::default()
    };
    assert_eq!(
        apply(Some(&zoned), &Ask::StopZone("san-rocco".into()), none),
        Changed(no_zone.clone())
    );
    assert_eq!(
        apply(Some(&all), &Ask::StopZone("san-rocco".into()), none),
        Changed(no_zone.clone())
    );
    let cut = Reach::of(&message("comune", "Acqua sospesa a San Rocco", false), &a);
    assert!(!receives(&no_zone, &cut, &a));
    assert!(receives(
        &no_zone,
        &Reach::of(&message("comune", "Mercato", false), &a),
        &a
    ));
    assert_eq!(apply(Some(&zoned), &Ask::Stop, none), Left);
}

#[test]
fn with_default_topics_one_can_add_others_and_ask_for_everything() {
    use Applied::*;
    let mut a = audience();
    a.topics[0].default = true; // allerte
    let defaults = defaults(&a);
    let plain = Selection::default();
    let Changed(more) = apply(Some(&plain), &Ask::Topic("eventi".into()), &defaults) else {
        panic!()
    };
    assert_eq!(more.topics, ["allerte", "eventi"]);
    let concert = Reach::of(&message("eventi", "Concerto", false), &a);
    assert!(receives(&more, &concert, &a));
    let Changed(everything) = apply(Some(&plain), &Ask::Everything, &defaults) else {
        panic!()
    };
    let news = Reach::of(&message("comune", "Mercato", false), &a);
    assert!(!receives(&plain, &news, &a));
    assert!(receives(&everything, &news, &a), "TUTTO ON is everything");
    assert_eq!(apply(Some(&everything), &Ask::Everything, &defaults), Same);
}

#[test]
fn little_words_and_accents_do_not_hide_a_topic() {
    assert_eq!(
        asked("Iscrivimi alle allerte"),
        Some(Ask::Topic("allerte".into()))
    );
    assert_eq!(
        asked("iscrivimi a San Rocco"),
        Some(Ask::Zone("san-rocco".into()))
    );
    let mut a = audience();
    a.topics[1].tags = vec!["Viabilità".into()];
    let mut roads = message("comune", "Senso unico", false);
    roads.tags = vec!["VIABILITÀ".into()];
    assert_eq!(Reach::of(&roads, &a).topics, ["eventi"]);
}

#[test]
fn the_list_says_how_to_choose_each_topic_and_zone() {
    let list = list(&audience());
    assert!(
        list.contains("• Allerte di protezione civile: scrivi ISCRIVIMI ALLERTE (o STOP ALLERTE)"),
        "{list}"
    );
    assert!(
        list.contains("• solo la zona San Rocco: scrivi ISCRIVIMI SAN ROCCO"),
        "{list}"
    );
    assert!(list.ends_with("STOP per non ricevere più nulla."), "{list}");
}
