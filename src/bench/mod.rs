//! `banditore bench`: N generated feeds × M items served on loopback, polled by the real
//! pipeline. Reports a cold cycle (every source's baseline), an unchanged cycle (all 304),
//! and a cycle where 10% of the feeds have a new item; items parsed per second; peak RSS;
//! and sled bytes per stored item. The server runs in the same process, so RSS includes it.
//! Also a broadcast (`broadcast`) and the emergency fast path end to end (`alerts`).

mod alerts;
mod broadcast;

pub use alerts::{alerts, AlertReport};
pub use broadcast::{broadcast, BroadcastReport};

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

/// A `whatsapp-cloud` sink on the loopback simulator at `addr` (extra keys after it).
fn simulator_sink(addr: SocketAddr, extra: &str) -> String {
    format!(
        "[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\napi_base = \"http://{addr}\"\nphone_number_id = \"1\"\n\
         token_env = \"T\"\napp_secret_env = \"S\"\nverify_token_env = \"V\"\n{extra}"
    )
}

/// The simulator's secrets, for [`simulator_sink`].
fn simulator_secrets() -> crate::sink::secret::Secrets {
    crate::sink::secret::Secrets::Fixed(
        [("T", "t"), ("S", "s"), ("V", "v")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    )
}
