//! One shop's management link, from the reception's side: the handshake (challenge → hello
//! MAC under the shop's own derived key over both nonces → welcome with the issuer id, the
//! first frame sealed under the link's session keys), then a loop that applies each message
//! from the shop (report, reserved, leased, noted, pong), forwards requests from the admission
//! path, and on its ticks sends batched notices, lease refills and pings. Every frame after the
//! hello is sealed ([`usher_ticket::channel`]); one that does not open ends the link.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use usher_ticket::channel::{ChannelError, FrameKind, Opener, Sealer, Side};
use usher_ticket::hello::{Handshake, Nonce};
use usher_ticket::{Epoch, KeyId, ServerId};
use usher_wire::Code;
use usher_wire::clock::unix_ms;
use usher_wire::mgmt::{Down, Report, Up};

use crate::admit::conn::Conn;
use crate::admit::notices::Batches;
use crate::admit::registry::Slot;
use crate::config::Reservation;
use crate::reception::Reception;

/// How long a shop has to answer the challenge.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew between a shop and the reception worth a warning.
const SKEW_WARNING: Duration = Duration::from_secs(1);
/// Requests from the admission path queued for the link at most.
const DOWN_QUEUE: usize = 1024;

/// Refused hellos are logged at most once a second, whoever sends them.
static REFUSALS_LOGGED: Throttle = Throttle::new(Duration::from_secs(1));

/// Lets something happen at most once per period (across threads, without a lock).
struct Throttle {
    period: Duration,
    /// Milliseconds since `start()` when it last happened, plus one (0: never).
    last: std::sync::atomic::AtomicU64,
}

impl Throttle {
    const fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            last: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn allows(&self, now: Instant) -> bool {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let start = *START.get_or_init(|| now);
        let ms =
            u64::try_from(now.saturating_duration_since(start).as_millis()).unwrap_or(u64::MAX);
        let period = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        let last = self.last.load(std::sync::atomic::Ordering::Relaxed);
        (last == 0 || ms.saturating_add(1) >= last.saturating_add(period))
            && self
                .last
                .compare_exchange(
                    last,
                    ms.saturating_add(1),
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
    }
}

type Tx = SplitSink<WebSocket, Message>;
type Rx = SplitStream<WebSocket>;

/// Serves one management connection until it ends or the reception closes.
pub(super) async fn serve(reception: Arc<Reception>, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let Some(shop) = handshake(&reception, &mut tx, &mut rx).await else {
        return;
    };
    let mut opener = shop.opener;
    let Some((mut link, down_rx)) =
        Link::connect(&reception, shop.index, shop.epoch, shop.sealer, &mut tx).await
    else {
        return;
    };
    link.run(&mut tx, &mut rx, &mut opener, down_rx).await;
    link.disconnect();
}

/// A shop whose hello verified: its slot, its run and the link's channel.
struct Authenticated {
    index: usize,
    epoch: Epoch,
    sealer: Sealer,
    opener: Opener,
}

/// Challenge → hello: the authenticated shop, or `None` (refused and told why, or gone).
async fn handshake(reception: &Reception, tx: &mut Tx, rx: &mut Rx) -> Option<Authenticated> {
    let challenge = Nonce::random().ok()?;
    let message = text(&Down::Challenge {
        nonce: challenge.to_hex(),
    })?;
    tx.send(message).await.ok()?;
    let hello = tokio::time::timeout(HELLO_TIMEOUT, next_plain(rx))
        .await
        .ok()??;
    match authenticate(reception, &challenge, hello) {
        Ok(ok) => Some(ok),
        Err((error, message)) => {
            let refused = reception
                .refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            // Logged with the reason, at most once a second (a peer can reconnect in a loop).
            if REFUSALS_LOGGED.allows(std::time::Instant::now()) {
                tracing::warn!(%error, %message, refused, "management connection refused");
            }
            // The peer learns only that it was refused, never which part was wrong (an unknown
            // id, a key, a MAC): one answer for all.
            let answer = Down::Refused {
                error: Code::Forged,
                message: "this hello is not accepted".to_owned(),
            };
            if let Some(m) = text(&answer) {
                let _ = tx.send(m).await;
            }
            let _ = tx.close().await;
            None
        }
    }
}

/// Checks a hello against the challenge; the shop and the link's channel on success.
fn authenticate(
    reception: &Reception,
    challenge: &Nonce,
    hello: Up,
) -> Result<Authenticated, (Code, String)> {
    let Up::Hello {
        server,
        key_id,
        epoch,
        nonce,
        mac,
    } = hello
    else {
        return Err((Code::BadRequest, "expected a hello".into()));
    };
    let id = ServerId::new(&server).map_err(|e| (Code::BadRequest, e.to_string()))?;
    let index = reception
        .desk
        .registry
        .index(&id)
        .ok_or_else(|| (Code::WrongServer, format!("{id} is not a configured shop")))?;
    let keys = reception.keyring().derive_server(&id);
    let key = keys.management_key(KeyId(key_id)).ok_or_else(|| {
        (
            Code::UnknownKey,
            format!("key {key_id} is not in the keyring"),
        )
    })?;
    let shop_nonce = Nonce::from_hex(&nonce)
        .ok_or((Code::Malformed, "the nonce is not 64 hex digits".to_owned()))?;
    let mac = unhex(&mac).ok_or((Code::Malformed, "the mac is not hex".to_owned()))?;
    let handshake = Handshake {
        server: &id,
        epoch: Epoch(epoch),
        reception: challenge,
        shop: &shop_nonce,
    };
    if !usher_ticket::hello::verify_hello(key, &handshake, &mac) {
        return Err((Code::Forged, format!("{id}'s hello does not verify")));
    }
    let (sealer, opener) = usher_ticket::channel::channel(key, &handshake, Side::Reception);
    Ok(Authenticated {
        index,
        epoch: Epoch(epoch),
        sealer,
        opener,
    })
}

/// An authenticated link and what it keeps while it lives.
struct Link<'r> {
    reception: &'r Reception,
    slot: &'r Slot,
    conn: Arc<Conn>,
    epoch: Epoch,
    /// Seals every frame sent down after the hello.
    sealer: Sealer,
    batches: Batches,
    /// Pings sent and not answered yet, by id.
    pings: HashMap<u64, Instant>,
    skew_warned: bool,
    /// A report was not believed whole (warned once per link).
    report_doubted: bool,
}

impl<'r> Link<'r> {
    /// Installs the link in the shop's slot (replacing any older one) and welcomes the shop.
    async fn connect(
        reception: &'r Reception,
        index: usize,
        epoch: Epoch,
        sealer: Sealer,
        tx: &mut Tx,
    ) -> Option<(Link<'r>, mpsc::Receiver<Down>)> {
        let slot = &reception.desk.registry.slots[index];
        let (down_tx, down_rx) = mpsc::channel::<Down>(DOWN_QUEUE);
        let generation = reception.desk.registry.next_generation();
        let conn = Arc::new(Conn::new(generation, epoch, down_tx));
        slot.connect(Arc::clone(&conn));
        let mut link = Link {
            reception,
            slot,
            conn,
            epoch,
            sealer,
            batches: Batches::default(),
            pings: HashMap::new(),
            skew_warned: false,
            report_doubted: false,
        };
        let welcome = Down::Welcome {
            issuers: vec![reception.issuer().to_string()],
            public_url: Some(reception.config().public_url.clone()),
        };
        if let Some(m) = link.message(&welcome)
            && tx.send(m).await.is_err()
        {
            link.disconnect();
            return None;
        }
        tracing::info!(shop = %slot.entry.id, epoch = epoch.0, "shop connected");
        Some((link, down_rx))
    }

    /// Until the shop goes, a message breaks the protocol, or the reception closes.
    async fn run(
        &mut self,
        tx: &mut Tx,
        rx: &mut Rx,
        opener: &mut Opener,
        mut down_rx: mpsc::Receiver<Down>,
    ) {
        let config = self.reception.config();
        let mut ping_tick = tokio::time::interval(config.ping_every);
        let leasing = config.reservation == Reservation::Lease;
        let mut notice_tick = tokio::time::interval(config.notice_every);
        notice_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closing = self.reception.closing.subscribe();
        loop {
            if *closing.borrow_and_update() {
                return;
            }
            let out = tokio::select! {
                _ = closing.changed() => continue,
                _ = notice_tick.tick(), if leasing => self.notice_tick(),
                up = next_sealed(rx, opener) => {
                    let up = match up {
                        Ok(up) => up,
                        Err(e) => {
                            tracing::warn!(shop = %self.slot.entry.id, error = %e, "management link ended");
                            return;
                        }
                    };
                    if !self.apply(up) {
                        return;
                    }
                    continue;
                }
                down = down_rx.recv() => match down {
                    Some(down) => self.message(&down).into_iter().collect(),
                    None => return,
                },
                _ = ping_tick.tick() => self.ping_tick(),
            };
            if !out.is_empty()
                && tx
                    .send_all(&mut futures_util::stream::iter(out.into_iter().map(Ok)))
                    .await
                    .is_err()
            {
                return;
            }
        }
    }

    /// Sa35 in batches: the notices queued since the last tick, those overdue for an
    /// acknowledgement, and a lease request if the lease runs low.
    fn notice_tick(&mut self) -> Vec<Message> {
        let reception = self.reception;
        let config = reception.config();
        let now = reception.clock.instant();
        let frames: Vec<_> = self
            .batches
            .flush(&self.conn.outbox, now)
            .into_iter()
            .chain(self.batches.overdue(now, config.notice_resend))
            .collect();
        let mut out: Vec<Message> = frames
            .iter()
            .map(|frame| Message::Binary(self.sealer.seal(FrameKind::Notices, frame).into()))
            .collect();
        let report = self.slot.report();
        let next_id = || reception.desk.registry.next_request();
        let refill = self
            .conn
            .lease()
            .refill(config, report.as_ref(), next_id, now);
        out.extend(refill.as_ref().and_then(|down| self.message(down)));
        out
    }

    /// A ping to measure the round-trip time (patent 0043: the nearer of equally loaded shops).
    fn ping_tick(&mut self) -> Vec<Message> {
        let id = self.reception.desk.registry.next_request();
        self.pings
            .retain(|_, at| at.elapsed() < Duration::from_secs(10));
        self.pings.insert(id, Instant::now());
        self.message(&Down::Ping { id }).into_iter().collect()
    }

    /// Applies one message from the shop; `false` ends the link.
    fn apply(&mut self, up: Up) -> bool {
        match up {
            Up::Report(report) => return self.report(report),
            // Grants count only for requests this link made and is still waiting on.
            Up::Reserved { id, granted } => {
                if self.conn.answer(id, granted) && granted {
                    self.slot.granted(1);
                }
            }
            Up::Leased { id, places, stock } => {
                let rtt = self.slot.rtt();
                let matched =
                    self.conn
                        .lease()
                        .granted(self.reception.config(), id, places, stock, rtt);
                if matched {
                    self.slot.granted(places);
                    self.conn.lease_granted.notify_waiters();
                }
            }
            Up::Noted { batch, refused } => {
                self.batches.ack(batch);
                if !refused.is_empty() {
                    tracing::debug!(shop = %self.slot.entry.id, refused = refused.len(), "late notices refused");
                }
            }
            Up::Pong { id } => {
                if let Some(sent) = self.pings.remove(&id) {
                    self.slot.record_rtt(self.conn.generation, sent.elapsed());
                }
            }
            Up::Names { names } => self.slot.set_names(names),
            // A second hello mid-link breaks the protocol.
            Up::Hello { .. } => return false,
        }
        true
    }

    /// Sa31: the shop's load; the line may move on it at once. A report for another run ends
    /// the link.
    fn report(&mut self, report: Report) -> bool {
        let reception = self.reception;
        if report.epoch != self.epoch.0 {
            tracing::warn!(shop = %self.slot.entry.id, "report for another epoch");
            return false;
        }
        let ours = unix_ms(reception.clock.wall());
        let skew = Duration::from_millis(ours.abs_diff(report.wall_clock_ms));
        if skew > SKEW_WARNING && !self.skew_warned {
            tracing::warn!(shop = %self.slot.entry.id, skew_ms = skew.as_millis() as u64, "clock skew");
            self.skew_warned = true;
        }
        let believed =
            self.slot
                .record_report(self.conn.generation, report, reception.clock.instant());
        if !believed && !self.report_doubted {
            tracing::warn!(shop = %self.slot.entry.id, "a report over the shop's capacity is not believed");
            self.report_doubted = true;
        }
        reception.room.shop_reported();
        true
    }

    /// One message sealed as the next frame down.
    fn message(&mut self, down: &Down) -> Option<Message> {
        let json = serde_json::to_vec(down).ok()?;
        Some(Message::Binary(
            self.sealer.seal(FrameKind::Message, &json).into(),
        ))
    }

    /// The link ended: the slot forgets it (unless a newer one replaced it) and requests
    /// waiting on it fail.
    fn disconnect(&self) {
        self.slot.disconnect(self.conn.generation);
        self.conn.fail_pending();
        tracing::info!(shop = %self.slot.entry.id, "shop disconnected");
    }
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

/// The next plain message (the hello); `None` if the peer goes or sends anything else.
async fn next_plain(rx: &mut Rx) -> Option<Up> {
    loop {
        match rx.next().await? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_) | Message::Binary(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Why a keyed link ends on a frame from the shop.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("the shop went")]
    Gone,
    #[error("an unsealed frame on a keyed link")]
    Unsealed,
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("a sealed frame of notices going up")]
    WrongKind,
    #[error("a message that does not parse: {0}")]
    Json(#[from] serde_json::Error),
}

/// The next message from the shop, opened and in order.
async fn next_sealed(rx: &mut Rx, opener: &mut Opener) -> Result<Up, FrameError> {
    loop {
        match rx.next().await.ok_or(FrameError::Gone)? {
            Ok(Message::Binary(frame)) => {
                let mut frame = Vec::from(frame);
                return match opener.open(&mut frame)? {
                    (FrameKind::Message, json) => Ok(serde_json::from_slice(json)?),
                    (FrameKind::Notices, _) => Err(FrameError::WrongKind),
                };
            }
            Ok(Message::Text(_)) => return Err(FrameError::Unsealed),
            Ok(Message::Close(_)) | Err(_) => return Err(FrameError::Gone),
            Ok(_) => {}
        }
    }
}
