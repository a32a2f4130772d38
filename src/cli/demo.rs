//! `banditore demo`: the whole pipeline, offline, on this machine.

use std::process::ExitCode;

pub async fn run(exit: bool) -> anyhow::Result<ExitCode> {
    banditore::demo::run(exit).await?;
    Ok(ExitCode::SUCCESS)
}
