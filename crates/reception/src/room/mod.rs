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
//! - `in_flight.rs`: an admission from the line under way. `limit.rs`: joins per prefix.
//!   `waiting.rs`: places one network holds waiting at once.
//! - `wait.rs`: [`Wait`], what a client in line is told (its estimate and range, its return
//!   time), and [`ShopRoom`], what the room is told of the shops at each tick.
//! - `page.rs`: the waiting page a browser sees (and `assets/`: its script and style).

pub(crate) mod in_flight;
mod limit;
pub(crate) mod memory;
pub(crate) mod page;
pub(crate) mod state;
pub(crate) mod store;
#[cfg(test)]
mod tests;
mod wait;
mod waiting;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use usher_queue::{ClaimError, Estimator, Place};
use usher_ticket::{
    Issuer, IssuerId, ItemId, Keyring, QueueContext, QueueOpener, QueueSealer, QueueSpec,
    QueueToken, Rejection,
};
use usher_wire::status::QueueStatus;
use usher_wire::{Clock, Code};

use crate::config::QueueSettings;
use limit::JoinLimiter;
use memory::MemoryStore;
use state::StateError;
use store::{Claim, LineStore};
use wait::SESSION_LEARNT;
pub(crate) use wait::ShopRoom;
pub use wait::Wait;
use waiting::WaitingCap;

/// Clients this near the front (position) who check in and are not let in yet are held for up
/// to [`QueueSettings::hold`] rather than answered at once: the moment a place frees they are
/// let in, instead of at their next check-in, so no place stands idle between one buyer and
/// the next.
const HOLD_POSITIONS: u64 = 64;

/// Most requests held at once (one client can send several).
const MAX_HELD: usize = 1024;

/// What a client back with its token finds.
#[derive(Debug)]
pub(crate) enum CheckIn {
    /// Its turn: it holds its place's claim and may be admitted.
    Claimed,
    /// Not yet: a fresh estimate, the same place.
    Wait(Wait),
    /// The token cannot be honoured.
    Refused(Code),
}

/// Sealing and opening queue tokens under the current keyring.
#[derive(Debug)]
struct Tokens {
    sealer: QueueSealer,
    opener: QueueOpener,
}

impl Tokens {
    fn new(keyring: &Keyring, issuer: &Arc<Issuer>, honoured: &[IssuerId]) -> Tokens {
        let mut opener = keyring.queue_opener();
        for id in honoured {
            // At most state::MAX_ISSUERS, far under the opener's limit.
            let _ = opener.admit_issuer(*id);
        }
        Tokens {
            sealer: keyring.queue_sealer(Arc::clone(issuer)),
            opener,
        }
    }
}

/// What this reception keeps of the line for itself (locked before the store, never after).
#[derive(Debug)]
struct Local {
    estimator: Estimator,
    limiter: JoinLimiter,
    /// Places each network holds waiting, forgotten as [`head`](Self::head) passes them.
    waiting: WaitingCap,
    /// The line's head at the last tick (it only moves forward, so an old one over-counts).
    head: u64,
    /// Claimed places whose admission is in flight (a handful: one per admission under way).
    admitting: Vec<u64>,
    /// Newcomers let past a gated line whose admission is in flight.
    newcomers: u64,
    /// Places free at the last tick, so held clients are woken only when more are.
    last_free: u64,
}

impl Local {
    /// Places about to be taken by admissions in flight, which no report shows yet.
    fn in_flight(&self) -> u64 {
        self.admitting.len() as u64 + self.newcomers
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct WaitingRoom {
    settings: QueueSettings,
    store: Box<dyn LineStore>,
    /// Newcomers must see the line: someone waits, or an eligible client may still come.
    gated: AtomicBool,
    local: Mutex<Local>,
    tokens: RwLock<Arc<Tokens>>,
    /// Issuers whose tokens are honoured: this run's and the previous runs' (from the store).
    honoured: Vec<IssuerId>,
    /// Wakes the ticker early: a shop reported, so places may have freed.
    reported: Notify,
    /// Wakes the clients held near the front: the head moved, or places are free.
    room_made: Notify,
    /// Bounds how many requests are held at once.
    holds: Arc<tokio::sync::Semaphore>,
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
        let honoured = store.honoured();
        WaitingRoom {
            tokens: RwLock::new(Arc::new(Tokens::new(keyring, issuer, &honoured))),
            local: Mutex::new(Local {
                estimator: Estimator::new(settings.estimator.clone()),
                limiter: JoinLimiter::new(settings.join_limit, settings.join_window),
                waiting: WaitingCap::new(settings.waiting_per_client),
                head: store.view(now).counters.head,
                admitting: Vec::new(),
                newcomers: 0,
                last_free: 0,
            }),
            gated: AtomicBool::new(store.is_gated(now)),
            reported: Notify::new(),
            room_made: Notify::new(),
            holds: Arc::new(tokio::sync::Semaphore::new(MAX_HELD)),
            honoured,
            store,
            settings,
        }
    }

    /// New keys (SIGHUP): tokens are sealed under the new active key, and opened under any
    /// key the keyring still holds.
    pub(crate) fn reload_keys(&self, keyring: &Keyring, issuer: &Arc<Issuer>) {
        let tokens = Tokens::new(keyring, issuer, &self.honoured);
        *self.tokens.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tokens);
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
        let mut local = self.local();
        let free = free.saturating_sub(local.in_flight());
        let passes = self.store.admits_newcomer(now, free);
        local.newcomers += u64::from(passes);
        passes
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
            let head = local.head;
            let Ok(slots) = local.waiting.check(client, head) else {
                return Err(Code::TooMany);
            };
            if !local.limiter.admit(client, now) {
                return Err(Code::TooMany);
            }
            let (place, first) = self.store.join();
            local.waiting.joined(slots, place);
            if first {
                local.estimator.line_formed(now);
            }
            self.gated.store(true, Ordering::Release);
            (place, self.wait_for(&local, place, now))
        };
        let spec = QueueSpec {
            epoch: self.store.epoch(),
            place: place.0,
            arrived_at: wall,
            binding,
            item,
        };
        let tokens = Arc::clone(&self.tokens.read().unwrap_or_else(PoisonError::into_inner));
        match tokens.sealer.seal_to_string(&spec) {
            Ok(token) => wait.queue_token = Some(token),
            // The place stays unused; it becomes a no-show.
            Err(e) => tracing::error!(error = %e, "sealing a queue token failed"),
        }
        wait.fresh = true;
        Ok((wait, place))
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
    pub(crate) fn open(
        &self,
        token: &str,
        client: IpAddr,
        item: &str,
        wall: SystemTime,
    ) -> Result<QueueToken, Rejection> {
        let context = QueueContext::new(
            wall,
            client,
            self.store.epoch(),
            item,
            self.settings.token_max_age,
        );
        let tokens = self.tokens.read().unwrap_or_else(PoisonError::into_inner);
        tokens.opener.verify(token, &context)
    }

    /// Sc56 → Sa53: a client is back with its place. Its turn: the place is claimed (once),
    /// and its admission is in flight until [`InFlight`](in_flight::InFlight) ends. Not yet: a
    /// fresh estimate for the same place, never a penalty and never an advantage.
    pub(crate) fn check_in(&self, place: Place, now: Instant) -> CheckIn {
        let mut local = self.local();
        match self.store.claim(place, now) {
            Claim::Claimed => {
                local.admitting.push(place.0);
                CheckIn::Claimed
            }
            Claim::Behind | Claim::Refused(ClaimError::NotYet) => {
                CheckIn::Wait(self.wait_for(&local, place, now))
            }
            // The same client asked twice at once (two tabs, a reload): the first is being
            // admitted, so this one waits a moment rather than lose the place.
            Claim::Refused(ClaimError::AlreadyClaimed | ClaimError::GivenUp)
                if local.admitting.contains(&place.0) =>
            {
                CheckIn::Wait(self.wait_for(&local, place, now))
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
    }

    /// Moves the head to match the places free at the shops (less those admissions in flight
    /// are about to take) and measures the rate (Sa56); wakes the clients held near the front
    /// when the head moved or more places are free.
    ///
    /// Before a rate is measured, estimates come from a prior: the live shops' places over the
    /// session length (Little's law). The session length is what the shops measure (how long
    /// their sessions held a place lately), kept with the line so the next start begins from
    /// it; before any shop has measured one, the one kept, or else the configured expected one.
    pub(crate) fn tick(&self, now: Instant, shops: ShopRoom) {
        let mut local = self.local();
        let free = shops.free.saturating_sub(local.in_flight());
        let advanced = self.store.advance(now, free);
        local.estimator.freed(now, advanced.moved);
        let measured = shops.session.filter(|s| SESSION_LEARNT.contains(s));
        if let Some(session) = measured {
            self.store.learn_session(session);
        }
        let session = measured
            .or_else(|| self.store.session())
            .unwrap_or(self.settings.expected_session)
            .as_secs_f64();
        let places = shops.places as f64;
        local
            .estimator
            .set_prior((places > 0.0).then(|| places / session), measured.is_some());
        local.head = advanced.head;
        self.gated.store(advanced.gated, Ordering::Release);
        let more_free = free > local.last_free;
        local.last_free = free;
        drop(local);
        if advanced.moved > 0 || more_free {
            self.room_made.notify_waiters();
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
            tokio::select! {
                _ = tick.tick() => {}
                // Places freed at a shop are handed on as soon as its report says so.
                () = self.reported.notified() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow_and_update() {
                        return;
                    }
                }
            }
            let now = clock.instant();
            self.tick(now, spare(now));
        }
    }

    /// How long a request near the front is held at most.
    pub(crate) fn hold_for(&self) -> Duration {
        self.settings.hold
    }

    /// A permit to hold the request that was told `wait`: only near the front (position at
    /// most [`HOLD_POSITIONS`]), with holding on, and while fewer than [`MAX_HELD`] are held.
    pub(crate) fn hold(&self, wait: &Wait) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let near = wait.position.is_some_and(|p| p <= HOLD_POSITIONS);
        if !near || self.settings.hold.is_zero() {
            return None;
        }
        Arc::clone(&self.holds).try_acquire_owned().ok()
    }

    /// Resolves when the head next moves or places free (create it before checking, so a wake
    /// in between is not missed).
    pub(crate) fn room_made(&self) -> tokio::sync::futures::Notified<'_> {
        self.room_made.notified()
    }

    /// A shop reported: the head may move now rather than at the next tick.
    pub(crate) fn shop_reported(&self) {
        self.reported.notify_one();
    }

    /// For operators: the line's counters, waiting clients, rate and no-show share.
    pub(crate) fn status(&self, now: Instant) -> QueueStatus {
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
            held: (MAX_HELD - self.holds.available_permits()) as u64,
            expected_claims: line.expected_claims,
        }
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sa56 for `place`: its position, the estimate, and when to come back (Sc55).
    fn wait_for(&self, local: &Local, place: Place, now: Instant) -> Wait {
        let standing = self.store.standing(place, now, &local.estimator);
        let estimate = local.estimator.estimate_range(standing.ahead, now);
        Wait::new(place, &standing, estimate, self.settings.line.check_in)
    }
}
