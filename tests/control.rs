//! The command line beside the running daemon: while `run` holds the store, `log`,
//! `source list|test`, `queue …` and `subscribers …` go through its control socket, and
//! commands that only read need no sink secret.

mod common;

use common::{rss, source, stop, wait_for, FeedServer, Route, Workdir};

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Source "comune" on `/feed`, and a second feed, `/altro`, that a reload may add.
async fn comune_and_another_feed() -> (FeedServer, Workdir) {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    server.set("/altro", Route::feed(rss(&[B])));
    let work = Workdir::new("", &source("comune", &server.url("/feed"), ""));
    (server, work)
}

/// `source list` once it shows `name` (the daemon reloads within seconds), or after 10 s.
async fn sources_once_listed(work: &Workdir, name: &str) -> String {
    let mut list = String::new();
    for _ in 0..100 {
        list = text(&work.run(&["source", "list"]).await).0;
        if list.contains(&format!("{name} [feed]")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    list
}

#[tokio::test]
async fn commands_work_while_run_holds_the_store() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    server.set("/eventi", Route::feed(rss(&[A])));
    let sources = format!(
        "{}{}",
        source("comune", &server.url("/feed"), ""),
        source("eventi", &server.url("/eventi"), "forward = \"review\"")
    );
    let work = Workdir::new("", &sources);
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    let socket = work.path().join("data/control.sock");
    wait_for(|| socket.exists()).await;

    // Both baselines (B must not be part of them), then B on the reviewed source waits for
    // an editor.
    for _ in 0..300 {
        let (list, _) = text(&work.run(&["source", "list"]).await);
        if list.contains("comune [feed] ok") && list.contains("eventi [feed] ok") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.set("/eventi", Route::feed(rss(&[B, A])));
    let mut list = String::new();
    for _ in 0..300 {
        let out = work.run(&["queue", "list"]).await;
        assert!(out.status.success(), "{:?}", text(&out));
        list = text(&out).0;
        if list.contains("Avviso B") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(list.contains("Avviso B"), "{list}");
    let id = list.split_whitespace().next().unwrap().to_owned();

    let (sources, _) = text(&work.run(&["source", "list"]).await);
    assert!(sources.contains("comune [feed] ok"), "{sources}");
    assert!(sources.contains("eventi [feed] ok"), "{sources}");

    // source test fetches now and says what the next poll would do, against the store.
    let out = work.run(&["source", "test", "eventi"]).await;
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("2 items in the document, 0 new"), "{err}");

    // Approving through the daemon: the running daemon delivers it.
    let out = work.run(&["queue", "approve", &id]).await;
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for(|| work.messages().len() == 1).await;
    assert_eq!(work.messages()[0]["title"], "Avviso B");

    let (log, _) = text(&work.run(&["log"]).await);
    assert!(log.contains("Avviso B"), "{log}");
    let (count, _) = text(&work.run(&["subscribers", "count"]).await);
    assert_eq!(count.trim(), "0");

    // What the daemon refuses is said plainly, with the contract's exit code.
    let out = work.run(&["queue", "reject", "no-such-id"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("no item"), "{:?}", text(&out));

    // `once` cannot share the store: a clear error, not a raw lock message.
    let out = work.run(&["once"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("in use by another banditore"),
        "{:?}",
        text(&out)
    );

    assert!(stop(&mut daemon).await.success());
    assert!(!socket.exists(), "the socket is removed at shutdown");
}

#[tokio::test]
async fn reading_commands_need_no_sink_secret() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let work = Workdir::with_sinks(
        "webhook_listen = \"127.0.0.1:0\"",
        &source("comune", &server.url("/feed"), ""),
        "[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\napi_base = \"http://127.0.0.1:9\"\nphone_number_id = \"1\"\ntoken_env = \"BANDITORE_TEST_UNSET_TOKEN\"\napp_secret_env = \"WHATSAPP_APP_SECRET\"\nverify_token_env = \"WHATSAPP_VERIFY_TOKEN\"\n",
    );
    for args in [
        &["log"][..],
        &["source", "list"],
        &["queue", "list"],
        &["subscribers", "count"],
    ] {
        let out = work
            .command(args)
            .env_remove("BANDITORE_TEST_UNSET_TOKEN")
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", text(&out));
    }
}

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const C: (&str, &str, &str) = ("c", "https://comune.example.it/notizie/c/", "Orari estivi");

#[tokio::test]
async fn source_test_preview_and_the_poll_agree() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let options = "exclude = [\"(?i)orari\"]\nfooter = \"Comune di Borgo Esempio\"\nmax_chars = 300\nprefix = \"📣\"\nlabel = \"Ufficio stampa\"";
    let work = Workdir::new("", &source("comune", &server.url("/feed"), options));
    work.once().await; // the baseline
    server.set("/feed", Route::feed(rss(&[C, B, A])));

    let test = work.run(&["source", "test", "comune"]).await;
    assert!(test.status.success(), "{:?}", text(&test));
    let predicted = json_lines(&test);
    let (_, why) = text(&test);
    assert!(
        why.contains("drop \"Orari estivi\": matches exclude pattern"),
        "{why}"
    );

    let url = server.url("/feed");
    let preview = work
        .run(&["preview", &url, "--source", "comune", "--explain"])
        .await;
    assert!(preview.status.success(), "{:?}", text(&preview));
    let explained = json_lines(&preview);
    let action = |title: &str| {
        explained
            .iter()
            .find(|m| m["title"] == title)
            .map(|m| m["decision"]["action"].as_str().unwrap().to_owned())
    };
    // The preview knows nothing of the store: A is new to it too.
    assert_eq!(action("Avviso A").as_deref(), Some("send"));
    assert_eq!(action("Avviso B").as_deref(), Some("send"));
    assert_eq!(action("Orari estivi").as_deref(), Some("drop"));

    work.once().await;
    let sent = work.messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        predicted, sent,
        "source test predicts exactly what the poll sends"
    );
    let previewed = explained.iter().find(|m| m["id"] == sent[0]["id"]).unwrap();
    assert_eq!(previewed["text"], sent[0]["text"]);
    let text = sent[0]["text"].as_str().unwrap();
    assert!(text.contains("Comune di Borgo Esempio"), "{text}");
    assert!(
        text.starts_with("*📣 Avviso B*\n\nUfficio stampa\n\n"),
        "the editor's template: {text}"
    );
}

#[tokio::test]
async fn sighup_reloads_the_configuration_and_a_bad_one_is_refused() {
    let (server, work) = comune_and_another_feed().await;
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    let socket = work.path().join("data/control.sock");
    wait_for(|| socket.exists()).await;
    let pid = daemon.id().unwrap() as i32;
    let hangup = || {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, libc::SIGHUP);
        }
    };
    let sources = || async { text(&work.run(&["source", "list"]).await).0 };

    // An invalid file is refused; the daemon goes on with what it had.
    let good = std::fs::read_to_string(work.config()).unwrap();
    std::fs::write(
        work.config(),
        format!("{good}\n[[source]]\nname = \"rotta\"\n"),
    )
    .unwrap();
    hangup();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(sources().await.contains("comune [feed]"));

    // A valid one is applied without a restart.
    let added = source("altro", &server.url("/altro"), "");
    std::fs::write(work.config(), format!("{added}\n{good}")).unwrap();
    hangup();
    let list = sources_once_listed(&work, "altro").await;
    assert!(
        list.contains("altro [feed]") && list.contains("comune [feed]"),
        "{list}"
    );
    assert!(stop(&mut daemon).await.success());
}

#[tokio::test]
async fn a_changed_file_is_reloaded_without_a_signal() {
    let (server, work) = comune_and_another_feed().await;
    let mut daemon = work.command(&["run"]).spawn().unwrap();
    let socket = work.path().join("data/control.sock");
    wait_for(|| socket.exists()).await;
    let sources = || async { text(&work.run(&["source", "list"]).await).0 };
    let good = std::fs::read_to_string(work.config()).unwrap();

    // Broken: refused, the daemon goes on.
    std::fs::write(
        work.config(),
        format!("{good}\n[[source]]\nname = \"rotta\"\n"),
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(sources().await.contains("comune [feed]"));

    // Mended, with one more source: applied.
    let added = source("altro", &server.url("/altro"), "");
    std::fs::write(work.config(), format!("{added}\n{good}")).unwrap();
    let list = sources_once_listed(&work, "altro").await;
    assert!(list.contains("altro [feed]"), "{list}");
    assert!(stop(&mut daemon).await.success());
}

#[tokio::test]
async fn feeds_come_in_and_go_out_as_opml() {
    let work = Workdir::new(
        "",
        &source("comune", "https://www.comune.example.it/feed/", ""),
    );
    let opml = work.path().join("lettore.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0"?><opml version="2.0"><head><title>Lettore</title></head><body>
          <outline text="Già seguita" xmlUrl="https://comune.example.it/feed"/>
          <outline text="Enti">
            <outline text="Provincia" type="rss" xmlUrl="https://www.provincia.example.it/rss.xml"/>
            <outline text="Protezione civile" type="rss" xmlUrl="https://protezionecivile.example.it/feed/"/>
          </outline></body></opml>"#,
    )
    .unwrap();
    let args = ["source", "import-opml", opml.to_str().unwrap()];
    let (out, err) = text(&work.run(&args).await);
    assert!(
        out.contains("2 added") && out.contains("1 already followed"),
        "{out}{err}"
    );
    let check = work.run(&["check"]).await;
    assert!(text(&check).0.contains("3 sources"), "{:?}", text(&check));
    let (again, _) = text(&work.run(&args).await);
    assert!(again.contains("0 added"), "{again}");

    let (list, _) = text(&work.run(&["source", "list"]).await);
    assert!(
        list.contains("provincia [feed]") && list.contains("protezione-civile [feed]"),
        "named from their titles: {list}"
    );

    let (exported, _) = text(&work.run(&["source", "export-opml"]).await);
    let feeds = banditore::opml::feeds(&exported).unwrap();
    let urls: Vec<&str> = feeds.iter().map(|f| f.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://www.comune.example.it/feed/",
            "https://www.provincia.example.it/rss.xml",
            "https://protezionecivile.example.it/feed/"
        ]
    );
}

#[tokio::test]
async fn included_files_add_sources_and_are_watched() {
    let (server, work) = comune_and_another_feed().await;
    // `include` is a top-level key: it goes before the first table.
    let main = std::fs::read_to_string(work.config()).unwrap();
    std::fs::write(
        work.config(),
        format!("include = [\"sources.d/*.toml\"]\n{main}"),
    )
    .unwrap();
    let dir = work.path().join("sources.d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("rotta.toml"),
        "[[source]]\nname = \"rotta\"\nkind = \"feed\"\n",
    )
    .unwrap();
    let (out, _) = text(&work.run(&["check"]).await);
    assert!(
        out.contains("rotta.toml, line 1") && out.contains("url"),
        "{out}"
    );
    std::fs::remove_file(dir.join("rotta.toml")).unwrap();
    assert!(text(&work.run(&["check"]).await).0.contains("1 source"));

    let mut daemon = work.command(&["run"]).spawn().unwrap();
    let socket = work.path().join("data/control.sock");
    wait_for(|| socket.exists()).await;
    std::fs::write(
        dir.join("altro.toml"),
        source("altro", &server.url("/altro"), ""),
    )
    .unwrap();
    let list = sources_once_listed(&work, "altro").await;
    assert!(
        list.contains("altro [feed]") && list.contains("comune [feed]"),
        "{list}"
    );
    // A feed an included file follows is followed: not added again to the main file.
    let opml = work.path().join("lettore.opml");
    let twice = format!(
        r#"<opml version="2.0"><body><outline text="Altro" xmlUrl="{}"/></body></opml>"#,
        server.url("/altro")
    );
    std::fs::write(&opml, twice).unwrap();
    let (out, _) = text(
        &work
            .run(&["source", "import-opml", opml.to_str().unwrap()])
            .await,
    );
    assert!(
        out.contains("0 added to") && out.contains("1 already followed"),
        "{out}"
    );
    assert!(stop(&mut daemon).await.success());
}
