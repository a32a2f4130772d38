//! The daemon's current application ([`AppCell`]): the admin UI and SIGHUP replace it; the
//! loops restart on the new one while the servers keep running.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::App;
use crate::config::Config;
use crate::store::StoreError;

/// The daemon's current application. The admin UI replaces it when the configuration
/// changes; the loops restart on the new one, the servers keep running.
#[derive(Clone)]
pub struct AppCell {
    current: Arc<std::sync::RwLock<App>>,
    changed: Arc<Notify>,
}

impl AppCell {
    pub fn new(app: App) -> AppCell {
        AppCell {
            current: Arc::new(std::sync::RwLock::new(app)),
            changed: Arc::new(Notify::new()),
        }
    }

    pub fn get(&self) -> App {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies a new configuration (already validated) without a restart.
    /// The listeners stay where they are: a changed `admin_listen` or `webhook_listen` is
    /// said in the log, and takes effect at the next start.
    /// Records a configuration file that could not be read or checked: the daemon keeps the
    /// one it runs, and the admins get an alert until a change is applied.
    pub fn refuse(&self, why: String) {
        self.get().set_config_refused(Some(why));
    }

    pub fn replace(&self, config: Config) -> anyhow::Result<()> {
        let old = self.get();
        let (was, now) = (&old.config().settings, &config.settings);
        for (key, before, after) in [
            ("admin_listen", &was.admin_listen, &now.admin_listen),
            ("webhook_listen", &was.webhook_listen, &now.webhook_listen),
            ("metrics_listen", &was.metrics_listen, &now.metrics_listen),
            ("public_listen", &was.public_listen, &now.public_listen),
        ] {
            if before != after {
                tracing::warn!(
                    key,
                    ?before,
                    ?after,
                    "a listen address changed: it takes effect when banditore is restarted"
                );
            }
        }
        let app = match old.rebuild(config) {
            Ok(app) => app,
            Err(e) => {
                old.set_config_refused(Some(format!("{e:#}")));
                return Err(e);
            }
        };
        app.set_config_refused(None);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = app;
        self.changed.notify_one();
        Ok(())
    }

    /// Runs the loops of the current application until `shutdown`, restarting them on the
    /// new application whenever [`AppCell::replace`] swaps it. Returns with the store flushed.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), StoreError> {
        loop {
            let app = self.get();
            app.check_sinks().await;
            tracing::info!(
                sources = app.config().sources.len(),
                sinks = app.config().sinks.len(),
                "banditore is running; Ctrl-C to stop"
            );
            let round = shutdown.child_token();
            let loops = app.run_loops(round.clone());
            tokio::pin!(loops);
            tokio::select! {
                _ = &mut loops => {}
                _ = self.changed.notified() => {
                    tracing::info!("configuration changed; restarting the loops");
                    round.cancel();
                    // The old loops finish their current step first.
                    (&mut loops).await;
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        self.get().store().flush()
    }
}
