//! `banditore bench`: a poll cycle over many generated feeds, a broadcast, or the emergency
//! fast path end to end, on loopback.

use std::process::ExitCode;

pub async fn run(
    feeds: usize,
    items: usize,
    broadcast: Option<usize>,
    rate: Option<u32>,
    latency_ms: u64,
    alert: bool,
    alerts: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let latency = std::time::Duration::from_millis(latency_ms);
    match (broadcast, alerts) {
        (Some(n), _) => print!(
            "{}",
            banditore::bench::broadcast(n, rate, latency, alert).await?
        ),
        (None, Some(n)) => print!(
            "{}",
            banditore::bench::alerts(n, feeds, std::time::Duration::from_secs(30)).await?
        ),
        (None, None) => print!("{}", banditore::bench::run(feeds, items).await?),
    }
    Ok(ExitCode::SUCCESS)
}
