//! Probes for whoever supervises the daemon (Kubernetes, a load balancer, a monitoring
//! check): `/healthz` answers while the process serves HTTP and its loops run (liveness), `/readyz` when the
//! store answers and a configuration is loaded (readiness), `/metrics` in the Prometheus text
//! format (counts only, no personal data). Every listener serves the first two, the admin and
//! metrics listeners the third ([`router`] is the metrics listener's, `settings.metrics_listen`);
//! none needs a session or a token.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::daemon::AppCell;

/// Alive while the process serves HTTP and its loops run: a loop that kept failing and was
/// left down ([`crate::daemon::App::loop_trouble`]) makes it fail, so that the process's
/// supervisor restarts it.
pub async fn healthz(cell: AppCell) -> Response {
    match cell.get().loop_trouble() {
        None => "ok".into_response(),
        Some(trouble) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: a loop stopped ({trouble})"),
        )
            .into_response(),
    }
}

/// Ready when a read from the store succeeds and the loops' last write got through (a full
/// disk makes it not ready until they get through again). The configuration was loaded
/// before the listeners opened, so an application in the cell is one that was checked whole.
pub async fn readyz(cell: AppCell) -> Response {
    let app = cell.get();
    if let Some(trouble) = app.store_trouble() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the store cannot be written ({trouble})"),
        )
            .into_response();
    }
    match app.store().last_prune() {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness probe: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the store does not answer",
            )
                .into_response()
        }
    }
}

/// The metrics listener (`settings.metrics_listen`): `/healthz`, `/readyz`, `/metrics`, and
/// nothing else, for a Prometheus and a supervisor without the admin UI.
pub fn router(cell: AppCell) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|State(cell): State<AppCell>| healthz(cell)))
        .route("/readyz", get(|State(cell): State<AppCell>| readyz(cell)))
        .route("/metrics", get(|State(cell): State<AppCell>| metrics(cell)))
        .with_state(cell)
}

/// The Prometheus text format. Every figure is read from one record per source or sink, or
/// kept as a count by sled: no full scan of the store on a scrape.
pub async fn metrics(cell: AppCell) -> Response {
    let app = cell.get();
    let store = app.store();
    let mut out = String::new();
    out.push_str("# HELP banditore_outbox_messages Messages waiting for delivery.\n# TYPE banditore_outbox_messages gauge\n");
    out.push_str(&format!(
        "banditore_outbox_messages {}\n",
        store.outbox_len()
    ));
    out.push_str("# HELP banditore_review_pending Messages waiting for an editor.\n# TYPE banditore_review_pending gauge\n");
    out.push_str(&format!(
        "banditore_review_pending {}\n",
        crate::review::pending(store).map_or(0, |p| p.len())
    ));
    out.push_str(
        "# HELP banditore_subscribers Opted-in subscribers.\n# TYPE banditore_subscribers gauge\n",
    );
    out.push_str(&format!(
        "banditore_subscribers {}\n",
        store.subscriber_count()
    ));
    out.push_str("# HELP banditore_source_consecutive_failures Failed polls in a row, per source.\n# TYPE banditore_source_consecutive_failures gauge\n");
    for src in &app.config().sources {
        let failures = store
            .source_state(&src.name)
            .map(|s| s.consecutive_failures)
            .unwrap_or_default();
        out.push_str(&format!(
            "banditore_source_consecutive_failures{{source=\"{}\"}} {failures}\n",
            src.name
        ));
    }
    out.push_str("# HELP banditore_source_held_messages Messages flood protection holds for an admin, per source (more than 0: the source is HELD).\n# TYPE banditore_source_held_messages gauge\n");
    for src in &app.config().sources {
        let held = store.held(&src.name).map(|h| h.len()).unwrap_or_default();
        out.push_str(&format!(
            "banditore_source_held_messages{{source=\"{}\"}} {held}\n",
            src.name
        ));
    }
    out.push_str("# HELP banditore_source_last_success_timestamp_seconds When each source was last polled without an error.\n# TYPE banditore_source_last_success_timestamp_seconds gauge\n");
    for src in &app.config().sources {
        if let Some(at) = store
            .source_state(&src.name)
            .ok()
            .and_then(|s| s.last_success)
        {
            out.push_str(&format!(
                "banditore_source_last_success_timestamp_seconds{{source=\"{}\"}} {}\n",
                src.name,
                at.timestamp()
            ));
        }
    }
    // Each family's samples together, as the text format wants.
    let sinks: Vec<(&str, u32, bool)> = app
        .config()
        .sinks
        .iter()
        .map(|sink| {
            let failures = store
                .sink_health(&sink.name)
                .map(|h| h.failures)
                .unwrap_or_default();
            let paused = store
                .pause(&sink.name)
                .ok()
                .flatten()
                .is_some_and(|p| p.until > app.now());
            (sink.name.as_str(), failures, paused)
        })
        .collect();
    out.push_str("# HELP banditore_sink_consecutive_failures Failed sends since the sink's last success.\n# TYPE banditore_sink_consecutive_failures gauge\n");
    for (name, failures, _) in &sinks {
        out.push_str(&format!(
            "banditore_sink_consecutive_failures{{sink=\"{name}\"}} {failures}\n"
        ));
    }
    out.push_str("# HELP banditore_sink_paused Whether a sink is paused by an account problem (1) or sending (0).\n# TYPE banditore_sink_paused gauge\n");
    for (name, _, paused) in &sinks {
        out.push_str(&format!(
            "banditore_sink_paused{{sink=\"{name}\"}} {}\n",
            u8::from(*paused)
        ));
    }
    out.push_str(&format!(
        "# HELP banditore_alerts_raised Admin alerts raised and not cleared.\n# TYPE banditore_alerts_raised gauge\nbanditore_alerts_raised {}\n",
        store.raised_alarms().map_or(0, |a| a.len())
    ));
    out.push_str(&format!(
        "# HELP banditore_store_bytes The store's files on disk.\n# TYPE banditore_store_bytes gauge\nbanditore_store_bytes {}\n",
        store.size_on_disk().unwrap_or(0)
    ));
    out.push_str(&format!(
        "# HELP banditore_config_refused Whether the last change of the configuration file was refused (1: the daemon runs the one before).\n# TYPE banditore_config_refused gauge\nbanditore_config_refused {}\n",
        u8::from(app.config_refused().is_some())
    ));
    out.push_str("# HELP banditore_ready Whether the daemon is ready (the store answers and can be written).\n# TYPE banditore_ready gauge\n");
    out.push_str(&format!(
        "banditore_ready {}\n",
        u8::from(app.store_trouble().is_none())
    ));
    app.metrics().encode(&mut out);
    out.push_str(&format!(
        "# HELP banditore_build_info The running version.\n# TYPE banditore_build_info gauge\nbanditore_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
