//! `banditore log`: recent messages and their delivery state per sink and recipient.

use std::process::ExitCode;

use banditore::daemon::control::Request;

use super::{store_command, Paths};

pub async fn run(paths: &Paths, limit: usize) -> anyhow::Result<ExitCode> {
    store_command(paths, Request::Log { limit }).await
}
