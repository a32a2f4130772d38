//! `banditore subscribers list|count|export|delete|import`: numbers and consent only.

use std::process::ExitCode;

use banditore::daemon::control::Request;

use super::{store_command, Paths, EXIT_BAD_INPUT};
use crate::SubscribersCommand;

pub async fn run(paths: &Paths, command: SubscribersCommand) -> anyhow::Result<ExitCode> {
    let request = match command {
        SubscribersCommand::List => Request::SubscribersList,
        SubscribersCommand::Count => Request::SubscribersCount,
        SubscribersCommand::Export => Request::SubscribersExport,
        SubscribersCommand::Delete { number } => Request::SubscribersDelete { number },
        SubscribersCommand::Import { csv } => match std::fs::read_to_string(&csv) {
            Ok(text) => Request::SubscribersImport { csv: text },
            Err(e) => {
                eprintln!("banditore: {}: {e}", csv.display());
                return Ok(ExitCode::from(EXIT_BAD_INPUT));
            }
        },
    };
    store_command(paths, request).await
}
