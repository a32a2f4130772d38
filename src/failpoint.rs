//! Crash points for the crash-safety tests.
//!
//! With `BANDITORE_FAILPOINT=<name>` in the environment, the process kills itself with
//! SIGKILL (no destructors, no flush) when it reaches that point. Unset, a failpoint costs
//! one environment lookup. The points are: `after-enqueue` (items queued but not flushed, nothing delivered),
//! `after-intent` (intent recorded, request not sent) and `after-send` (request done, outcome
//! not recorded); the last two also as `<point>:<sink>`, for one sink only. [`panic_at`] panics instead (`source-loop`: a source's loop, for the
//! supervision test).

/// Kills the process here if the environment asks for it.
pub fn hit(name: &str) {
    if std::env::var_os("BANDITORE_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("banditore: failpoint {name}: killing the process");
        // SAFETY: raise() has no memory-safety preconditions; SIGKILL ends the process.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

/// The same at a point reached for one sink: `<name>` kills at any sink, `<name>:<sink>`
/// only at that one (`after-send:telegram`).
pub fn hit_at(name: &str, sink: &str) {
    let Some(asked) = std::env::var_os("BANDITORE_FAILPOINT") else {
        return;
    };
    let asked = asked.to_string_lossy();
    if asked == name || asked.strip_prefix(name).and_then(|r| r.strip_prefix(':')) == Some(sink) {
        hit(&asked);
    }
}

/// Panics here if the environment asks for it (a bug, as the loops' supervisor sees one).
pub fn panic_at(name: &str) {
    if std::env::var_os("BANDITORE_FAILPOINT").is_some_and(|v| v == name) {
        panic!("failpoint {name}");
    }
}
