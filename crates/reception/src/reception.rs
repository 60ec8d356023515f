//! The reception's core: Sa33 (select), Sa34 (reserve), Sa35 (ticket), Sa36 (busy).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use usher_ticket::{Issuer, ItemId, Keyring, ServerId, TicketSealer, TicketSpec};
use usher_wire::clock::unix_ms;
use usher_wire::mgmt::Down;
use usher_wire::{Clock, Code};

use crate::config::{MAX_SHOPS, ReceptionConfig, Reservation};
use crate::policy::{Candidate, SelectionPolicy};
use crate::registry::Registry;
use crate::room::state::StateError;
use crate::room::{Wait, WaitingRoom};

/// What an order gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Sa35: go to `url` before `expires_at`.
    Admitted {
        /// `{shop}/t/{ticket}/items/{item}`.
        url: TicketUrl,
        /// The chosen shop.
        server: ServerId,
        /// When the ticket's window closes.
        expires_at: SystemTime,
    },
    /// Sa36/Sa56: every shop that carries the item is full; wait in line and come back.
    Waiting(Wait),
    /// Every live shop that carries the item is out of it.
    SoldOut,
    /// No live shop.
    Unavailable,
    /// No shop carries an item by that name.
    UnknownItem,
    /// The queue token cannot be honoured (`400`), or the client's prefix joined the line too
    /// often (`too_many`, `429`).
    Refused(Code),
}

/// Why a reception could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// More shops than [`MAX_SHOPS`].
    #[error("{0} shops configured; one reception serves at most {MAX_SHOPS}")]
    TooManyShops(usize),
    /// The system gave no randomness for the issuer id.
    #[error("no randomness for an issuer id: {0}")]
    Random(#[from] getrandom::Error),
    /// The waiting room's state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

/// A ticket URL, kept as the `Location` header value it becomes (built once, never copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketUrl(http::HeaderValue);

impl TicketUrl {
    /// The URL as text.
    pub fn as_str(&self) -> &str {
        // Built from a `str` of visible ASCII; never fails.
        self.0.to_str().unwrap_or_default()
    }

    /// The URL as a header value.
    pub fn header_value(self) -> http::HeaderValue {
        self.0
    }
}

impl std::fmt::Display for TicketUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sealing side of the keyring: one sealer per configured shop (in registry order), all for
/// this process's issuer.
#[derive(Debug)]
struct Sealers {
    by_slot: Vec<TicketSealer>,
}

impl Sealers {
    fn new(keyring: &Keyring, config: &ReceptionConfig, issuer: &Arc<Issuer>) -> Sealers {
        let by_slot = config
            .shops
            .iter()
            .map(|s| keyring.ticket_sealer(&s.id, Arc::clone(issuer)))
            .collect();
        Sealers { by_slot }
    }
}

/// The shops that could take an order, best first (at most [`MAX_SHOPS`]).
pub(crate) type Candidates = arrayvec::ArrayVec<Candidate, MAX_SHOPS>;

/// An admission the synchronous path could not settle: it needs a round trip to a shop
/// (per-ticket reservations) or a short wait for a lease in flight. See
/// [`Reception::admit_waiting`].
#[derive(Debug)]
pub(crate) struct Admit {
    pub(crate) item: ItemId,
    pub(crate) client: IpAddr,
    candidates: Candidates,
}

/// The answer for a ticket handed out at `slot`, whose window ends at `expires_at_ms`.
fn admitted(url: TicketUrl, slot: &crate::registry::Slot, expires_at_ms: u64) -> Outcome {
    Outcome::Admitted {
        url,
        server: slot.entry.id,
        expires_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(expires_at_ms),
    }
}

/// Sends `release` for a reserved ticket that is not handed out, when dropped armed.
struct Release<'a> {
    conn: &'a crate::registry::Conn,
    ticket: usher_ticket::TicketId,
    armed: bool,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        if self.armed {
            let release = Down::Release {
                ticket: self.ticket.to_string(),
            };
            let _ = self.conn.tx.try_send(release);
        }
    }
}

/// A reception: shared by its public and management listeners.
#[derive(Debug)]
pub struct Reception {
    pub(crate) config: ReceptionConfig,
    pub(crate) registry: Registry,
    pub(crate) keyring: RwLock<Arc<Keyring>>,
    sealers: RwLock<Arc<Sealers>>,
    issuer: Arc<Issuer>,
    policy: Box<dyn SelectionPolicy>,
    /// Sa54-Sa56: the line of clients who found every shop busy.
    pub(crate) room: Arc<WaitingRoom>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Management connections refused (bad hello, unknown shop), for operators.
    pub(crate) refused: std::sync::atomic::AtomicU64,
    /// Turns true when the reception shuts down: management links close, so shops reconnect
    /// to whatever takes its place.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
}

impl Reception {
    /// A reception for the shops in `config` (at most [`MAX_SHOPS`]), sealing with `keyring`'s
    /// active key under a fresh random issuer id.
    pub fn new(
        config: ReceptionConfig,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Reception>, StartError> {
        if config.shops.len() > MAX_SHOPS {
            return Err(StartError::TooManyShops(config.shops.len()));
        }
        let issuer = Arc::new(Issuer::random()?);
        let sealers = Sealers::new(&keyring, &config, &issuer);
        let policy = config.policy.build(config.tie_margin);
        let room = WaitingRoom::new(config.queue.clone(), &keyring, &issuer, clock.instant())?;
        let room = Arc::new(room);
        Ok(Arc::new(Reception {
            room,
            registry: Registry::new(&config.shops),
            config,
            keyring: RwLock::new(Arc::new(keyring)),
            sealers: RwLock::new(Arc::new(sealers)),
            issuer,
            policy,
            clock,
            refused: std::sync::atomic::AtomicU64::new(0),
            closing: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// Shutting down: closes every management link (the public listener's in-flight orders
    /// are the server's to finish).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Settings.
    pub fn config(&self) -> &ReceptionConfig {
        &self.config
    }

    /// The issuer id shops must accept (announced on every management connection).
    pub fn issuer(&self) -> usher_ticket::IssuerId {
        self.issuer.id()
    }

    /// Replaces the keyring (SIGHUP): new tickets are sealed with its active key.
    pub fn reload_keys(&self, keyring: Keyring) {
        let sealers = Sealers::new(&keyring, &self.config, &self.issuer);
        self.room.reload_keys(&keyring, &self.issuer);
        *self.sealers.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(sealers);
        *self.keyring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keyring);
    }

    /// Places free at every live shop, as far as the reception knows (what the line's head
    /// follows).
    pub fn spare_places(&self, now: std::time::Instant) -> u64 {
        let leasing = self.config.reservation == Reservation::Lease;
        self.registry
            .slots
            .iter()
            .map(|slot| slot.spare(now, self.config.shop_timeout, leasing))
            .sum()
    }

    /// Sa33 and Sa34-Sa35 from a lease, with no round trip and no await. `Err` when the
    /// admission needs one ([`admit_waiting`](Self::admit_waiting)). The line is not looked at
    /// here (see `order.rs`).
    pub(crate) fn try_admit(&self, item: &str, client: IpAddr) -> Result<Outcome, Box<Admit>> {
        let Ok(item) = ItemId::new(item) else {
            return Ok(Outcome::UnknownItem);
        };
        let now = self.clock.instant();
        let candidates = match self.survey(&item, now) {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        };
        if candidates.is_empty() {
            // Sa54: every shop that carries the item is busy.
            return Ok(Outcome::Waiting(self.busy()));
        }
        if self.config.reservation == Reservation::Lease {
            let sealers = self.sealers.read().unwrap_or_else(PoisonError::into_inner);
            for candidate in &candidates {
                let slot = &self.registry.slots[candidate.index];
                let sealer = &sealers.by_slot[candidate.index];
                if let Some(outcome) = self.issue_from_lease(slot, sealer, &item, client, now) {
                    return Ok(outcome);
                }
            }
        }
        Err(Box::new(Admit {
            item,
            client,
            candidates,
        }))
    }

    /// Sa33: the live shops that could take an order for `item`, best first; or why none can
    /// (no live shop, unknown item, sold out everywhere).
    pub(crate) fn survey(
        &self,
        item: &ItemId,
        now: std::time::Instant,
    ) -> Result<Candidates, Outcome> {
        let mut any_live = false;
        let mut carried = false;
        let mut in_stock = false;
        let mut candidates = Candidates::new();
        for (index, slot) in self.registry.slots.iter().enumerate() {
            let snap = slot.snapshot(item.as_str(), now, self.config.shop_timeout);
            if !snap.live {
                continue;
            }
            any_live = true;
            let Some(stock) = snap.stock else { continue };
            carried = true;
            if stock == 0 {
                continue;
            }
            in_stock = true;
            if snap.load < 1.0 {
                // At most MAX_SHOPS slots exist (the config is checked).
                let _ = candidates.try_push(Candidate {
                    index,
                    load: snap.load,
                    rtt: snap.rtt,
                    free: snap.free,
                });
            }
        }
        if !any_live {
            return Err(Outcome::Unavailable);
        }
        if !carried {
            return Err(Outcome::UnknownItem);
        }
        if !in_stock {
            return Err(Outcome::SoldOut);
        }
        self.policy.order(&mut candidates);
        Ok(candidates)
    }

    /// [`try_admit`](Self::try_admit)'s part that waits: per-ticket reservations (the patent's
    /// Sa34, one round trip each), or a short wait for a lease on its way.
    pub(crate) async fn admit_waiting(&self, admit: Box<Admit>) -> Outcome {
        let Admit {
            item,
            client,
            candidates,
        } = *admit;
        let sealers = Arc::clone(&self.sealers.read().unwrap_or_else(PoisonError::into_inner));
        // A shop with no free unit of the item would refuse, so it is not asked.
        for candidate in &candidates {
            if candidate.free == Some(0) {
                continue;
            }
            let slot = &self.registry.slots[candidate.index];
            let sealer = &sealers.by_slot[candidate.index];
            if let Some(outcome) = self.try_shop(slot, sealer, &item, client).await {
                return outcome;
            }
        }
        // A shop may be holding its last places for a lease that is on its way to us: wait for
        // it (briefly) rather than turn the buyer away.
        if self.config.reservation == Reservation::Lease {
            for candidate in &candidates {
                let slot = &self.registry.slots[candidate.index];
                let sealer = &sealers.by_slot[candidate.index];
                let Some(conn) = slot.connection() else {
                    continue;
                };
                let granted = conn.lease_granted.notified();
                tokio::pin!(granted);
                granted.as_mut().enable();
                // A grant may have arrived while the per-ticket request was out.
                let now = self.clock.instant();
                if let Some(outcome) = self.issue_from_lease(slot, sealer, &item, client, now) {
                    return outcome;
                }
                let in_flight = conn
                    .lease
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .requested
                    .is_some();
                if in_flight
                    && tokio::time::timeout(self.config.reserve_timeout, granted)
                        .await
                        .is_ok()
                {
                    let now = self.clock.instant();
                    if let Some(outcome) = self.issue_from_lease(slot, sealer, &item, client, now) {
                        return outcome;
                    }
                }
            }
        }
        Outcome::Waiting(self.busy())
    }

    /// Every shop is busy: the plain Sa36 answer, before the line is consulted.
    pub(crate) fn busy(&self) -> Wait {
        Wait {
            queue_token: None,
            position: None,
            place: None,
            estimated_wait_ms: None,
            retry_after_ms: u64::try_from(self.config.retry_after.as_millis()).unwrap_or(1000),
            fresh: false,
        }
    }

    /// Sa34 from a lease: take a place the shop granted in advance, seal the ticket, and queue
    /// its notice for the next batch. No round trip.
    fn issue_from_lease(
        &self,
        slot: &crate::registry::Slot,
        sealer: &TicketSealer,
        item: &ItemId,
        client: IpAddr,
        now: std::time::Instant,
    ) -> Option<Outcome> {
        let conn = slot.conn.read().unwrap_or_else(PoisonError::into_inner);
        let conn = conn.as_deref()?;
        let lease = conn
            .lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(now, item)?;
        let (url, ticket, expires_at_ms) = self.seal(slot, sealer, conn, item, client)?;
        conn.outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(crate::registry::Queued {
                lease,
                ticket,
                item: *item,
                expires_at_ms,
            });
        slot.handed_out.fetch_add(1, Ordering::Relaxed);
        Some(admitted(url, slot, expires_at_ms))
    }

    /// Sa35: seals a ticket for `item` at the shop on `conn` (for the run of the shop on that
    /// very connection) and builds its URL; returns the URL, the ticket's id and the end of its
    /// window (unix ms, whole seconds as sealed).
    fn seal(
        &self,
        slot: &crate::registry::Slot,
        sealer: &TicketSealer,
        conn: &crate::registry::Conn,
        item: &ItemId,
        client: IpAddr,
    ) -> Option<(TicketUrl, usher_ticket::TicketId, u64)> {
        thread_local! {
            /// The URL is written here, then copied once into its exact-sized header value.
            static URL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let not_before = self.clock.wall();
        let spec = TicketSpec {
            epoch: conn.epoch,
            not_before,
            ttl: self.config.ticket_ttl,
            binding: self.config.binding.bind(client),
            item,
        };
        let (url, ticket) = URL.with_borrow_mut(|url| {
            url.clear();
            url.push_str(&slot.entry.url);
            url.push_str("/t/");
            let ticket = match sealer.seal(&spec, url) {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, "sealing failed");
                    return None;
                }
            };
            url.push_str("/items/");
            url.push_str(item.as_str());
            let url = http::HeaderValue::from_str(url).ok()?;
            Some((TicketUrl(url), ticket))
        })?;
        let nbf = unix_ms(not_before) / 1000;
        let expires_at_ms = (nbf + self.config.ticket_ttl.as_secs()) * 1000;
        Some((url, ticket, expires_at_ms))
    }

    /// Sa34 + Sa35 for one shop: seal a ticket, ask the shop to hold a place for it (the
    /// notice), and hand it out only if the shop granted the place.
    async fn try_shop(
        &self,
        slot: &crate::registry::Slot,
        sealer: &TicketSealer,
        item: &ItemId,
        client: IpAddr,
    ) -> Option<Outcome> {
        let conn = slot.connection()?;
        let (url, ticket, expires_at_ms) = self.seal(slot, sealer, &conn, item, client)?;
        slot.handed_out.fetch_add(1, Ordering::Relaxed);
        let id = self.registry.next_request();
        let down = Down::Reserve {
            id,
            ticket: ticket.to_string(),
            item: item.to_string(),
            expires_at_ms,
        };
        // If no grant is handed out (no answer in time, or the client went away and this
        // future was dropped while the request was out), the shop is told to free the place.
        let mut release = Release {
            conn: &conn,
            ticket,
            armed: true,
        };
        let granted = conn.ask(id, down, self.config.reserve_timeout).await;
        release.armed = granted.is_none();
        if granted == Some(true) {
            Some(admitted(url, slot, expires_at_ms))
        } else {
            let _ = slot
                .handed_out
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            None
        }
    }

    /// A view of every shop for operators (`GET /status` on the management listener).
    pub fn status(&self) -> serde_json::Value {
        let now = self.clock.instant();
        let shops: Vec<_> = self
            .registry
            .slots
            .iter()
            .map(|slot| {
                let view = slot
                    .view
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let live = slot.snapshot("", now, self.config.shop_timeout).live;
                let lease_left = slot.connection().map_or(0, |c| {
                    c.lease
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .left(now)
                });
                serde_json::json!({
                    "id": slot.entry.id,
                    "url": slot.entry.url,
                    "live": live,
                    "rtt_us": u64::try_from(view.rtt.as_micros()).unwrap_or(u64::MAX),
                    "report": view.report,
                    "handed_out_since_report": slot.handed_out.load(Ordering::Relaxed),
                    "lease_places_left": lease_left,
                })
            })
            .collect();
        serde_json::json!({
            "issuer": self.issuer.id().to_string(),
            "queue": self.room.status(now),
            "refused_connections": self.refused.load(Ordering::Relaxed),
            "shops": shops,
        })
    }
}
