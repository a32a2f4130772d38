//! `banditore demo`: the whole pipeline, offline, over a simulated day and a half. A small web
//! server on 127.0.0.1 plays the comune's website (`site`); banditore takes its baseline, the
//! "comune" publishes news, an alert is issued, downgraded and cancelled, a news item comes
//! in at night (held until the end of quiet hours), and a new website floods the feed (held
//! for an admin). The messages appear on the console (and in a file sink).

mod site;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};

use crate::config::Config;
use crate::daemon::App;
use crate::pipeline::PollOutcome;
use crate::schedule::SimClock;
use crate::simulator::Simulator;
use crate::sink::secret::Secrets;
use site::*;

/// The demo's secrets: fixed values, never the process environment.
fn demo_secrets() -> Secrets {
    Secrets::Fixed(
        [
            ("DEMO_WHATSAPP_TOKEN", "demo-token"),
            ("DEMO_WHATSAPP_APP_SECRET", DEMO_APP_SECRET),
            ("DEMO_WHATSAPP_VERIFY_TOKEN", "demo-verify"),
            ("DEMO_WAHA_HMAC", "demo-waha-hmac"),
            ("DEMO_TELEGRAM_TOKEN", "123456:demo-telegram"),
            ("DEMO_MASTODON_TOKEN", "demo-mastodon"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    )
}

const DEMO_APP_SECRET: &str = "demo-app-secret";
const CITIZEN: &str = "393401234567";
/// A second citizen, who chooses the civil protection's alerts only.
const ALERTS_ONLY: &str = "393409876543";

/// Posts a webhook event signed the way Meta signs them.
async fn meta_webhook(url: &str, event: serde_json::Value) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&event)?;
    let signature = crate::sink::secret::hmac_sha256_hex(DEMO_APP_SECRET.as_bytes(), &body);
    let status = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", format!("sha256={signature}"))
        .body(body)
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "webhook answered {status}");
    Ok(())
}

/// A citizen's `n`th message to the comune's number, as Meta's signed webhook brings it.
async fn citizen_writes(hooks_url: &str, from: &str, n: u32, text: &str) -> anyhow::Result<()> {
    meta_webhook(
        hooks_url,
        whatsapp_value(serde_json::json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "390000000000", "phone_number_id": "100000000000001"},
            "messages": [{"from": from, "id": format!("wamid.DEMOIN{n}"), "timestamp": (1_764_072_000 + n).to_string(), "type": "text", "text": {"body": text}}]
        })),
    )
    .await
}

fn whatsapp_value(inner: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "DEMO", "changes": [{"field": "messages", "value": inner}]}]})
}

fn show_simulator(sim: &Simulator) {
    for e in sim.take_events() {
        println!("   → {}: {} to {} ({})", e.api, e.kind, e.to, e.id);
    }
}

fn describe(outcome: &Result<PollOutcome, crate::pipeline::PollError>) -> String {
    match outcome {
        Ok(PollOutcome::Baseline { items }) => format!(
            "first poll, {items} {} already published recorded as baseline: nothing sent",
            if *items == 1 { "item" } else { "items" }
        ),
        Ok(PollOutcome::NotModified) => "unchanged (304 Not Modified): nothing sent".into(),
        Ok(PollOutcome::Checked { items, queued }) => format!(
            "{items} {}, {queued} new",
            if *items == 1 { "item" } else { "items" }
        ),
        Err(e) => format!("FAILED ({e}); retried later with back-off, the other sources go on"),
    }
}

fn report(report: &crate::daemon::CycleReport, app: &App) {
    println!();
    for (name, outcome) in &report.polls {
        println!("   {name}: {}", describe(outcome));
    }
    let messages = report.delivery.sent / app.config().sinks.len().max(1);
    println!("   delivered: {messages} message(s) to each sink");
}

/// The demo's simulated clock: `at(h, m)` is that local time on the first day (25 November
/// 2025, when the fixtures were published), `next_day(h, m)` on the second.
struct DemoTime {
    clock: Arc<SimClock>,
}

impl DemoTime {
    fn local(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Rome
            .with_ymd_and_hms(2025, 11, day, h, m, 0)
            .single()
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
    }

    /// Moves the clock and says so.
    fn set(&self, day: u32, h: u32, m: u32) {
        self.clock.set(DemoTime::local(day, h, m));
        let weekday = if day == 25 { "martedì" } else { "mercoledì" };
        println!("   [simulated clock: {weekday} {day} novembre, {h:02}:{m:02}]");
    }
}

/// Runs the demonstration. With `exit`, returns when the scenario is over; otherwise keeps
/// the admin UI (and the polling) running until Ctrl-C.
pub async fn run(exit: bool) -> anyhow::Result<()> {
    let start = DemoTime::local(25, 10, 30);
    let time = DemoTime {
        clock: Arc::new(SimClock::starting_at(start)),
    };
    let (site, addr) = serve_site(start).await?;
    let dir: PathBuf = std::env::temp_dir().join(format!("banditore-demo-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).ok();
    }
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("messages.jsonl");
    let sim = Simulator::start().await?;
    let config_text = demo_config(addr, sim.addr, sim.smtp, &out);
    let config =
        Config::parse(&config_text).map_err(|p| anyhow::anyhow!("demo configuration: {p:?}"))?;
    let app = App::build_with(
        config,
        &dir.join("data"),
        time.clock.clone(),
        &demo_secrets(),
    )
    .context("demo")?;
    let hooks = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hooks_url = format!("http://{}/webhooks/whatsapp/whatsapp", hooks.local_addr()?);
    let router = crate::http::webhooks::router(crate::daemon::AppCell::new(app.clone()));
    tokio::spawn(async move { axum::serve(hooks, router).await });
    app.check_sinks().await;

    println!("banditore demo: everything runs on this machine; nothing leaves 127.0.0.1.");
    println!("The comune of Borgo Esempio is simulated at http://{addr}/ with six sources:");
    println!("  borgo-esempio         the comune's news feed (RSS, Italian dates)");
    println!("  borgo-comunicati      its press releases, a Design Comuni page without a feed");
    println!("  borgo-eventi          its events, which an editor reviews before they are sent");
    println!("  protezione-civile     the regional civil protection's CAP alerts");
    println!("  il-messaggero         a real newspaper feed (Italian day and month names)");
    println!("  sito-in-manutenzione  a site that answers 503, to show failures are contained");
    println!();
    println!(
        "WhatsApp is simulated too, at http://{}/: a Cloud API (to subscribers) and a",
        sim.addr
    );
    println!("channel gateway (to the comune's WhatsApp Channel). So are the comune's Telegram");
    println!(
        "channel, its Mastodon account and the mailbox of its newsletter (SMTP, at {}):",
        sim.smtp
    );
    println!("each message goes to every channel, each in its own format, exactly once.");
    println!();
    println!("1) First poll. A new source records what is already there and sends nothing:");
    time.set(25, 10, 30);
    report(&app.once().await?, &app);
    println!();
    println!(
        "   A citizen writes \"ISCRIVIMI\" to the comune's WhatsApp number (a signed webhook):"
    );
    citizen_writes(&hooks_url, CITIZEN, 1, "Iscrivimi").await?;
    println!("   A second citizen wants the alerts only and writes \"ISCRIVIMI ALLERTE\":");
    citizen_writes(&hooks_url, ALERTS_ONLY, 2, "ISCRIVIMI ALLERTE").await?;
    println!(
        "   both subscribed, consent recorded ({} subscribers); banditore confirms to each:",
        app.store().subscriber_count()
    );
    show_simulator(&sim);
    for who in [CITIZEN, ALERTS_ONLY] {
        if let Some(reply) = sim.texts_to(who).first() {
            println!("   «{reply}»");
        }
    }
    println!();
    println!("2) The comune publishes a news item, a press release and an event. Next poll");
    println!("   (the event waits for an editor's review; the citizen who chose the alerts gets");
    println!("   none of this news):");
    time.set(25, 11, 30);
    site.set_stage(STAGE_NEWS);
    report(&app.once().await?, &app);
    let sent: Vec<_> = sim.take_events();
    for e in &sent {
        println!("   → {}: {} to {} ({})", e.api, e.kind, e.to, e.id);
    }
    // WhatsApp reports what happened to each message: delivered, then read.
    let statuses: Vec<serde_json::Value> = sent
        .iter()
        .filter(|e| e.to == CITIZEN)
        .flat_map(|e| {
            ["delivered", "read"].map(|status| {
                serde_json::json!({"id": e.id, "status": status, "timestamp": "1764072100", "recipient_id": CITIZEN})
            })
        })
        .collect();
    meta_webhook(
        &hooks_url,
        whatsapp_value(serde_json::json!({"messaging_product": "whatsapp", "metadata": {"display_phone_number": "390000000000", "phone_number_id": "100000000000001"}, "statuses": statuses})),
    )
    .await?;
    println!("   the citizen's phone reports \"delivered\", then \"read\" (status webhooks)");
    println!();
    println!(
        "3) The civil protection issues a flood alert for the comune's area (urgent, sent first,"
    );
    println!("   to both citizens):");
    time.set(25, 12, 31);
    site.set_stage(STAGE_ALERT);
    report(&app.once().await?, &app);
    show_simulator(&sim);
    println!();
    println!("4) The alert is downgraded to yellow. The source forwards only severe alerts");
    println!("   (min_severity = \"severe\"), but an update of an alert that was sent is always");
    println!("   sent, and says what changed:");
    time.set(25, 14, 31);
    site.set_stage(STAGE_DOWNGRADE);
    report(&app.once().await?, &app);
    show_simulator(&sim);
    println!();
    println!("5) The alert is cancelled; the cancellation refers to the alert that was sent:");
    time.set(25, 16, 31);
    site.set_stage(STAGE_CANCEL);
    report(&app.once().await?, &app);
    show_simulator(&sim);
    println!();
    println!("6) The comune corrects the day of the water cut on its site (tuesday → wednesday).");
    println!(
        "   A material change to a message already sent: a short correction (corrections = \"auto\"):"
    );
    time.set(25, 17, 30);
    site.set_stage(STAGE_CORRECTION);
    report(&app.once().await?, &app);
    show_simulator(&sim);
    println!();
    println!(
        "7) From 22:35 the comune publishes four news items. Quiet hours (21:00-07:30) hold them:"
    );
    time.set(25, 22, 40);
    site.set_stage(STAGE_NIGHT);
    report(&app.once().await?, &app);
    println!();
    println!("   At the end of quiet hours the three for the days ahead go as one message, not a");
    println!("   burst; the one about the night (\"stanotte\") is over by morning and is not sent");
    println!("   (the reason is in the log below):");
    time.set(26, 7, 31);
    report(&app.once().await?, &app);
    show_simulator(&sim);
    println!();
    println!(
        "8) The comune moves to a new website: {FLOOD_ITEMS} items appear at new addresses at once."
    );
    println!("   Flood protection holds the batch for an admin instead of flooding citizens:");
    time.set(26, 10, 30);
    site.set_stage(STAGE_FLOOD);
    report(&app.once().await?, &app);
    for line in crate::report::sources(app.store(), app.config())?
        .lines()
        .filter(|l| l.contains("HELD"))
    {
        println!("   {line}");
    }
    let released = app.store().release_held(
        "borgo-esempio",
        crate::schedule::Clock::now(time.clock.as_ref()),
    )?;
    println!(
        "   an admin releases the batch to the review queue (`banditore source release borgo-esempio`):"
    );
    println!("   {released} items now wait for an editor, one by one; nothing was sent.");
    println!();
    println!("9) Poll again (as after a restart): nothing is sent twice.");
    time.set(26, 10, 45);
    report(&app.once().await?, &app);
    println!();
    println!("Delivery state per message and sink, and the reasons for what was not sent");
    println!("(as `banditore log` shows them):");
    for line in crate::report::log(app.store(), app.config(), 25, app.now())?.lines() {
        println!("   {line}");
    }
    println!();
    println!("The file sink wrote the message JSON to {}:", out.display());
    if let Ok(text) = std::fs::read_to_string(&out) {
        for line in text.lines() {
            println!("   {line}");
        }
    }
    println!();
    println!("What each citizen received on WhatsApp (their topics chosen by keyword):");
    for (who, chose) in [(CITIZEN, "everything"), (ALERTS_ONLY, "alerts only")] {
        let titles: Vec<String> = sim
            .texts_to(who)
            .iter()
            .skip(1) // the welcome
            .map(|t| {
                t.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_matches('*')
                    .to_owned()
            })
            .collect();
        println!("   {who} ({chose}): {} message(s)", titles.len());
        for title in titles {
            println!("      {title}");
        }
    }
    if let Some(mail) = sim.mails().iter().find(|m| m.contains("REVOCA")) {
        println!();
        println!(
            "The newsletter's mailbox got each message as text and HTML; the revocation's text:"
        );
        for line in mail_text(mail).lines() {
            println!("   {line}");
        }
    }
    let (archived, _) = app.store().archive_page(&Default::default(), 0, 1000)?;
    println!();
    println!(
        "The citizens' page archives every message that went out: {} in the demo; the newest:",
        archived.len()
    );
    for entry in archived.iter().take(5) {
        println!("   /archivio/{}  {}", entry.seq, entry.message.title);
    }
    println!();
    println!("Next: edit sources.toml (the example sends to a file only), then");
    println!("   banditore check      validate it");
    println!("   banditore once       one cycle (the first records a baseline)");
    println!("   banditore run        the daemon");
    if exit {
        drop(app);
        std::fs::remove_dir_all(&dir).ok();
        return Ok(());
    }
    let served = serve_admin(app).await;
    std::fs::remove_dir_all(&dir).ok();
    served
}

/// A mail's subject and its text part, decoded (lettre writes non-ASCII text as
/// quoted-printable or base64, and the subject as an encoded word).
fn mail_text(mail: &str) -> String {
    let Ok(parsed) = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .ok_or(())
    else {
        return String::new();
    };
    format!(
        "Subject: {}\n\n{}",
        parsed.subject().unwrap_or_default(),
        parsed.body_text(0).unwrap_or_default()
    )
}

/// Serves the admin UI on loopback with a one-off token until Ctrl-C, the loops running too.
async fn serve_admin(app: App) -> anyhow::Result<()> {
    let token = hex::encode(rand::random::<[u8; 12]>());
    let cell = crate::daemon::AppCell::new(app.clone());
    let admin = crate::http::admin::Admin::with_token(
        cell.clone(),
        None,
        Some(crate::sink::secret::Secret::new(token.clone())),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    let serve_stop = stop.clone();
    let router =
        crate::http::admin::router(admin).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { serve_stop.cancelled().await })
            .await
    });
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let public_url = format!("http://{}/", public.local_addr()?);
    let public_server = tokio::spawn(crate::http::serve_router(
        public,
        crate::http::public::router(cell.clone()),
        stop.clone(),
    ));
    let loops = tokio::spawn({
        let stop = stop.clone();
        async move { app.run_loops(stop).await }
    });
    println!();
    println!("The admin UI is open: {url}");
    println!("   log in with the token {token}");
    println!(
        "   \"Da approvare\": the event waiting for review; \"Fonti\": the sources, one failing;"
    );
    println!("   \"Inviati\": what was sent, per sink and recipient.");
    println!("The citizens' page is open: {public_url}");
    println!(
        "   the QR codes to subscribe, the archive of every message, /feed.xml and /feed.json."
    );
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    stop.cancel();
    let _ = server.await;
    let _ = public_server.await;
    let _ = loops.await;
    Ok(())
}
