//! The reception: the front door, where an order (Sc31) meets the waiting room (Sa53-Sa56) and
//! the admission (Sa33-Sa36).
//!
//! - A newcomer goes straight to a shop while the line is empty (one atomic load); when every
//!   shop is busy (Sa54), or others are waiting, it joins the line at the back and is told its
//!   position, the estimated wait and when to come back (Sa56).
//! - A client back with its queue token (Sc56) keeps its place: not yet its turn → a fresh
//!   estimate; its turn → its place is claimed (once) and it is admitted (Sa53); if no shop has
//!   room after all, it keeps its place at the front. A client near the front who is not let
//!   in yet is held (up to half a second) and let in the moment room is made, rather than at
//!   its next check-in. An item sold out everywhere is said at once, to newcomers and to those
//!   waiting for it.

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use usher_queue::Place;
use usher_ticket::{Issuer, IssuerId, ItemId, Keyring};
use usher_wire::Clock;
use usher_wire::status::ReceptionStatus;

use crate::admit::{Admit, TicketDesk};
use crate::config::ReceptionConfig;
use crate::outcome::Outcome;
use crate::room::in_flight::InFlight;
use crate::room::state::StateError;
use crate::room::{CheckIn, ShopRoom, Wait, WaitingRoom};

/// Longest a join waits for its place to be on disk; past it the client is told to come back
/// (`unavailable`) and the place is never handed out, which is safe.
const SAVE_WAIT: Duration = Duration::from_secs(2);

/// Why a reception could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is out of range ([`ReceptionConfig::validate`]).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The system gave no randomness for the issuer id.
    #[error("no randomness for an issuer id: {0}")]
    Random(#[from] getrandom::Error),
    /// The waiting room's state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

/// A reception: shared by its public and management listeners.
#[derive(Debug)]
pub struct Reception {
    /// Sa33-Sa35: the shops, the choice among them, the places and the tickets.
    pub(crate) desk: TicketDesk,
    /// Sa54-Sa56: the line of clients who found every shop busy.
    pub(crate) room: Arc<WaitingRoom>,
    keyring: RwLock<Arc<Keyring>>,
    issuer: Arc<Issuer>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Management connections refused (bad hello, unknown shop), for operators.
    pub(crate) refused: std::sync::atomic::AtomicU64,
    /// Turns true when the reception shuts down: management links close, so shops reconnect
    /// to whatever takes its place.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
}

impl Reception {
    /// A reception for the shops in `config` (at most [`MAX_SHOPS`](crate::MAX_SHOPS)), sealing
    /// with `keyring`'s active key under a fresh random issuer id. Settings out of range are
    /// refused here, whoever built them (the CLI, the demo, a test).
    pub fn new(
        config: ReceptionConfig,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Reception>, StartError> {
        config.validate()?;
        let issuer = Arc::new(Issuer::random()?);
        let room = WaitingRoom::new(config.queue.clone(), &keyring, &issuer, clock.instant())?;
        Ok(Arc::new(Reception {
            room: Arc::new(room),
            desk: TicketDesk::new(config, &keyring, Arc::clone(&issuer), Arc::clone(&clock)),
            keyring: RwLock::new(Arc::new(keyring)),
            issuer,
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
        self.desk.config()
    }

    /// The issuer id shops must accept (announced on every management connection).
    pub fn issuer(&self) -> IssuerId {
        self.desk.issuer()
    }

    /// The keyring in use.
    pub(crate) fn keyring(&self) -> Arc<Keyring> {
        Arc::clone(&self.keyring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the keyring (SIGHUP): new tickets and queue tokens are sealed with its active
    /// key.
    pub fn reload_keys(&self, keyring: Keyring) {
        self.desk.reload_keys(&keyring);
        self.room.reload_keys(&keyring, &self.issuer);
        *self.keyring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keyring);
    }

    /// Places free at every live shop, as far as the reception knows (what the line's head
    /// follows).
    pub fn spare_places(&self, now: std::time::Instant) -> u64 {
        self.desk.spare_places(now)
    }

    /// How the sale's scheduled opening orders its pre-queue; `None` without one.
    pub fn pre_queue_order(&self) -> Option<usher_queue::PreQueueOrder> {
        self.room.pre_queue_order()
    }

    /// The sale's scheduled opening as published (`GET /api/v1/opening`): the seed's hash
    /// before the draw, the seed and the pre-queue's size after it. `None` without one.
    pub fn opening(&self) -> Option<usher_wire::Opening> {
        self.room.opening()
    }

    /// A view of every shop and of the line for operators (`GET /status` on the management
    /// listener).
    pub fn status(&self) -> ReceptionStatus {
        let now = self.clock.instant();
        ReceptionStatus {
            issuer: self.issuer().to_string(),
            queue: self.room.status(now, self.clock.wall()),
            refused_connections: self.refused.load(std::sync::atomic::Ordering::Relaxed),
            shops: self.desk.shops_status(now),
        }
    }

    /// Keeps the waiting room going until `shutdown`: its head follows the places free at the
    /// shops, on every shop report and every tick besides, while its line is kept durable. It
    /// saves once more on the way out, then lets the state file go.
    pub async fn run_waiting_room(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let shops = |now| ShopRoom {
            free: self.desk.spare_places(now),
            live: self.desk.live_shops(now),
        };
        self.room.run(shops, &*self.clock, shutdown).await;
    }

    /// Sc31 → Sa33-Sa36 with the waiting room: answers one order for `item` from `client`, who
    /// may bring the queue token of an earlier answer.
    pub async fn order(&self, item: &str, client: IpAddr, queue_token: Option<&str>) -> Outcome {
        match self.order_now(item, client, queue_token) {
            Ok(outcome) => outcome,
            Err(pending) => self.order_later(pending).await,
        }
    }

    /// [`order`](Self::order)'s synchronous part: everything that needs no round trip and no
    /// disk write. `Err` when the rest must wait ([`order_later`](Self::order_later)).
    pub fn order_now(
        &self,
        item: &str,
        client: IpAddr,
        queue_token: Option<&str>,
    ) -> Result<Outcome, Box<Pending>> {
        match queue_token {
            None => self.newcomer(item, client),
            Some(token) => self.returning(item, client, token, true),
        }
    }

    /// [`order`](Self::order)'s part that waits.
    pub async fn order_later(&self, pending: Box<Pending>) -> Outcome {
        match pending.0 {
            Then::Join { admit, flight } => {
                let (item, client) = (admit.item, admit.client);
                let outcome = self.desk.admit_waiting(admit).await;
                drop(flight);
                match outcome {
                    Outcome::Waiting(_) => self.join_saved(&item, client).await,
                    other => other,
                }
            }
            Then::Claimed { admit, claim } => {
                let outcome = self.desk.admit_waiting(admit).await;
                self.after_claim(outcome, claim)
            }
            Then::Saving { wait, place } => self.when_saved(wait, place).await,
            Then::Hold {
                item,
                client,
                token,
                _permit,
            } => {
                let deadline = tokio::time::Instant::now() + self.room.holds.hold_for();
                // At the deadline the client is told afresh, not what it was told when held.
                let mut last = false;
                loop {
                    // The first pass checks again what `returning` just found: only now is the
                    // wake armed, so room made in between is not missed.
                    let made = self.room.holds.made();
                    tokio::pin!(made);
                    made.as_mut().enable();
                    let wait = match self.returning(&item, client, &token, false) {
                        Ok(Outcome::Waiting(wait)) => wait,
                        Ok(other) => return other,
                        Err(pending) => return Box::pin(self.order_later(pending)).await,
                    };
                    if last {
                        return Outcome::Waiting(wait);
                    }
                    tokio::select! {
                        () = made => {}
                        () = tokio::time::sleep_until(deadline) => last = true,
                    }
                }
            }
        }
    }

    fn newcomer(&self, item: &str, client: IpAddr) -> Result<Outcome, Box<Pending>> {
        let now = self.clock.instant();
        let flight = if !self.room.is_gated() {
            None
        } else if self
            .room
            .newcomer_may_pass(now, self.desk.spare_places(now))
        {
            Some(InFlight::newcomer(&self.room, &self.clock))
        } else {
            // Others wait: no point asking a shop, but an unknown or sold-out item is said at
            // once.
            let Ok(item) = ItemId::new(item) else {
                return Ok(Outcome::UnknownItem);
            };
            return match self.desk.availability(&item, now) {
                Err(outcome @ (Outcome::UnknownItem | Outcome::SoldOut | Outcome::Unavailable)) => {
                    Ok(outcome)
                }
                _ => self.join(&item, client),
            };
        };
        match self.desk.try_admit(item, client) {
            // Sa54: every shop is busy.
            Ok(Outcome::Waiting(_)) => {
                drop(flight);
                match ItemId::new(item) {
                    Ok(item) => self.join(&item, client),
                    Err(_) => Ok(Outcome::UnknownItem),
                }
            }
            Ok(other) => Ok(other),
            Err(admit) => Err(Box::new(Pending(Then::Join { admit, flight }))),
        }
    }

    /// Sa54 → Sa56: joins the line and answers with the place.
    fn join(&self, item: &ItemId, client: IpAddr) -> Result<Outcome, Box<Pending>> {
        let (now, wall) = (self.clock.instant(), self.clock.wall());
        if let Some(wait) = self.room.too_early(wall) {
            return Ok(Outcome::Waiting(wait));
        }
        match self.room.join(item, client, now, wall) {
            Ok((wait, place)) if self.room.is_saved(place) => Ok(Outcome::Waiting(wait)),
            Ok((wait, place)) => Err(Box::new(Pending(Then::Saving { wait, place }))),
            Err(code) => Ok(Outcome::Refused(code)),
        }
    }

    /// [`join`](Self::join), waiting for the place to be on disk.
    async fn join_saved(&self, item: &ItemId, client: IpAddr) -> Outcome {
        let (now, wall) = (self.clock.instant(), self.clock.wall());
        if let Some(wait) = self.room.too_early(wall) {
            return Outcome::Waiting(wait);
        }
        match self.room.join(item, client, now, wall) {
            Ok((wait, place)) => self.when_saved(wait, place).await,
            Err(code) => Outcome::Refused(code),
        }
    }

    /// `wait` once `place` is on disk, or `unavailable` if the disk does not say so in time.
    async fn when_saved(&self, wait: Wait, place: Place) -> Outcome {
        match tokio::time::timeout(SAVE_WAIT, self.room.saved(place)).await {
            Ok(()) => {
                let (now, wall) = (self.clock.instant(), self.clock.wall());
                Outcome::Waiting(self.room.joined(wait, place, now, wall))
            }
            Err(_) => Outcome::Unavailable,
        }
    }

    /// A client back with its token. Near the front and not let in yet, it is held (when
    /// `may_hold`) rather than answered at once.
    fn returning(
        &self,
        item: &str,
        client: IpAddr,
        token: &str,
        may_hold: bool,
    ) -> Result<Outcome, Box<Pending>> {
        let queued = match self.room.open(token, client, item, self.clock.wall()) {
            Ok(q) => q,
            Err(rejection) => return Ok(Outcome::Refused(rejection.code())),
        };
        let now = self.clock.instant();
        // Nobody waits for nothing: a sold-out item is said on the next poll.
        if let Err(outcome @ (Outcome::UnknownItem | Outcome::SoldOut)) =
            self.desk.availability(&queued.item, now)
        {
            return Ok(outcome);
        }
        match self
            .room
            .check_in(Place(queued.place), now, self.clock.wall())
        {
            CheckIn::Wait(mut wait) => {
                wait.queue_token = Some(token.to_owned());
                if may_hold && let Some(permit) = self.room.holds.hold(&wait) {
                    return Err(Box::new(Pending(Then::Hold {
                        item: item.to_owned(),
                        client,
                        token: token.to_owned(),
                        _permit: permit,
                    })));
                }
                Ok(Outcome::Waiting(wait))
            }
            CheckIn::Refused(code) => Ok(Outcome::Refused(code)),
            // Sa53: its turn.
            CheckIn::Claimed(place, pre_queue) => {
                let flight = InFlight::claim(&self.room, &self.clock, place);
                let claim = Claim {
                    flight,
                    token: token.to_owned(),
                    arrived_at_ms: queued.arrived_at_ms,
                    pre_queue,
                };
                match self.desk.try_admit(item, client) {
                    Ok(outcome) => Ok(self.after_claim(outcome, claim)),
                    Err(admit) => Err(Box::new(Pending(Then::Claimed { admit, claim }))),
                }
            }
        }
    }

    /// A claimed client's admission ended in `outcome`: admitted → its wait is measured; no room
    /// after all → it keeps its place at the front; anything else (sold out) ends its wait.
    fn after_claim(&self, outcome: Outcome, claim: Claim) -> Outcome {
        match outcome {
            Outcome::Admitted { .. } => {
                claim.flight.finish(true);
                self.room.admitted(claim.arrived_at_ms, self.clock.wall());
                outcome
            }
            Outcome::Waiting(_) | Outcome::Unavailable => match claim.flight.finish(false) {
                Some(mut wait) => {
                    wait.queue_token = Some(claim.token);
                    wait.pre_queue = claim.pre_queue;
                    Outcome::Waiting(wait)
                }
                None => outcome,
            },
            other => {
                claim.flight.finish(true);
                other
            }
        }
    }
}

/// A client from the line whose place is claimed, while its admission is under way.
#[derive(Debug)]
struct Claim {
    flight: InFlight,
    /// Its queue token, sent back if it keeps waiting.
    token: String,
    /// When it joined (unix ms), for the wait it measures once admitted.
    arrived_at_ms: u64,
    /// Its pre-queue number, if it came from one.
    pre_queue: Option<std::num::NonZeroU64>,
}

/// An order the synchronous path could not settle. Finish it with [`Reception::order_later`].
#[derive(Debug)]
pub struct Pending(Then);

#[derive(Debug)]
enum Then {
    /// A newcomer's admission needs a round trip; if every shop is busy it joins the line.
    Join {
        admit: Box<Admit>,
        /// Set when it was let past a gated line.
        flight: Option<InFlight>,
    },
    /// A claimed client's admission needs a round trip; if no shop has room it keeps its place.
    Claimed { admit: Box<Admit>, claim: Claim },
    /// A newcomer joined; the answer waits until its place is on disk.
    Saving { wait: Wait, place: Place },
    /// A client near the front is held until room is made for it, or the hold time passes.
    Hold {
        item: String,
        client: IpAddr,
        token: String,
        _permit: tokio::sync::OwnedSemaphorePermit,
    },
}
