//! `bench --broadcast`: one message to many subscribers through the real delivery path,
//! against the loopback Cloud API simulator.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::daemon::App;
use crate::schedule::SystemClock;

use super::{peak_rss_kb, proc_status_kb};

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
    use crate::store::{PollCommit, Subscriber};

    let sim = crate::simulator::Simulator::with_latency(latency).await?;
    let dir = std::env::temp_dir().join(format!("banditore-bench-bc-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    let text = format!(
        "[settings]\ncache_mb = 16\n\n{}",
        super::simulator_sink(sim.addr, "messages_per_second = 80\n")
    );
    let mut cfg =
        Config::parse(&text).map_err(|p| anyhow::anyhow!("bench configuration: {p:?}"))?;
    // Without a rate, far above Meta's on purpose: this measures banditore, not the pacing.
    if let crate::config::SinkSettings::WhatsappCloud(cloud) = &mut cfg.sinks[0].settings {
        cloud.messages_per_second = rate.unwrap_or(100_000);
    }
    let secrets = super::simulator_secrets();
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
                selection: Default::default(),
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
