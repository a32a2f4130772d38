use super::*;

/// The citizens' archive: what went out, linked to what followed it.
mod archive;
/// Records' later life: backups, counts that replace records, what a STOP leaves.
mod lifecycle;
use crate::ident::{Identity, Key};
use crate::item::Item;
use crate::phone::Phone;

fn message(id: &str, priority: Priority) -> Message {
    Message {
        id: id.into(),
        source: "s".into(),
        kind: "feed".into(),
        title: "t".into(),
        url: "https://a.example/".into(),
        text: "t".into(),
        image: None,
        priority,
        published: None,
        tags: vec![],
        extra: Default::default(),
    }
}

fn keys(title: &str) -> Vec<Key> {
    Identity::of(&Item {
        title: title.into(),
        ..Item::default()
    })
    .keys
}

fn at(days: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + days * 86_400, 0).unwrap()
}

#[test]
fn commit_is_atomic_and_outbox_is_priority_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let commit = PollCommit {
        state: SourceState {
            baselined: true,
            ..SourceState::default()
        },
        touch: keys("uno"),
        messages: vec![
            message("a", Priority::Normal),
            message("b", Priority::Urgent),
        ],
        ..PollCommit::default()
    };
    assert_eq!(store.commit_poll("s", &commit, at(0)).unwrap(), 2);
    assert!(store.source_state("s").unwrap().baselined);
    assert!(store
        .seen_keys("s")
        .unwrap()
        .last_seen(&keys("uno"))
        .iter()
        .all(Option::is_some));
    assert!(store.seen_keys("other").unwrap().is_empty());
    let order: Vec<String> = store.outbox().map(|r| r.unwrap().1.message.id).collect();
    assert_eq!(order, ["b", "a"]);
}

#[test]
fn prune_forgets_old_keys_but_not_present_items() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let old = keys("vecchio");
    let present = keys("ancora nel feed");
    let mut touch = old.clone();
    touch.extend(present.iter().copied());
    let state = SourceState {
        baselined: true,
        ..SourceState::default()
    };
    store
        .commit_poll(
            "s",
            &PollCommit {
                state,
                touch,
                present: present[..1].to_vec(),
                ..PollCommit::default()
            },
            at(0),
        )
        .unwrap();
    assert_eq!(store.last_prune().unwrap(), None);
    let report = store.prune(at(200), at(200)).unwrap();
    assert_eq!(store.last_prune().unwrap(), Some(at(200)));
    assert_eq!(report.seen, old.len() + present.len() - 1);
    assert!(store
        .seen_keys("s")
        .unwrap()
        .last_seen(&old)
        .iter()
        .all(Option::is_none));
    assert!(store.seen_keys("s").unwrap().last_seen(&present[..1])[0].is_some());
    // Nothing younger than the cutoff goes.
    assert_eq!(store.prune(at(-1), at(0)).unwrap(), PruneReport::default());
}

#[tokio::test]
async fn deliveries_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let commit = PollCommit {
        messages: vec![message("m1", Priority::Normal)],
        ..PollCommit::default()
    };
    store.commit_poll("s", &commit, at(0)).unwrap();
    let record = DeliveryRecord {
        state: DeliveryState::Sent,
        at: at(0),
        provider_id: Some("p1".into()),
        detail: None,
    };
    store.set_delivery("m1", "log", &record).await.unwrap();
    assert_eq!(store.delivery("m1", "log").unwrap(), Some(record));
    let (key, entry) = store.outbox().next().unwrap().unwrap();
    assert!(store.finish(&key, &entry, &["log"], at(0)).unwrap());
    assert_eq!(store.outbox_len(), 0);
    assert_eq!(store.recent_log(10).unwrap()[0].message.id, "m1");
    assert_eq!(store.prune(at(1), at(1)).unwrap().log, 1);
    assert_eq!(store.deliveries_of("m1").unwrap(), vec![]);
}

#[test]
fn the_log_is_paged_newest_first_with_a_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let ids: Vec<String> = (0..7).map(|i| format!("m{i}")).collect();
    let commit = PollCommit {
        messages: ids.iter().map(|id| message(id, Priority::Normal)).collect(),
        ..PollCommit::default()
    };
    store.commit_poll("s", &commit, at(0)).unwrap();
    while let Some(r) = store.outbox().next() {
        let (key, entry) = r.unwrap();
        assert!(store.finish(&key, &entry, &[], at(0)).unwrap());
    }
    let all = |_: &LogEntry| true;
    let (page, more) = store.log_page(all, 0, 3).unwrap();
    let names = |p: &[LogEntry]| p.iter().map(|e| e.message.id.clone()).collect::<Vec<_>>();
    assert_eq!(names(&page), ["m6", "m5", "m4"]);
    assert!(more);
    let (page, more) = store.log_page(all, 6, 3).unwrap();
    assert_eq!(names(&page), ["m0"]);
    assert!(!more);
    let odd = |e: &LogEntry| e.message.id.ends_with(['1', '3', '5']);
    let (page, more) = store.log_page(odd, 1, 5).unwrap();
    assert_eq!(names(&page), ["m3", "m1"]);
    assert!(!more);
}

fn recipient(state: RecipientState, wamid: &str) -> RecipientRecord {
    RecipientRecord {
        state,
        at: at(0),
        wamid: Some(wamid.into()),
        detail: None,
        attempts: 1,
        not_before: None,
    }
}

#[tokio::test]
async fn a_number_that_unsubscribes_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let phone = Phone::parse("393401234567").unwrap();
    let other = Phone::parse("393409999999").unwrap();
    let sub = Subscriber {
        consented_at: at(0),
        consent_text: "ISCRIVIMI".into(),
        consent_message_id: None,
        last_inbound_at: None,
        selection: Default::default(),
    };
    store.subscribe(&phone, &sub).unwrap();
    store.subscribe(&other, &sub).unwrap();
    for m in ["m1", "m2"] {
        let batch = vec![
            (
                phone.to_string(),
                recipient(RecipientState::Sent, &format!("{m}-a")),
            ),
            (
                other.to_string(),
                recipient(RecipientState::Sent, &format!("{m}-b")),
            ),
        ];
        store.set_recipients(m, "wa", &batch).await.unwrap();
    }
    assert!(store.unsubscribe(&phone).unwrap());
    assert_eq!(store.subscriber(&phone).unwrap(), None);
    for m in ["m1", "m2"] {
        assert_eq!(store.recipient(m, "wa", phone.as_str()).unwrap(), None);
        assert!(store.recipient(m, "wa", other.as_str()).unwrap().is_some());
        // A late status for the erased number finds nothing to update.
        assert!(!store
            .apply_status(&format!("{m}-a"), RecipientState::Read, at(1), None)
            .unwrap());
        assert!(store
            .apply_status(&format!("{m}-b"), RecipientState::Read, at(1), None)
            .unwrap());
    }
    assert!(!store.unsubscribe(&phone).unwrap(), "already gone");
}

/// STOP while a broadcast batch is in flight: no intent for a number already gone, and no
/// outcome written back for a number erased after its intent.
#[tokio::test]
async fn stop_during_a_broadcast_batch_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let (stays, leaves, gone) = (
        Phone::parse("393401111111").unwrap(),
        Phone::parse("393402222222").unwrap(),
        Phone::parse("393403333333").unwrap(),
    );
    let sub = Subscriber {
        consented_at: at(0),
        consent_text: "ISCRIVIMI".into(),
        consent_message_id: None,
        last_inbound_at: None,
        selection: Default::default(),
    };
    store.subscribe(&stays, &sub).unwrap();
    store.subscribe(&leaves, &sub).unwrap();
    // `gone` was read from the list, then sent STOP before the intents were written.
    let intents: Vec<(String, RecipientRecord)> = [&stays, &leaves, &gone]
        .iter()
        .map(|p| (p.to_string(), recipient(RecipientState::Intent, "")))
        .collect();
    let recorded = store
        .set_recipient_intents("m1", "wa", &intents)
        .await
        .unwrap();
    assert_eq!(recorded, [stays.to_string(), leaves.to_string()]);
    // `leaves` sends STOP while its request is in flight.
    assert!(store.unsubscribe(&leaves).unwrap());
    let outcomes: Vec<(String, RecipientRecord)> = [(&stays, "w1"), (&leaves, "w2")]
        .iter()
        .map(|(p, w)| (p.to_string(), recipient(RecipientState::Sent, w)))
        .collect();
    store
        .set_recipient_outcomes("m1", "wa", &outcomes)
        .await
        .unwrap();
    assert!(store
        .recipient("m1", "wa", stays.as_str())
        .unwrap()
        .is_some());
    assert_eq!(store.recipient("m1", "wa", leaves.as_str()).unwrap(), None);
    assert_eq!(store.recipient("m1", "wa", gone.as_str()).unwrap(), None);
    assert!(!store
        .apply_status("w2", RecipientState::Read, at(1), None)
        .unwrap());
}

#[tokio::test]
async fn every_tree_has_a_retention_rule() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let commit = PollCommit {
        messages: vec![message("m1", Priority::Normal)],
        sent_alerts: vec![(
            "pc,1,t".into(),
            SentAlert {
                title: "Allerta".into(),
                url: "https://a.example/".into(),
                sent_at: None,
                colour: None,
                urgent: false,
            },
        )],
        levels: vec![(
            "pc|zona".into(),
            Level {
                level: "arancione".into(),
                expires: None,
                at: None,
            },
        )],
        ..PollCommit::default()
    };
    store.commit_poll("s", &commit, at(0)).unwrap();
    store
        .set_recipients(
            "m1",
            "wa",
            &[("393401234567".into(), recipient(RecipientState::Sent, "w1"))],
        )
        .await
        .unwrap();
    let (key, entry) = store.outbox().next().unwrap().unwrap();
    assert!(store.finish(&key, &entry, &[], at(0)).unwrap());
    store
        .audit(&AuditEntry {
            at: at(0),
            who: "redazione".into(),
            action: AuditAction::Approve,
            subject: "x".into(),
            before: None,
            after: None,
            item: None,
        })
        .unwrap();
    // Young records stay.
    assert_eq!(store.prune(at(-1), at(1)).unwrap(), PruneReport::default());
    assert!(store.sent_alert("s", "pc,1,t").unwrap().is_some());
    // Old ones go: log with its per-sink and per-recipient records and provider ids, alerts
    // and levels; the audit log after two years.
    let report = store.prune(at(10), at(10)).unwrap();
    assert_eq!((report.log, report.alerts, report.audit), (1, 2, 0));
    assert_eq!(store.recipient("m1", "wa", "393401234567").unwrap(), None);
    assert!(!store
        .apply_status("w1", RecipientState::Read, at(10), None)
        .unwrap());
    assert_eq!(store.sent_alert("s", "pc,1,t").unwrap(), None);
    assert_eq!(store.level("s", "pc|zona").unwrap(), None);
    assert_eq!(store.prune(at(10), at(800)).unwrap().audit, 1);
    assert!(store.recent_audit(10).unwrap().is_empty());
}

#[test]
fn statuses_only_move_forward() {
    use RecipientState::*;
    let cases = [
        (Sent, Delivered, true),
        (Delivered, Read, true),
        (Read, Delivered, false),
        (Delivered, Failed, false),
        (Sent, Failed, true),
        (Failed, Read, false),
        (Intent, Sent, true),
        (Unknown, Delivered, true),
    ];
    for (from, to, expected) in cases {
        assert_eq!(moves_forward(from, to), expected, "{from:?} → {to:?}");
    }
}

#[test]
fn a_removed_source_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    for name in ["tenuta", "rimossa"] {
        let state = SourceState {
            baselined: true,
            ..SourceState::default()
        };
        store.put_source_state(name, &state).unwrap();
        store.set_source_paused(name, true).unwrap();
    }
    let configured = std::collections::HashSet::from(["tenuta"]);
    assert_eq!(store.forget_sources_except(&configured).unwrap(), 1);
    assert!(store.source_state("tenuta").unwrap().baselined);
    assert!(store.source_paused("tenuta").unwrap());
    assert!(
        !store.source_state("rimossa").unwrap().baselined,
        "added again, it starts with a baseline"
    );
    assert!(!store.source_paused("rimossa").unwrap());
}

/// A store written before seen keys were one record per source keeps every key it had.
#[test]
fn old_seen_keys_are_folded_into_one_record_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let uno = keys("uno");
    {
        let db = sled::open(dir.path()).unwrap();
        let old = db.open_tree("seen").unwrap();
        for (source, stamp) in [("a", 5u64), ("b", 7)] {
            for key in &uno {
                let mut k = source.as_bytes().to_vec();
                k.push(0);
                k.push(key.kind);
                k.extend_from_slice(&key.hash);
                old.insert(k, &stamp.to_be_bytes()).unwrap();
            }
        }
        let present = hex::encode([&[uno[0].kind][..], &uno[0].hash[..]].concat());
        let state = format!(r#"{{"baselined":true,"present":["{present}"]}}"#);
        db.open_tree("sources")
            .unwrap()
            .insert("a", state.as_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = reopen(dir.path());
    // The item listed as present in the old state is still protected from pruning.
    assert_eq!(store.seen_keys("a").unwrap().present(), 1);
    assert_eq!(store.seen_keys("b").unwrap().present(), 0);
    assert!(store.source_state("a").unwrap().baselined);
    assert_eq!(
        store.seen_keys("a").unwrap().last_seen(&uno),
        vec![Some(5); uno.len()]
    );
    assert_eq!(
        store.seen_keys("b").unwrap().last_seen(&uno),
        vec![Some(7); uno.len()]
    );
    assert!(!store.db.tree_names().iter().any(|n| n.as_ref() == b"seen"));
}

fn session(user: &str, by_token: bool, expires: DateTime<Utc>) -> Session {
    Session {
        user: user.into(),
        role: crate::config::Role::Editor,
        by_token,
        csrf: "c".into(),
        expires,
        flash: None,
    }
}

#[test]
fn sessions_are_found_by_the_hash_of_their_cookie_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let cookie = "a1".repeat(32);
    let key = SessionKey::of_cookie(&cookie);
    store
        .put_session(&key, &session("redazione", false, at(1)))
        .unwrap();
    assert_eq!(
        store.session(&key, at(0)).unwrap().unwrap().user,
        "redazione"
    );
    assert_eq!(
        store.session(&SessionKey::of_cookie("b2"), at(0)).unwrap(),
        None
    );
    // The cookie's value is nowhere in the tree.
    for r in store.sessions.tree().iter() {
        let (k, v) = r.unwrap();
        assert_eq!(k.len(), 32);
        assert!(!String::from_utf8_lossy(&k).contains(&cookie));
        assert!(!String::from_utf8_lossy(&v).contains(&cookie));
    }
    // Expired: not returned, and removed.
    assert_eq!(store.session(&key, at(1)).unwrap(), None);
    assert_eq!(store.session_count(), 0);
}

#[test]
fn flash_is_taken_once_and_logout_ends_every_session_of_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let [a, b, other, token] = ["a", "b", "c", "d"].map(SessionKey::of_cookie);
    store
        .put_session(&a, &session("redazione", false, at(1)))
        .unwrap();
    store
        .put_session(&b, &session("redazione", false, at(1)))
        .unwrap();
    store
        .put_session(&other, &session("altro", false, at(1)))
        .unwrap();
    // A token session of an account that happens to share the name.
    store
        .put_session(&token, &session("redazione", true, at(1)))
        .unwrap();
    let flash = Flash {
        ok: true,
        text: "Fatto.".into(),
        link: None,
    };
    store.set_flash(&a, &flash).unwrap();
    assert_eq!(store.take_flash(&b).unwrap(), None, "per session");
    assert_eq!(store.take_flash(&a).unwrap(), Some(flash.clone()));
    assert_eq!(store.take_flash(&a).unwrap(), None, "shown once");
    assert_eq!(store.end_sessions_of("redazione", false).unwrap(), 2);
    assert_eq!(store.session(&a, at(0)).unwrap(), None);
    assert_eq!(store.session(&b, at(0)).unwrap(), None);
    assert!(store.session(&other, at(0)).unwrap().is_some());
    assert!(store.session(&token, at(0)).unwrap().is_some());
    // An ended session gets no message.
    store.set_flash(&a, &flash).unwrap();
    assert_eq!(store.session(&a, at(0)).unwrap(), None);
    // Pruning lets expired sessions go.
    store.put_session(&a, &session("x", false, at(-1))).unwrap();
    let report = store.prune(at(-400), at(0)).unwrap();
    assert_eq!(report.sessions, 1);
    assert_eq!(store.session_count(), 2);
}

/// Opens the store in `dir` again after a drop: sled's flusher thread lets go of the dropped
/// database (and its file lock) a moment after.
fn reopen(dir: &std::path::Path) -> Store {
    (0..100)
        .find_map(|_| {
            Store::open(dir, 1 << 20)
                .map_err(|_| std::thread::sleep(std::time::Duration::from_millis(20)))
                .ok()
        })
        .expect("the old database is released")
}
