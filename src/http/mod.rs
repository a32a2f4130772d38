//! The servers of `run`: the admin web UI (`admin`), the provider webhooks (`webhooks`), and
//! their mounting beside the daemon's loops ([`serve`]). Everything here reaches the engine
//! through the daemon's [`AppCell`]; nothing below points back up here.

pub mod admin;
pub mod bubble;
pub mod client;
pub mod control;
pub mod inbound;
mod listen;
pub mod probes;
pub mod public;
pub mod webhooks;

use std::path::{Path, PathBuf};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::daemon::AppCell;

/// The daemon with its servers: provider webhooks, the admin UI and the control socket (when
/// `data_dir` is given) stay up while the polling and delivery loops run on the current
/// application (and restart when it is replaced). `ready` is called once every listener is
/// open (a supervisor's "started"). Returns after `shutdown`, with the store flushed.
pub async fn serve(
    cell: &AppCell,
    shutdown: CancellationToken,
    config_path: Option<PathBuf>,
    data_dir: Option<&Path>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    let settings = cell.get().config().settings.clone();
    let mut servers = JoinSet::new();
    if let Some(dir) = data_dir {
        // Without it the daemon still runs; only the command line cannot reach it.
        let path = control::socket_path(dir);
        match control::bind(&path) {
            Ok(listener) => {
                servers.spawn(control::serve(
                    listener,
                    path,
                    cell.clone(),
                    config_path.clone(),
                    shutdown.clone(),
                ));
            }
            Err(e) => tracing::error!(
                socket = %path.display(), error = %e,
                "cannot open the control socket: log, queue, source and subscribers commands will not work while this daemon runs"
            ),
        }
    }
    if let Some(listen) = settings.webhook_listen.clone() {
        let listener = bind(&listen, "webhooks").await?;
        tracing::info!(%listen, "provider webhooks listening");
        servers.spawn(serve_router(
            listener,
            webhooks::router(cell.clone()),
            shutdown.clone(),
        ));
    }
    if let Some(listen) = settings.metrics_listen.clone() {
        let listener = bind(&listen, "metrics").await?;
        tracing::info!(%listen, "health and metrics listening");
        servers.spawn(serve_router(
            listener,
            probes::router(cell.clone()),
            shutdown.clone(),
        ));
    }
    if let Some(listen) = settings.public_listen.clone() {
        let listener = bind(&listen, "the citizens' page").await?;
        tracing::info!(url = %format!("http://{listen}/"), "citizens' page listening");
        servers.spawn(serve_router(
            listener,
            public::router(cell.clone()),
            shutdown.clone(),
        ));
    }
    if let Some(listen) = settings.admin_listen.clone() {
        let listener = bind(&listen, "the admin UI").await?;
        tracing::info!(url = %format!("http://{listen}/"), "admin UI listening");
        let loopback = listener
            .local_addr()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false);
        if !loopback && !settings.admin_secure_cookies {
            tracing::warn!(%listen, "the admin UI is reachable beyond this machine without TLS: put it behind an HTTPS proxy and set admin_secure_cookies = true");
        }
        let admin = admin::router(admin::Admin::new(cell.clone(), config_path)?);
        servers.spawn(serve_router(listener, admin, shutdown.clone()));
    }
    ready();
    cell.run(shutdown).await?;
    while servers.join_next().await.is_some() {}
    tracing::info!("stopped; store flushed");
    Ok(())
}

async fn bind(listen: &str, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for {what} on {listen}: {e}"))
}

/// Serves `router` on `listener` until `stop`, with the connection limits of [`listen`].
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    stop: CancellationToken,
) {
    use axum::serve::ListenerExt;
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    // `tap_io` only so that axum knows the connection's address (`ConnectInfo`).
    let listener = listen::Limited::new(listener).tap_io(|_| ());
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
    {
        tracing::error!(error = %e, "a server stopped");
    }
}
