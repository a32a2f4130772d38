//! `banditore healthcheck`: exit 0 when the daemon of this configuration answers ready, for
//! a container's HEALTHCHECK (the image has no curl). It asks `/healthz` and `/readyz` on the admin listener
//! (else the metrics one, else the webhook one); without either, whether the daemon's control socket answers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use banditore::daemon::control::Request;
use banditore::http::control::{request, socket_path};

use super::{load, Paths};

pub async fn run(paths: &Paths) -> anyhow::Result<ExitCode> {
    let config = match load(&paths.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let s = &config.settings;
    let Some(listen) = s
        .admin_listen
        .as_ref()
        .or(s.metrics_listen.as_ref())
        .or(s.webhook_listen.as_ref())
    else {
        // A real question (the log, empty), not a connection dropped unasked: the daemon
        // would log every probe as a broken request.
        let socket = socket_path(&paths.data);
        return Ok(match request(&socket, &Request::Log { limit: 0 }).await {
            Some(Ok(_)) => ExitCode::SUCCESS,
            Some(Err(e)) => {
                eprintln!(
                    "banditore: the daemon on {} answered: {e}",
                    socket.display()
                );
                ExitCode::FAILURE
            }
            None => {
                eprintln!("banditore: no daemon answers on {}", socket.display());
                ExitCode::FAILURE
            }
        });
    };
    let Ok(mut addr) = listen.trim().parse::<SocketAddr>() else {
        eprintln!("banditore: {listen:?} is not an address and port");
        return Ok(ExitCode::FAILURE);
    };
    // A daemon listening on every address is asked on this machine's loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    // Alive (its loops run) and ready (its store answers).
    for probe in ["healthz", "readyz"] {
        match client.get(format!("http://{addr}/{probe}")).send().await {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => {
                let status = resp.status();
                eprintln!(
                    "banditore: {probe} ({status}): {}",
                    resp.text().await.unwrap_or_default().trim()
                );
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => {
                eprintln!(
                    "banditore: no daemon answers on {addr}: {}",
                    e.without_url()
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
