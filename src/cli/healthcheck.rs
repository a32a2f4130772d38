//! `banditore healthcheck`: exit 0 when the daemon of this data directory answers alive and
//! ready, for a container's HEALTHCHECK (the image has no curl). It asks the daemon's control
//! socket; where there is none, `/healthz` and `/readyz` on the admin listener (else the
//! metrics one, else the webhook one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use banditore::daemon::control::Request;
use banditore::http::control::{request, socket_path};

use super::{load, Paths};

pub async fn run(paths: &Paths) -> anyhow::Result<ExitCode> {
    // The daemon itself, through its control socket: no listener needed, and a configuration
    // file being edited (or refused by the running daemon) does not make it look unhealthy.
    let socket = socket_path(&paths.data);
    match request(&socket, &Request::Health).await {
        Some(Ok(reply)) if reply.code == 0 => return Ok(ExitCode::SUCCESS),
        Some(Ok(reply)) => {
            eprint!("{}", reply.stderr);
            return Ok(ExitCode::FAILURE);
        }
        // No socket here (another data directory, or a daemon of an older version): ask its
        // HTTP probes.
        Some(Err(_)) | None => {}
    }
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
        eprintln!("banditore: no daemon answers on {}", socket.display());
        return Ok(ExitCode::FAILURE);
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
