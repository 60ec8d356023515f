//! The PROXY protocol on the public listeners (issue 14, point 5) and trusted proxies beside the
//! per-address connection cap (point 4): a trusted proxy's header names the client for tickets,
//! caps and connection shares; nobody else can claim an address with one; a proxy that sends
//! none is closed; a proxy is not held to one address's share of connections. Over real TCP to
//! the real servers, with loopback addresses standing in for hosts (127.0.0.1 is the proxy).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use common::*;
use proxy_header::{ProxiedAddress, ProxyHeader};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use usher::serve::{Limits, Proxies, PublicListener, spawn_server_behind};

const PROXY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A connection to `addr` from the loopback address `source`.
async fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A v1 (text) header for a client at `client`.
fn v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 51000 80\r\n").into_bytes()
}

/// A v2 (binary) header for a client at `client`, as the crate writes one.
fn v2(client: &str) -> Vec<u8> {
    let source = SocketAddr::new(client.parse().unwrap(), 51000);
    let header = ProxyHeader::with_address(ProxiedAddress::stream(
        source,
        "127.0.0.1:80".parse().unwrap(),
    ));
    let mut out = Vec::new();
    header.encode_v2(&mut out).unwrap();
    out
}

/// What came back for one request: its status code and `Location`, or `None` when the server
/// closed the connection without an answer.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

/// Sends `header` (a PROXY header, or nothing) and `GET path` from `source`, and reads until
/// the server closes (the request asks it to).
async fn get_from(source: Ipv4Addr, addr: SocketAddr, header: &[u8], path: &str) -> Option<Answer> {
    let mut conn = connect_from(source, addr).await;
    let mut request = header.to_vec();
    request.extend_from_slice(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    if conn.write_all(&request).await.is_err() {
        return None;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
            .await
            .expect("neither answered nor closed");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: ").map(str::to_owned));
    Some(Answer {
        status,
        location,
        body: body.to_owned(),
    })
}

/// A ticket URL's address and path.
fn split_url(url: &str) -> (SocketAddr, String) {
    let url: url::Url = url.parse().unwrap();
    let addr = SocketAddr::new(
        url.host_str().unwrap().parse().unwrap(),
        url.port().unwrap(),
    );
    (addr, url.path().to_owned())
}

fn behind_the_proxy() -> PublicListener {
    PublicListener {
        proxy_protocol: true,
        ..PublicListener::default()
    }
}

async fn cluster(admissions_per_client: u32, listener: PublicListener) -> Cluster {
    Cluster::start_behind(
        &[ShopSpec::new(10)],
        |config| {
            config.admissions_per_client = admissions_per_client;
            config.trusted_proxies = vec![IpAddr::V4(PROXY)];
        },
        listener,
    )
    .await
}

/// Guards the point of the PROXY protocol: the header's source is the client everywhere the
/// peer's address was. Two addresses behind one proxy are two clients to the per-client
/// admissions cap, and a ticket is bound to its header's address, which the gate reads from
/// its own connection's header.
#[tokio::test]
async fn a_proxy_protocol_header_from_a_trusted_proxy_sets_the_client_address() {
    let cluster = cluster(1, behind_the_proxy()).await;
    let reception = cluster.reception.public;
    let first = get_from(PROXY, reception, &v1("203.0.113.7"), "/order/concert")
        .await
        .expect("an answer");
    assert_eq!(first.status, 303, "{first:?}");
    // The same client again, in a binary header this time: over its share.
    let again = get_from(PROXY, reception, &v2("203.0.113.7"), "/order/concert")
        .await
        .expect("an answer");
    assert_eq!(again.status, 429, "{again:?}");
    // Another client behind the same proxy is not held back by it.
    let other = get_from(PROXY, reception, &v2("203.0.113.8"), "/order/concert")
        .await
        .expect("an answer");
    assert_eq!(other.status, 303, "{other:?}");

    // The ticket is bound to the header's address: another client cannot claim it...
    let (shop, path) = split_url(first.location.as_deref().unwrap());
    let stolen = get_from(PROXY, shop, &v1("203.0.113.8"), &path)
        .await
        .expect("an answer");
    assert_eq!(stolen.status, 403, "{stolen:?}");
    assert!(stolen.body.contains("wrong_client"), "{stolen:?}");
    // ...and its own client can.
    let claimed = get_from(PROXY, shop, &v2("203.0.113.7"), &path)
        .await
        .expect("an answer");
    assert_eq!(claimed.status, 303, "{claimed:?}");
}

/// Guards against anyone choosing their address: a peer that is not a trusted proxy is served
/// as itself, so a PROXY header from it is a malformed request that takes nothing.
#[tokio::test]
async fn a_proxy_protocol_header_from_an_untrusted_peer_is_refused() {
    let cluster = cluster(1, behind_the_proxy()).await;
    let reception = cluster.reception.public;
    for header in [v1("203.0.113.7"), v2("203.0.113.7")] {
        let refused = get_from(STRANGER, reception, &header, "/order/concert").await;
        assert!(
            refused.as_ref().is_none_or(|a| a.status == 400),
            "a stranger's header was believed: {refused:?}"
        );
    }
    // The stranger is still served as its own address, its one admission unspent.
    let own = get_from(STRANGER, reception, b"", "/order/concert")
        .await
        .expect("an answer");
    assert_eq!(own.status, 303, "{own:?}");
    let again = get_from(STRANGER, reception, b"", "/order/concert")
        .await
        .expect("an answer");
    assert_eq!(again.status, 429, "the stranger is itself: {again:?}");
}

/// Guards against a proxy's connection being read as the proxy's own requests when its header
/// is missing (every client behind it would share the proxy's address), and against a proxy
/// connection that says nothing keeping its slot.
#[tokio::test]
async fn a_trusted_proxy_without_a_header_is_closed() {
    let idle = Duration::from_millis(300);
    let mut listener = behind_the_proxy();
    listener.limits.idle_timeout = idle;
    let cluster = cluster(0, listener).await;
    let reception = cluster.reception.public;
    let plain = get_from(PROXY, reception, b"", "/order/concert").await;
    assert_eq!(plain, None, "a proxy's headerless request was answered");
    // The shop's listener reads headers the same way.
    let shop: SocketAddr = split_url(&format!("{}/healthz", cluster.urls[0])).0;
    assert_eq!(get_from(PROXY, shop, b"", "/healthz").await, None);
    let healthz = get_from(PROXY, shop, &v1("203.0.113.7"), "/healthz")
        .await
        .expect("an answer");
    assert_eq!(healthz.status, 200, "{healthz:?}");
    // A proxy connection that sends nothing is closed within the idle timeout.
    let mut silent = connect_from(PROXY, reception).await;
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(DEADLINE, silent.read(&mut buf))
        .await
        .expect("a silent proxy connection kept its slot");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(start.elapsed() >= idle / 2, "closed before its time");
}

/// A server that answers `GET /` with the peer it was handed, behind `proxies`.
async fn echo(limits: Limits, proxies: Proxies) -> (SocketAddr, watch::Sender<bool>) {
    let listener = local().await;
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
    );
    let (stop, rx) = watch::channel(false);
    spawn_server_behind(listener, router, rx, limits, proxies);
    (addr, stop)
}

/// Sends `GET /` on a kept-alive connection and reads the answer's body (the peer's address),
/// or `None` if the server closed the connection instead.
async fn peer_seen(conn: &mut TcpStream, header: &[u8]) -> Option<String> {
    let mut request = header.to_vec();
    request.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    conn.write_all(&request).await.ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let read = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
            .await
            .expect("neither answered nor closed");
        match read {
            Ok(0) | Err(_) => return None,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return Some(body.to_owned());
            }
        }
    }
}

fn capped(per_address: usize) -> Limits {
    Limits {
        max_per_address: per_address,
        cap_loopback: true,
        stall_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        ..Limits::default()
    }
}

/// Guards the load balancer's case: it carries many clients over many connections from one
/// address, so a trusted proxy holds more than one address's share, while any other address
/// is still held to it.
#[tokio::test]
async fn a_trusted_proxy_is_not_held_to_the_per_address_connection_cap() {
    let proxies = Proxies::new(&[IpAddr::V4(PROXY)], false);
    let (addr, _stop) = echo(capped(2), proxies).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut conn = connect_from(PROXY, addr).await;
        assert_eq!(
            peer_seen(&mut conn, b"").await.as_deref(),
            Some("127.0.0.1")
        );
        held.push(conn);
    }
    let mut strangers = Vec::new();
    for _ in 0..2 {
        let mut conn = connect_from(STRANGER, addr).await;
        assert_eq!(
            peer_seen(&mut conn, b"").await.as_deref(),
            Some("127.0.0.2")
        );
        strangers.push(conn);
    }
    let mut third = connect_from(STRANGER, addr).await;
    assert_eq!(peer_seen(&mut third, b"").await, None, "beyond the share");
}

/// Guards the per-address cap behind a proxy that speaks the PROXY protocol: each client its
/// headers name gets its own share, and the header's address reaches the service as the peer.
#[tokio::test]
async fn behind_the_proxy_protocol_each_client_has_its_own_connection_share() {
    let proxies = Proxies::new(&[IpAddr::V4(PROXY)], true);
    let (addr, _stop) = echo(capped(2), proxies).await;
    let mut held = Vec::new();
    for header in [v1("203.0.113.7"), v2("203.0.113.7")] {
        let mut conn = connect_from(PROXY, addr).await;
        assert_eq!(
            peer_seen(&mut conn, &header).await.as_deref(),
            Some("203.0.113.7")
        );
        held.push(conn);
    }
    let mut third = connect_from(PROXY, addr).await;
    assert_eq!(
        peer_seen(&mut third, &v1("203.0.113.7")).await,
        None,
        "one client beyond its share behind the proxy"
    );
    let mut other = connect_from(PROXY, addr).await;
    assert_eq!(
        peer_seen(&mut other, &v1("203.0.113.8")).await.as_deref(),
        Some("203.0.113.8")
    );
    // A health check (LOCAL) is the proxy itself, which is not capped.
    let mut local = Vec::new();
    ProxyHeader::with_local().encode_v2(&mut local).unwrap();
    let mut check = connect_from(PROXY, addr).await;
    assert_eq!(
        peer_seen(&mut check, &local).await.as_deref(),
        Some("127.0.0.1")
    );
    // Once a connection of the first client closes, its share has room again.
    drop(held.pop());
    let start = Instant::now();
    loop {
        let mut conn = connect_from(PROXY, addr).await;
        if peer_seen(&mut conn, &v1("203.0.113.7")).await.is_some() {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the share never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Guards a setting that would do nothing, or worse: with no trusted proxies, the PROXY
/// protocol would read no header and a proxy's headers would break every request.
#[tokio::test]
async fn the_proxy_protocol_without_trusted_proxies_is_refused_at_start() {
    let keyring = usher_ticket::Keyring::generate().unwrap();
    let config = usher_reception::ReceptionConfig::new(Vec::new(), "http://127.0.0.1");
    let (_stop, rx) = watch::channel(false);
    let started = usher::start_reception_with(
        config,
        behind_the_proxy(),
        keyring,
        std::sync::Arc::new(usher_wire::SystemClock),
        local().await,
        local().await,
        rx,
    );
    let error = started.expect_err("started without trusted proxies");
    assert!(
        format!("{error:#}").contains("trusted_proxies"),
        "{error:#}"
    );
}
