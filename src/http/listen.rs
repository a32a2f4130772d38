//! Limits on the HTTP listeners' connections, so that clients who connect and then say
//! nothing (or a byte now and then) cannot hold the daemon's file handles: at most
//! [`MAX_CONNECTIONS`] at once per listener (the rest wait in the kernel's backlog, using no
//! file handle of ours), each closed after [`IDLE`] without a byte from the client and after
//! [`MAX_AGE`] in any case. Without them a few hundred half-open connections exhausted the
//! process's file handles and the file sink could no longer open its file.
//!
//! axum's `serve` has no such settings (and no header-read timeout without a timer), so the
//! listener is wrapped: the connection's stream carries its slot and its clocks.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections served at once by one listener.
pub const MAX_CONNECTIONS: usize = 256;
/// A connection whose client sends nothing for this long is closed (longer than any request
/// the admin UI makes wait, such as a source's preview).
pub const IDLE: Duration = Duration::from_secs(60);
/// No connection lives longer than this.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// A TCP listener with the limits above.
pub struct Limited {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    idle: Duration,
    max_age: Duration,
}

impl Limited {
    pub fn new(inner: TcpListener) -> Limited {
        Limited::with(inner, MAX_CONNECTIONS, IDLE, MAX_AGE)
    }

    fn with(inner: TcpListener, connections: usize, idle: Duration, max_age: Duration) -> Limited {
        Limited {
            inner,
            slots: Arc::new(Semaphore::new(connections)),
            idle,
            max_age,
        }
    }
}

impl axum::serve::Listener for Limited {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        // A slot first: beyond the limit, connections wait in the backlog, not in our hands.
        let slot = loop {
            match self.slots.clone().acquire_owned().await {
                Ok(slot) => break slot,
                // Never closed; should it be, wait as if full rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let now = Instant::now();
        let connection = Connection {
            stream,
            _slot: slot,
            idle: self.idle,
            quiet: Box::pin(tokio::time::sleep_until(now + self.idle)),
            end: Box::pin(tokio::time::sleep_until(now + self.max_age)),
        };
        (connection, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection: its slot is given back when it is dropped.
pub struct Connection {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    /// Fires after `idle` without a byte read.
    quiet: Pin<Box<Sleep>>,
    /// Fires at the connection's maximum age.
    end: Pin<Box<Sleep>>,
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.end.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection too old",
            )));
        }
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let idle = this.idle;
                this.quiet.as_mut().reset(Instant::now() + idle);
                Poll::Ready(result)
            }
            Poll::Pending => match this.quiet.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client idle too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::ListenerExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn served(connections: usize, idle: Duration) -> SocketAddr {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener =
            Limited::with(tcp, connections, idle, Duration::from_secs(600)).tap_io(|_| ());
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    async fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Silent clients fill the slots, are closed when idle, and the slots come back.
    #[tokio::test]
    async fn silent_clients_cannot_hold_the_listener() {
        let addr = served(2, Duration::from_millis(300)).await;
        let mut silent = Vec::new();
        for _ in 0..2 {
            silent.push(TcpStream::connect(addr).await.unwrap());
        }
        // Both slots held: a real request waits (in the backlog) until the silent ones are
        // closed for idleness, then is served.
        let answer = tokio::time::timeout(Duration::from_secs(10), get(addr))
            .await
            .expect("served once the silent clients were closed");
        assert!(answer.ends_with("ok"), "{answer}");
        for mut s in silent {
            let mut buf = [0; 1];
            assert_eq!(
                s.read(&mut buf).await.unwrap_or(0),
                0,
                "closed by the server"
            );
        }
    }
}
