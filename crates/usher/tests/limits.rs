//! Every server's listener bounds what a client can hold: header time (slow clients), header
//! size, and the number of connections.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::*;
use tokio::io::AsyncRead;
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

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Reads until the server closes the connection: `Ok` on a clean close, the error on a reset
/// (a server that closes with bytes of ours unread resets). `answer` keeps what came first.
async fn read_until_closed(
    conn: &mut (impl AsyncRead + Unpin),
    answer: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf).await? {
            0 => return Ok(()),
            n => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends one request on a kept-alive connection and returns the response's status line.
async fn round_trip(conn: &mut TcpStream) -> String {
    conn.write_all(REQUEST).await.unwrap();
    response(conn).await
}

/// Reads one response to `GET /` (its body is `ok`) and returns its status line.
async fn response(conn: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
            .await
            .expect("no response")
            .unwrap();
        assert!(n > 0, "closed mid-response: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
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
    // The server closes the connection by itself, without a word to a request never finished.
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(DEADLINE, read_until_closed(&mut slow, &mut answer))
        .await
        .expect("the slow connection was never closed");
    if let Err(e) = closed {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    assert_eq!(
        String::from_utf8_lossy(&answer),
        "",
        "an answer to half a request"
    );
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert!(get_ok(addr).await);
}

#[tokio::test]
async fn huge_headers_are_refused_and_the_server_lives_on() {
    let (addr, _stop) = server(Limits::default()).await;
    let (mut from_server, mut to_server) = TcpStream::connect(addr).await.unwrap().into_split();
    let big = "a".repeat(200 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    // Written while the answer is read: the server answers before it has read all of it.
    let writing = tokio::spawn(async move { to_server.write_all(request.as_bytes()).await });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(DEADLINE, read_until_closed(&mut from_server, &mut answer))
        .await
        .expect("the connection was never closed");
    // A reset after the answer is the server closing with the rest of the headers unread.
    if let Err(e) = closed {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 431 "), "{text:?}");
    // The whole request went out, or the server hung up on the rest of it.
    if let Err(e) = writing.await.unwrap() {
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        );
    }
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
    // Two kept-alive connections, each answered once, so both hold a permit.
    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    assert_eq!(round_trip(&mut a).await, "HTTP/1.1 200 OK");
    assert_eq!(round_trip(&mut b).await, "HTTP/1.1 200 OK");
    // A third connects (the kernel completes the handshake) and sends its request...
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(REQUEST).await.unwrap();
    // ...and while the server goes on answering a held connection, it is not served.
    for _ in 0..3 {
        assert_eq!(round_trip(&mut b).await, "HTTP/1.1 200 OK");
    }
    let mut buf = [0u8; 64];
    let early = third.try_read(&mut buf);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "served beyond the connection limit: {early:?}"
    );
    // ...and is served once one of them goes.
    drop(a);
    assert_eq!(response(&mut third).await, "HTTP/1.1 200 OK");
    drop(b);
}
