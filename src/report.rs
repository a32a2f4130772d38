//! Plain-text reports for the command line: source health and the delivery log.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::store::{Store, StoreError};

/// A time in the comune's timezone, with its abbreviation ("2026-12-01 23:30:00 CET").
pub fn when(t: Option<DateTime<Utc>>, tz: chrono_tz::Tz) -> String {
    t.map(|t| {
        t.with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

/// `banditore source list`.
pub fn sources(store: &Store, config: &Config) -> Result<String, StoreError> {
    let mut out = String::new();
    for src in &config.sources {
        let state = store.source_state(&src.name)?;
        let held = store.held(&src.name)?.len();
        let health = match (&state.last_error, state.baselined) {
            _ if store.source_paused(&src.name)? => "paused",
            _ if held > 0 => "HELD",
            (Some(_), _) => "FAILING",
            (None, true) => "ok",
            (None, false) => "new",
        };
        let _ = writeln!(
            out,
            "{} [{}] {} {}",
            src.name,
            src.kind().as_str(),
            health,
            crate::link::redacted(&src.url)
        );
        let _ = writeln!(
            out,
            "    last success {} · next poll {} · items present {} · seen {}",
            when(state.last_success, config.settings.tz()),
            when(state.next_poll, config.settings.tz()),
            state.items_present,
            state.items_seen
        );
        if held > 0 {
            let _ = writeln!(
                out,
                "    {held} new items held by flood protection: `banditore source release {0}` sends them to the review queue, `banditore source discard {0}` drops them",
                src.name
            );
        }
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

/// Per-recipient states of a message on a sink, e.g. " [3 sent, 1 read, 1 failed]".
fn recipient_summary(store: &Store, message_id: &str, sink: &str) -> Result<String, StoreError> {
    let counts = store.recipient_counts(message_id, sink)?;
    if counts.is_empty() {
        return Ok(String::new());
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{n} {}", state.label().en()))
        .collect();
    Ok(format!(" [{}]", parts.join(", ")))
}

/// `banditore log`: paused sinks, queued messages, then the most recent finished ones, with
/// per-sink state and per-recipient counts.
pub fn log(
    store: &Store,
    config: &Config,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let mut out = String::new();
    for sink in config.news_sinks() {
        if let Some(pause) = store.pause(&sink.name)? {
            let _ = writeln!(
                out,
                "SINK {} PAUSED until {}: {}",
                sink.name,
                when(Some(pause.until), config.settings.tz()),
                pause.reason
            );
        }
    }
    let queued: Vec<_> = store.outbox().take(limit).collect::<Result<_, _>>()?;
    // Normal messages wait through quiet hours: say so, and until when.
    let quiet = config
        .settings
        .quiet_hours
        .filter(|q| q.contains(now, config.settings.tz()))
        .map(|q| format!(" (quiet hours: waits until {})", q.end.format("%H:%M")))
        .unwrap_or_default();
    for (_, entry) in &queued {
        let waits = if entry.message.priority == crate::config::Priority::Normal {
            quiet.as_str()
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{} queued {} [{}] {}{waits}",
            when(Some(entry.enqueued_at), config.settings.tz()),
            entry.message.id,
            entry.message.source,
            entry.message.title
        );
        for sink in config.news_sinks() {
            let state = store
                .delivery(&entry.message.id, &sink.name)?
                .map_or("pending", |r| r.state.label().en());
            let _ = writeln!(
                out,
                "    {}: {state}{}",
                sink.name,
                recipient_summary(store, &entry.message.id, &sink.name)?
            );
        }
    }
    for entry in store.recent_log(limit)? {
        let _ = writeln!(
            out,
            "{} {} [{}] {}",
            when(Some(entry.finished_at), config.settings.tz()),
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
            let recipients = recipient_summary(store, &entry.message.id, &sink)?;
            let state = record.state.label().en();
            let _ = writeln!(out, "    {sink}: {state}{provider}{detail}{recipients}");
        }
    }
    let decisions: Vec<_> = store
        .recent_decisions(limit)?
        .into_iter()
        .filter(|d| d.action != "send" && d.action != "correct")
        .collect();
    if !decisions.is_empty() {
        let _ = writeln!(out, "not sent (newest first):");
        for d in decisions {
            let _ = writeln!(
                out,
                "{} {} [{}] {}: {}",
                when(Some(d.at), config.settings.tz()),
                d.action,
                d.source,
                d.title,
                d.reason
            );
        }
    }
    if out.is_empty() {
        out.push_str("no messages yet\n");
    }
    Ok(out)
}
