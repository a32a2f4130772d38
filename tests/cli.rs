//! The command line: `check`, `preview`, exit codes, and every real-world document we have
//! going through `preview` without a panic and within the message contract.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn banditore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_banditore"))
        .args(args)
        .env_remove("BANDITORE_CONFIG")
        .env_remove("BANDITORE_DATA")
        .output()
        .unwrap()
}

fn fixture(path: &str) -> String {
    format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_lists_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sources.toml");
    std::fs::write(
        &path,
        "[settings]\ntimezone = \"Europe/Roma\"\n\n[[source]]\nname = \"a\"\nkind = \"feed\"\nurl = \"https://a.example/\"\nevery = \"5 minuti\"\n\n[[source]]\nname = \"b\"\nkind = \"rss\"\nurl = \"https://b.example/\"\n\n[[sink]]\nname = \"log\"\nkind = \"file\"\npath = \"x.jsonl\"\n",
    )
    .unwrap();
    let out = banditore(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 problems"), "{text}");
    assert!(
        text.contains("line 2: [settings]: timezone \"Europe/Roma\" is not a timezone"),
        "{text}"
    );
    assert!(
        text.contains("line 8: source \"a\": every \"5 minuti\" is not a duration"),
        "{text}"
    );
    assert!(
        text.contains("line 12: source \"b\": kind cannot be \"rss\": it must be one of feed, page, cap, quake"),
        "{text}"
    );
    assert!(text.contains("hint:"), "{text}");
}

#[test]
fn the_example_configuration_is_valid() {
    let out = banditore(&[
        "check",
        "--config",
        &format!("{}/sources.toml", env!("CARGO_MANIFEST_DIR")),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn usage_errors_exit_1() {
    assert_eq!(banditore(&["frobnicate"]).status.code(), Some(1));
    assert_eq!(banditore(&["preview"]).status.code(), Some(1));
    assert_eq!(banditore(&["--help"]).status.code(), Some(0));
}

#[test]
fn preview_prints_messages_and_resolves_relative_links() {
    let out = banditore(&[
        "preview",
        &fixture("demo/comune-esempio.rss.xml"),
        "--base-url",
        "https://www.comune.borgoesempio.it/feed/",
    ]);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The template's {base} placeholder is a relative path here. Oldest first, as a poll
    // would send them.
    assert_eq!(lines.len(), 3);
    let newest = &lines[2];
    assert_eq!(newest["source"], "comune-esempio.rss.xml");
    assert_eq!(
        newest["url"],
        "https://www.comune.borgoesempio.it/feed/%7Bbase%7D/notizie/mercato-piazza-garibaldi/"
    );
    assert_eq!(newest["published"], "2025-11-24T08:15:00Z");
    let dates: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["published"].as_str())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
}

/// An old table-layout notice, in Latin-1 with its charset only in a `<meta http-equiv>`,
/// with no heading and no metadata: read as one article (its title, its paragraphs).
#[test]
fn preview_reads_an_old_table_layout_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("chiusura.htm");
    let html = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">\
        <title>Comune di Borgo - Chiusura uffici comunali</title></head><body><table width=\"100%\">\
        <tr><td><a href=\"/\">Home</a> | <a href=\"/uffici\">Uffici</a> | <a href=\"/albo\">Albo</a></td></tr>\
        <tr><td class=\"titolo\"><b>Chiusura uffici comunali</b></td></tr>\
        <tr><td><font size=\"2\">Si avvisa la cittadinanza che gli uffici comunali resteranno chiusi \
        lunedì 8 dicembre per la festività dell'Immacolata. Gli uffici riapriranno martedì 9 \
        dicembre con il consueto orario.</font></td></tr></table></body></html>";
    let latin1: Vec<u8> = html
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    std::fs::write(&page, latin1).unwrap();
    let out = banditore(&[
        "preview",
        "--kind",
        "page",
        page.to_str().unwrap(),
        "--base-url",
        "https://www.comune.borgo.it/avvisi/chiusura.htm",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let message: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(message["title"], "Chiusura uffici comunali");
    let text = message["text"].as_str().unwrap();
    assert!(
        text.contains("Si avvisa la cittadinanza che gli uffici comunali resteranno chiusi lunedì 8 dicembre per la festività"),
        "{text}"
    );
    assert!(!text.contains("Home"), "{text}");
}

#[test]
fn preview_refuses_unusable_documents_with_exit_2() {
    for (path, reason) in [
        (
            fixture("malformed/xxe_google_xee.atom.xml"),
            "declares XML entities",
        ),
        (
            fixture("malformed/feedrs_rss20_invalid_1.xml"),
            "not a valid feed",
        ),
        (fixture("does-not-exist.xml"), "No such file"),
    ] {
        let out = banditore(&["preview", &path]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(reason), "{path}: {err}");
    }
}

/// 100,000 nested elements cost an HTML parser minutes (quadratic in the depth): a page that
/// deep is refused before parsing, and a feed item's HTML that deep loses its tags without a
/// parser.
#[test]
fn documents_nested_too_deep_are_not_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let deep = format!("{}ciao{}", "<div>".repeat(n), "</div>".repeat(n));
    let page = dir.path().join("deep.html");
    std::fs::write(
        &page,
        format!("<!DOCTYPE html><html><body>{deep}</body></html>"),
    )
    .unwrap();
    let out = banditore(&["preview", page.to_str().unwrap(), "--kind", "page"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than 512 deep"), "{err}");

    let feed = dir.path().join("deep.xml");
    std::fs::write(
        &feed,
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>https://a.example/</link>\
             <item><title>Avviso</title><link>https://a.example/x</link><description><![CDATA[{deep}]]></description></item></channel></rss>"
        ),
    )
    .unwrap();
    let out = banditore(&["preview", feed.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ciao"));
}

/// Every document in `fixtures/` and, when present, the shared corpus beside the checkout.
fn documents() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from(fixture(""))];
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if corpus.is_dir() {
        roots.push(corpus);
    }
    let mut files = Vec::new();
    while let Some(dir) = roots.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                roots.push(path);
            } else if path.extension().is_some_and(|e| e != "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// What previewing a document must give, when it is not "at least one message".
/// Everything not listed here must produce messages: a parser that silently found nothing in
/// a real feed would fail this test.
const EXPECTED: &[(&str, Expect)] = &[
    // CAP: no <info>, no <scope>, a Cancel of an alert that was never sent.
    ("google_no_optional_fields.cap.xml", Expect::Nothing),
    ("google_invalid.cap.xml", Expect::Nothing),
    ("cancel-ipaws-nv-2019-04-19.xml", Expect::Nothing),
    // Items with neither a link nor a title.
    ("feedparser_bozo_linenoise.xml", Expect::Nothing),
    ("feedparser_demoronize_cp1252_in_utf8.xml", Expect::Nothing),
    // Not well-formed, empty, or declaring entities (refused before parsing).
    ("feedparser_rss_incomplete_cdata.xml", Expect::Refused),
    ("feedparser_utf16le_bom_empty.xml", Expect::Refused),
    ("feedrs_rss20_invalid_1.xml", Expect::Refused),
    ("xxe_google_xee.atom.xml", Expect::Refused),
    ("xxe_google_xee.cap.xml", Expect::Refused),
    // Pages where no template finds news (every link is "#", or no article at all). (The
    // readability article with data: images has no heading and no metadata: its paragraphs
    // are read as one text, under its <title>.)
    ("cagliari_proto_novita_listing.html", Expect::Refused),
    (
        "readability_005-unescape-html-entities.html",
        Expect::Refused,
    ),
    // The demo's templates, with {placeholders} where the demo writes values.
    ("allerta.cap.xml", Expect::Nothing),
    ("new-card.html", Expect::Refused),
    ("new-event.xml", Expect::Refused),
    ("new-item.xml", Expect::Refused),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Exit 0 and no message.
    Nothing,
    /// Exit 2 with one line saying why.
    Refused,
}

#[test]
fn every_real_document_previews_within_the_contract() {
    let docs = documents();
    assert!(docs.len() >= 10);
    for doc in docs {
        let name = doc.file_name().unwrap().to_string_lossy().into_owned();
        let expect = EXPECTED.iter().find(|(n, _)| *n == name).map(|(_, e)| *e);
        let out = banditore(&[
            "preview",
            doc.to_str().unwrap(),
            "--base-url",
            "https://www.comune.example.it/novita/",
        ]);
        let code = out.status.code();
        let messages = String::from_utf8_lossy(&out.stdout).lines().count();
        let err = String::from_utf8_lossy(&out.stderr);
        let at = doc.display();
        match expect {
            None => assert!(
                code == Some(0) && messages > 0,
                "{at}: expected messages, got exit {code:?} with {messages}: {err}"
            ),
            Some(Expect::Nothing) => assert!(
                code == Some(0) && messages == 0,
                "{at}: expected no message, got exit {code:?} with {messages}: {err}"
            ),
            Some(Expect::Refused) => {
                assert_eq!(code, Some(2), "{at}: {err}");
                assert_eq!(err.lines().count(), 1, "{at}: {err}");
            }
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let m: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = m["text"].as_str().unwrap();
            let url = m["url"].as_str().unwrap();
            let at = doc.display();
            assert!(text.chars().count() <= 4096, "{at}");
            assert!(
                url.starts_with("http://") || url.starts_with("https://"),
                "{at}: {url}"
            );
            assert!(
                text.lines().any(|l| l == url),
                "{at}: link not alone on a line: {text}"
            );
            for bad in ["<p>", "<br", "</", "&amp;", "&lt;", "&#", "&nbsp;", "\u{0}"] {
                assert!(!text.contains(bad), "{at}: {bad:?} in {text}");
            }
            assert!(
                m["image"].is_null() || m["image"].as_str().unwrap().starts_with("http"),
                "{at}"
            );
            assert!(
                m["published"].is_null()
                    || chrono::DateTime::parse_from_rfc3339(m["published"].as_str().unwrap())
                        .is_ok(),
                "{at}"
            );
        }
    }
}

#[test]
fn the_demo_runs_offline_end_to_end() {
    let out = banditore(&["demo", "--exit"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "first poll, 3 items already published recorded as baseline: nothing sent",
        "*Interruzione dell’acqua in via Roma martedì 2 dicembre*",
        "*Nuova illuminazione a LED in via Garibaldi*",
        "protezione-civile · cap · URGENTE",
        "*Allerta arancione: piena del fiume Po*",
        "*REVOCA: Cessata allerta per la piena del fiume Po*",
        "sito-in-manutenzione: FAILED",
        "both subscribed, consent recorded (2 subscribers)",
        "riceverai qui le comunicazioni su: Allerte di protezione civile.",
        "393409876543 (alerts only): 3 message(s)",
        "393401234567 (everything): 7 message(s)",
        "→ Telegram: sendMessage, a reply to",
        "behind the content warning «Allerta arancione: piena del fiume Po»",
        "→ mailbox: mail to newsletter@comune.example.it",
        "Per non ricevere più questi messaggi: scrivi a newsletter@comune.example.it (oggetto: cancellami)",
        "→ WhatsApp Cloud API: text to 393401234567",
        "→ channel gateway: sendImage to 120363000000000000@newsletter",
        "whatsapp: sent [1 read]",
        "Allerta declassata da arancione a gialla.",
        "the three for the days ahead go as one message",
        "*Notizie della notte*",
        "Via Po chiusa per lavori urgenti: held through quiet hours, and it spoke of «stanotte»",
        "• Mercato straordinario di Natale domenica in piazza Garibaldi",
        "borgo-esempio [feed] HELD",
        "*Rettifica: Interruzione dell’acqua in via Roma mercoledì 3 dicembre*",
        "Prima era scritto «martedì 2 dicembre», ora «mercoledì 3 dicembre».",
        "12 items now wait for an editor",
        "The citizens' page archives every message that went out: 7 in the demo",
        "  REVOCA: Cessata allerta per la piena del fiume Po",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let night = text.split("7) From 22:35").nth(1).unwrap();
    let held = night.split("At the end of quiet hours").next().unwrap();
    assert!(held.contains("delivered: 0 message(s)"), "{held}");
    let again = text.split("9) Poll again").nth(1).unwrap();
    assert!(again.contains("delivered: 0 message(s)"), "{again}");
}

#[tokio::test]
async fn the_demo_opens_the_admin_ui() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_banditore"))
        .arg("demo")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (String::new(), String::new());
    while let Ok(Some(line)) =
        tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .unwrap()
    {
        if let Some(u) = line.strip_prefix("The admin UI is open: ") {
            url = u.trim().to_owned();
        }
        if let Some(t) = line.trim().strip_prefix("log in with the token ") {
            token = t.trim().to_owned();
            break;
        }
    }
    assert!(
        !url.is_empty() && !token.is_empty(),
        "the demo printed no login"
    );
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{url}{}", path.trim_start_matches('/')))
            .bearer_auth(&token)
            .send()
    };
    let queue = get("/").await.unwrap().text().await.unwrap();
    assert!(
        queue.contains("Concerto di Santa Cecilia"),
        "a pending item: {queue}"
    );
    let sources = get("/sources").await.unwrap().text().await.unwrap();
    assert!(
        sources.contains("sito-in-manutenzione") && sources.contains("errore"),
        "a failing source: {sources}"
    );
    let log = get("/log").await.unwrap().text().await.unwrap();
    assert!(
        log.contains("Allerta arancione: piena del fiume Po"),
        "the sent log: {log}"
    );
    child.kill().await.unwrap();
}

#[test]
fn check_warns_about_unset_secrets_and_unreachable_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sources.toml");
    std::fs::write(
        &path,
        "[[source]]\nname = \"allerte\"\nkind = \"cap\"\nurl = \"https://allerte.example.it/rss\"\n\n[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\nphone_number_id = \"1\"\ntoken_env = \"BANDITORE_TEST_NEVER_SET\"\napp_secret_env = \"BANDITORE_TEST_NEVER_SET_2\"\nverify_token_env = \"BANDITORE_TEST_NEVER_SET_3\"\n",
    )
    .unwrap();
    let out = banditore(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "warning: line 1: source \"allerte\": neither geocodes nor settings.location"
        ),
        "{text}"
    );
    assert!(text.contains("nobody can subscribe"), "{text}");
    assert!(
        text.contains("no secret for token_env here: BANDITORE_TEST_NEVER_SET is not set"),
        "{text}"
    );
    // A secret file that cannot be read is said as such.
    let out = Command::new(env!("CARGO_BIN_EXE_banditore"))
        .args(["check", "--config", path.to_str().unwrap()])
        .env("BANDITORE_TEST_NEVER_SET_FILE", "/nonexistent/token")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "BANDITORE_TEST_NEVER_SET_FILE names /nonexistent/token, which cannot be read"
        ),
        "{text}"
    );
}

#[test]
fn a_file_sink_path_is_relative_to_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sources.toml");
    std::fs::write(
        &config,
        "[[sink]]\nname = \"archivio\"\nkind = \"file\"\npath = \"out/messages.jsonl\"\n",
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_banditore"))
        .args(["once", "--config", config.to_str().unwrap(), "--data"])
        .arg(dir.path().join("data"))
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = banditore::config::Config::load(&config).unwrap();
    match &cfg.sinks[0].settings {
        banditore::config::SinkSettings::File { path } => {
            assert_eq!(path, &dir.path().join("out/messages.jsonl"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn check_shows_warnings_beside_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sources.toml");
    std::fs::write(
        &path,
        "[[source]]\nname = \"allerte\"\nkind = \"cap\"\nurl = \"https://allerte.example.it/rss\"\n\n[[sink]]\nname = \"log\"\nkind = \"file\"\npaht = \"x.jsonl\"\n",
    )
    .unwrap();
    let out = banditore(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("line 9: sink \"log\": paht is not a key this table takes"),
        "{text}"
    );
    assert!(text.contains("did you mean path?"), "{text}");
    assert!(
        text.contains(
            "warning: line 1: source \"allerte\": neither geocodes nor settings.location"
        ),
        "{text}"
    );
}

#[test]
fn completions_a_man_page_and_json_logs() {
    let bash = banditore(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(
        script.contains("_banditore") && script.contains("complete"),
        "{script}"
    );
    let man = banditore(&["man"]);
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.contains(".TH banditore"), "{page}");
    assert!(
        page.contains("BANDITORE_CONFIG") && page.contains("Exit status"),
        "{page}"
    );
    // Every page the main one names, written with --dir.
    let pages = tempfile::tempdir().unwrap();
    let out = banditore(&["man", "--dir", pages.path().to_str().unwrap()]);
    assert!(out.status.success());
    for page in [
        "banditore.1",
        "banditore-run.1",
        "banditore-source-import-opml.1",
    ] {
        assert!(pages.path().join(page).exists(), "{page}");
    }

    // A source nobody answers at: its failure is logged, as one JSON object per line.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sources.toml");
    std::fs::write(
        &config,
        format!(
            "[settings]\nquiet_hours = \"off\"\nconnect_timeout = \"1s\"\n\n[[source]]\nname = \"giu\"\nkind = \"feed\"\nurl = \"http://127.0.0.1:9/feed\"\n\n[[sink]]\nname = \"out\"\nkind = \"file\"\npath = \"{}\"\n",
            dir.path().join("out.jsonl").display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_banditore"))
        .args([
            "once",
            "--config",
            config.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .env("BANDITORE_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for line in logs.lines().filter(|l| l.starts_with('{')) {
        assert!(line.matches("\"message\":").count() <= 1, "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "WARN" && l["fields"]["source"] == "giu"),
        "{logs}"
    );
}
