//! The loops, supervised: a loop that panics (a bug, in banditore or a library) is restarted
//! after a pause instead of silently leaving its source unpolled or the outbox undelivered.
//! A loop that keeps panicking ([`MAX_PANICS`] within [`PANIC_WINDOW`]) is left down and
//! `/healthz` fails, so the process's own supervisor (systemd, Kubernetes) restarts it.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Panics of one loop within [`PANIC_WINDOW`] after which it stays down.
pub const MAX_PANICS: usize = 5;
pub const PANIC_WINDOW: Duration = Duration::from_secs(600);
/// The pause before a loop that panicked starts again.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// How the loops are doing, for `/healthz`. Shared by the loops of one application.
#[derive(Debug, Default)]
pub struct LoopHealth {
    /// Loops left down, with their last panic.
    dead: Mutex<Vec<String>>,
}

impl LoopHealth {
    /// Why the daemon is not healthy: the loops left down.
    pub fn trouble(&self) -> Option<String> {
        let dead = self.dead.lock().unwrap_or_else(|p| p.into_inner());
        (!dead.is_empty()).then(|| dead.join("; "))
    }

    fn died(&self, why: String) {
        self.dead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(why);
    }
}

/// Runs the loop that `start` makes until it returns or `stop` fires, restarting it when it
/// panics (see the module's documentation).
pub async fn supervised<F, Fut>(
    name: String,
    health: Arc<LoopHealth>,
    stop: CancellationToken,
    start: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut panics: VecDeque<Instant> = VecDeque::new();
    loop {
        let ended = tokio::spawn(start()).await;
        let why = match ended {
            Ok(()) => return,
            Err(e) if e.is_panic() => panic_words(e.into_panic()),
            Err(_) => return, // cancelled: the runtime is shutting down
        };
        let now = Instant::now();
        panics.retain(|at| now.duration_since(*at) < PANIC_WINDOW);
        panics.push_back(now);
        if panics.len() >= MAX_PANICS {
            tracing::error!(task = %name, panic = %why, "a loop keeps failing: left down, the daemon reports itself unhealthy");
            health.died(format!("{name}: {why}"));
            return;
        }
        tracing::error!(task = %name, panic = %why, "a loop failed; restarting it");
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(RESTART_AFTER) => {}
        }
    }
}

/// A panic's message, when it has one.
fn panic_words(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_panicking_loop_is_restarted_then_left_down() {
        let health = Arc::new(LoopHealth::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        supervised(
            "poll comune".into(),
            health.clone(),
            CancellationToken::new(),
            move || {
                let runs = counted.clone();
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    panic!("boom");
                }
            },
        )
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), MAX_PANICS);
        assert_eq!(health.trouble().as_deref(), Some("poll comune: boom"));

        // A loop that ends normally is not restarted and is no trouble.
        let fine = Arc::new(LoopHealth::default());
        supervised(
            "deliver".into(),
            fine.clone(),
            CancellationToken::new(),
            || async {},
        )
        .await;
        assert_eq!(fine.trouble(), None);
    }
}
