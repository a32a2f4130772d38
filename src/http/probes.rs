//! Probes for whoever supervises the daemon (Kubernetes, a load balancer, a monitoring
//! check): `/healthz` answers while the process serves HTTP (liveness), `/readyz` when the
//! store answers and a configuration is loaded (readiness). Both listeners serve them, so a
//! probe needs no session and no token; neither says anything about sources or sinks.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::daemon::AppCell;

pub async fn healthz() -> &'static str {
    "ok"
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
