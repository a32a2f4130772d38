//! `banditore queue list|approve|reject|edit`: the review queue. Approving queues the item;
//! `run` (or `once`) delivers it.

use std::process::ExitCode;

use banditore::daemon::control::Request;

use super::{store_command, who, Paths};
use crate::QueueCommand;

pub async fn run(paths: &Paths, command: QueueCommand) -> anyhow::Result<ExitCode> {
    let request = match command {
        QueueCommand::List => Request::QueueList,
        QueueCommand::Approve { id, at } => Request::QueueApprove {
            id,
            at: at.map(|t| t.with_timezone(&chrono::Utc)),
            who: who(),
        },
        QueueCommand::Reject { id } => Request::QueueReject { id, who: who() },
        QueueCommand::Edit { id, title, text } => Request::QueueEdit {
            id,
            title,
            text,
            who: who(),
        },
    };
    store_command(paths, request).await
}
