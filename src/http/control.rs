//! The control socket: while `run` holds the store, the command line's `log`, `source …`,
//! `queue …` and `subscribers …` reach it here. A Unix socket in the data directory
//! (`control.sock`, mode 0600: only the daemon's own user can connect); one JSON
//! [`Request`] line in, one JSON [`Reply`] line out.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::daemon::control::{self, Context, Reply, Request, EXIT_USAGE};
use crate::daemon::AppCell;

/// The largest request accepted (a subscribers CSV travels inside one).
const MAX_REQUEST: u64 = 32 * 1024 * 1024;

/// The socket's path in a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Listens on `path` until `stop`. A socket left by a daemon that died is replaced: this
/// process holds the store's lock, so no other daemon is using it.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Answers requests until `stop`, then removes the socket.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    cell: AppCell,
    config_path: Option<PathBuf>,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket: accept failed");
                    continue;
                }
            },
        };
        let cell = cell.clone();
        let config_path = config_path.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &cell, config_path.as_deref()).await {
                tracing::warn!(error = %e, "control socket: request failed");
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

async fn answer(
    stream: UnixStream,
    cell: &AppCell,
    config_path: Option<&Path>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply::fail(EXIT_USAGE, format!("not a request: {e}")),
        Ok(Request::Reload) => reload(cell, config_path),
        Ok(request) => {
            let app = cell.get();
            let ctx = Context {
                config: app.config(),
                store: app.store(),
                pipeline: app.pipeline(),
                now: app.now(),
            };
            let (reply, queued) = control::execute(&ctx, request).await;
            if queued {
                app.wake_delivery();
            }
            reply
        }
    };
    let mut out = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

fn reload(cell: &AppCell, config_path: Option<&Path>) -> Reply {
    let Some(path) = config_path else {
        return Reply::fail(
            EXIT_USAGE,
            "this daemon was started without a configuration file",
        );
    };
    match Config::load(path) {
        Err(e) => Reply::fail(EXIT_USAGE, format!("not reloaded; {e}")),
        Ok(config) => match cell.replace(config) {
            Ok(()) => Reply {
                code: 0,
                stdout: format!("the running daemon reloaded {}\n", path.display()),
                stderr: String::new(),
            },
            Err(e) => Reply::fail(EXIT_USAGE, format!("not reloaded: {e:#}")),
        },
    }
}

/// Sends a request to the daemon listening on `path`. `None` when no daemon answers there.
pub async fn request(path: &Path, request: &Request) -> Option<std::io::Result<Reply>> {
    let stream = UnixStream::connect(path).await.ok()?;
    Some(exchange(stream, request).await)
}

async fn exchange(stream: UnixStream, request: &Request) -> std::io::Result<Reply> {
    let (read, mut write) = stream.into_split();
    let mut out = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    serde_json::from_str(&line).map_err(std::io::Error::other)
}
