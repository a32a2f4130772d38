//! The control socket: while `run` holds the store, the command line's `log`, `source …`,
//! `queue …`, `subscribers …` and `store export` reach it here. A Unix socket in the data
//! directory (`control.sock`, mode 0600: only the daemon's own user can connect); one JSON
//! [`Request`] line in, one JSON [`Reply`] line out. `store export` is streamed instead: an
//! [`ExportRequest`] line in, the export's JSON lines out (a store can be larger than memory).

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::daemon::control::{self, Context, Reply, Request, EXIT_USAGE};
use crate::daemon::AppCell;

/// The largest request accepted (a subscribers CSV travels inside one).
const MAX_REQUEST: u64 = 32 * 1024 * 1024;

/// `store export` through the running daemon.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportRequest {
    /// Always [`ExportRequest::COMMAND`].
    pub command: String,
    pub subscribers_only: bool,
}

impl ExportRequest {
    pub const COMMAND: &'static str = "store-export";
}

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
    if let Ok(export) = serde_json::from_str::<ExportRequest>(&line) {
        if export.command == ExportRequest::COMMAND {
            return stream_export(write, cell, export.subscribers_only).await;
        }
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply::fail(EXIT_USAGE, format!("not a request: {e}")),
        Ok(Request::Reload) => reload(cell, config_path),
        Ok(Request::Health) => health(&cell.get()),
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

/// Writes the export to the socket as it is read (on a blocking thread: the store's reads
/// are synchronous). A client that goes away stops the export.
async fn stream_export(
    mut write: tokio::net::unix::OwnedWriteHalf,
    cell: &AppCell,
    subscribers_only: bool,
) -> std::io::Result<()> {
    let app = cell.get();
    let (store, now) = (app.store().clone(), app.now());
    drop(app);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let export = tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, ChunkSender(tx));
        store.export(subscribers_only, now, &mut out)
    });
    let mut sent = Ok(());
    while let Some(chunk) = rx.recv().await {
        if let Err(e) = write.write_all(&chunk).await {
            sent = Err(e);
            break;
        }
    }
    drop(rx);
    match export.await {
        Ok(Ok(records)) => tracing::info!(records, subscribers_only, "store exported"),
        Ok(Err(e)) => tracing::warn!(error = %e, "store export stopped"),
        Err(e) => tracing::warn!(error = %e, "store export stopped unexpectedly"),
    }
    sent?;
    write.shutdown().await
}

/// A `Write` that hands its bytes to the async side.
struct ChunkSender(tokio::sync::mpsc::Sender<Vec<u8>>);

impl std::io::Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(buf.to_vec()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `store export` through the daemon listening on `path`, copied to `out`. `None` when no
/// daemon answers there; else whether the export arrived whole (its last line is there).
pub async fn export(
    path: &Path,
    subscribers_only: bool,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> Option<std::io::Result<bool>> {
    let stream = UnixStream::connect(path).await.ok()?;
    Some(copy_export(stream, subscribers_only, out).await)
}

async fn copy_export(
    stream: UnixStream,
    subscribers_only: bool,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> std::io::Result<bool> {
    let (mut read, mut write) = stream.into_split();
    let request = ExportRequest {
        command: ExportRequest::COMMAND.into(),
        subscribers_only,
    };
    let mut line = serde_json::to_vec(&request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    // The end of what came, to see the export's last line.
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = read.read(&mut buf).await?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        out.write_all(chunk).await?;
        tail.extend_from_slice(chunk);
        let keep = tail.len().saturating_sub(256);
        tail.drain(..keep);
    }
    out.flush().await?;
    let last = String::from_utf8_lossy(&tail);
    let last = last.trim_end().rsplit('\n').next().unwrap_or_default();
    Ok(last.starts_with("{\"banditore_export_end\""))
}

fn reload(cell: &AppCell, config_path: Option<&Path>) -> Reply {
    let Some(path) = config_path else {
        return Reply::fail(
            EXIT_USAGE,
            "this daemon was started without a configuration file",
        );
    };
    match Config::load(path) {
        Err(e) => {
            cell.refuse(e.to_string());
            Reply::fail(EXIT_USAGE, format!("not reloaded; {e}"))
        }
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

/// `/healthz` and `/readyz` in one answer, for `banditore healthcheck`.
fn health(app: &crate::daemon::App) -> Reply {
    match (app.loop_trouble(), app.store_trouble()) {
        (None, None) => Reply {
            code: 0,
            stdout: "ok\n".into(),
            stderr: String::new(),
        },
        (Some(trouble), _) => Reply::fail(1, format!("unhealthy: a loop stopped ({trouble})")),
        (None, Some(trouble)) => Reply::fail(
            1,
            format!("not ready: the store cannot be written ({trouble})"),
        ),
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
