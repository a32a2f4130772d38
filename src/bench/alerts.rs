//! `bench --alerts`: the emergency fast path end to end, with the daemon's loops and
//! default schedules.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::AtomicU32;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::Config;
use crate::daemon::App;
use crate::schedule::SystemClock;

use super::{serve, today_as_feeds_write_it, Feeds};

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
    text.push_str(&super::simulator_sink(sim.addr, ""));
    let cfg = Config::parse(&text).map_err(|p| anyhow::anyhow!("bench configuration: {p:?}"))?;
    let secrets = super::simulator_secrets();
    let app = App::build_with(cfg, &dir.join("data"), Arc::new(SystemClock), &secrets)?;
    app.store().subscribe(
        &crate::phone::Phone::parse("393400000001")
            .ok_or_else(|| anyhow::anyhow!("bench phone number"))?,
        &Subscriber {
            consented_at: chrono::Utc::now() - chrono::Duration::days(1),
            consent_text: "bench".into(),
            consent_message_id: None,
            last_inbound_at: Some(chrono::Utc::now()),
            selection: Default::default(),
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
