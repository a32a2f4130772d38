//! `/metrics`: the Prometheus text format, without a session. Counts only, no personal data.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Admin;

/// Prometheus text format. No personal data: counts only.
pub(super) async fn metrics(State(admin): State<Admin>) -> Response {
    let app = admin.app();
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
