use std::collections::HashMap;

use chrono::TimeZone;

use super::*;
use crate::config::{Forward, Priority, SourceKind};
use crate::item::{AlertMeta, MsgType};

/// A store that knows some keys, sent alerts and levels.
#[derive(Default)]
struct Remembers {
    keys: HashMap<Key, u64>,
    alerts: HashMap<String, SentAlert>,
    levels: HashMap<String, Level>,
}

impl Remembers {
    fn of(items: &[Item]) -> Remembers {
        let mut r = Remembers::default();
        for item in items {
            for key in Identity::of(item).keys {
                r.keys.insert(key, 1);
            }
        }
        r
    }
}

impl Known for Remembers {
    fn last_seen(&self, keys: &[Key]) -> Result<Vec<Option<u64>>, StoreError> {
        Ok(keys.iter().map(|k| self.keys.get(k).copied()).collect())
    }
    fn sent_alert(&self, reference: &str) -> Result<Option<SentAlert>, StoreError> {
        Ok(self.alerts.get(reference).cloned())
    }
    fn level(&self, key: &str) -> Result<Option<Level>, StoreError> {
        Ok(self.levels.get(key).cloned())
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
}

fn item(guid: Option<&str>, link: Option<&str>, title: &str, day: u32) -> Item {
    Item {
        guid: guid.map(str::to_owned),
        url: link.map(|l| url::Url::parse(l).unwrap()),
        title: title.to_owned(),
        summary: format!("{title}: il testo."),
        published: Some(Utc.with_ymd_and_hms(2026, 11, day, 9, 0, 0).unwrap()),
        ..Item::default()
    }
}

/// An RSS item without `<link>`: the parser gives it the channel's link.
fn linkless(guid: &str, title: &str, day: u32) -> Item {
    Item {
        url_inherited: true,
        ..item(Some(guid), Some("https://comune.example.it/"), title, day)
    }
}

fn fresh_titles(items: Vec<Item>, known: &Remembers) -> Vec<String> {
    triage(items, known, now(), "s")
        .unwrap()
        .fresh
        .into_iter()
        .map(|(i, _)| i.title)
        .collect()
}

#[test]
fn which_items_are_new() {
    let a = item(Some("1"), Some("https://c.it/a"), "Ordinanza sindacale", 19);
    let b = item(Some("2"), Some("https://c.it/b"), "Ordinanza sindacale", 19);
    let undated = |guid: &str, link: &str| Item {
        published: None,
        ..item(Some(guid), Some(link), "Avviso", 1)
    };
    /// What the store knows, the document, the titles that are new.
    type Case<'a> = (&'a str, Vec<Item>, Vec<Item>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "nothing known: all new",
            vec![],
            vec![a.clone(), b.clone()],
            vec!["Ordinanza sindacale"; 2],
        ),
        (
            "the same guid: known",
            vec![a.clone()],
            vec![a.clone()],
            vec![],
        ),
        (
            "same title and day, another guid and link: new",
            vec![a.clone()],
            vec![b.clone(), a.clone()],
            vec!["Ordinanza sindacale"],
        ),
        (
            "undated items with the same title and their own guids: new",
            vec![undated("1", "https://c.it/1")],
            vec![
                undated("2", "https://c.it/2"),
                undated("1", "https://c.it/1"),
            ],
            vec!["Avviso"],
        ),
        (
            "items without a link do not share the channel's link",
            vec![linkless("g1", "Primo", 18)],
            vec![linkless("g2", "Secondo", 19), linkless("g1", "Primo", 18)],
            vec!["Secondo"],
        ),
        (
            "… also when the older one has left the feed",
            vec![linkless("g1", "Primo", 18)],
            vec![linkless("g2", "Secondo", 19)],
            vec!["Secondo"],
        ),
        (
            "the feed changed its guids, the item kept its link: a migration, known",
            vec![item(Some("old-1"), Some("https://c.it/a"), "Uno", 18)],
            vec![item(Some("new-1"), Some("https://c.it/a"), "Uno", 18)],
            vec![],
        ),
        (
            "a new guid whose link another item of the document shares: new",
            vec![item(Some("1"), Some("https://c.it/x"), "Uno", 18)],
            vec![
                item(Some("1"), Some("https://c.it/x"), "Uno", 18),
                item(Some("2"), Some("https://c.it/x"), "Due", 19),
            ],
            vec!["Due"],
        ),
        (
            "without guids a distinct link is new, whatever the title",
            vec![item(None, Some("https://c.it/1"), "Avviso", 19)],
            vec![item(None, Some("https://c.it/2"), "Avviso", 19)],
            vec!["Avviso"],
        ),
        (
            "neither guid nor link: the title and day identify a changed text",
            vec![item(None, None, "Avviso", 19)],
            vec![Item {
                summary: "testo corretto".into(),
                ..item(None, None, "Avviso", 19)
            }],
            vec![],
        ),
    ];
    for (what, stored, document, expected) in cases {
        let known = Remembers::of(&stored);
        assert_eq!(fresh_titles(document, &known), expected, "{what}");
    }
}

#[test]
fn the_same_item_twice_in_a_document_counts_once() {
    let a = item(Some("1"), Some("https://c.it/a"), "Uno", 19);
    let t = triage(vec![a.clone(), a], &Nothing, now(), "s").unwrap();
    assert_eq!(t.fresh.len(), 1);
    assert_eq!(t.present.len(), 1);
}

#[test]
fn known_items_are_restamped_only_when_stale() {
    let a = item(Some("1"), Some("https://c.it/a"), "Uno", 19);
    let mut known = Remembers::of(std::slice::from_ref(&a));
    let t = triage(vec![a.clone()], &known, now(), "s").unwrap();
    assert_eq!(t.touch.len(), 3, "stamped long ago: refreshed");
    let fresh_stamp = now().timestamp() as u64;
    known.keys.values_mut().for_each(|v| *v = fresh_stamp);
    let t = triage(vec![a], &known, now(), "s").unwrap();
    assert!(t.touch.is_empty());
}

fn source(forward: Forward, priority: Option<Priority>) -> SourceConfig {
    let mut src = SourceConfig::adhoc(
        "s",
        SourceKind::Feed,
        url::Url::parse("https://c.it/feed").unwrap(),
    );
    src.forward = forward;
    src.priority = priority;
    src
}

fn actions(
    src: &SourceConfig,
    max_new: usize,
    items: Vec<Item>,
    known: &Remembers,
) -> Vec<&'static str> {
    let policy = Policy::new(src);
    let rules = Rules {
        max_new,
        ..Rules::preview(src, &policy, chrono_tz::Europe::Rome)
    };
    let fresh = items
        .into_iter()
        .map(|i| {
            let id = Identity::of(&i);
            (i, id)
        })
        .collect();
    decide(&rules, fresh, known, now())
        .unwrap()
        .decisions
        .iter()
        .map(|d| d.action.name())
        .collect()
}

fn urgent(mut i: Item) -> Item {
    i.priority = Some(Priority::Urgent);
    i
}

#[test]
fn what_happens_to_new_items() {
    let a = item(Some("1"), Some("https://c.it/a"), "Uno", 17);
    let b = item(Some("2"), Some("https://c.it/b"), "Due", 18);
    let c = item(Some("3"), Some("https://c.it/c"), "Tre", 19);
    let none = Remembers::default();
    /// The source, its per-poll cap, the new items, what happens to each.
    type Case<'a> = (&'a str, SourceConfig, usize, Vec<Item>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "all: sent",
            source(Forward::All, None),
            10,
            vec![a.clone(), b.clone()],
            vec!["send", "send"],
        ),
        (
            "over the per-poll cap: the oldest are recorded, not sent",
            source(Forward::All, None),
            1,
            vec![c.clone(), b.clone(), a.clone()],
            vec!["drop", "drop", "send"],
        ),
        (
            "review: held for an editor",
            source(Forward::Review, None),
            10,
            vec![a.clone()],
            vec!["hold"],
        ),
        (
            "review: an urgent item skips it",
            source(Forward::Review, None),
            10,
            vec![urgent(a.clone())],
            vec!["send"],
        ),
        (
            "review on a priority = normal source: an urgent item is normal and waits",
            source(Forward::Review, Some(Priority::Normal)),
            10,
            vec![urgent(a.clone())],
            vec!["hold"],
        ),
        (
            "tagged: untagged items wait",
            source(Forward::Tagged, None),
            10,
            vec![a.clone()],
            vec!["wait"],
        ),
    ];
    for (what, src, max_new, items, expected) in cases {
        assert_eq!(actions(&src, max_new, items, &none), expected, "{what}");
    }
}

fn alert(
    msg_type: MsgType,
    reference: &str,
    references: &[&str],
    level: Option<(&str, &str)>,
) -> Item {
    Item {
        guid: Some(reference.to_owned()),
        strict_id: true,
        url: Some(url::Url::parse("https://allerte.example.it/a").unwrap()),
        title: "Allerta arancione".into(),
        summary: "Temporali".into(),
        published: Some(now()),
        alert: Some(AlertMeta {
            reference: reference.to_owned(),
            msg_type,
            references: references.iter().map(|r| r.to_string()).collect(),
            level_key: level.map(|(k, _)| k.to_owned()),
            level: level.map(|(_, l)| l.to_owned()).unwrap_or_default(),
            expires: None,
            ..AlertMeta::default()
        }),
        ..Item::default()
    }
}

#[test]
fn alerts_are_threaded() {
    let src = source(Forward::All, None);
    let mut known = Remembers::default();
    known.alerts.insert(
        "pc,1,t".into(),
        SentAlert {
            title: "Allerta arancione".into(),
            url: "https://allerte.example.it/a".into(),
            sent_at: None,
            colour: None,
            urgent: false,
        },
    );
    known.levels.insert(
        "pc|zona-a".into(),
        Level {
            level: "arancione".into(),
            expires: None,
            at: None,
        },
    );
    let cases = [
        (
            "an update of a sent alert",
            alert(MsgType::Update, "pc,2,t", &["pc,1,t"], None),
            "send",
        ),
        (
            "a cancel of a sent alert",
            alert(MsgType::Cancel, "pc,3,t", &["pc,1,t"], None),
            "send",
        ),
        (
            "a cancel of an alert never sent",
            alert(MsgType::Cancel, "pc,4,t", &["pc,9,t"], None),
            "drop",
        ),
        (
            "a bulletin repeating the level",
            alert(
                MsgType::Alert,
                "pc,5,t",
                &[],
                Some(("pc|zona-a", "arancione")),
            ),
            "drop",
        ),
        (
            "a bulletin with a new level",
            alert(MsgType::Alert, "pc,6,t", &[], Some(("pc|zona-a", "rossa"))),
            "send",
        ),
    ];
    for (what, item, expected) in cases {
        assert_eq!(
            actions(&src, 10, vec![item], &known),
            vec![expected],
            "{what}"
        );
    }
}

#[test]
fn a_baseline_records_everything_and_sends_nothing() {
    let a = item(Some("1"), Some("https://c.it/a"), "Uno", 17);
    let plan = baseline(vec![(a.clone(), Identity::of(&a))]);
    assert_eq!(plan.messages().count(), 0);
    assert_eq!(plan.recorded(), 1);
    assert_eq!(plan.touch, Identity::of(&a).keys);
}

#[test]
fn an_event_already_over_is_not_sent() {
    let src = source(Forward::All, None);
    let policy = Policy::new(&src);
    let rules = Rules {
        live: true,
        max_new: 10,
        ..Rules::preview(&src, &policy, chrono_tz::Europe::Rome)
    };
    // Today is Friday 20 November 2026; the items were published on the 19th, or the 18th.
    let event = |path: &str, title: &str, text: &str| Item {
        summary: format!("<p>{text}</p>"),
        ..item(None, Some(&format!("https://c.it{path}")), title, 19)
    };
    let mut tagged = event("/notizie/mostra", "Mostra", "Aperta fino al 19 novembre.");
    tagged.tags = vec!["Eventi".into()];
    let cases = [
        (
            Item {
                published: Some(Utc.with_ymd_and_hms(2026, 11, 18, 9, 0, 0).unwrap()),
                ..event("/eventi/sagra", "Sagra il 18 novembre", "In piazza.")
            },
            "drop: an event already over: the last day it names, mercoledì 18 novembre 2026, has passed",
        ),
        (
            event("/evento/mercatino", "Mercatino", "Dal 6 all'8 dicembre in piazza."),
            "send",
        ),
        (
            event("/eventi/fiera", "Fiera", "Sabato 14 e domenica 22 novembre."),
            "send",
        ),
        (tagged, "drop"),
        (
            event("/eventi/oggi", "Concerto venerdì 20 novembre", "Alle 21."),
            "send",
        ),
        // What happened, told the day after: news, not an invitation.
        (
            event("/eventi/sagra-com-e-andata", "Com'è andata la sagra del 18 novembre", ""),
            "send",
        ),
        // Not an event: a date in the past is just a date.
        (
            event("/notizie/bilancio", "Bilancio approvato il 10 novembre", ""),
            "send",
        ),
    ];
    for (item, expected) in cases {
        let title = item.title.clone();
        let id = Identity::of(&item);
        let plan = decide(&rules, vec![(item, id)], &Remembers::default(), now()).unwrap();
        let action = &plan.decisions[0].action;
        let got = match action {
            Action::Drop(reason) => format!("drop: {reason}"),
            other => other.name().to_owned(),
        };
        assert!(got.starts_with(expected), "{title}: {got}");
    }
}
