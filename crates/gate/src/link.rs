//! The management link: the shop dials the reception's management address and keeps one
//! WebSocket open (patent network 15). Reports go up every 200 ms, and within a few
//! milliseconds of an order freeing a place (Sa31); reservations, which
//! are the notices of tickets (Sa34, Sa35), come down and are answered; pings measure the
//! round-trip time the reception breaks near-ties with (0043).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use thiserror::Error;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use usher_ticket::{IssuerId, ItemId, TicketId};
use usher_wire::mgmt::{CONNECT_PATH, Down, MAX_MESSAGE_LEN, READ_BUFFER_LEN, Up};

use crate::Gate;

/// Shortest gap between a report and one sent early because a place was freed: a burst of
/// completed orders costs one report.
const PROMPT_GAP: Duration = Duration::from_millis(5);

/// Where and how often.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The reception's management base URL, `ws://host:port`.
    pub reception: String,
    /// How often to report (default 200 ms).
    pub report_every: Duration,
    /// First wait before reconnecting; doubles up to `retry_max`.
    pub retry_min: Duration,
    /// Longest wait before reconnecting.
    pub retry_max: Duration,
}

impl LinkConfig {
    /// Defaults: reports every 200 ms, reconnect after 100 ms doubling to 2 s.
    pub fn new(reception: impl Into<String>) -> LinkConfig {
        LinkConfig {
            reception: reception.into().trim_end_matches('/').to_owned(),
            report_every: Duration::from_millis(200),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
        }
    }
}

/// Why a link session ended.
#[derive(Debug, Error)]
pub enum LinkError {
    /// The WebSocket failed.
    #[error("management connection: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The reception said something out of protocol.
    #[error("management protocol: {0}")]
    Protocol(String),
    /// The reception refused this shop.
    #[error("refused by the reception: {0}")]
    Refused(String),
    /// The connection closed.
    #[error("management connection closed")]
    Closed,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the link until `shutdown` turns true, reconnecting with backoff whenever it drops.
pub async fn run(gate: Arc<Gate>, config: LinkConfig, mut shutdown: watch::Receiver<bool>) {
    let mut wait = config.retry_min;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let link = gate.next_link();
        let ended = session(&gate, &config, link, &mut shutdown).await;
        gate.drop_link(link);
        match ended {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(server = %gate.config().server, error = %e, "management link down")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = (wait * 2).min(config.retry_max);
    }
}

async fn session(
    gate: &Gate,
    config: &LinkConfig,
    link: u64,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), LinkError> {
    let url = format!("{}{CONNECT_PATH}", config.reception);
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_LEN)
        .max_message_size(Some(MAX_MESSAGE_LEN))
        .max_frame_size(Some(MAX_MESSAGE_LEN));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(ws_config), true).await?;
    let (mut tx, mut rx) = ws.split();
    let send = |up: &Up| {
        serde_json::to_string(up)
            .map(Message::text)
            .map_err(|e| LinkError::Protocol(e.to_string()))
    };

    let Down::Challenge { nonce } = next(&mut rx).await? else {
        return Err(LinkError::Protocol("expected a challenge".into()));
    };
    let (key_id, mac) = gate
        .hello(nonce.as_bytes())
        .ok_or_else(|| LinkError::Protocol("no management key".into()))?;
    tx.send(send(&Up::Hello {
        server: gate.config().server.to_string(),
        key_id: key_id.0,
        epoch: gate.epoch().0,
        mac: hex(&mac),
    })?)
    .await?;
    match next(&mut rx).await? {
        Down::Welcome { issuers } => admit(gate, &issuers),
        Down::Refused { error, message } => {
            return Err(LinkError::Refused(format!("{error}: {message}")));
        }
        other => {
            return Err(LinkError::Protocol(format!(
                "expected welcome, got {other:?}"
            )));
        }
    }
    tracing::info!(server = %gate.config().server, epoch = gate.epoch().0, "management link up");

    let mut tick = tokio::time::interval(config.report_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A freed place is reported at once (at most one such report per `PROMPT_GAP`), so the
    // reception's line moves on it without waiting for the tick.
    let mut freed = gate.freed();
    let prompt = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(prompt);
    let mut armed = false;
    let mut last_report = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                tx.send(send(&Up::Report(gate.report()))?).await?;
                last_report = tokio::time::Instant::now();
                armed = false;
            }
            Ok(()) = freed.changed(), if !armed => {
                freed.borrow_and_update();
                prompt.as_mut().reset(last_report + PROMPT_GAP);
                armed = true;
            }
            () = &mut prompt, if armed => {
                tx.send(send(&Up::Report(gate.report()))?).await?;
                last_report = tokio::time::Instant::now();
                armed = false;
                tick.reset();
            }
            down = incoming(&mut rx) => {
                let down = match down? {
                    Incoming::Down(down) => down,
                    Incoming::Notices(bytes) => {
                        tx.send(send(&noted(gate, link, &bytes)?)?).await?;
                        continue;
                    }
                };
                let answer = match down {
                    Down::Reserve { id, ticket, item, expires_at_ms } => {
                        let granted = match (TicketId::from_hex(&ticket), ItemId::new(&item)) {
                            (Some(ticket), Ok(item)) => gate.reserve(ticket, item, expires_at_ms),
                            _ => false,
                        };
                        Some(Up::Reserved { id, granted })
                    }
                    Down::Lease { id, places, ttl_ms, stock } => {
                        let (places, stock) = gate.grant(link, id, places, &stock, ttl_ms);
                        Some(Up::Leased { id, places, stock })
                    }
                    Down::Release { ticket } => {
                        if let Some(ticket) = TicketId::from_hex(&ticket) {
                            gate.release(ticket);
                        }
                        None
                    }
                    Down::Ping { id } => Some(Up::Pong { id }),
                    Down::Welcome { issuers } => {
                        admit(gate, &issuers);
                        None
                    }
                    Down::Refused { error, message } => {
                        return Err(LinkError::Refused(format!("{error}: {message}")));
                    }
                    Down::Challenge { .. } => None,
                };
                if let Some(up) = answer {
                    tx.send(send(&up)?).await?;
                }
            }
            _ = shutdown.changed() => {
                let _ = tx.send(Message::Close(None)).await;
                return Ok(());
            }
        }
    }
}

fn admit(gate: &Gate, issuers: &[String]) {
    let ids: Vec<IssuerId> = issuers
        .iter()
        .filter_map(|s| IssuerId::from_hex(s))
        .collect();
    gate.admit_issuers(&ids);
}

/// One message from the reception: JSON, or a binary notices frame.
enum Incoming {
    Down(Down),
    Notices(tokio_tungstenite::tungstenite::Bytes),
}

/// The next JSON message; a notices frame before the link is up is a protocol error.
async fn next<S>(rx: &mut S) -> Result<Down, LinkError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    match incoming(rx).await? {
        Incoming::Down(down) => Ok(down),
        Incoming::Notices(_) => Err(LinkError::Protocol("notices before welcome".into())),
    }
}

async fn incoming<S>(rx: &mut S) -> Result<Incoming, LinkError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await {
            None => return Err(LinkError::Closed),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str())
                    .map(Incoming::Down)
                    .map_err(|e| LinkError::Protocol(e.to_string()));
            }
            Some(Ok(Message::Binary(bytes))) => return Ok(Incoming::Notices(bytes)),
            Some(Ok(Message::Close(_))) => return Err(LinkError::Closed),
            Some(Ok(_)) => {}
        }
    }
}

/// Sa35 in a batch: records a notices frame; the acknowledgement to send.
fn noted(gate: &Gate, link: u64, bytes: &[u8]) -> Result<Up, LinkError> {
    let frame = usher_wire::notices::Frame::decode(bytes)
        .map_err(|e| LinkError::Protocol(e.to_string()))?;
    let refused = gate.note(link, frame.lease, frame.notices());
    Ok(Up::Noted {
        batch: frame.batch,
        refused: refused.iter().map(ToString::to_string).collect(),
    })
}
