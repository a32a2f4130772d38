//! Telegram, Mastodon and e-mail beside each other, against the simulated providers
//! (`banditore::simulator`: the Bot API, an instance, a mailbox speaking SMTP): one message
//! reaches each channel in its own format, and a process killed right after one channel's
//! request (SIGKILL at `after-send:<sink>`) never makes anyone get it twice; one that does
//! not answer holds up no other. Mastodon takes an
//! `Idempotency-Key`, so the request is made again and the instance answers with the status
//! it already made; Telegram and SMTP have none, so the delivery is `unknown` and not re-sent.
//! The e-mail's shape (multipart text + HTML, escaping, BCC, `List-Unsubscribe`,
//! `Message-ID`) is read back with a MIME parser, and a newsletter with a daily digest gets
//! the day's news in one mail, once.

mod common;

use std::os::unix::process::ExitStatusExt;

use banditore::simulator::Simulator;
use common::{rss, source, FeedServer, Route, Workdir};

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");

fn channels(sim: &Simulator) -> String {
    format!(
        "[[sink]]\nname = \"telegram\"\nkind = \"telegram\"\napi_base = \"http://{addr}\"\n\
         token_env = \"TELEGRAM_TOKEN\"\nchat_id = \"@comune_prova\"\n\n\
         [[sink]]\nname = \"mastodon\"\nkind = \"mastodon\"\napi_base = \"http://{addr}\"\n\
         token_env = \"MASTODON_TOKEN\"\n\n\
         [[sink]]\nname = \"posta\"\nkind = \"email\"\nsmtp_host = \"{ip}\"\nsmtp_port = {port}\n\
         tls = \"none\"\nfrom = \"Comune di Prova <notizie@comune.example.it>\"\n\
         bcc = [\"anna@example.org\", \"bruno@example.org\"]\n\
         list_unsubscribe = \"mailto:notizie@comune.example.it?subject=cancellami\"\n",
        addr = sim.addr,
        ip = sim.smtp.ip(),
        port = sim.smtp.port(),
    )
}

fn once(work: &Workdir, failpoint: Option<&str>) -> tokio::process::Command {
    let mut command = work.command(&["once"]);
    command
        .env("TELEGRAM_TOKEN", "123456:segreto")
        .env("MASTODON_TOKEN", "segreto-mastodon");
    if let Some(point) = failpoint {
        command.env("BANDITORE_FAILPOINT", point);
    }
    command
}

async fn run_once(work: &Workdir) {
    let out = once(work, None).output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("segreto"), "a token in a log line: {log}");
}

/// A feed followed by "comune", the three channels on the simulator, the baseline taken.
async fn baselined(sim: &Simulator) -> (FeedServer, Workdir) {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), ""),
        &channels(sim),
    );
    run_once(&work).await;
    (feeds, work)
}

#[tokio::test]
async fn one_message_reaches_every_channel_in_its_own_format() {
    let sim = Simulator::start().await.unwrap();
    let (feeds, work) = baselined(&sim).await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            (
                "b",
                "https://comune.example.it/notizie/b/",
                "Strade chiuse: 3 &lt; 5 &amp; via Roma",
            ),
            A,
        ])),
    );
    run_once(&work).await;
    let mut apis: Vec<&str> = sim.take_events().iter().map(|e| e.api).collect();
    apis.sort_unstable();
    assert_eq!(apis, ["Mastodon", "Telegram", "mailbox"]);
    let mails = sim.mails();
    assert_eq!(mails.len(), 1);
    let raw = &mails[0];
    assert!(!raw.contains("Bcc:"), "the list stays hidden: {raw}");
    let mail = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    assert_eq!(mail.subject(), Some("Strade chiuse: 3 < 5 & via Roma"));
    let to: Vec<_> = mail
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["notizie@comune.example.it"], "only BCC: to the sender");
    assert_eq!(
        mail.header_raw("List-Unsubscribe").map(str::trim),
        Some("<mailto:notizie@comune.example.it?subject=cancellami>")
    );
    assert!(
        mail.message_id()
            .is_some_and(|id| id.ends_with("@comune.example.it")),
        "{:?}",
        mail.message_id()
    );
    let text = mail.body_text(0).unwrap();
    assert!(
        text.starts_with("Strade chiuse: 3 < 5 & via Roma"),
        "{text}"
    );
    assert!(
        !text.contains('*'),
        "no WhatsApp markers in the text: {text}"
    );
    assert!(
        text.contains("scrivi a notizie@comune.example.it (oggetto: cancellami)"),
        "{text}"
    );
    let html = mail.body_html(0).unwrap();
    assert!(
        html.contains("<strong>Strade chiuse: 3 &lt; 5 &amp; via Roma</strong>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"https://comune.example.it/notizie/b/\">"),
        "{html}"
    );
    // Nothing twice.
    run_once(&work).await;
    assert!(sim.take_events().is_empty());
}

#[tokio::test]
async fn killed_after_a_channels_request_nobody_gets_the_message_twice() {
    // (sink, the simulator's name for it, what the log says after the restart)
    for (sink, api, state) in [
        ("telegram", "Telegram", "telegram: unknown"),
        ("mastodon", "Mastodon", "mastodon: sent"),
        ("posta", "mailbox", "posta: unknown"),
    ] {
        let sim = Simulator::start().await.unwrap();
        let (feeds, work) = baselined(&sim).await;
        feeds.set(
            "/feed",
            Route::feed(rss(&[
                ("b", "https://comune.example.it/notizie/b/", "Avviso B"),
                A,
            ])),
        );
        let out = once(&work, Some(&format!("after-send:{sink}")))
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{sink}: {out:?}");
        run_once(&work).await;
        run_once(&work).await;
        let events = sim.take_events();
        let here: Vec<_> = events.iter().filter(|e| e.api == api).collect();
        assert_eq!(here.len(), 1, "{sink}: one message: {events:?}");
        let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
        assert!(log.contains(state), "{sink}: {log}");
        // The channels are served side by side: the kill may have caught another one
        // mid-send too. Nobody twice; nobody missed unless the log says it may have been.
        for (other, name) in [
            ("Telegram", "telegram"),
            ("Mastodon", "mastodon"),
            ("mailbox", "posta"),
        ] {
            let n = events.iter().filter(|e| e.api == other).count();
            assert!(n <= 1, "{sink}: {other} got it {n} times: {events:?}");
            if n == 0 {
                assert!(
                    log.contains(&format!("{name}: unknown")),
                    "{sink}: {other}: {log}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_newsletter_with_a_daily_digest_gets_the_days_news_in_one_mail() {
    let sim = Simulator::start().await.unwrap();
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let mail_sink = |at: &str| {
        format!(
            "[[sink]]\nname = \"posta\"\nkind = \"email\"\nsmtp_host = \"{}\"\nsmtp_port = {}\n\
             tls = \"none\"\nfrom = \"notizie@comune.example.it\"\nto = [\"lista@comune.example.it\"]\n\
             digest = \"{at}\"\n",
            sim.smtp.ip(),
            sim.smtp.port()
        )
    };
    // It is ten in the morning in the comune; the digest goes at 23:00.
    let settings = format!("timezone = \"{}\"", common::zone_where_it_is(10));
    let work = Workdir::with_sinks(
        &settings,
        &source("comune", &feeds.url("/feed"), ""),
        &mail_sink("23:00"),
    );
    run_once(&work).await;
    let b = (
        "b",
        "https://comune.example.it/notizie/b/",
        "Mercato in piazza",
    );
    let c = (
        "c",
        "https://comune.example.it/notizie/c/",
        "Biblioteca chiusa",
    );
    feeds.set("/feed", Route::feed(rss(&[c, b, A])));
    run_once(&work).await;
    assert_eq!(work.messages().len(), 2, "the other sinks at once");
    assert!(sim.mails().is_empty(), "the newsletter waits for its hour");
    // The admin moves the digest to the morning: it is due.
    let config = std::fs::read_to_string(work.config()).unwrap();
    std::fs::write(work.config(), config.replace("\"23:00\"", "\"09:00\"")).unwrap();
    run_once(&work).await;
    let mails = sim.mails();
    assert_eq!(mails.len(), 1, "one mail for both");
    let mail = mail_parser::MessageParser::default()
        .parse(mails[0].as_bytes())
        .unwrap();
    assert_eq!(mail.subject(), Some("Le notizie del giorno"));
    let text = mail.body_text(0).unwrap();
    for (_, link, title) in [b, c] {
        assert!(text.contains(title) && text.contains(link), "{text}");
    }
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert_eq!(log.matches("posta: sent").count(), 2, "{log}");
    assert!(log.contains("nel riepilogo di posta del"), "{log}");
    // Later the same day: the next news waits for tomorrow's digest.
    let d = ("d", "https://comune.example.it/notizie/d/", "Nuovi orari");
    feeds.set("/feed", Route::feed(rss(&[d, c, b, A])));
    run_once(&work).await;
    run_once(&work).await;
    assert_eq!(sim.mails().len(), 1);
    assert_eq!(work.messages().len(), 3);
}

#[tokio::test]
async fn a_refused_address_does_not_stop_the_list_and_refused_credentials_pause_the_sink() {
    let sim = Simulator::start().await.unwrap();
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let mail_sink = |name: &str, extra: &str| {
        format!(
            "[[sink]]\nname = \"{name}\"\nkind = \"email\"\nsmtp_host = \"{}\"\nsmtp_port = {}\n\
             tls = \"none\"\nfrom = \"notizie@comune.example.it\"\n{extra}\n",
            sim.smtp.ip(),
            sim.smtp.port()
        )
    };
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), ""),
        &format!(
            "{}\n{}",
            mail_sink(
                "lista",
                "bcc = [\"anna@example.org\", \"sconosciuto@example.org\", \"bruno@example.org\"]"
            ),
            mail_sink(
                "redazione",
                "to = [\"redazione@comune.example.it\"]\nusername_env = \"SMTP_USER\"\npassword_env = \"SMTP_PASSWORD\""
            )
        ),
    );
    let run = |work: &Workdir| {
        let mut command = once(work, None);
        command
            .env("SMTP_USER", "notizie")
            .env("SMTP_PASSWORD", "sbagliata");
        command
    };
    assert!(run(&work).output().await.unwrap().status.success());
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/notizie/b/", "Avviso B"),
            A,
        ])),
    );
    let out = run(&work).output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("sconosciuto@example.org"),
        "the refused address is named: {log}"
    );
    assert!(!log.contains("sbagliata"), "no password in the log: {log}");
    let to: Vec<String> = sim.take_events().into_iter().map(|e| e.to).collect();
    assert_eq!(
        to,
        [
            "notizie@comune.example.it",
            "anna@example.org",
            "bruno@example.org"
        ],
        "each of the others (and the sender, as lists do), once"
    );
    let status = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(status.contains("lista: sent"), "{status}");
    assert!(!status.contains("redazione: sent"), "{status}");
    assert!(
        log.contains("the sink is paused"),
        "535: paused, not failed: {log}"
    );
    // Paused: not tried again until resumed.
    run(&work).output().await.unwrap();
    let status = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(!status.contains("redazione: failed"), "{status}");
}

#[tokio::test]
async fn a_channel_that_does_not_answer_holds_up_no_other() {
    let sim = Simulator::start().await.unwrap();
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    // Telegram takes the request and never answers (until the sink's 10 s are over).
    feeds.set(
        "/bot123456:segreto/sendMessage",
        Route {
            hang: true,
            ..Route::feed("")
        },
    );
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), ""),
        &format!(
            "[[sink]]\nname = \"telegram\"\nkind = \"telegram\"\napi_base = \"{}\"\n\
             token_env = \"TELEGRAM_TOKEN\"\nchat_id = \"@comune_prova\"\ntimeout = \"10s\"\n\n\
             [[sink]]\nname = \"mastodon\"\nkind = \"mastodon\"\napi_base = \"http://{}\"\n\
             token_env = \"MASTODON_TOKEN\"\n",
            feeds.url("").trim_end_matches('/'),
            sim.addr
        ),
    );
    run_once(&work).await;
    feeds.set(
        "/feed",
        Route::feed(rss(&[
            ("b", "https://comune.example.it/notizie/b/", "Avviso B"),
            A,
        ])),
    );
    let started = std::time::Instant::now();
    let mut child = once(&work, None).spawn().unwrap();
    common::wait_for(|| sim.count() == 1).await;
    // Before Telegram's 10 s could be over: not after them, as one sink after the other.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(9),
        "Mastodon waited for Telegram: {:?}",
        started.elapsed()
    );
    assert!(child.wait().await.unwrap().success());
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(
        log.contains("mastodon: sent") && log.contains("telegram: unknown"),
        "{log}"
    );
}
