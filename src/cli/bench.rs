//! `banditore bench`: a poll cycle over many generated feeds, or a broadcast, on loopback.

use std::process::ExitCode;

pub async fn run(
    feeds: usize,
    items: usize,
    broadcast: Option<usize>,
    rate: Option<u32>,
    latency_ms: u64,
    alert: bool,
) -> anyhow::Result<ExitCode> {
    let latency = std::time::Duration::from_millis(latency_ms);
    match broadcast {
        Some(n) => print!(
            "{}",
            banditore::bench::broadcast(n, rate, latency, alert).await?
        ),
        None => print!("{}", banditore::bench::run(feeds, items).await?),
    }
    Ok(ExitCode::SUCCESS)
}
