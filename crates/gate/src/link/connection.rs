//! An established link: reports go up when due (Sa31), and each message from the reception is
//! applied by its own small step and answered.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use usher_ticket::{ItemId, TicketId};
use usher_wire::mgmt::{Down, Up};

use super::config::LinkError;
use super::socket::{Incoming, Receiver, Sender};
use crate::Gate;

/// Shortest gap between a report and one sent early because a place was freed: a burst of
/// completed orders costs one report.
const PROMPT_GAP: Duration = Duration::from_millis(5);

/// When reports are due on one link (Sa31): every `report_every`, and early (at most one per
/// [`PROMPT_GAP`]) when an order frees a place, so the reception's line moves on it without
/// waiting for the tick.
struct Reports {
    tick: tokio::time::Interval,
    freed: watch::Receiver<u64>,
    /// When the early report is due, while `armed`.
    prompt: Pin<Box<Sleep>>,
    armed: bool,
    last_report: Instant,
}

impl Reports {
    fn new(gate: &Gate, every: Duration) -> Reports {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Reports {
            tick,
            freed: gate.freed(),
            prompt: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: false,
            last_report: Instant::now(),
        }
    }

    /// A place was freed: an early report falls due `PROMPT_GAP` after the last one.
    fn arm(&mut self) {
        self.freed.borrow_and_update();
        self.prompt.as_mut().reset(self.last_report + PROMPT_GAP);
        self.armed = true;
    }

    /// A report went out; an early one restarts the tick, so the next regular report is a
    /// whole period later.
    fn sent(&mut self, due: Due) {
        self.last_report = Instant::now();
        self.armed = false;
        if due == Due::Early {
            self.tick.reset();
        }
    }
}

/// Why a report is sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// The regular tick.
    Tick,
    /// Early, because an order freed a place.
    Early,
}

/// An established link: sends reports when due and answers what the reception sends.
pub(super) struct Connection<'a> {
    gate: &'a Gate,
    link: u64,
    tx: Sender,
    reports: Reports,
}

impl<'a> Connection<'a> {
    /// The link `link` of `gate`, just past its handshake, reporting every `report_every`.
    pub(super) fn new(gate: &'a Gate, link: u64, tx: Sender, report_every: Duration) -> Self {
        Connection {
            gate,
            link,
            tx,
            reports: Reports::new(gate, report_every),
        }
    }

    /// Runs until `shutdown` (closing the socket politely) or a failure; first sends the
    /// item names when `send_names` (the reception reads them).
    pub(super) async fn serve(
        mut self,
        rx: &mut Receiver,
        shutdown: &mut watch::Receiver<bool>,
        send_names: bool,
    ) -> Result<(), LinkError> {
        let names = self.gate.item_names().get();
        if send_names && !names.is_empty() {
            self.send(&Up::Names { names }).await?;
        }
        loop {
            tokio::select! {
                _ = self.reports.tick.tick() => self.report(Due::Tick).await?,
                Ok(()) = self.reports.freed.changed(), if !self.reports.armed => {
                    self.reports.arm();
                }
                () = &mut self.reports.prompt, if self.reports.armed => self.report(Due::Early).await?,
                message = rx.incoming() => self.handle(message?).await?,
                _ = shutdown.changed() => {
                    self.tx.close().await;
                    return Ok(());
                }
            }
        }
    }

    async fn send(&mut self, up: &Up) -> Result<(), LinkError> {
        self.tx.send(up).await
    }

    /// Sa31: sends the gate's load report now.
    async fn report(&mut self, due: Due) -> Result<(), LinkError> {
        self.send(&Up::Report(self.gate.report())).await?;
        self.reports.sent(due);
        Ok(())
    }

    /// One message from the reception: applies it and sends the answer, if it wants one.
    async fn handle(&mut self, incoming: Incoming) -> Result<(), LinkError> {
        let answer = match incoming {
            Incoming::Notices(bytes) => Some(noted(self.gate, self.link, &bytes)?),
            Incoming::Down(down) => self.apply(down)?,
        };
        if let Some(up) = answer {
            self.send(&up).await?;
        }
        Ok(())
    }

    /// Applies one JSON message from the reception; the answer to send, if any. A refusal
    /// ends the link.
    fn apply(&self, down: Down) -> Result<Option<Up>, LinkError> {
        let (gate, link) = (self.gate, self.link);
        Ok(match down {
            Down::Reserve {
                id,
                ticket,
                item,
                expires_at_ms,
            } => Some(reserve(gate, link, id, &ticket, &item, expires_at_ms)),
            Down::Lease {
                id,
                places,
                ttl_ms,
                stock,
            } => Some(lease(gate, link, id, places, stock.as_ref(), ttl_ms)),
            Down::Release { ticket } => {
                release(gate, &ticket);
                None
            }
            Down::Ping { id } => Some(Up::Pong { id }),
            // One welcome per link: a second could swap the link's issuers under live tickets.
            Down::Welcome { .. } => {
                return Err(LinkError::Protocol(
                    "a second welcome on an established link".into(),
                ));
            }
            Down::Refused { error, message } => return Err(LinkError::refused(error, &message)),
            Down::Challenge { .. } => None,
        })
    }
}

/// Sa34: holds a place for one ticket, if one is free; a malformed ticket or item gets none.
fn reserve(gate: &Gate, link: u64, id: u64, ticket: &str, item: &str, expires_at_ms: u64) -> Up {
    let granted = match (TicketId::from_hex(ticket), ItemId::new(item)) {
        (Some(ticket), Ok(item)) => gate.reserve(link, ticket, item, expires_at_ms),
        _ => false,
    };
    Up::Reserved { id, granted }
}

/// Grants a reception's lease what places and units are free.
fn lease(
    gate: &Gate,
    link: u64,
    id: u64,
    places: u32,
    stock: Option<&BTreeMap<String, u32>>,
    ttl_ms: u64,
) -> Up {
    let (places, stock) = gate.grant(link, id, places, stock, ttl_ms);
    Up::Leased { id, places, stock }
}

/// The reception gave up on a reservation: its place comes back unless it was claimed.
fn release(gate: &Gate, ticket: &str) {
    if let Some(ticket) = TicketId::from_hex(ticket) {
        gate.release(ticket);
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
