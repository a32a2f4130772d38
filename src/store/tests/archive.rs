//! The citizens' archive: a message is archived when it went out, with its links to what it
//! corrects or updates; a store from before the archive fills it from the log.

use super::*;

fn with(id: &str, kind: &str, extra: &[(&str, &str)]) -> Message {
    let mut m = message(id, Priority::Normal);
    m.kind = kind.into();
    m.title = format!("Titolo {id}");
    m.text = format!("*Titolo {id}*\n\nIl testo di {id}, con la città.");
    for (k, v) in extra {
        m.extra.insert((*k).into(), (*v).into());
    }
    m
}

/// Commits `messages`, records each one's delivery to "wa" as `states` says (archiving
/// what went out, as the deliverer does), and finishes them.
async fn deliver(store: &Store, messages: Vec<Message>, states: &[DeliveryState]) {
    let commit = PollCommit {
        messages: messages.clone(),
        ..PollCommit::default()
    };
    store.commit_poll("s", &commit, at(0)).unwrap();
    for (m, state) in messages.iter().zip(states) {
        let record = DeliveryRecord {
            state: *state,
            at: at(0),
            provider_id: None,
            detail: None,
        };
        store.set_delivery(&m.id, "wa", &record).await.unwrap();
    }
    while let Some(r) = store.outbox().next() {
        let (key, entry) = r.unwrap();
        let state = store
            .delivery(&entry.message.id, "wa")
            .unwrap()
            .unwrap()
            .state;
        if matches!(state, DeliveryState::Sent | DeliveryState::Unknown) {
            store.archive_sent(&entry, at(1)).unwrap();
            store.archive_sent(&entry, at(2)).unwrap(); // once
        }
        assert!(store.finish(&key, &entry, &["wa"], at(1)).unwrap());
    }
}

#[tokio::test]
async fn what_went_out_is_archived_and_linked_to_what_followed() {
    use DeliveryState::*;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let messages = vec![
        with(
            "alert",
            "cap",
            &[("cap_ref", "pc,1,t"), ("msg_type", "Alert")],
        ),
        with(
            "update",
            "cap",
            &[
                ("cap_ref", "pc,2,t"),
                ("cap_follows", "pc,1,t"),
                ("msg_type", "Update"),
            ],
        ),
        with("news", "feed", &[]),
        with("fix", "feed", &[("correction_of", "news")]),
        with("refused", "feed", &[]),
    ];
    deliver(&store, messages, &[Sent, Sent, Unknown, Sent, Failed]).await;
    let all = ArchiveFilter::default();
    let (page, more) = store.archive_page(&all, 0, 10).unwrap();
    let ids: Vec<&str> = page.iter().map(|e| e.message.id.as_str()).collect();
    assert_eq!(
        ids,
        ["fix", "news", "update", "alert"],
        "a refused message is not"
    );
    assert!(!more);
    let seq = |id: &str| page.iter().find(|e| e.message.id == id).unwrap().seq;
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [4, 3, 2, 1],
        "numbered in order"
    );
    let story = |id: &str| -> Vec<String> {
        store
            .archive_story(seq(id))
            .unwrap()
            .into_iter()
            .map(|e| e.message.id)
            .collect()
    };
    assert_eq!(story("alert"), ["alert", "update"]);
    assert_eq!(story("update"), ["alert", "update"], "told from either end");
    assert_eq!(story("news"), ["news", "fix"]);
    // What an update continues, by its CAP reference (Telegram replies to it).
    assert_eq!(
        store.message_for_cap("pc,1,t").unwrap().as_deref(),
        Some("alert")
    );
    assert_eq!(store.message_for_cap("pc,9,t").unwrap(), None);
    assert_eq!(
        store.archived(seq("update")).unwrap().unwrap().follows,
        Some(seq("alert"))
    );
    // Filters: words (accents forgiven), a category, a month.
    let search = |words: &[&str], category: Option<&str>| -> Vec<String> {
        let filter = ArchiveFilter {
            words: words.iter().map(|w| w.to_string()).collect(),
            category: category.map(str::to_owned),
            ..ArchiveFilter::default()
        };
        let (page, _) = store.archive_page(&filter, 0, 10).unwrap();
        page.into_iter().map(|e| e.message.id).collect()
    };
    assert_eq!(search(&["citta", "update"], None), ["update"]);
    assert_eq!(search(&[], Some("allerte")), ["update", "alert"]);
    let (page, more) = store.archive_page(&all, 1, 2).unwrap();
    assert_eq!(page.len(), 2);
    assert!(more);
    let version = store.archive_version().unwrap();

    // A store from before the archive: filled from the log when opened.
    store.archive.tree().clear().unwrap();
    store.archive_index.clear().unwrap();
    drop(store);
    let store = reopen(dir.path());
    let (page, _) = store.archive_page(&all, 0, 10).unwrap();
    assert_eq!(page.len(), 4);
    assert_eq!(store.archive_version().unwrap(), version);
    assert_eq!(store.prune(at(1000), at(1000)).unwrap().log, 5);
    assert_eq!(
        store.archive_page(&all, 0, 10).unwrap().0.len(),
        4,
        "the archive outlives the log"
    );
}
