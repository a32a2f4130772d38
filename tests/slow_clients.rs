//! Slow clients against the running daemon: hundreds of connections to its public webhook
//! port that send half a request and then nothing, from several addresses, with the
//! process's file handles limited as a small server's are. The daemon must go on delivering:
//! without the listener's limits the connections took every file handle, the file sink could
//! not open its file, and the message waited for as long as the connections stayed.

// Binding 127.0.0.2 and beyond needs Linux's loopback.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{free_port, rss, source, stop, wait_for, FeedServer, Route, Workdir};
use tokio::io::AsyncWriteExt;

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");

/// File handles the daemon may open: a few hundred, as under a small default limit.
const FILE_HANDLES: libc::rlim_t = 320;

#[tokio::test]
async fn half_open_connections_do_not_stop_delivery() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let port = free_port();
    let work = Workdir::new(
        &format!("webhook_listen = \"127.0.0.1:{port}\""),
        &source("comune", &feeds.url("/feed"), ""),
    );
    let mut command = work.command(&["run"]);
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's own limit.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: FILE_HANDLES,
                rlim_max: FILE_HANDLES,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut daemon = command.spawn().unwrap();
    wait_for(|| feeds.requests("/feed").len() >= 2).await; // the baseline is recorded

    // Ten addresses (all of 127/8 is loopback), 40 connections each: more than the file
    // handles the daemon has.
    let mut silent = Vec::new();
    for peer in 2..12u8 {
        for _ in 0..40 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket
                .bind(std::net::SocketAddr::from(([127, 0, 0, peer], 0)))
                .unwrap();
            let Ok(mut stream) = socket
                .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
                .await
            else {
                continue;
            };
            let _ = stream
                .write_all(b"POST /webhooks/whatsapp/wa HTTP/1.1\r\nHost: x\r\n")
                .await;
            silent.push(stream);
        }
    }
    assert!(silent.len() >= 300, "only {} connections", silent.len());
    tokio::time::sleep(Duration::from_millis(500)).await;

    feeds.set("/feed", Route::feed(rss(&[B, A])));
    wait_for(|| work.messages().len() == 1).await;
    assert_eq!(work.messages()[0]["url"], B.1);

    drop(silent);
    let status = stop(&mut daemon).await;
    assert!(status.success(), "{status:?}");
}
