//! Every server's listener bounds what a client can hold: header time (slow clients), header
//! size, and the number of connections.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use usher::serve::{Limits, spawn_server_with};

async fn server(limits: Limits) -> (std::net::SocketAddr, watch::Sender<bool>) {
    let listener = local().await;
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/", get(|| async { "ok" }));
    let (stop, rx) = watch::channel(false);
    spawn_server_with(listener, router, rx, limits);
    (addr, stop)
}

async fn get_ok(addr: std::net::SocketAddr) -> bool {
    reqwest::get(format!("http://{addr}/"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test]
async fn a_slow_client_is_cut_off_and_others_are_served() {
    let limits = Limits {
        stall_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let (addr, _stop) = server(limits).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    // The server answers (408) or closes; either way the connection ends by itself.
    let ended = tokio::time::timeout(DEADLINE, async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the slow connection was never closed");
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert!(get_ok(addr).await);
}

#[tokio::test]
async fn huge_headers_are_refused_and_the_server_lives_on() {
    let (addr, _stop) = server(Limits::default()).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    let big = "a".repeat(200 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let _ = c.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, c.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    assert!(get_ok(addr).await);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_their_turn() {
    let limits = Limits {
        connections: 2,
        stall_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let (addr, _stop) = server(limits).await;
    // Two idle connections take both permits.
    let a = TcpStream::connect(addr).await.unwrap();
    let b = TcpStream::connect(addr).await.unwrap();
    // A third request is not served while they are held...
    let third = tokio::spawn(get_ok(addr));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "served beyond the connection limit");
    // ...and is served once one of them goes.
    drop(a);
    assert!(
        tokio::time::timeout(DEADLINE, third)
            .await
            .unwrap()
            .unwrap()
    );
    drop(b);
}
