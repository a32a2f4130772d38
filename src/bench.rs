//! `banditore bench`: N generated feeds × M items served on loopback, polled by the real
//! pipeline. Reports a cold cycle (every source's baseline), an unchanged cycle (all 304),
//! and a cycle where 10% of the feeds have a new item; items parsed per second; peak RSS;
//! and sled bytes per stored item. The server runs in the same process, so RSS includes it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::Config;
use crate::daemon::App;
use crate::pipeline::PollOutcome;
use crate::schedule::SystemClock;

struct Feeds {
    items: usize,
    /// Today, as the feeds write their dates ("mer, 02 dic 2026"): fresh news, never too old
    /// to send.
    day: String,
    /// Per feed: how many new items it has published since the start.
    versions: Vec<AtomicU32>,
}

fn render_feed(feed: usize, version: u32, items: usize, day: &str) -> String {
    let mut out = String::with_capacity(items * 420 + 300);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>");
    out.push_str(&format!(
        "<title>Comune {feed}</title><link>https://comune{feed}.example.it/</link><description>Notizie</description>"
    ));
    let newest = items as u32 + version;
    for n in (newest - items as u32 + 1..=newest).rev() {
        out.push_str(&format!(
            "<item><title>Comune {feed}: avviso numero {n} sulla viabilità</title>\
             <link>https://comune{feed}.example.it/notizie/avviso-{n}/</link>\
             <guid isPermaLink=\"false\">c{feed}-{n}</guid>\
             <pubDate>{day} 10:{:02}:00 +0100</pubDate><category>Avvisi</category>\
             <description>&lt;p&gt;Dal giorno {n} la strada provinciale sarà chiusa per lavori di manutenzione. \
             Sono previsti percorsi alternativi segnalati sul posto.&lt;/p&gt;</description></item>",
            n % 60
        ));
    }
    out.push_str("</channel></rss>");
    out
}

/// Today in Rome, the way Italian CMSs write it in RSS: "mer, 02 dic 2026".
fn today_as_feeds_write_it() -> String {
    use chrono::Datelike;
    const DAYS: [&str; 7] = ["lun", "mar", "mer", "gio", "ven", "sab", "dom"];
    const MONTHS: [&str; 12] = [
        "gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic",
    ];
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Rome);
    format!(
        "{}, {:02} {} {}",
        DAYS[today.weekday().num_days_from_monday() as usize],
        today.day(),
        MONTHS[today.month0() as usize],
        today.year()
    )
}

async fn serve(
    State(feeds): State<Arc<Feeds>>,
    Path(id): Path<usize>,
    headers: HeaderMap,
) -> Response {
    let Some(version) = feeds.versions.get(id).map(|v| v.load(Ordering::SeqCst)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{version}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/rss+xml".to_owned()),
            (header::ETAG, etag),
        ],
        render_feed(id, version, feeds.items, &feeds.day),
    )
        .into_response()
}

/// The measured numbers.
pub struct BenchReport {
    pub feeds: usize,
    pub items: usize,
    pub cold: Duration,
    pub unchanged: Duration,
    pub changed: Duration,
    pub changed_feeds: usize,
    pub queued: usize,
    pub failures: usize,
    pub items_per_sec: f64,
    pub peak_rss_kb: Option<u64>,
    pub store_bytes: u64,
    pub stored_items: u64,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "banditore bench: {} feeds × {} items on loopback",
            self.feeds, self.items
        )?;
        writeln!(
            f,
            "  cold cycle (baselines)        {:>8.3} s",
            self.cold.as_secs_f64()
        )?;
        writeln!(
            f,
            "  unchanged cycle (304s)        {:>8.3} s",
            self.unchanged.as_secs_f64()
        )?;
        writeln!(
            f,
            "  10% changed cycle             {:>8.3} s  ({} feeds, {} messages queued and delivered)",
            self.changed.as_secs_f64(),
            self.changed_feeds,
            self.queued
        )?;
        writeln!(
            f,
            "  items parsed per second       {:>8.0}  (cold cycle)",
            self.items_per_sec
        )?;
        match self.peak_rss_kb {
            Some(kb) => writeln!(
                f,
                "  peak RSS                      {:>8.1} MB",
                kb as f64 / 1024.0
            )?,
            None => writeln!(f, "  peak RSS                      unavailable (no /proc)")?,
        }
        writeln!(
            f,
            "  sled bytes per stored item    {:>8.0}  ({} bytes, {} items)",
            self.store_bytes as f64 / self.stored_items.max(1) as f64,
            self.store_bytes,
            self.stored_items
        )?;
        if self.failures > 0 {
            writeln!(f, "  WARNING: {} polls failed", self.failures)?;
        }
        Ok(())
    }
}

/// A memory figure of this process from `/proc/self/status`, in kB ("VmHWM" is the peak RSS).
fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn peak_rss_kb() -> Option<u64> {
    proc_status_kb("VmHWM")
}

fn config(addr: SocketAddr, feeds: usize, out: &std::path::Path) -> String {
    // The benchmark measures the pipeline at any hour: no quiet hours.
    let mut text = String::from("[settings]\nconcurrency = 64\nquiet_hours = \"off\"\n\n");
    for i in 0..feeds {
        text.push_str(&format!(
            "[[source]]\nname = \"feed-{i}\"\nkind = \"feed\"\nurl = \"http://{addr}/feed/{i}\"\nevery = \"5m\"\n\n"
        ));
    }
    text.push_str(&format!(
        "[[sink]]\nname = \"out\"\nkind = \"file\"\npath = \"{}\"\n",
        out.display()
    ));
    text
}

/// Runs the benchmark.
pub async fn run(feeds: usize, items: usize) -> anyhow::Result<BenchReport> {
    let items = items.max(1);
    let state = Arc::new(Feeds {
        items,
        day: today_as_feeds_write_it(),
        versions: (0..feeds).map(|_| AtomicU32::new(0)).collect(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .route("/feed/{id}", get(serve))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = std::env::temp_dir().join(format!("banditore-bench-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    let cfg = Config::parse(&config(addr, feeds, &dir.join("out.jsonl")))
        .map_err(|p| anyhow::anyhow!("bench configuration: {p:?}"))?;
    let app = App::build(cfg, &dir.join("data"), Arc::new(SystemClock))?;

    let start = Instant::now();
    let cold_report = app.once().await?;
    let cold = start.elapsed();

    let start = Instant::now();
    let unchanged_report = app.once().await?;
    let unchanged = start.elapsed();

    let changed_feeds = feeds.div_ceil(10);
    for v in state.versions.iter().step_by(10) {
        v.fetch_add(1, Ordering::SeqCst);
    }
    let start = Instant::now();
    let changed_report = app.once().await?;
    let changed = start.elapsed();
    let queued = changed_report
        .polls
        .iter()
        .filter_map(|(_, r)| match r {
            Ok(PollOutcome::Checked { queued, .. }) => Some(*queued),
            _ => None,
        })
        .sum();

    app.store().flush()?;
    let store_bytes = app.store().size_on_disk()?;
    let stored_items = (feeds * items + queued) as u64;
    let failures = cold_report.failures() + unchanged_report.failures() + changed_report.failures();
    drop(app);
    std::fs::remove_dir_all(&dir).ok();
    Ok(BenchReport {
        feeds,
        items,
        cold,
        unchanged,
        changed,
        changed_feeds,
        queued,
        failures,
        items_per_sec: (feeds * items) as f64 / cold.as_secs_f64(),
        peak_rss_kb: peak_rss_kb(),
        store_bytes,
        stored_items,
    })
}

/// Numbers from a broadcast.
pub struct BroadcastReport {
    pub subscribers: usize,
    /// The configured rate, when the run had one.
    pub rate: Option<u32>,
    pub latency: Duration,
    /// With an alert queued a second into the broadcast: from its queueing to its first
    /// request.
    pub alert_wait: Option<Duration>,
    pub elapsed: Duration,
    pub sent: u64,
    pub cpu_per_send_us: f64,
    pub rss_before_kb: Option<u64>,
    pub rss_after_kb: Option<u64>,
    pub peak_rss_kb: Option<u64>,
}

impl fmt::Display for BroadcastReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = |kb: Option<u64>| {
            kb.map_or("n/a".to_owned(), |k| format!("{:.1} MB", k as f64 / 1024.0))
        };
        writeln!(
            f,
            "banditore bench: broadcast to {} subscribers (loopback Cloud API simulator, {} ms round trip)",
            self.subscribers,
            self.latency.as_millis()
        )?;
        writeln!(
            f,
            "  wall time                     {:>8.3} s",
            self.elapsed.as_secs_f64()
        )?;
        let per_second = self.sent as f64 / self.elapsed.as_secs_f64();
        writeln!(f, "  sends per second              {per_second:>8.0}")?;
        if let Some(wait) = self.alert_wait {
            writeln!(
                f,
                "  alert queued 1 s in: first request after {:.0} ms",
                wait.as_secs_f64() * 1000.0
            )?;
        }
        if let Some(rate) = self.rate {
            writeln!(
                f,
                "  of the configured {rate}/s        {:>7.1} %",
                per_second * 100.0 / f64::from(rate)
            )?;
        }
        writeln!(
            f,
            "  CPU per send (whole process)  {:>8.1} µs",
            self.cpu_per_send_us
        )?;
        writeln!(
            f,
            "  RSS before / after            {} / {}",
            mb(self.rss_before_kb),
            mb(self.rss_after_kb)
        )?;
        writeln!(
            f,
            "  peak RSS                      {}",
            mb(self.peak_rss_kb)
        )?;
        Ok(())
    }
}

fn current_rss_kb() -> Option<u64> {
    proc_status_kb("VmRSS")
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv =
        |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Broadcasts one message to `subscribers` subscribers, at `rate` messages per second (or
/// as fast as banditore can), against a simulator answering after `latency`.
pub async fn broadcast(
    subscribers: usize,
    rate: Option<u32>,
    latency: Duration,
    alert: bool,
) -> anyhow::Result<BroadcastReport> {
    use crate::config::Priority;
    use crate::item::Message;
    use crate::sink::secret::Secrets;
    use crate::store::{PollCommit, Subscriber};

    let sim = crate::simulator::Simulator::with_latency(latency).await?;
    let dir = std::env::temp_dir().join(format!("banditore-bench-bc-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    let text = format!(
        "[settings]\ncache_mb = 16\n\n[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\napi_base = \"http://{}\"\nphone_number_id = \"1\"\n\
         token_env = \"T\"\napp_secret_env = \"S\"\nverify_token_env = \"V\"\nmessages_per_second = 80\n",
        sim.addr
    );
    let mut cfg =
        Config::parse(&text).map_err(|p| anyhow::anyhow!("bench configuration: {p:?}"))?;
    // Without a rate, far above Meta's on purpose: this measures banditore, not the pacing.
    if let crate::config::SinkSettings::WhatsappCloud(cloud) = &mut cfg.sinks[0].settings {
        cloud.messages_per_second = rate.unwrap_or(100_000);
    }
    let secrets = Secrets::Fixed(
        [("T", "t"), ("S", "s"), ("V", "v")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    );
    let app = App::build_with(cfg, &dir.join("data"), Arc::new(SystemClock), &secrets)?;
    let consented = chrono::Utc::now() - chrono::Duration::days(1);
    for i in 0..subscribers {
        app.store().subscribe(
            &crate::phone::Phone::parse(&format!("39340{i:07}"))
                .ok_or_else(|| anyhow::anyhow!("bench phone number"))?,
            &Subscriber {
                consented_at: consented,
                consent_text: "bench".into(),
                consent_message_id: None,
                last_inbound_at: Some(chrono::Utc::now()),
            },
        )?;
    }
    let message = Message {
        id: "bench-1".into(),
        source: "bench".into(),
        kind: "feed".into(),
        title: "Avviso".into(),
        url: "https://comune.example.it/avviso".into(),
        text: "*Avviso*\n\nTesto dell'avviso.\n\nhttps://comune.example.it/avviso".into(),
        image: None,
        priority: Priority::Normal,
        published: None,
        tags: vec![],
        extra: Default::default(),
    };
    app.store().commit_poll(
        "bench",
        &PollCommit {
            messages: vec![message.clone()],
            ..PollCommit::default()
        },
        chrono::Utc::now(),
    )?;
    app.store().flush()?;
    let rss_before_kb = current_rss_kb();
    let cpu_before = cpu_time();
    let start = Instant::now();
    let mut alert_wait = None;
    if alert {
        // An alert queued a second into the broadcast: how long until its first request.
        let pass = {
            let app = app.clone();
            tokio::spawn(async move { app.deliver(&Default::default()).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let text = "*Allerta*\n\nAllerta rossa.\n\nhttps://comune.example.it/allerta";
        let urgent = Message {
            id: "bench-alert".into(),
            title: "Allerta".into(),
            url: "https://comune.example.it/allerta".into(),
            text: text.into(),
            priority: Priority::Urgent,
            ..message.clone()
        };
        app.store().commit_poll(
            "bench",
            &PollCommit {
                messages: vec![urgent],
                ..PollCommit::default()
            },
            chrono::Utc::now(),
        )?;
        let queued = Instant::now();
        pass.await??;
        while app.store().outbox_len() > 0 {
            app.deliver(&Default::default()).await?;
        }
        alert_wait = sim
            .first_seen(text)
            .map(|t| t.saturating_duration_since(queued));
    } else {
        app.deliver(&Default::default()).await?;
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let sent = sim.count();
    let report = BroadcastReport {
        subscribers,
        rate,
        latency,
        alert_wait,
        elapsed,
        sent,
        cpu_per_send_us: cpu.as_secs_f64() * 1e6 / sent.max(1) as f64,
        rss_before_kb,
        rss_after_kb: current_rss_kb(),
        peak_rss_kb: peak_rss_kb(),
    };
    drop(app);
    std::fs::remove_dir_all(&dir).ok();
    Ok(report)
}

/// Numbers from the emergency fast path, end to end.
pub struct AlertReport {
    pub alerts: usize,
    pub feeds: usize,
    /// From each alert's publication at its source to its first request at the Cloud API,
    /// sorted; alerts never sent are counted in `missing`.
    pub latencies: Vec<Duration>,
    pub missing: usize,
}

impl AlertReport {
    /// The `p`-th percentile (nearest rank) of the latencies.
    fn percentile(&self, p: f64) -> Option<Duration> {
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies.get(rank.saturating_sub(1)).copied()
    }
}

impl fmt::Display for AlertReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "banditore bench: {} CAP alerts published at random moments, {} news feeds polled beside them, default schedules",
            self.alerts, self.feeds
        )?;
        writeln!(
            f,
            "  from publication at the source to the first request at the Cloud API:"
        )?;
        for (label, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
            match self.percentile(p) {
                Some(d) => writeln!(f, "  {label:<29} {:>8.1} s", d.as_secs_f64())?,
                None => writeln!(f, "  {label:<29}      n/a")?,
            }
        }
        if self.missing > 0 {
            writeln!(f, "  WARNING: {} alerts were never sent", self.missing)?;
        }
        Ok(())
    }
}

/// A publication's moment: for measuring, and for the alert's `sent`.
type Moment = (Instant, chrono::DateTime<chrono::Utc>);

/// When each CAP source published its alert (`None`: still the baseline document).
struct Publications {
    at: Vec<std::sync::Mutex<Option<Moment>>>,
}

fn alert_headline(i: usize) -> String {
    format!("Allerta piena [{i}]")
}

fn cap_document(i: usize, published: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let (id, sent, severity, headline) = match published {
        Some(at) => (format!("alert-{i}"), at, "Severe", alert_headline(i)),
        None => (
            format!("old-{i}"),
            chrono::Utc::now() - chrono::Duration::days(1),
            "Minor",
            "Vento moderato".to_owned(),
        ),
    };
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{id}</identifier><sender>bench{i}@protezionecivile.example.it</sender><sent>{sent}</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>it-IT</language><category>Met</category><event>Piena</event><urgency>Immediate</urgency>
    <severity>{severity}</severity><certainty>Likely</certainty><expires>{expires}</expires>
    <headline>{headline}</headline><description>Possibile esondazione del Po.</description>
    <web>https://protezionecivile.example.it/allerte</web>
    <area><areaDesc>Zona {i} della provincia di Cremona</areaDesc><polygon>45.0,9.9 45.0,10.2 45.3,10.2 45.3,9.9 45.0,9.9</polygon></area></info>
</alert>"#,
        sent = fmt(sent),
        expires = fmt(chrono::Utc::now() + chrono::Duration::days(1)),
    )
}

async fn serve_cap(
    State(publications): State<Arc<Publications>>,
    Path(id): Path<usize>,
    headers: HeaderMap,
) -> Response {
    let Some(slot) = publications.at.get(id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let published = *slot.lock().unwrap_or_else(|p| p.into_inner());
    let etag = if published.is_some() {
        "\"1\""
    } else {
        "\"0\""
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/cap+xml"),
            (header::ETAG, etag),
        ],
        cap_document(id, published.map(|(_, at)| at)),
    )
        .into_response()
}

/// The emergency fast path end to end, with the daemon's loops and default schedules:
/// `alerts` CAP sources (and `feeds` news feeds polled beside them) each publish one alert
/// at a random moment within `window`; each alert's latency runs from its publication to its
/// first request at a loopback Cloud API (80 messages a second, one subscriber).
pub async fn alerts(alerts: usize, feeds: usize, window: Duration) -> anyhow::Result<AlertReport> {
    use crate::sink::secret::Secrets;
    use crate::store::Subscriber;

    let news = Arc::new(Feeds {
        items: 20,
        day: today_as_feeds_write_it(),
        versions: (0..feeds).map(|_| AtomicU32::new(0)).collect(),
    });
    let publications = Arc::new(Publications {
        at: (0..alerts).map(|_| std::sync::Mutex::new(None)).collect(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .route("/feed/{id}", get(serve))
        .with_state(news)
        .merge(
            Router::new()
                .route("/cap/{id}", get(serve_cap))
                .with_state(publications.clone()),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let sim = crate::simulator::Simulator::start().await?;

    let dir = std::env::temp_dir().join(format!("banditore-bench-alerts-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    let mut text = String::from("[settings]\nlocation = { lat = 45.133, lon = 10.027 }\n\n");
    for i in 0..feeds {
        text.push_str(&format!(
            "[[source]]\nname = \"feed-{i}\"\nkind = \"feed\"\nurl = \"http://{addr}/feed/{i}\"\n\n"
        ));
    }
    for i in 0..alerts {
        text.push_str(&format!(
            "[[source]]\nname = \"cap-{i}\"\nkind = \"cap\"\nurl = \"http://{addr}/cap/{i}\"\n\n"
        ));
    }
    text.push_str(&format!(
        "[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\napi_base = \"http://{}\"\nphone_number_id = \"1\"\n\
         token_env = \"T\"\napp_secret_env = \"S\"\nverify_token_env = \"V\"\n",
        sim.addr
    ));
    let cfg = Config::parse(&text).map_err(|p| anyhow::anyhow!("bench configuration: {p:?}"))?;
    let secrets = Secrets::Fixed(
        [("T", "t"), ("S", "s"), ("V", "v")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    );
    let app = App::build_with(cfg, &dir.join("data"), Arc::new(SystemClock), &secrets)?;
    app.store().subscribe(
        &crate::phone::Phone::parse("393400000001")
            .ok_or_else(|| anyhow::anyhow!("bench phone number"))?,
        &Subscriber {
            consented_at: chrono::Utc::now() - chrono::Duration::days(1),
            consent_text: "bench".into(),
            consent_message_id: None,
            last_inbound_at: Some(chrono::Utc::now()),
        },
    )?;
    let stop = tokio_util::sync::CancellationToken::new();
    let loops = {
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move { app.run_loops(stop).await })
    };

    // Every alert source has its baseline before anything is published.
    let baselined = |app: &App| {
        (0..alerts).all(|i| {
            app.store()
                .source_state(&format!("cap-{i}"))
                .is_ok_and(|s| s.baselined)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !baselined(&app) {
        if Instant::now() > deadline {
            anyhow::bail!("the alert sources did not take their baselines within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Each alert at a random moment of the window.
    let start = Instant::now();
    let mut moments: Vec<(Duration, usize)> = (0..alerts)
        .map(|i| (window.mul_f64(rand::random::<f64>()), i))
        .collect();
    moments.sort();
    for (at, i) in moments {
        tokio::time::sleep_until((start + at).into()).await;
        if let Some(slot) = publications.at.get(i) {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((Instant::now(), chrono::Utc::now()));
        }
    }

    // Wait for the last ones: a poll interval and then some.
    let first_request = |i: usize| sim.first_seen_containing(&alert_headline(i));
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..alerts).any(|i| first_request(i).is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    loops.await.ok();

    let mut latencies = Vec::new();
    let mut missing = 0;
    for (i, slot) in publications.at.iter().enumerate() {
        let published = slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|(t, _)| t);
        match (published, first_request(i)) {
            (Some(p), Some(r)) => latencies.push(r.saturating_duration_since(p)),
            _ => missing += 1,
        }
    }
    latencies.sort();
    drop(app);
    std::fs::remove_dir_all(&dir).ok();
    Ok(AlertReport {
        alerts,
        feeds,
        latencies,
        missing,
    })
}
