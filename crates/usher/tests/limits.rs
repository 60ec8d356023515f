//! Every server's listener bounds what a client can hold: header time (slow clients), header
//! size, the number of connections in all and per client address, how long a connection may go
//! without an answer, how long it may live, and upgraded connections count like the others.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::routing::get;
use common::*;
use tokio::io::AsyncRead;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use usher::serve::{Limits, spawn_server_with};

async fn server(limits: Limits) -> (std::net::SocketAddr, watch::Sender<bool>) {
    let listener = local().await;
    let addr = listener.local_addr().unwrap();
    // `/ws` upgrades to a WebSocket that lives until the client goes.
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/ws",
        get(|ws: WebSocketUpgrade| async move {
            ws.on_upgrade(
                |mut socket| async move { while let Some(Ok(_)) = socket.recv().await {} },
            )
        }),
    );
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
    // A head sent too slowly is no request yet: the idle timeout cuts it off.
    let limits = Limits {
        stall_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(200),
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

/// Limits with timeouts long enough not to matter, and loopback capped like any address.
fn patient() -> Limits {
    Limits {
        cap_loopback: true,
        stall_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        ..Limits::default()
    }
}

/// A connection to `addr` from the loopback address `source` (127.0.0.2 is another client).
async fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

const HOME: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Sends `GET /` and reads its answer: its status line, or `None` if the server closed the
/// connection instead (cleanly or with a reset). Panics if it does neither within the deadline.
async fn exchange(conn: &mut TcpStream) -> Option<String> {
    if conn.write_all(REQUEST).await.is_err() {
        return None;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"\r\n\r\nok") {
        let read = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
            .await
            .expect("neither answered nor closed");
        match read {
            Ok(0) | Err(_) => {
                assert_eq!(String::from_utf8_lossy(&answer), "", "closed mid-answer");
                return None;
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    Some(text.lines().next().unwrap_or_default().to_owned())
}

/// Polls until a new connection from `source` is served.
async fn eventually_served_from(source: Ipv4Addr, addr: SocketAddr) {
    let start = Instant::now();
    loop {
        let mut conn = connect_from(source, addr).await;
        if exchange(&mut conn).await.as_deref() == Some("HTTP/1.1 200 OK") {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "{source} never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_while_another_is_served() {
    let limits = Limits {
        max_per_address: 2,
        ..patient()
    };
    let (addr, _stop) = server(limits).await;
    let mut a = connect_from(HOME, addr).await;
    let mut b = connect_from(HOME, addr).await;
    assert_eq!(exchange(&mut a).await.as_deref(), Some("HTTP/1.1 200 OK"));
    assert_eq!(exchange(&mut b).await.as_deref(), Some("HTTP/1.1 200 OK"));
    // A third from the same address is closed unanswered...
    let mut third = connect_from(HOME, addr).await;
    assert_eq!(exchange(&mut third).await, None, "served beyond the share");
    // ...while another address is served, and the first is again once it lets one go.
    let mut other = connect_from(ELSEWHERE, addr).await;
    assert_eq!(
        exchange(&mut other).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    drop(a);
    eventually_served_from(HOME, addr).await;
    assert_eq!(exchange(&mut b).await.as_deref(), Some("HTTP/1.1 200 OK"));
}

/// An HTTP/2 frame header: length, type, no flags, stream 0.
fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, 0, 0, 0, 0, 0];
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn a_client_that_trickles_pings_and_asks_nothing_is_cut_off() {
    // Each HTTP/2 ping makes the server write an answer, yet no request is ever made.
    let stall = Duration::from_millis(300);
    let limits = Limits {
        stall_timeout: stall,
        idle_timeout: stall,
        ..Limits::default()
    };
    let (addr, _stop) = server(limits).await;
    let (mut from_server, mut to_server) = TcpStream::connect(addr).await.unwrap().into_split();
    let start = Instant::now();
    let trickle = tokio::spawn(async move {
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend(frame(0x4, &[]));
        to_server.write_all(&hello).await?;
        loop {
            // Pacing, not proof: a ping every sixth of the stall timeout.
            tokio::time::sleep(stall / 6).await;
            to_server.write_all(&frame(0x6, b"12345678")).await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(
        Duration::from_secs(5),
        read_until_closed(&mut from_server, &mut answer),
    )
    .await;
    trickle.abort();
    assert!(
        closed.is_ok(),
        "a ping trickler kept its connection for 5 s"
    );
    // The server did answer: its settings, and pings besides.
    assert!(answer.len() > 9, "no frames from the server: {answer:?}");
    assert!(start.elapsed() >= stall / 2);
}

#[tokio::test]
async fn a_connection_is_closed_after_its_lifetime_however_busy() {
    let lifetime = Duration::from_millis(300);
    let limits = Limits {
        max_lifetime: lifetime,
        ..patient()
    };
    let (addr, _stop) = server(limits).await;
    let start = Instant::now();
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let mut answered = 0;
    while exchange(&mut conn).await.is_some() {
        answered += 1;
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still open after {answered} answers"
        );
        // Pacing, not proof: a request every sixth of the lifetime.
        tokio::time::sleep(lifetime / 6).await;
    }
    assert!(answered >= 1);
    assert!(start.elapsed() >= lifetime, "closed before its time");
    assert!(get_ok(addr).await);
}

#[tokio::test]
async fn an_upgraded_connection_keeps_its_place_until_it_closes() {
    let limits = Limits {
        connections: 2,
        max_per_address: 1,
        ..patient()
    };
    let (addr, _stop) = server(limits).await;
    let mut ws = connect_from(HOME, addr).await;
    ws.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, ws.read(&mut byte))
            .await
            .expect("no answer to the upgrade")
            .unwrap();
        assert!(n > 0, "closed during the upgrade: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head:?}");
    // The WebSocket still holds its address's one place...
    let mut again = connect_from(HOME, addr).await;
    assert_eq!(
        exchange(&mut again).await,
        None,
        "the upgrade gave its place up"
    );
    // ...and one of the two connections: with another address holding the second, a third waits.
    let mut held = connect_from(ELSEWHERE, addr).await;
    assert_eq!(round_trip(&mut held).await, "HTTP/1.1 200 OK");
    let mut third = connect_from(Ipv4Addr::new(127, 0, 0, 3), addr).await;
    third.write_all(REQUEST).await.unwrap();
    for _ in 0..3 {
        assert_eq!(round_trip(&mut held).await, "HTTP/1.1 200 OK");
    }
    let mut buf = [0u8; 64];
    let early = third.try_read(&mut buf);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "served beyond the connection limit while a WebSocket was open: {early:?}"
    );
    // Once the WebSocket closes, its permit goes to the waiting connection.
    drop(ws);
    assert_eq!(response(&mut third).await, "HTTP/1.1 200 OK");
    // Its address's place is free again too.
    drop(held);
    eventually_served_from(HOME, addr).await;
}
