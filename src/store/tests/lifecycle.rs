//! Export and import, recipient records turned into counts, keyword memory, the data
//! directory's mode.

use super::*;

fn subscriber() -> Subscriber {
    Subscriber {
        consented_at: at(0),
        consent_text: "ISCRIVIMI".into(),
        consent_message_id: None,
        last_inbound_at: None,
        selection: Default::default(),
    }
}

/// A store with a bit of everything: seen keys (binary), a state, an outbox entry, a
/// subscriber, the time of the last pruning (binary).
fn store_with_records(dir: &std::path::Path) -> Store {
    let store = Store::open(dir, 1 << 20).unwrap();
    let commit = PollCommit {
        state: SourceState {
            baselined: true,
            ..SourceState::default()
        },
        touch: keys("uno"),
        messages: vec![message("a", Priority::Urgent)],
        ..PollCommit::default()
    };
    store.commit_poll("s", &commit, at(0)).unwrap();
    store
        .subscribe(&Phone::parse("393401234567").unwrap(), &subscriber())
        .unwrap();
    store.prune(at(-400), at(0)).unwrap();
    store
}

fn exported(store: &Store, subscribers_only: bool) -> String {
    let mut out = Vec::new();
    store.export(subscribers_only, at(1), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn export_then_import_gives_the_same_store() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let original = store_with_records(a.path());
    let text = exported(&original, false);
    assert!(
        text.contains(r#""tree":"subscribers","key":"393401234567","value":{"#),
        "{text}"
    );
    assert!(
        text.contains(r#""tree":"seen_by_source","key":"s","value_hex":""#),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with(r#"{"banditore_export_end":{"records":6}}"#),
        "{text}"
    );

    let restored = Store::open(b.path(), 1 << 20).unwrap();
    assert_eq!(restored.import(&mut text.as_bytes()).unwrap(), 6);
    assert_eq!(exported(&restored, false), text);
    assert!(restored.source_state("s").unwrap().baselined);
    assert_eq!(restored.outbox_len(), 1);
    assert_eq!(restored.last_prune().unwrap(), Some(at(0)));

    // Into a store that has records: refused.
    assert!(matches!(
        restored.import(&mut text.as_bytes()),
        Err(ExportError::NotEmpty(_))
    ));

    // What is queued after the restore comes after what was restored, and replaces nothing
    // (sled's own counter starts again from zero in a new store) - also once reopened.
    let queue_one = |store: &Store, id: &str| {
        let commit = PollCommit {
            messages: vec![message(id, Priority::Urgent)],
            ..PollCommit::default()
        };
        store.commit_poll("s", &commit, at(1)).unwrap();
    };
    queue_one(&restored, "b");
    drop(restored);
    let reopened = reopen(b.path());
    queue_one(&reopened, "c");
    let order: Vec<String> = reopened.outbox().map(|r| r.unwrap().1.message.id).collect();
    assert_eq!(order, ["a", "b", "c"]);
}

#[test]
fn a_damaged_export_imports_nothing() {
    let a = tempfile::tempdir().unwrap();
    let text = exported(&store_with_records(a.path()), false);
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 2].join("\n");
    let mut forged = lines.clone();
    forged.remove(2);
    let forged = forged.join("\n");
    let unknown = text.replacen(r#""tree":"subscribers""#, r#""tree":"nonsense""#, 1);
    for (bad, why) in [
        (cut.as_str(), "cut short"),
        (
            forged.as_str(),
            "the export says 6 records, the file holds 5",
        ),
        (unknown.as_str(), "unknown tree"),
        ("", "not a banditore export"),
        ("{\"a\":1}\n", "not a banditore export header"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let e = store.import(&mut bad.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(why), "{why}: {e}");
        assert_eq!(store.outbox_len(), 0, "{why}: nothing written");
        assert!(store.subscribers().next().is_none(), "{why}");
    }
}

#[test]
fn subscribers_only_exports_the_subscribers() {
    let a = tempfile::tempdir().unwrap();
    let text = exported(&store_with_records(a.path()), true);
    let trees: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["tree"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(trees, ["subscribers"]);
    assert!(text.contains(r#""subscribers_only":true"#));
}

#[tokio::test]
async fn per_recipient_records_become_counts_after_thirty_days() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let commit = PollCommit {
        messages: vec![message("m1", Priority::Normal)],
        ..PollCommit::default()
    };
    store.commit_poll("s", &commit, at(0)).unwrap();
    let read = RecipientRecord {
        state: RecipientState::Read,
        ..recipient(RecipientState::Read, "w2")
    };
    store
        .set_recipients(
            "m1",
            "wa",
            &[
                ("393401111111".into(), recipient(RecipientState::Sent, "w1")),
                ("393402222222".into(), read),
            ],
        )
        .await
        .unwrap();
    let (key, entry) = store.outbox().next().unwrap().unwrap();
    assert!(store.finish(&key, &entry, &[], at(0)).unwrap());
    let counts = store.recipient_counts("m1", "wa").unwrap();

    // 29 days on: kept.
    assert_eq!(store.prune(at(-400), at(29)).unwrap().recipients, 0);
    assert!(store
        .recipient("m1", "wa", "393401111111")
        .unwrap()
        .is_some());
    // 31 days on: the records (and their provider ids) go, their counts stay with the log.
    assert_eq!(store.prune(at(-400), at(31)).unwrap().recipients, 2);
    assert_eq!(store.recipient("m1", "wa", "393401111111").unwrap(), None);
    assert!(!store
        .apply_status("w1", RecipientState::Delivered, at(31), None)
        .unwrap());
    assert_eq!(store.recipient_counts("m1", "wa").unwrap(), counts);
    assert_eq!(store.recent_log(10).unwrap().len(), 1);
    assert_eq!(store.prune(at(-400), at(32)).unwrap().recipients, 0, "once");
    // With the log entry, the counts go too.
    assert_eq!(store.prune(at(40), at(40)).unwrap().log, 1);
    assert!(store.recipient_counts("m1", "wa").unwrap().is_empty());
}

#[test]
fn keywords_apply_once_and_never_over_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let phone = Phone::parse("393401234567").unwrap();
    let join = Choice::Subscribe(subscriber());
    let apply = |id: &str, sent: i64, choice: &Choice| {
        store
            .apply_keyword(&phone, Some(id), at(sent), choice, at(sent))
            .unwrap()
    };
    assert_eq!(apply("in1", 0, &join), KeywordOutcome::Subscribed);
    assert_eq!(
        apply("in2", 1, &Choice::Unsubscribe),
        KeywordOutcome::Unsubscribed
    );
    // The provider retries the first message: handled already.
    assert_eq!(apply("in1", 0, &join), KeywordOutcome::Stale);
    // A message written before the STOP, arriving after it: too old.
    assert_eq!(apply("in0", 0, &join), KeywordOutcome::Stale);
    assert_eq!(store.subscriber(&phone).unwrap(), None);
    // A new ISCRIVIMI works, and says so once.
    assert_eq!(apply("in3", 2, &join), KeywordOutcome::Subscribed);
    assert_eq!(apply("in4", 3, &join), KeywordOutcome::AlreadySubscribed);
    // The number is kept only as a hash, and forgotten after KEYWORD_MEMORY.
    let text = exported(&store, false);
    let keyword_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"keywords\""))
        .collect();
    assert_eq!(keyword_lines.len(), 5 + 1, "{text}");
    assert!(
        !keyword_lines.iter().any(|l| l.contains("3401234567")),
        "{text}"
    );
    assert_eq!(
        store.prune(at(-400), at(10)).unwrap().keywords,
        3,
        "those 8 days old"
    );
    assert_eq!(store.prune(at(-400), at(20)).unwrap().keywords, 3);
}

#[test]
fn a_new_data_directory_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Store::open_in(&data, 1).unwrap());
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn a_stop_is_not_undone_by_a_future_or_same_second_iscrivimi() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let phone = Phone::parse("393401234567").unwrap();
    let join = Choice::Subscribe(subscriber());
    let now = at(0);
    // An ISCRIVIMI dated far in the future counts as now: a STOP after it still works.
    let future = now + chrono::Duration::days(9000);
    assert_eq!(
        store
            .apply_keyword(&phone, Some("f"), future, &join, now)
            .unwrap(),
        KeywordOutcome::Subscribed
    );
    let later = now + chrono::Duration::seconds(5);
    assert_eq!(
        store
            .apply_keyword(&phone, Some("s"), later, &Choice::Unsubscribe, later)
            .unwrap(),
        KeywordOutcome::Unsubscribed
    );
    // An ISCRIVIMI sent in the same second as the STOP, arriving after it: the STOP stands.
    assert_eq!(
        store
            .apply_keyword(&phone, Some("j"), later, &join, later)
            .unwrap(),
        KeywordOutcome::Stale
    );
    assert_eq!(store.subscriber(&phone).unwrap(), None);
}

/// Every sink records its deliveries at the same time: many flushes at once must all end
/// (sled 0.34's own `flush_async` can leave them waiting for each other for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_flushes_at_once_all_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    for round in 0..20u8 {
        let flushes = (0..16u8).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.db.insert([round, i], vec![i]).unwrap();
                store.flush_async().await
            })
        });
        let all = futures_util::future::join_all(flushes);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("every flush ends");
        assert!(ended.into_iter().all(|f| f.unwrap().is_ok()));
    }
}
