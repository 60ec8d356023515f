//! `usher gate` in front of a shop that is not Rust (`examples/python-shop`, Python's standard
//! library only), with a real reception: the whole path over HTTP, and what the shop must and
//! must never see.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::watch;
use usher::start_reception;
use usher_reception::{ReceptionConfig, ShopEntry};
use usher_ticket::{Keyring, ServerId};
use usher_wire::{Clock, SystemClock};

#[tokio::test]
async fn the_whole_path_through_usher_gate_to_a_python_shop() {
    let system = system(|_| {}).await;
    let buyer = browser();

    // Nobody without a session reaches the shop's item paths.
    let stranger = buyer
        .get(system.gate_url("/concert"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::FORBIDDEN);

    let session = system.admitted(&buyer).await;
    assert_eq!(session.len(), 32, "a ticket id: {session}");
    assert_eq!(system.sessions(), 1);
    let page = system.json(&buyer, "/concert").await;
    assert_eq!(page["usher_item"], "concert");
    assert_eq!(page["usher_server"], "shop-a");

    // A buy with a forged session header: the shop sees only the gate's.
    let bought = buyer
        .post(system.gate_url("/concert/buy"))
        .header("accept", "application/json")
        .header("usher-session", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);
    assert!(
        !bought.headers().contains_key("usher-order-complete"),
        "the completion header reached the buyer"
    );
    let order: Value = bought.json().await.unwrap();
    // Completion freed the place at once: no wait for a sweep or a report.
    assert_eq!(system.sessions(), 0);
    // The receipt is on an open path.
    let receipt = order["receipt"].as_str().unwrap();
    let r = buyer.get(system.gate_url(receipt)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Stock came from the shop and counts the order.
    eventually("the gate's report to carry the shop's stock", || {
        system.gate.gate.report().stock.get("concert") == Some(&4)
    })
    .await;
    let report = system.gate.gate.report();
    assert!(report.high_water <= CAPACITY, "{report:?}");

    // What the shop saw: no ticket, no forged header, nothing without a session.
    let seen = system.shop.requests();
    assert!(!seen.is_empty());
    for request in &seen {
        let path = request["path"].as_str().unwrap();
        assert!(
            !path.starts_with("/t/"),
            "a ticket reached the shop: {path}"
        );
        let headers = &request["headers"];
        if path.starts_with("/concert") {
            assert_eq!(headers["usher-session"], session.as_str(), "{request}");
        }
        assert_ne!(headers["usher-session"], "forged");
        let text = request.to_string();
        assert!(
            !text.contains("/t/"),
            "a ticket in what the shop saw: {text}"
        );
    }
    let item_requests = seen
        .iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/concert"))
        .count();
    assert_eq!(item_requests, 3, "two page views and one buy, nothing else");
}

/// Invariants 1 and 6 through the proxy: more buyers than the shop's stock (5), all at once,
/// behind a gate with room for 2. Each asks the reception (waiting as told), claims its
/// ticket and buys: exactly the stock is sold, the shop's stock ends at zero and never below,
/// no buy fails at the shop for want of stock or otherwise, and the gate never held more than
/// its capacity.
#[tokio::test]
async fn a_crowd_through_the_gate_buys_the_stock_and_never_more() {
    let system = system(|_| {}).await;
    let reception = system.reception.public;
    let gate = system.gate.public;
    let buyers = (0..10).map(|_| {
        tokio::spawn(async move {
            let buyer = browser();
            let started = std::time::Instant::now();
            let mut token: Option<String> = None;
            loop {
                assert!(started.elapsed() < DEADLINE, "a buyer never got an answer");
                let mut ask = serde_json::json!({ "item": "concert" });
                if let Some(t) = &token {
                    ask["queue_token"] = Value::from(t.as_str());
                }
                let r = buyer
                    .post(format!("http://{reception}/api/v1/admissions"))
                    .json(&ask)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                match status {
                    StatusCode::OK => {
                        let ticket = body["url"].as_str().unwrap();
                        let claim = buyer
                            .get(ticket)
                            .header("accept", "application/json")
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(claim.status(), StatusCode::SEE_OTHER, "claim refused");
                        let bought = buyer
                            .post(format!("http://{gate}/concert/buy"))
                            .header("accept", "application/json")
                            .send()
                            .await
                            .unwrap();
                        return Some(bought.status());
                    }
                    StatusCode::GONE => return None,
                    StatusCode::SERVICE_UNAVAILABLE => {
                        token = body["queue_token"].as_str().map(str::to_owned).or(token);
                        // Obeys the reception's retry time, kept short for the test.
                        let ms = body["retry_after_ms"].as_u64().unwrap_or(50).min(200);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    other => panic!("the reception answered {other}: {body}"),
                }
            }
        })
    });
    let mut sold = 0;
    for buyer in buyers.collect::<Vec<_>>() {
        match buyer.await.unwrap() {
            Some(StatusCode::CREATED) => sold += 1,
            Some(other) => panic!("a buy through the gate failed: {other}"),
            None => {}
        }
    }
    assert_eq!(sold, 5, "exactly the stock was sold");
    let stock: Value = reqwest::get(format!("{}/usher/stock", system.shop.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock["concert"], 0, "the shop's stock ends at zero");
    let report = system.gate.gate.report();
    assert!(report.high_water <= CAPACITY, "{report:?}");
}

#[tokio::test]
async fn hop_by_hop_and_client_sent_headers_never_reach_the_shop() {
    let system = system(|_| {}).await;
    let buyer = browser();
    let session = system.admitted(&buyer).await;
    let echoed: Value = buyer
        .get(system.gate_url("/echo-headers"))
        .header("connection", "x-secret")
        .header("x-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("usher-item", "other")
        .header("x-forwarded-for", "6.6.6.6")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(echoed.get("x-secret").is_none(), "{echoed}");
    assert!(echoed.get("keep-alive").is_none(), "{echoed}");
    assert_eq!(echoed["usher-session"], session.as_str());
    assert_eq!(echoed["usher-item"], "concert");
    assert_eq!(echoed["x-forwarded-for"], "127.0.0.1", "a client's own XFF");
    assert_eq!(echoed["x-forwarded-proto"], "http");
    assert!(
        echoed["forwarded"]
            .as_str()
            .unwrap()
            .starts_with("for=127.0.0.1"),
        "{echoed}"
    );
}

#[tokio::test]
async fn a_failing_or_slow_shop_is_a_502_or_504_and_the_session_survives() {
    let mut system = system(|proxy| proxy.timeout = Duration::from_millis(500)).await;
    let buyer = browser();
    system.admitted(&buyer).await;

    let slow = buyer
        .get(system.gate_url("/slow?ms=3000"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = slow.json().await.unwrap();
    assert_eq!(body["error"], "upstream_timeout");
    assert!(body["retry"].as_str().unwrap().ends_with("/order/concert"));
    assert_eq!(system.sessions(), 1, "the session survives a timeout");
    system.json(&buyer, "/concert").await;

    system.shop.kill();
    let down = buyer
        .get(system.gate_url("/concert"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), StatusCode::BAD_GATEWAY);
    let page = down.text().await.unwrap();
    assert!(page.contains("upstream_failed"), "{page}");
    assert_eq!(system.sessions(), 1, "the session survives a dead shop");
}

#[tokio::test]
async fn a_completion_rule_ends_the_order_for_a_shop_that_cannot_say_so() {
    let system = system(|proxy| {
        proxy.complete_on = vec!["GET /echo-headers".parse().unwrap()];
    })
    .await;
    let buyer = browser();
    system.admitted(&buyer).await;
    assert_eq!(system.sessions(), 1);
    let r = buyer
        .get(system.gate_url("/echo-headers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.headers().contains_key("usher-order-complete"));
    assert_eq!(system.sessions(), 0, "the rule ended the order");
}

/// A process's peak resident memory, bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap();
    kb * 1024
}

/// The real `usher gate` binary in front of the Python shop moves a 256 MiB download and a
/// 256 MiB upload, and its memory never comes near either: bodies stream.
#[tokio::test]
async fn large_bodies_stream_through_the_gate_in_bounded_memory() {
    // 256 MiB each way; USHER_BODY_MIB measures another size (the note: 1024).
    let mib: u64 = std::env::var("USHER_BODY_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let size: u64 = mib << 20;
    let dir = tempfile::tempdir().unwrap();
    let shop = PythonShop::start(dir.path(), 5);
    let keyring = Keyring::generate().unwrap();
    let id = ServerId::new("shop-a").unwrap();
    let keys = dir.path().join("shop-a.toml");
    usher_ticket::KeyFile::Server(keyring.derive_server(&id))
        .save(&keys, false)
        .unwrap();
    // The gate's address goes into the reception's config: bound here, read back, released.
    let gate_addr = local().await.local_addr().unwrap();
    let public = local().await;
    let reception_url = format!("http://{}", public.local_addr().unwrap());
    let mut config = ReceptionConfig::new(
        vec![ShopEntry {
            id,
            url: format!("http://{gate_addr}"),
            capacity: None,
        }],
        reception_url.clone(),
    );
    config.admissions_per_client = 0;
    let (_stop, stop_rx) = watch::channel(false);
    let reception = start_reception(
        config,
        keyring,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        public,
        local().await,
        stop_rx,
    )
    .unwrap();
    let mut gate = usher(&[
        "gate",
        "--id",
        "shop-a",
        "--keys",
        keys.to_str().unwrap(),
        "--upstream",
        &shop.url,
        "--capacity",
        "2",
        "--item",
        "concert=/concert,/download,/upload",
        "--stock-url",
        &format!("{}/usher/stock", shop.url),
        "--reception",
        &format!("ws://{}", reception.management),
        "--reception-url",
        &reception_url,
        "--public",
        &gate_addr.to_string(),
        "--management",
        "127.0.0.1:0",
    ]);
    line_starting(&mut gate, "usher gate shop-a: ");
    eventually("the gate live with the shop's stock", || {
        let status = reception.reception.status();
        status.shops[0]
            .report
            .as_ref()
            .is_some_and(|r| r.stock.contains_key("concert"))
    })
    .await;
    let buyer = browser();
    claimed(reception.public, &buyer).await;
    let base = format!("http://{gate_addr}");
    let at_rest = peak_rss(gate.id());

    let mut download = buyer
        .get(format!("{base}/download?bytes={size}"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let mut received = 0u64;
    while let Some(chunk) = download.chunk().await.unwrap() {
        received += chunk.len() as u64;
    }
    assert_eq!(received, size);
    let chunks = futures_util::stream::iter(
        (0..size >> 20).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 1 << 20]))),
    );
    let uploaded: Value = buyer
        .post(format!("{base}/upload"))
        .header("content-length", size.to_string())
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(uploaded["bytes"], size);
    let peak = peak_rss(gate.id());
    let _ = gate.kill();
    let _ = gate.wait();
    eprintln!("usher gate peak RSS: {at_rest} bytes at rest, {peak} after moving {size} each way");
    // Neither body was held whole: the gate's peak grew by far less than one of them.
    assert!(
        peak.saturating_sub(at_rest) < size / 8,
        "peak RSS grew from {at_rest} to {peak} moving {size} bytes each way"
    );
}

/// A shop whose own server stops answering leaves the reception's rotation, as a silent one
/// does, and comes back by itself once it answers again.
#[tokio::test]
async fn a_shop_whose_server_dies_leaves_rotation_and_comes_back() {
    let mut system = system(|_| {}).await;
    let live = |system: &System| system.reception.reception.status().shops[0].live;
    assert!(live(&system));
    system.shop.kill();
    eventually("the gate out of rotation", || !live(&system)).await;
    let order = browser()
        .get(format!("http://{}/order/concert", system.reception.public))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), StatusCode::SERVICE_UNAVAILABLE);
    system.shop.restart();
    eventually("the gate back in rotation", || live(&system)).await;
    system.admitted(&browser()).await;
}

/// A WebSocket to the shop passes through the gate: the upgrade reaches the shop with the
/// session's headers, and frames flow both ways until either side closes.
#[tokio::test]
async fn a_websocket_to_the_shop_passes_through_the_gate() {
    use axum::extract::ws::{Message as WsMessage, WebSocketUpgrade};
    use axum::http::HeaderMap;
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;

    fn session_of(headers: &HeaderMap) -> String {
        headers
            .get("usher-session")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned()
    }
    // The shop's pages and its WebSocket, in Rust here (the Python shop has none); the
    // Python shop still serves the stock.
    let app = axum::Router::new()
        .route(
            "/concert",
            axum::routing::get(|headers: HeaderMap| async move {
                axum::Json(serde_json::json!({ "session": session_of(&headers) }))
            }),
        )
        .route(
            "/concert/live",
            axum::routing::get(|ws: WebSocketUpgrade, headers: HeaderMap| async move {
                let session = session_of(&headers);
                ws.on_upgrade(move |mut socket| async move {
                    let _ = socket.send(WsMessage::Text(session.into())).await;
                    while let Some(Ok(WsMessage::Text(text))) = socket.recv().await {
                        let echo = format!("echo {}", text.as_str());
                        if socket.send(WsMessage::Text(echo.into())).await.is_err() {
                            return;
                        }
                    }
                })
            }),
        );
    let listener = local().await;
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let system = system(|proxy| proxy.upstream = upstream.parse().unwrap()).await;

    let buyer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = session_cookie(&claimed(system.reception.public, &buyer).await);

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/concert/live",
            system.gate.public
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let Some(Ok(Message::Text(session))) = ws.next().await else {
        panic!("no first frame from the shop");
    };
    assert_eq!(session.as_str().len(), 32, "the shop saw {session}");
    for n in 0..3 {
        ws.send(Message::text(format!("hello {n}"))).await.unwrap();
        let Some(Ok(Message::Text(echo))) = ws.next().await else {
            panic!("no echo");
        };
        assert_eq!(echo.as_str(), format!("echo hello {n}"));
    }
    ws.close(None).await.unwrap();

    // Without a session, no upgrade reaches the shop.
    let stranger =
        tokio_tungstenite::connect_async(format!("ws://{}/concert/live", system.gate.public)).await;
    assert!(
        stranger.is_err(),
        "an upgrade without a session went through"
    );
}

/// An upstream that reads each request for `/concert…` and hangs up without answering (a shop
/// killed while it works on the request); its health path answers.
async fn hanging_up() -> String {
    let listener = local().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|request: hyper::Request<_>| async move {
                    if request.uri().path().starts_with("/concert") {
                        return Err(std::io::Error::other("killed"));
                    }
                    Ok(hyper::Response::new("ok".to_owned()))
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    url
}

/// The shop dies with the request in its hands: the buyer gets `502 upstream_failed`, the gate
/// lives on and the session with it, and the next request that finds the shop works.
#[tokio::test]
async fn a_shop_killed_mid_request_is_a_502_and_the_gate_and_session_live_on() {
    let upstream = hanging_up().await;
    let system = system(|proxy| proxy.upstream = upstream.parse().unwrap()).await;
    let buyer = browser();
    claimed(system.reception.public, &buyer).await;
    for _ in 0..2 {
        let r = buyer
            .get(system.gate_url("/concert"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "upstream_failed");
    }
    assert_eq!(system.sessions(), 1, "the session survives");
    // The gate lives on, and so does its pool: the shop's next answer comes through.
    let healthy = buyer.get(system.gate_url("/healthz")).send().await.unwrap();
    assert_eq!(healthy.status(), StatusCode::OK);
    assert_eq!(healthy.text().await.unwrap(), "ok");
}

/// An upstream whose answer to `/download` trickles in: `chunks` chunks of 1 KiB, `every`
/// apart; anything else is `ok` (its health).
async fn trickling(chunks: usize, every: Duration) -> String {
    let listener = local().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                    let download = request.uri().path() == "/download";
                    async move {
                        let count = if download { chunks } else { 1 };
                        let frames = futures_util::stream::unfold(0, move |i| async move {
                            if i == count {
                                return None;
                            }
                            if download {
                                tokio::time::sleep(every).await;
                            }
                            let data = if download {
                                vec![b'x'; 1024]
                            } else {
                                b"ok".to_vec()
                            };
                            let frame = hyper::body::Frame::data(bytes::Bytes::from(data));
                            Some((Ok::<_, std::io::Error>(frame), i + 1))
                        });
                        let body = http_body_util::StreamBody::new(frames);
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(body))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    url
}

/// Guards against a download that outlasts the idle timeout being cut: the connection counted
/// as idle once the answer's head was out. Now each chunk sent is progress, so it lasts as long
/// as it moves (a reader who stops reading still meets the request timeout: `serve::watchdog`).
#[tokio::test]
async fn a_download_longer_than_the_idle_timeout_is_not_cut() {
    let upstream = trickling(12, Duration::from_millis(100)).await;
    let mut listener = usher::serve::PublicListener::default();
    listener.limits.idle_timeout = Duration::from_millis(300);
    listener.limits.stall_timeout = Duration::from_secs(3);
    let system = system_with(listener, |proxy| {
        proxy.upstream = upstream.parse().unwrap();
        proxy.timeout = Duration::from_secs(2);
    })
    .await;
    let buyer = browser();
    claimed(system.reception.public, &buyer).await;
    let started = std::time::Instant::now();
    let download = buyer
        .get(system.gate_url("/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let body = download.bytes().await.expect("the download was cut");
    assert_eq!(body.len(), 12 * 1024);
    assert!(
        started.elapsed() > Duration::from_millis(300),
        "the download took longer than the idle timeout"
    );
}

/// A client that trickles its request head a byte at a time is cut off at the gate's idle
/// timeout, while buyers are served.
#[tokio::test]
async fn a_slow_client_on_the_gates_port_is_cut_off_and_buyers_are_served() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut listener = usher::serve::PublicListener::default();
    listener.limits.idle_timeout = Duration::from_millis(500);
    listener.limits.stall_timeout = Duration::from_millis(500);
    let system = system_with(listener, |proxy| {
        proxy.timeout = Duration::from_millis(400);
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(system.gate.public)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let head = b"GET /concert HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let trickle = async {
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            // The server closing shows as a read of 0 (or an error) once it has.
            let mut buf = [0u8; 64];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await
            {
                return;
            }
        }
    };
    let buyer = browser();
    let (_, session) = tokio::join!(
        tokio::time::timeout(DEADLINE, trickle),
        system.admitted(&buyer)
    );
    assert_eq!(session.len(), 32);
    assert!(
        started.elapsed() < DEADLINE,
        "the trickling client was never cut off"
    );
}

/// `--upstream-host upstream`: the shop sees its own authority as `Host`, and the buyer's in
/// `X-Forwarded-Host`; and a body declared larger than the gate passes on is `413` before the
/// shop sees any of it.
#[tokio::test]
async fn the_host_can_be_the_shops_own_and_an_oversized_body_is_refused_at_the_gate() {
    let system = system(|proxy| {
        proxy.host = usher_proxy::HostHeader::Upstream;
        proxy.max_request_body = 1024;
    })
    .await;
    let buyer = browser();
    system.admitted(&buyer).await;
    let echoed: Value = buyer
        .get(system.gate_url("/echo-headers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shop = system.shop.url.trim_start_matches("http://");
    assert_eq!(echoed["host"], shop, "{echoed}");
    assert_eq!(
        echoed["x-forwarded-host"],
        system.gate.public.to_string(),
        "{echoed}"
    );
    let before = system.shop.requests().len();
    let big = buyer
        .post(system.gate_url("/upload"))
        .header("accept", "application/json")
        .body(vec![0u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = big.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    assert_eq!(
        system.shop.requests().len(),
        before,
        "the shop saw the upload"
    );
}

/// Guards against reaching an item's page without a session through an open path (found in
/// review): a shop that resolves dot segments would serve `/static/../concert` as `/concert`.
/// Such paths, written raw (a client library would resolve them first), are `400` at the gate
/// and never reach the shop; so is an upgrade to anything but a WebSocket, or outside a session.
#[tokio::test]
async fn a_path_the_shop_could_read_as_another_never_reaches_it() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let system = system(|_| {}).await;
    let raw = |request: String| {
        let address = system.gate.public;
        async move {
            let mut conn = tokio::net::TcpStream::connect(address).await.unwrap();
            conn.write_all(request.as_bytes()).await.unwrap();
            let mut answer = vec![0u8; 1024];
            let n = tokio::time::timeout(DEADLINE, conn.read(&mut answer))
                .await
                .unwrap()
                .unwrap();
            String::from_utf8_lossy(&answer[..n]).into_owned()
        }
    };
    for path in [
        "/static/../concert",
        "/static/%2e%2e/concert",
        "/healthz/..%2Fconcert",
        "/static/..\\concert",
    ] {
        let answer = raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
    }
    // An upgrade on an open path is an ordinary request there: no tunnel.
    let answer = raw(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".into(),
    )
    .await;
    assert!(!answer.starts_with("HTTP/1.1 101"), "{answer}");
    let seen = system.shop.requests();
    assert!(
        seen.iter()
            .all(|r| !r["path"].as_str().unwrap().contains("concert")),
        "{seen:?}"
    );
    let upgrades = seen
        .iter()
        .filter(|r| r["headers"].get("upgrade").is_some())
        .count();
    assert_eq!(upgrades, 0, "an upgrade header reached the shop");
}

/// An HTTP/2 buyer sends no `Host`, only its URI's authority: the shop still learns it in
/// `X-Forwarded-Host` and `Forwarded` (found in review: `Host` was filled in too late).
#[tokio::test]
async fn an_http2_buyers_host_reaches_the_shop_in_the_forwarded_headers() {
    let system = system(|_| {}).await;
    let buyer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = session_cookie(&claimed(system.reception.public, &buyer).await);

    let stream = tokio::net::TcpStream::connect(system.gate.public)
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let authority = system.gate.public.to_string();
    let request = hyper::Request::get(format!("http://{authority}/echo-headers"))
        .header("cookie", cookie)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let echoed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed["x-forwarded-host"], authority.as_str(), "{echoed}");
    assert_eq!(echoed["host"], authority.as_str(), "{echoed}");
    assert!(
        echoed["forwarded"]
            .as_str()
            .unwrap()
            .contains(&format!("host=\"{authority}\"")),
        "{echoed}"
    );
}

/// A shop behind `usher gate` has no catalogue the gate can read: the name configured with
/// its item (`name` in `[[items]]`) is what the reception's sale says, not the id.
#[tokio::test]
async fn the_reception_says_the_name_configured_for_a_gates_item() {
    let system = system(|_| {}).await;
    let sale = format!("http://{}/api/v1/sale", system.reception.public);
    let mut said = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        said = browser()
            .get(&sale)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if said["items"][0]["name"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(said["items"][0]["item"], "concert", "{said}");
    assert_eq!(said["items"][0]["name"], "Concert, 31 December", "{said}");
}
