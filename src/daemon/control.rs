//! The commands that read or change the store (`log`, `source list|test`, `queue …`,
//! `subscribers …`), as values. The command line runs them here directly when no daemon holds
//! the store, or sends them to the running daemon's control socket (`http::control`), which
//! runs them here too: both ways print the same thing.
//!
//! None of them needs a sink's secret, and none delivers: an approved item is queued, and
//! `run` (or `once`) sends it.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::phone::Phone;
use crate::pipeline::{Evaluation, Pipeline};
use crate::review::{Approved, ReviewError};
use crate::store::{Store, StoreError};

/// Exit codes of the contract.
pub const EXIT_OK: u8 = 0;
pub const EXIT_USAGE: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

/// A command for the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    Log {
        limit: usize,
    },
    SourceList,
    SourceTest {
        name: String,
    },
    /// Flood protection: the held batch to the review queue, or as one digest message.
    SourceRelease {
        name: String,
        who: String,
        #[serde(default)]
        digest: bool,
    },
    /// Flood protection: the held batch dropped.
    SourceDiscard {
        name: String,
        who: String,
    },
    /// A sink's pause ended (its account fixed).
    SinkResume {
        name: String,
        who: String,
    },
    QueueList,
    QueueApprove {
        id: String,
        at: Option<DateTime<Utc>>,
        who: String,
    },
    QueueReject {
        id: String,
        who: String,
    },
    QueueEdit {
        id: String,
        title: String,
        text: String,
        who: String,
    },
    SubscribersList,
    SubscribersCount,
    SubscribersExport,
    SubscribersDelete {
        number: String,
    },
    /// The CSV's text (the command line reads the file).
    SubscribersImport {
        csv: String,
    },
    /// Re-read the configuration file (after `source add`). Only the daemon does this.
    Reload,
    /// Alive and ready, as `/healthz` and `/readyz` say (`banditore healthcheck`, which needs
    /// no listener and no valid configuration file). Only the daemon answers it.
    Health,
}

/// What a command printed, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

impl Reply {
    fn ok(stdout: String) -> Reply {
        Reply {
            code: EXIT_OK,
            stdout,
            stderr: String::new(),
        }
    }

    pub fn fail(code: u8, stderr: impl std::fmt::Display) -> Reply {
        Reply {
            code,
            stdout: String::new(),
            stderr: format!("banditore: {stderr}\n"),
        }
    }
}

/// What a command works on.
pub struct Context<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub pipeline: &'a Pipeline,
    pub now: DateTime<Utc>,
}

/// Runs a command. `Ok(true)` in the second place means something was queued for delivery.
pub async fn execute(ctx: &Context<'_>, request: Request) -> (Reply, bool) {
    match run(ctx, request).await {
        Ok(done) => done,
        Err(e) => (Reply::fail(EXIT_USAGE, e), false),
    }
}

async fn run(ctx: &Context<'_>, request: Request) -> Result<(Reply, bool), StoreError> {
    let store = ctx.store;
    let reply = match request {
        Request::Log { limit } => Reply::ok(crate::report::log(store, ctx.config, limit, ctx.now)?),
        Request::SourceList => Reply::ok(crate::report::sources(store, ctx.config)?),
        Request::SourceTest { name } => source_test(ctx, &name).await?,
        Request::SourceRelease { name, who, .. } | Request::SourceDiscard { name, who }
            if !ctx.config.sources.iter().any(|s| s.name == name) =>
        {
            let _ = who;
            Reply::fail(EXIT_USAGE, format!("no source named {name:?}"))
        }
        Request::SourceRelease {
            name,
            who,
            digest: true,
        } => {
            let n = crate::review::release_held_as_digest(store, ctx.now, &name, &who)?;
            return Ok(match n {
                0 => (Reply::ok(format!("{name} holds nothing\n")), false),
                n => (
                    Reply::ok(format!(
                        "{name}: {n} held items queued as one message (a line and a link each)\n"
                    )),
                    true,
                ),
            });
        }
        Request::SourceRelease { name, who, .. } => {
            match crate::review::release_held(store, ctx.now, &name, &who)? {
                0 => Reply::ok(format!("{name} holds nothing\n")),
                n => Reply::ok(format!(
                    "{name}: {n} held items sent to the review queue; editors approve or reject each\n"
                )),
            }
        }
        Request::SourceDiscard { name, who } => {
            match crate::review::discard_held(store, ctx.now, &name, &who)? {
                0 => Reply::ok(format!("{name} holds nothing\n")),
                n => Reply::ok(format!(
                    "{name}: {n} held items discarded; they will not be sent\n"
                )),
            }
        }
        Request::SinkResume { name, who } => {
            if !ctx.config.sinks.iter().any(|s| s.name == name) {
                Reply::fail(EXIT_USAGE, format!("no sink named {name:?}"))
            } else if let Some(pause) = crate::deliver::resume(store, &name, &who, ctx.now)? {
                return Ok((
                    Reply::ok(format!(
                        "{name}: pause ended (it was: {}); delivery goes on\n",
                        pause.reason
                    )),
                    true,
                ));
            } else {
                Reply::ok(format!("{name} is not paused\n"))
            }
        }
        Request::QueueList => {
            let mut out = String::new();
            for item in crate::review::pending(store)? {
                let when = item
                    .send_at
                    .map(|t| {
                        let at = crate::report::when(Some(t), ctx.config.settings.tz());
                        format!(" (scheduled {at})")
                    })
                    .unwrap_or_default();
                let removed = if item.removed_at.is_some() {
                    " (removed at the source)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "{} [{}] {}{when}{removed}",
                    item.message.id, item.message.source, item.message.title
                );
            }
            if out.is_empty() {
                out.push_str("nothing waits for review\n");
            }
            Reply::ok(out)
        }
        Request::QueueApprove { id, at, who } => {
            return Ok(
                match crate::review::approve(store, ctx.now, &id, &who, at) {
                    Ok(Approved::Queued) => (
                        Reply::ok(format!("{id} approved: queued for delivery\n")),
                        true,
                    ),
                    Ok(Approved::Scheduled) => (Reply::ok(format!("{id} scheduled\n")), false),
                    Err(e) => (review_error(e)?, false),
                },
            );
        }
        Request::QueueReject { id, who } => {
            match crate::review::reject(store, ctx.now, &id, &who) {
                Ok(()) => Reply::ok(format!("{id} rejected\n")),
                Err(e) => review_error(e)?,
            }
        }
        Request::QueueEdit {
            id,
            title,
            text,
            who,
        } => match crate::review::edit(store, ctx.now, &id, &who, &title, &text) {
            Ok(_) => Reply::ok(format!("{id} edited\n")),
            Err(e) => review_error(e)?,
        },
        Request::SubscribersList => {
            let mut out = String::new();
            for row in store.subscribers() {
                let (phone, s) = row?;
                let _ = writeln!(
                    out,
                    "{phone}\t{}\t{}",
                    s.consented_at.to_rfc3339(),
                    s.consent_text
                );
            }
            Reply::ok(out)
        }
        Request::SubscribersCount => Reply::ok(format!("{}\n", store.subscriber_count())),
        Request::SubscribersExport => {
            let mut csv = Vec::new();
            let n = crate::subscribers::export(store, &mut csv)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Reply {
                code: EXIT_OK,
                stdout: String::from_utf8_lossy(&csv).into_owned(),
                stderr: format!("{n} subscribers exported\n"),
            }
        }
        Request::SubscribersDelete { number } => {
            // As `subscribers list` prints it, else as people write numbers.
            let printed =
                Phone::written(&number).filter(|p| store.subscriber(p).is_ok_and(|s| s.is_some()));
            let Some(phone) = printed.or_else(|| Phone::parse(&number)) else {
                return Ok((
                    Reply::fail(EXIT_USAGE, format!("{number:?} is not a phone number")),
                    false,
                ));
            };
            if store.unsubscribe(&phone)? {
                store.flush()?;
                Reply::ok(format!("{phone} removed\n"))
            } else {
                Reply::ok(format!("{phone} was not subscribed\n"))
            }
        }
        Request::SubscribersImport { csv } => {
            match crate::subscribers::parse_import(csv.as_bytes(), &ctx.config.audience) {
                Ok(rows) => {
                    let added = crate::subscribers::import(store, &rows)?;
                    Reply::ok(format!(
                        "{added} subscribers added ({} already present)\n",
                        rows.len() - added
                    ))
                }
                Err(problems) => {
                    let mut stderr = format!(
                        "banditore: nothing imported; {} rows refused:\n",
                        problems.len()
                    );
                    for p in problems {
                        let _ = writeln!(stderr, "  line {}: {}", p.line, p.message);
                    }
                    Reply {
                        code: EXIT_BAD_INPUT,
                        stdout: String::new(),
                        stderr,
                    }
                }
            }
        }
        Request::Reload | Request::Health => Reply::fail(
            EXIT_USAGE,
            "no banditore is running with this data directory",
        ),
    };
    Ok((reply, false))
}

fn review_error(e: ReviewError) -> Result<Reply, StoreError> {
    match e {
        ReviewError::Store(e) => Err(e),
        other => Ok(Reply::fail(EXIT_USAGE, other)),
    }
}

/// `source test NAME`: fetches the source now and shows what its next poll would do, against
/// what the store knows (baseline, duplicates, forward mode). Stores nothing.
async fn source_test(ctx: &Context<'_>, name: &str) -> Result<Reply, StoreError> {
    if ctx.config.source(name).is_none() {
        return Ok(Reply::fail(EXIT_USAGE, format!("no source named {name:?}")));
    }
    // Unconditionally: the point is to see the document.
    let mut state = ctx.store.source_state(name)?;
    state.validators = Default::default();
    let planned = match ctx.pipeline.evaluate(name, &state, ctx.now).await {
        Ok(Evaluation::Planned(p)) => p,
        Ok(Evaluation::NotModified(_)) => {
            return Ok(Reply::fail(
                EXIT_BAD_INPUT,
                format!("{name}: the server answered 304 to an unconditional request"),
            ))
        }
        Err(crate::pipeline::PollError::Store(e)) => return Err(e),
        Err(e) => return Ok(Reply::fail(EXIT_BAD_INPUT, format!("{name}: {e}"))),
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    for d in &planned.plan.decisions {
        match d.action.message() {
            Some(m) => {
                let line =
                    serde_json::to_string(m).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let _ = writeln!(stdout, "{line}");
                if d.action.name() != "send" {
                    let _ = writeln!(stderr, "{}: {}", d.title, d.action.reason());
                }
            }
            None => {
                let _ = writeln!(
                    stderr,
                    "{} {:?}: {}",
                    d.action.name(),
                    d.title,
                    d.action.reason()
                );
            }
        }
    }
    let sends = planned.plan.messages().count();
    let reviews = planned.plan.review().count();
    let _ = writeln!(
        stderr,
        "{name}: {} items in the document, {} new; the next poll would {}",
        planned.present.len(),
        planned.plan.decisions.len(),
        if planned.baseline {
            "record them as the baseline and send nothing (first poll)".to_owned()
        } else {
            format!("send {sends} and queue {reviews} for review")
        }
    );
    Ok(Reply {
        code: EXIT_OK,
        stdout,
        stderr,
    })
}
