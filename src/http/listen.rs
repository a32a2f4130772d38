//! Limits on the HTTP listeners' connections, so that clients who connect and then say
//! nothing (or a byte now and then) cannot hold the daemon's file handles nor keep others
//! out: at most [`MAX_CONNECTIONS`] at once per listener (the rest wait in the kernel's
//! backlog, using no file handle of ours) and [`PER_PEER`] from one address (more are closed
//! at once), each closed after [`IDLE`] without a byte from the client and after [`MAX_AGE`]
//! in any case. Without them a few hundred half-open connections exhausted the
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
/// Connections served at once from one address (a proxy in front counts as one: it keeps
/// few connections open, and buffers slow clients itself).
pub const PER_PEER: usize = 32;
/// A connection whose client sends nothing for this long is closed (longer than any request
/// the admin UI makes wait, such as a source's preview).
pub const IDLE: Duration = Duration::from_secs(45);
/// No connection lives longer than this: a client trickling a header byte by byte holds its
/// slot at most this long.
pub const MAX_AGE: Duration = Duration::from_secs(120);

/// Open connections per client address.
type Peers = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// A TCP listener with the limits above.
pub struct Limited {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    peers: Peers,
    per_peer: usize,
    idle: Duration,
    max_age: Duration,
}

impl Limited {
    pub fn new(inner: TcpListener) -> Limited {
        Limited::with(inner, MAX_CONNECTIONS, PER_PEER, IDLE, MAX_AGE)
    }

    fn with(
        inner: TcpListener,
        connections: usize,
        per_peer: usize,
        idle: Duration,
        max_age: Duration,
    ) -> Limited {
        Limited {
            inner,
            slots: Arc::new(Semaphore::new(connections)),
            peers: Arc::default(),
            per_peer,
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
        let (stream, addr) = loop {
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
            let open = peers.entry(addr.ip()).or_default();
            if *open < self.per_peer {
                *open += 1;
                break (stream, addr);
            }
            drop(peers);
            tracing::warn!(peer = %addr.ip(), "too many connections from one address: closed");
            drop(stream);
        };
        let now = Instant::now();
        let connection = Connection {
            stream,
            peer: (self.peers.clone(), addr.ip()),
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
    /// Counted among its address's connections until dropped.
    peer: (Peers, std::net::IpAddr),
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    /// Fires after `idle` without a byte read.
    quiet: Pin<Box<Sleep>>,
    /// Fires at the connection's maximum age.
    end: Pin<Box<Sleep>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let (peers, ip) = &self.peer;
        let mut peers = peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = peers.get_mut(ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                peers.remove(ip);
            }
        }
    }
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
        let listener = Limited::with(
            tcp,
            connections,
            connections,
            idle,
            Duration::from_secs(600),
        )
        .tap_io(|_| ());
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

    /// One address cannot take every slot: its connections beyond its share are closed, and
    /// another address is still served.
    #[tokio::test]
    async fn one_address_cannot_take_every_slot() {
        let tcp = TcpListener::bind("0.0.0.0:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let listener = Limited::with(
            tcp,
            8,
            2,
            Duration::from_secs(600),
            Duration::from_secs(600),
        )
        .tap_io(|_| ());
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let at = |ip: &str| format!("{ip}:{port}").parse::<SocketAddr>().unwrap();
        let mut silent = Vec::new();
        for _ in 0..4 {
            silent.push(TcpStream::connect(at("127.0.0.1")).await.unwrap());
        }
        // The third and fourth from 127.0.0.1 are closed at once.
        let mut closed = 0;
        for s in &mut silent {
            let mut buf = [0; 1];
            let read = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
            if let Ok(Ok(0)) = read {
                closed += 1;
            }
        }
        assert_eq!(closed, 2);
        // Another address (another loopback one) is served.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut other = socket.connect(at("127.0.0.1")).await.unwrap();
        other
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        other.read_to_string(&mut answer).await.unwrap();
        assert!(answer.ends_with("ok"), "{answer}");
    }
}
