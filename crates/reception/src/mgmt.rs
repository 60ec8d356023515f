//! The management listener: shops connect here (patent network 15), authenticate with their own
//! derived key, report load (Sa31) and answer reservations (Sa34). Operators read `/status`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use usher_ticket::{Epoch, KeyId, ServerId};
use usher_wire::Code;
use usher_wire::clock::unix_ms;
use usher_wire::mgmt::{CONNECT_PATH, Down, MAX_MESSAGE_LEN, READ_BUFFER_LEN, Up};

use crate::lease::{self, Batches};
use crate::registry::Conn;
use crate::{Reception, Reservation};

/// How long a shop has to answer the challenge.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew between a shop and the reception worth a warning.
const SKEW_WARNING: Duration = Duration::from_secs(1);

/// The management listener's routes.
pub fn router(reception: Arc<Reception>) -> Router {
    Router::new()
        .route(CONNECT_PATH, get(connect))
        .route("/status", get(status))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(reception)
}

async fn status(State(reception): State<Arc<Reception>>) -> Response {
    axum::Json(reception.status()).into_response()
}

async fn connect(State(reception): State<Arc<Reception>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_LEN)
        .max_frame_size(MAX_MESSAGE_LEN)
        .read_buffer_size(READ_BUFFER_LEN)
        .on_upgrade(move |socket| serve(reception, socket))
}

fn text(down: &Down) -> Option<Message> {
    serde_json::to_string(down)
        .ok()
        .map(|t| Message::Text(t.into()))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn next_up(rx: &mut futures_util::stream::SplitStream<WebSocket>) -> Option<Up> {
    loop {
        match rx.next().await? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Checks a hello; the shop's id, the key's id and epoch on success.
fn authenticate(
    reception: &Reception,
    nonce: &str,
    hello: Up,
) -> Result<(usize, Epoch), (Code, String)> {
    let Up::Hello {
        server,
        key_id,
        epoch,
        mac,
    } = hello
    else {
        return Err((Code::BadRequest, "expected a hello".into()));
    };
    let id = ServerId::new(&server).map_err(|e| (Code::BadRequest, e.to_string()))?;
    let index = reception
        .registry
        .index(&id)
        .ok_or_else(|| (Code::WrongServer, format!("{id} is not a configured shop")))?;
    let keyring = Arc::clone(
        &reception
            .keyring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let keys = keyring.derive_server(&id);
    let key = keys.management_key(KeyId(key_id)).ok_or_else(|| {
        (
            Code::UnknownKey,
            format!("key {key_id} is not in the keyring"),
        )
    })?;
    let mac = unhex(&mac).ok_or((Code::Malformed, "the mac is not hex".to_owned()))?;
    if !usher_ticket::hello::verify_hello(key, &id, nonce.as_bytes(), Epoch(epoch), &mac) {
        return Err((Code::Forged, format!("{id}'s hello does not verify")));
    }
    Ok((index, Epoch(epoch)))
}

async fn serve(reception: Arc<Reception>, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let mut nonce = [0u8; 32];
    if getrandom::fill(&mut nonce).is_err() {
        return;
    }
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let Some(challenge) = text(&Down::Challenge {
        nonce: nonce.clone(),
    }) else {
        return;
    };
    if tx.send(challenge).await.is_err() {
        return;
    }
    let hello = tokio::time::timeout(HELLO_TIMEOUT, next_up(&mut rx)).await;
    let (index, epoch) = match hello {
        Ok(Some(hello)) => match authenticate(&reception, &nonce, hello) {
            Ok(ok) => ok,
            Err((error, message)) => {
                tracing::warn!(%error, %message, "management connection refused");
                reception
                    .refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let refused = Down::Refused { error, message };
                if let Some(m) = text(&refused) {
                    let _ = tx.send(m).await;
                }
                let _ = tx.close().await;
                return;
            }
        },
        _ => return,
    };
    let slot = &reception.registry.slots[index];
    let (down_tx, mut down_rx) = mpsc::channel::<Down>(1024);
    let generation = reception.registry.next_generation();
    let conn = Arc::new(Conn {
        generation,
        epoch,
        tx: down_tx,
        pending: std::sync::Mutex::new(HashMap::new()),
        lease: std::sync::Mutex::new(crate::registry::LeaseState::default()),
        outbox: std::sync::Mutex::new(Vec::new()),
        lease_granted: tokio::sync::Notify::new(),
    });
    slot.connect(Arc::clone(&conn));
    let welcome = Down::Welcome {
        issuers: vec![reception.issuer().to_string()],
    };
    if let Some(m) = text(&welcome)
        && tx.send(m).await.is_err()
    {
        slot.disconnect(generation);
        return;
    }
    tracing::info!(shop = %slot.entry.id, epoch = epoch.0, "shop connected");

    let mut pings: HashMap<u64, Instant> = HashMap::new();
    let mut ping_tick = tokio::time::interval(reception.config.ping_every);
    let leasing = reception.config.reservation == Reservation::Lease;
    let mut notice_tick = tokio::time::interval(reception.config.notice_every);
    notice_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batches = Batches::default();
    let mut skew_warned = false;
    let mut closing = reception.closing.subscribe();
    loop {
        if *closing.borrow_and_update() {
            break;
        }
        tokio::select! {
            _ = closing.changed() => {}
            _ = notice_tick.tick(), if leasing => {
                let now = reception.clock.instant();
                let mut out: Vec<Message> = batches
                    .flush(&conn, now)
                    .into_iter()
                    .chain(batches.overdue(now, reception.config.notice_resend))
                    .map(Message::Binary)
                    .collect();
                let report = slot
                    .view
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .report
                    .clone();
                let next_id = || reception.registry.next_request();
                let refill = lease::refill(&conn, &reception.config, report.as_ref(), next_id, now);
                out.extend(refill.as_ref().and_then(text));
                if !out.is_empty() && tx.send_all(&mut futures_util::stream::iter(out.into_iter().map(Ok))).await.is_err() {
                    break;
                }
            }
            up = next_up(&mut rx) => {
                let Some(up) = up else { break };
                match up {
                    Up::Report(report) => {
                        if report.epoch != epoch.0 {
                            tracing::warn!(shop = %slot.entry.id, "report for another epoch");
                            break;
                        }
                        let ours = unix_ms(reception.clock.wall());
                        let skew = Duration::from_millis(ours.abs_diff(report.wall_clock_ms));
                        if skew > SKEW_WARNING && !skew_warned {
                            tracing::warn!(shop = %slot.entry.id, skew_ms = skew.as_millis() as u64, "clock skew");
                            skew_warned = true;
                        }
                        slot.record_report(generation, report, reception.clock.instant());
                        reception.room.shop_reported();
                    }
                    Up::Reserved { id, granted } => {
                        if granted {
                            slot.granted(1);
                        }
                        conn.answer(id, granted);
                    }
                    Up::Leased { id, places, stock } => {
                        slot.granted(places);
                        let rtt = slot
                            .view
                            .read()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .rtt;
                        lease::granted(&conn, &reception.config, id, places, stock, rtt);
                        conn.lease_granted.notify_waiters();
                    }
                    Up::Noted { batch, refused } => {
                        batches.ack(batch);
                        if !refused.is_empty() {
                            tracing::debug!(shop = %slot.entry.id, refused = refused.len(), "late notices refused");
                        }
                    }
                    Up::Pong { id } => {
                        if let Some(sent) = pings.remove(&id) {
                            slot.record_rtt(generation, sent.elapsed());
                        }
                    }
                    Up::Hello { .. } => break,
                }
            }
            down = down_rx.recv() => {
                let Some(down) = down else { break };
                let Some(m) = text(&down) else { continue };
                if tx.send(m).await.is_err() {
                    break;
                }
            }
            _ = ping_tick.tick() => {
                let id = reception.registry.next_request();
                pings.retain(|_, at| at.elapsed() < Duration::from_secs(10));
                pings.insert(id, Instant::now());
                let Some(m) = text(&Down::Ping { id }) else { continue };
                if tx.send(m).await.is_err() {
                    break;
                }
            }
        }
    }
    slot.disconnect(generation);
    conn.fail_pending();
    tracing::info!(shop = %slot.entry.id, "shop disconnected");
}
