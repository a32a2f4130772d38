//! `/metrics` on the admin listener: the Prometheus text of [`crate::http::probes::metrics`],
//! without a session. Counts only, no personal data.

use axum::extract::State;
use axum::response::Response;

use super::Admin;

pub(super) async fn metrics(State(admin): State<Admin>) -> Response {
    crate::http::probes::metrics(admin.cell.clone()).await
}
