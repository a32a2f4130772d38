//! `banditore bench`: a poll cycle over many generated feeds, or a broadcast, on loopback.

use std::process::ExitCode;

pub async fn run(feeds: usize, items: usize, broadcast: Option<usize>) -> anyhow::Result<ExitCode> {
    match broadcast {
        Some(n) => print!("{}", banditore::bench::broadcast(n).await?),
        None => print!("{}", banditore::bench::run(feeds, items).await?),
    }
    Ok(ExitCode::SUCCESS)
}
