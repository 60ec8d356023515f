//! The waiting room (Sa54-Sa56): one fair line for the whole sale, the estimate of each wait,
//! and the queue tokens that carry each client's place, so the reception keeps O(1) state per
//! waiting client.
//!
//! The hot path pays one atomic load for it: while nobody waits and no eligible client is
//! still expected ([`WaitingRoom::is_gated`] is false), newcomers go straight to a shop.
//!
//! # Layout
//! - `mod.rs`: [`WaitingRoom`], the room's logic: joins, check-ins, holds near the front, the
//!   estimate, and what stays per reception (join limits, places waiting per network,
//!   admissions in flight).
//! - `store.rs`: [`LineStore`](store::LineStore), the seam to the line's state (counters,
//!   claim bits, the front, the sale's epoch, persistence); `memory.rs`: today's store, in
//!   memory with a state file (`state.rs`). `tests.rs` holds the tests every store must pass.
//! - `local.rs`: what stays per reception; `holds.rs`: clients held near the front until room
//!   is made. `opening.rs`: a scheduled opening, its pre-queue and its draw.
//! - `in_flight.rs`: an admission from the line under way. `limit.rs`: joins per prefix.
//!   `waiting.rs`: places one network holds waiting at once.
//! - `wait.rs`: [`Wait`], what a client in line is told (its estimate and range, its return
//!   time), and [`ShopRoom`], what the room is told of the shops at each tick.
//! - `page.rs`: the waiting page a browser sees (and `assets/`: its script and style).

mod holds;
pub(crate) mod in_flight;
mod limit;
mod local;
pub(crate) mod memory;
mod opening;
pub(crate) mod page;
pub(crate) mod slots;
pub(crate) mod state;
pub(crate) mod store;
#[cfg(test)]
mod tests;
mod tokens;
mod wait;
mod waiting;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use usher_queue::{ClaimError, Place, PreQueueOrder};
use usher_ticket::{Issuer, ItemId, Keyring, QueueSpec, QueueToken, Rejection};
use usher_wire::status::QueueStatus;
use usher_wire::{Clock, Code};

use crate::config::QueueSettings;
use holds::Holds;
use local::Local;
use memory::MemoryStore;
use opening::{Schedule, Seat, Told};
use state::StateError;
use store::{Claim, LineStore};
use tokens::Tokens;
pub use wait::Wait;
pub(crate) use wait::{LiveShop, MAX_PRIOR_ITEMS, ShopRoom};

/// A queue token opened, or why not.
type Opened = Result<QueueToken, Rejection>;

/// What a client back with its token finds.
#[derive(Debug)]
pub(crate) enum CheckIn {
    /// Its turn: it holds the claim of this place (its drawn one, for a client of a
    /// pre-queue, with its pre-queue number, 1-based) and may be admitted.
    Claimed(Place, Option<std::num::NonZeroU64>),
    /// Not yet: a fresh estimate, the same place.
    Wait(Wait),
    /// The token cannot be honoured.
    Refused(Code),
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct WaitingRoom {
    settings: QueueSettings,
    store: Box<dyn LineStore>,
    /// Newcomers must see the line: someone waits, or an eligible client may still come.
    gated: AtomicBool,
    local: Mutex<Local>,
    tokens: Tokens,
    /// Wakes the ticker early: a shop reported, so places may have freed.
    reported: Notify,
    /// Clients near the front held until room is made.
    pub(crate) holds: Holds,
    /// The sale's scheduled opening, if it has one.
    schedule: Option<Schedule>,
}

impl WaitingRoom {
    /// The room of a sale, its line kept in memory (and in `settings.state_file`, when set).
    pub(crate) fn new(
        settings: QueueSettings,
        keyring: &Keyring,
        issuer: &Arc<Issuer>,
        now: Instant,
    ) -> Result<WaitingRoom, StateError> {
        let store = MemoryStore::open(
            settings.line.clone(),
            settings.state_file.clone(),
            issuer.id(),
            now,
            settings.opening.as_ref(),
        )?;
        Ok(WaitingRoom::with_store(
            settings,
            Box::new(store),
            keyring,
            issuer,
            now,
        ))
    }

    /// The room of a sale whose line is kept by `store`.
    pub(crate) fn with_store(
        settings: QueueSettings,
        store: Box<dyn LineStore>,
        keyring: &Keyring,
        issuer: &Arc<Issuer>,
        now: Instant,
    ) -> WaitingRoom {
        let from = settings.opening.and_then(|o| o.pre_queue_from);
        let schedule = store.pre_queue().map(|pre| Schedule::new(&pre, from));
        let before_opening = schedule.is_some();
        WaitingRoom {
            tokens: Tokens::new(keyring, issuer, store.honoured()),
            local: Mutex::new(Local::new(&settings, &*store, now)),
            gated: AtomicBool::new(before_opening || store.is_gated(now)),
            reported: Notify::new(),
            holds: Holds::new(settings.hold),
            store,
            settings,
            schedule,
        }
    }

    /// New keys (SIGHUP): tokens are sealed under the new active key, and opened under any
    /// key the keyring still holds.
    pub(crate) fn reload_keys(&self, keyring: &Keyring, issuer: &Arc<Issuer>) {
        self.tokens.reload(keyring, issuer);
    }

    /// Whether a newcomer must look at the line before going to a shop. One atomic load.
    pub(crate) fn is_gated(&self) -> bool {
        self.gated.load(Ordering::Acquire)
    }

    /// Whether a newcomer may pass the line although it is gated: nobody waits and the shops
    /// have more free places than eligible clients are expected to claim and admissions in
    /// flight will take. If so, it counts as in flight until [`InFlight`](in_flight::InFlight)
    /// ends.
    pub(crate) fn newcomer_may_pass(&self, now: Instant, free: u64) -> bool {
        if !self.is_open() {
            return false;
        }
        let mut local = self.local();
        let free = free.saturating_sub(local.in_flight());
        let passes = self.store.admits_newcomer(now, free);
        local.newcomers += u64::from(passes);
        passes
    }

    /// Whether the sale is open: it has no scheduled opening, or the opening came.
    fn is_open(&self) -> bool {
        self.schedule.as_ref().is_none_or(Schedule::is_open)
    }

    /// Makes the opening's draw if it is due at `wall`; the line forms then, and its head moves
    /// at once by the places free at the last tick, so those held for it are let in now.
    fn open_if_due(&self, local: &mut Local, now: Instant, wall: SystemTime) {
        let Some(schedule) = &self.schedule else {
            return;
        };
        if schedule.draw_if_due(wall, &*self.store) {
            self.holds.room_made(); // the clients held for the draw learn their places
        }
        if schedule.open_if_due(wall) {
            local.estimator.line_formed(now);
            let advanced = self.store.advance(now, local.last_free);
            local.estimator.freed(now, advanced.moved);
            (local.head, local.last_free) = (advanced.head, 0);
            self.gated.store(advanced.gated, Ordering::Release);
            self.holds.room_made();
        }
    }

    /// Before the pre-queue of a scheduled opening takes arrivals: when to come back.
    pub(crate) fn too_early(&self, wall: SystemTime) -> Option<Wait> {
        (self.schedule.as_ref()?).too_early(wall, self.settings.line.check_in)
    }

    /// How a scheduled opening orders its pre-queue (`None`: the sale has none).
    pub(crate) fn pre_queue_order(&self) -> Option<PreQueueOrder> {
        self.schedule.as_ref().map(Schedule::order)
    }

    /// The scheduled opening as published (`GET /api/v1/opening`).
    pub(crate) fn opening(&self) -> Option<usher_wire::Opening> {
        self.schedule.as_ref()?.published(&*self.store)
    }

    /// Sa54: every shop is busy (or others wait), so the client joins the line at the back.
    /// Refused with `too_many` when its network joined too often or holds its share of places
    /// waiting (checked first, so a refused join spends no budget). Returns the answer and its
    /// place, which must be on disk before the answer goes out ([`saved`](Self::saved)).
    pub(crate) fn join(
        &self,
        item: &ItemId,
        client: IpAddr,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(Wait, Place), Code> {
        let binding = self.settings.binding.bind(client);
        let (place, mut wait) = {
            let mut local = self.local();
            self.open_if_due(&mut local, now, wall);
            let head = local.head;
            let Ok(slots) = local.waiting.check(client, head) else {
                return Err(Code::TooMany);
            };
            if !local.limiter.admit(client, now) {
                return Err(Code::TooMany);
            }
            let (place, first) = self.store.join();
            local.waiting.joined(slots, place);
            if self.schedule.is_some() {
                local.arrivals.arrived(now);
            }
            self.gated.store(true, Ordering::Release);
            let wait = match self.seat(&local, place, now, wall) {
                Seat::Before(wait) => wait,
                _ => {
                    if first {
                        local.estimator.line_formed(now);
                    }
                    self.wait_for(&local, place, now)
                }
            };
            (place, wait)
        };
        let spec = QueueSpec {
            epoch: self.store.epoch(),
            place: place.0,
            arrived_at: wall,
            binding,
            item,
        };
        wait.queue_token = self.tokens.seal(&spec);
        wait.fresh = true;
        Ok((wait, place))
    }

    /// A join's answer once its `place` is on disk: if the opening's draw was made meanwhile
    /// and left the place out (it was not durable yet), it is told as the line place it is.
    pub(crate) fn joined(&self, wait: Wait, place: Place, now: Instant, wall: SystemTime) -> Wait {
        let local = self.local();
        if wait.pre_queue.is_none() || !self.schedule.as_ref().is_some_and(Schedule::is_drawn) {
            return wait;
        }
        let mut told = match self.seat(&local, place, now, wall) {
            Seat::Line(line_place, pre_queue) => Wait {
                pre_queue,
                ..self.wait_for(&local, line_place, now)
            },
            Seat::Before(told) => told,
        };
        (told.queue_token, told.fresh) = (wait.queue_token, wait.fresh);
        told
    }

    /// Waits until `place` is on disk, so no restart can hand its number out again.
    pub(crate) async fn saved(&self, place: Place) {
        self.store.saved(place).await;
    }

    /// Whether `place` is already on disk.
    pub(crate) fn is_saved(&self, place: Place) -> bool {
        self.store.is_saved(place)
    }

    /// Opens a queue token presented by `client` for `item`.
    pub(crate) fn open(&self, token: &str, client: IpAddr, item: &str, wall: SystemTime) -> Opened {
        let sale = (wall, self.store.epoch(), self.settings.token_max_age);
        self.tokens.verify(token, (client, item), sale)
    }

    /// Where the client holding `place` (from its token) stands.
    fn seat(&self, local: &Local, place: Place, now: Instant, wall: SystemTime) -> Seat {
        let Some(schedule) = &self.schedule else {
            return Seat::Line(place, None);
        };
        let told = Told {
            estimator: &local.estimator,
            arrivals: &local.arrivals,
            check_in: self.settings.line.check_in,
            hold: self.settings.hold,
            now,
            wall,
        };
        schedule.seat(place, &*self.store, told)
    }

    /// Sc56 → Sa53: a client is back with `place` (from its token). Its turn: the place (its
    /// drawn one, for a client of a pre-queue) is claimed (once), and its admission is in
    /// flight until [`InFlight`](in_flight::InFlight) ends. Not yet: a fresh estimate for the
    /// same place, never a penalty and never an advantage.
    pub(crate) fn check_in(&self, place: Place, now: Instant, wall: SystemTime) -> CheckIn {
        let mut local = self.local();
        self.open_if_due(&mut local, now, wall);
        let (place, number) = match self.seat(&local, place, now, wall) {
            Seat::Line(place, number) => (place, number),
            Seat::Before(wait) => return CheckIn::Wait(wait),
        };
        match self.check_in_line(&mut local, place, now) {
            CheckIn::Wait(mut wait) => {
                wait.pre_queue = number;
                CheckIn::Wait(wait)
            }
            CheckIn::Claimed(place, _) => CheckIn::Claimed(place, number),
            other => other,
        }
    }

    fn check_in_line(&self, local: &mut Local, place: Place, now: Instant) -> CheckIn {
        match self.store.claim(place, now) {
            Claim::Claimed => {
                local.admitting.push(place.0);
                CheckIn::Claimed(place, None)
            }
            Claim::Behind | Claim::Refused(ClaimError::NotYet) => {
                CheckIn::Wait(self.wait_for(local, place, now))
            }
            // The same client asked twice at once (two tabs, a reload): the first is being
            // admitted, so this one waits a moment rather than lose the place.
            Claim::Refused(ClaimError::AlreadyClaimed | ClaimError::GivenUp)
                if local.admitting.contains(&place.0) =>
            {
                CheckIn::Wait(self.wait_for(local, place, now))
            }
            Claim::Refused(ClaimError::AlreadyClaimed) => CheckIn::Refused(Code::Used),
            Claim::Refused(ClaimError::GivenUp) => CheckIn::Refused(Code::GivenUp),
            // A number this line never handed out: the state was lost or the token is not ours.
            Claim::Refused(ClaimError::Unknown) => CheckIn::Refused(Code::StaleEpoch),
        }
    }

    /// The admission of a claimed place ended. Not admitted (no shop had room, or the client
    /// went away): the claim is handed back and the client waits at the front, its grace
    /// counted from now, so obeying never costs the place.
    fn settle_claim(&self, place: Place, now: Instant, admitted: bool) -> Wait {
        let mut local = self.local();
        if let Some(at) = local.admitting.iter().position(|&p| p == place.0) {
            local.admitting.swap_remove(at);
        }
        if !admitted {
            self.store.hand_back(place, now);
        }
        self.wait_for(&local, place, now)
    }

    fn newcomer_done(&self) {
        let mut local = self.local();
        local.newcomers = local.newcomers.saturating_sub(1);
    }

    /// A client from the line was admitted after waiting since `arrived_at_ms` (unix ms): its
    /// wait feeds the estimate's fallback (patent 0048).
    pub(crate) fn admitted(&self, arrived_at_ms: u64, wall: SystemTime) {
        let now_ms = usher_wire::clock::unix_ms(wall);
        let waited = Duration::from_millis(now_ms.saturating_sub(arrived_at_ms));
        self.local().estimator.waited(waited);
        self.schedule.as_ref().inspect(|s| s.admitted(wall));
    }

    /// Moves the head to match the places free at the shops (less those admissions in flight
    /// are about to take) and measures the rate (Sa56); wakes the clients held near the front
    /// when the head moved or more places are free.
    ///
    /// Before a rate is measured, estimates come from a prior: the live shops' places over the
    /// session length (Little's law). The session length is what the shops measure (how long
    /// their sessions held a place lately), kept with the line so the next start begins from
    /// it; before any shop has measured one, the one kept, or else the configured expected one.
    ///
    /// Before a scheduled opening the head stays where it is and nothing is measured; at the
    /// opening the draw is made, and the line runs from then on.
    pub(crate) fn tick(&self, now: Instant, wall: SystemTime, shops: ShopRoom) {
        let mut local = self.local();
        self.open_if_due(&mut local, now, wall);
        local.learn_prior(&shops, &*self.store, &self.settings);
        let free = shops.free.saturating_sub(local.in_flight());
        if !self.is_open() {
            local.last_free = free;
            self.gated.store(true, Ordering::Release);
            return;
        }
        let advanced = self.store.advance(now, free);
        local.estimator.freed(now, advanced.moved);
        local.head = advanced.head;
        self.gated.store(advanced.gated, Ordering::Release);
        let more_free = free > local.last_free;
        local.last_free = free;
        drop(local);
        if advanced.moved > 0 || more_free {
            self.holds.room_made();
        }
    }

    /// Keeps the room going until `shutdown`: on every shop report, and every tick besides,
    /// the line's head follows `spare()`, the places free at the shops (and the estimate the
    /// rate they free at); meanwhile the store keeps the line durable.
    pub(crate) async fn run(
        &self,
        spare: impl Fn(Instant) -> ShopRoom,
        clock: &dyn Clock,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        tokio::join!(
            self.follow_shops(spare, clock, shutdown.clone()),
            self.store.persist(shutdown)
        );
    }

    async fn follow_shops(
        &self,
        spare: impl Fn(Instant) -> ShopRoom,
        clock: &dyn Clock,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // The opening's draw is made on time, not at the next tick.
            let opening = match &self.schedule {
                Some(s) if !s.is_open() => s.next_try(clock.wall()),
                _ => Duration::MAX,
            };
            tokio::select! {
                _ = tick.tick() => {}
                () = tokio::time::sleep(opening), if opening < Duration::MAX => {}
                // Places freed at a shop are handed on as soon as its report says so.
                () = self.reported.notified() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow_and_update() {
                        return;
                    }
                }
            }
            let now = clock.instant();
            self.tick(now, clock.wall(), spare(now));
        }
    }

    /// A shop reported: the head may move now rather than at the next tick.
    pub(crate) fn shop_reported(&self) {
        self.reported.notify_one();
    }

    /// For operators: the line's counters, waiting clients, rate and no-show share.
    pub(crate) fn status(&self, now: Instant, wall: SystemTime) -> QueueStatus {
        let local = self.local();
        let line = self.store.view(now);
        QueueStatus {
            epoch: self.store.epoch().0,
            issued: line.counters.issued,
            head: line.counters.head,
            open_from: line.counters.open_from,
            waiting: line.waiting,
            rate_per_s: local.estimator.rate(now),
            no_show_share: line.no_show_share,
            heap_bytes: line.heap_bytes as u64,
            in_flight: local.in_flight(),
            front: line.front as u64,
            held: self.holds.held(),
            expected_claims: line.expected_claims,
            opens_in_ms: (self.schedule.as_ref())
                .filter(|s| !s.is_open())
                .map(|s| wait::millis(s.until_opening(wall))),
        }
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sa56 for `place`: its position, the estimate, and when to come back (Sc55).
    fn wait_for(&self, local: &Local, place: Place, now: Instant) -> Wait {
        let check_in = self.settings.line.check_in;
        Wait::for_place(place, &*self.store, &local.estimator, now, check_in).0
    }
}
