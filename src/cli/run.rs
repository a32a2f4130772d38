//! `banditore run` (the daemon) and `banditore once` (one cycle).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use banditore::config::Config;
use banditore::daemon::{App, AppCell};
use banditore::schedule::SystemClock;

use super::{load, Paths};

pub async fn run(paths: &Paths) -> anyhow::Result<ExitCode> {
    let cfg = match load(&paths.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    for w in &cfg.warnings {
        tracing::warn!("{}: {w}", paths.config.display());
    }
    let app = App::build(cfg, &paths.data, Arc::new(SystemClock))?;
    let cell = AppCell::new(app);
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    tokio::spawn(reload_on_change(cell.clone(), paths.config.clone()));
    banditore::http::serve(
        &cell,
        shutdown,
        Some(paths.config.clone()),
        Some(&paths.data),
        || notify(&[sd_notify::NotifyState::Ready]),
    )
    .await?;
    notify(&[sd_notify::NotifyState::Stopping]);
    Ok(ExitCode::SUCCESS)
}

/// Tells systemd (a `Type=notify` unit, `contrib/banditore.service`) where the daemon
/// stands; nothing happens when not run by systemd.
fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
}

/// How often the configuration file is looked at for changes.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// SIGHUP, or a change of the configuration file's content, re-reads the configuration and
/// applies it without a restart; an invalid file is refused (its problems logged) and the
/// running configuration stays. The file is looked at every [`WATCH_EVERY`] rather than
/// watched with inotify: a Kubernetes ConfigMap or an editor replaces the file (a rename,
/// or a symlink swap) in ways that inotify watches miss, and reading a small file every two
/// seconds costs nothing.
async fn reload_on_change(cell: AppCell, path: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP");
            None
        }
    };
    let mut seen = fingerprint(&path);
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        let why = tokio::select! {
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => "SIGHUP",
            _ = tick.tick() => {
                let now = fingerprint(&path);
                if now == seen {
                    continue;
                }
                "the file changed"
            }
        };
        seen = fingerprint(&path);
        notify(&[sd_notify::NotifyState::Reloading]);
        match Config::load(&path) {
            Ok(config) => match cell.replace(config) {
                Ok(()) => {
                    tracing::info!(config = %path.display(), why, "configuration reloaded")
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), why, "not reloaded"),
            },
            Err(e) => {
                tracing::error!(why, "not reloaded, the running configuration stays; {e}");
                cell.refuse(e.to_string());
            }
        }
        notify(&[sd_notify::NotifyState::Ready]);
    }
}

/// The configuration's files (the file and those it includes) and their contents, hashed
/// (`None` while the file cannot be read).
fn fingerprint(path: &std::path::Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(path).ok()?.hash(&mut hasher);
    for file in Config::files(path).iter().skip(1) {
        file.hash(&mut hasher);
        std::fs::read(file).ok().hash(&mut hasher);
    }
    Some(hasher.finish())
}

pub async fn once(paths: &Paths) -> anyhow::Result<ExitCode> {
    let cfg = match load(&paths.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let app = App::build(cfg, &paths.data, Arc::new(SystemClock))?;
    let report = app.once().await?;
    for (name, result) in &report.polls {
        match result {
            Ok(outcome) => tracing::debug!(source = %name, ?outcome, "ok"),
            Err(e) => tracing::warn!(source = %name, error = %e, "failed"),
        }
    }
    tracing::info!(
        sources = report.polls.len(),
        failed = report.failures(),
        sent = report.delivery.sent,
        unknown = report.delivery.unknown,
        pending = report.delivery.pending,
        "cycle done"
    );
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM and fires the token.
async fn wait_for_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    token.cancel();
}
