//! Plain-text reports for the command line: source health and the delivery log.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::store::StoreError;

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// `banditore source list`.
pub fn sources(app: &App) -> Result<String, StoreError> {
    let mut out = String::new();
    for src in &app.config().sources {
        let state = app.store().source_state(&src.name)?;
        let health = match (&state.last_error, state.baselined) {
            (Some(_), _) => "FAILING",
            (None, true) => "ok",
            (None, false) => "new",
        };
        let _ = writeln!(
            out,
            "{} [{}] {} {}",
            src.name,
            src.kind.as_str(),
            health,
            src.url
        );
        let _ = writeln!(
            out,
            "    last success {} · next poll {} · items present {} · seen {}",
            when(state.last_success),
            when(state.next_poll),
            state.items_present,
            state.items_seen
        );
        if let Some(err) = &state.last_error {
            let _ = writeln!(
                out,
                "    last error ({} in a row): {err}",
                state.consecutive_failures
            );
        }
    }
    Ok(out)
}

/// `banditore log`: queued messages, then the most recent finished ones, with per-sink state.
pub fn log(app: &App, limit: usize) -> Result<String, StoreError> {
    let mut out = String::new();
    let store = app.store();
    let queued: Vec<_> = store.outbox().take(limit).collect::<Result<_, _>>()?;
    for (_, entry) in &queued {
        let _ = writeln!(
            out,
            "{} queued {} [{}] {}",
            when(Some(entry.enqueued_at)),
            entry.message.id,
            entry.message.source,
            entry.message.title
        );
        for (sink, record) in store.deliveries_of(&entry.message.id)? {
            let _ = writeln!(out, "    {sink}: {:?}", record.state);
        }
    }
    for entry in store.recent_log(limit)? {
        let _ = writeln!(
            out,
            "{} {} [{}] {}",
            when(Some(entry.finished_at)),
            entry.message.id,
            entry.message.source,
            entry.message.title
        );
        for (sink, record) in store.deliveries_of(&entry.message.id)? {
            let detail = record
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let provider = record
                .provider_id
                .as_deref()
                .map(|p| format!(" id={p}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {sink}: {}{provider}{detail}",
                serde_json::to_string(&record.state)
                    .unwrap_or_default()
                    .trim_matches('"')
            );
        }
    }
    if out.is_empty() {
        out.push_str("no messages yet\n");
    }
    Ok(out)
}
