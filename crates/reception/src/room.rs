//! The waiting room (Sa54-Sa56): one fair line for the whole sale, the estimate of each wait,
//! and the queue tokens that carry each client's place, so the reception keeps O(1) state per
//! waiting client.
//!
//! The hot path pays one atomic load for it: while nobody waits and no eligible client is
//! still expected ([`WaitingRoom::is_gated`] is false), newcomers go straight to a shop.

mod limit;
pub(crate) mod state;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, watch};
use usher_queue::{ClaimError, Counters, Estimator, Line, Place};
use usher_ticket::{
    Epoch, Issuer, IssuerId, ItemId, Keyring, QueueContext, QueueOpener, QueueSealer, QueueSpec,
    QueueToken, Rejection,
};
use usher_wire::{Clock, Code};

use crate::config::QueueSettings;
use limit::JoinLimiter;
use state::{MAX_ISSUERS, Saved, StateError};

/// Most clients kept waiting at the front at once (a few MiB at most).
const MAX_FRONT: usize = 1 << 16;

/// Clients this near the front (position) who check in and are not let in yet are held for up
/// to [`QueueSettings::hold`] rather than answered at once: the moment a place frees they are
/// let in, instead of at their next check-in, so no place stands idle between one buyer and
/// the next.
const HOLD_POSITIONS: u64 = 64;

/// Most requests held at once (one client can send several).
const MAX_HELD: usize = 1024;

/// What a client in line is told (the `503 waiting` body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The sealed place, to send back on the next try.
    pub queue_token: Option<String>,
    /// 1 = next (also for a client whose turn came but found no free place: it is at the front).
    pub position: Option<u64>,
    /// The place in line, counted from the sale's start (1 = first to join).
    pub place: Option<u64>,
    /// Sa56: the honest estimate of the rest of the wait; `None` while there is nothing to
    /// estimate from.
    pub estimated_wait_ms: Option<u64>,
    /// Sc55: when to ask again, in milliseconds (scheduled per place, no jitter).
    pub retry_after_ms: u64,
    /// The token was issued by this answer (a browser should keep it in its queue cookie).
    pub fresh: bool,
}

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
            // At most MAX_ISSUERS, far under the opener's limit.
            let _ = opener.admit_issuer(*id);
        }
        Tokens {
            sealer: keyring.queue_sealer(Arc::clone(issuer)),
            opener,
        }
    }
}

#[derive(Debug)]
struct Inner {
    line: Line,
    estimator: Estimator,
    limiter: JoinLimiter,
    /// Claimed places whose admission is in flight (a handful: one per admission under way).
    admitting: Vec<u64>,
    /// Newcomers let past a gated line whose admission is in flight.
    newcomers: u64,
    /// Places free at the last tick, so held clients are woken only when more are.
    last_free: u64,
    /// Clients whose turn came but who found no free place: they wait at the front, and keep
    /// their place for a grace period from the last time they were sent back, even after the
    /// line gave up the places of their time (at most [`MAX_FRONT`], oldest dropped first).
    front: std::collections::BTreeMap<u64, Instant>,
}

impl Inner {
    /// Places about to be taken by admissions in flight, which no report shows yet.
    fn in_flight(&self) -> u64 {
        self.admitting.len() as u64 + self.newcomers
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct WaitingRoom {
    settings: QueueSettings,
    epoch: Epoch,
    /// Newcomers must see the line: someone waits, or an eligible client may still come.
    gated: AtomicBool,
    inner: Mutex<Inner>,
    tokens: RwLock<Arc<Tokens>>,
    /// Issuers whose tokens are honoured: this run's and the previous runs' (from the state).
    honoured: Vec<IssuerId>,
    /// Places below this number are on disk (`u64::MAX` when nothing is persisted).
    saved: watch::Sender<u64>,
    /// Wakes the saver.
    save_wanted: Notify,
    /// Wakes the ticker early: a shop reported, so places may have freed.
    reported: Notify,
    /// Wakes the clients held near the front: the head moved, or places are free.
    room_made: Notify,
    /// Bounds how many requests are held at once.
    holds: Arc<tokio::sync::Semaphore>,
    /// The counters last written, so an unchanged line is not written again.
    last_saved: Mutex<Option<Counters>>,
    /// Held for the room's life: two receptions never write one state file.
    lock: Mutex<Option<std::fs::File>>,
}

impl WaitingRoom {
    /// The room of a sale: restored from `settings.state_file` when there is one (a damaged
    /// file is an error, never a silent reset), and written back at once with this run's
    /// issuer, so that its tokens survive the next restart.
    pub(crate) fn new(
        settings: QueueSettings,
        keyring: &Keyring,
        issuer: &Arc<Issuer>,
        now: Instant,
    ) -> Result<WaitingRoom, StateError> {
        let lock = match &settings.state_file {
            Some(path) => Some(state::lock(path)?),
            None => None,
        };
        let saved = match &settings.state_file {
            Some(path) => state::load(path)?,
            None => None,
        };
        let (epoch, line, mut honoured) = match &saved {
            Some(s) => {
                let line = Line::restore(s.counters, settings.line.clone(), now).map_err(|e| {
                    StateError::Invalid {
                        path: settings.state_file.clone().unwrap_or_default(),
                        message: e.to_string(),
                    }
                })?;
                (Epoch(s.epoch), line, s.issuer_ids())
            }
            None => (
                Epoch(random_u32()),
                Line::new(settings.line.clone()),
                Vec::new(),
            ),
        };
        honoured.push(issuer.id());
        if honoured.len() > MAX_ISSUERS {
            honoured.drain(..honoured.len() - MAX_ISSUERS);
        }
        let issued = line.snapshot().issued;
        let saved_below = match &settings.state_file {
            Some(path) => {
                state::save(path, &Saved::new(epoch.0, line.snapshot(), &honoured))?;
                issued
            }
            None => u64::MAX,
        };
        let gated = line.waiting() > 0 || line.expected_claims(now) > 0.0;
        Ok(WaitingRoom {
            tokens: RwLock::new(Arc::new(Tokens::new(keyring, issuer, &honoured))),
            inner: Mutex::new(Inner {
                line,
                estimator: Estimator::new(settings.estimator.clone()),
                limiter: JoinLimiter::new(settings.join_limit, settings.join_window),
                admitting: Vec::new(),
                newcomers: 0,
                last_free: 0,
                front: std::collections::BTreeMap::new(),
            }),
            gated: AtomicBool::new(gated),
            saved: watch::Sender::new(saved_below),
            save_wanted: Notify::new(),
            reported: Notify::new(),
            room_made: Notify::new(),
            holds: Arc::new(tokio::sync::Semaphore::new(MAX_HELD)),
            last_saved: Mutex::new(None),
            lock: Mutex::new(lock),
            honoured,
            epoch,
            settings,
        })
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
    /// flight will take. If so, it counts as in flight until [`InFlight`] ends.
    pub(crate) fn newcomer_may_pass(&self, now: Instant, free: u64) -> bool {
        let mut inner = self.lock();
        let free = free.saturating_sub(inner.in_flight());
        let passes = inner.line.admits_newcomer(now, free);
        inner.newcomers += u64::from(passes);
        passes
    }

    /// Sa54: every shop is busy (or others wait), so the client joins the line at the back.
    /// Refused with `too_many` when its prefix joined too often. Returns the answer and its
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
            let mut inner = self.lock();
            if !inner.limiter.admit(&binding, now) {
                return Err(Code::TooMany);
            }
            if inner.line.waiting() == 0 {
                inner.estimator.line_formed(now);
            }
            let place = inner.line.join();
            self.gated.store(true, Ordering::Release);
            (place, wait_for(&inner, place, now))
        };
        let spec = QueueSpec {
            epoch: self.epoch,
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
        if place.0 >= *self.saved.borrow() {
            self.save_wanted.notify_one();
        }
        Ok((wait, place))
    }

    /// Waits until `place` is on disk, so no restart can hand its number out again.
    pub(crate) async fn saved(&self, place: Place) {
        let mut saved = self.saved.subscribe();
        let _ = saved.wait_for(|&below| below > place.0).await;
    }

    /// Whether `place` is already on disk.
    pub(crate) fn is_saved(&self, place: Place) -> bool {
        *self.saved.borrow() > place.0
    }

    /// Opens a queue token presented by `client` for `item`.
    pub(crate) fn open(
        &self,
        token: &str,
        client: IpAddr,
        item: &str,
        wall: SystemTime,
    ) -> Result<QueueToken, Rejection> {
        let context =
            QueueContext::new(wall, client, self.epoch, item, self.settings.token_max_age);
        let tokens = self.tokens.read().unwrap_or_else(PoisonError::into_inner);
        tokens.opener.verify(token, &context)
    }

    /// Sc56 → Sa53: a client is back with its place. Its turn: the place is claimed (once),
    /// and its admission is in flight until [`InFlight`] ends. Not yet: a fresh estimate for
    /// the same place, never a penalty and never an advantage.
    pub(crate) fn check_in(&self, place: Place, now: Instant) -> CheckIn {
        let mut inner = self.lock();
        let grace = self.settings.line.grace;
        // Several places became eligible at once: the ones ahead go first, briefly.
        if inner.line.is_eligible(place) && inner.line.is_behind(place, now) {
            return CheckIn::Wait(wait_for(&inner, place, now));
        }
        match inner.line.claim(place, now) {
            Ok(()) => {
                inner.front.remove(&place.0);
                inner.admitting.push(place.0);
                CheckIn::Claimed
            }
            Err(ClaimError::NotYet) => CheckIn::Wait(wait_for(&inner, place, now)),
            // The same client asked twice at once (two tabs, a reload): the first is being
            // admitted, so this one waits a moment rather than lose the place.
            Err(ClaimError::AlreadyClaimed | ClaimError::GivenUp)
                if inner.admitting.contains(&place.0) =>
            {
                CheckIn::Wait(wait_for(&inner, place, now))
            }
            // Waiting at the front since before the line gave up its time's places.
            Err(ClaimError::GivenUp)
                if inner
                    .front
                    .get(&place.0)
                    .is_some_and(|&since| now.saturating_duration_since(since) < grace) =>
            {
                inner.front.remove(&place.0);
                inner.admitting.push(place.0);
                CheckIn::Claimed
            }
            Err(ClaimError::AlreadyClaimed) => CheckIn::Refused(Code::Used),
            Err(ClaimError::GivenUp) => CheckIn::Refused(Code::GivenUp),
            // A number this line never handed out: the state was lost or the token is not ours.
            Err(ClaimError::Unknown) => CheckIn::Refused(Code::StaleEpoch),
        }
    }

    /// The admission of a claimed place ended. Not admitted (no shop had room, or the client
    /// went away): the claim is handed back and the client waits at the front.
    fn settle_claim(&self, place: Place, now: Instant, admitted: bool) -> Wait {
        let mut inner = self.lock();
        if let Some(at) = inner.admitting.iter().position(|&p| p == place.0) {
            inner.admitting.swap_remove(at);
        }
        if !admitted {
            inner.line.unclaim(place, now);
            // It waits at the front, its grace counted from now: obeying never costs the place.
            inner.front.insert(place.0, now);
            if inner.front.len() > MAX_FRONT {
                inner.front.pop_first();
            }
        }
        wait_for(&inner, place, now)
    }

    fn newcomer_done(&self) {
        let mut inner = self.lock();
        inner.newcomers = inner.newcomers.saturating_sub(1);
    }

    /// A client from the line was admitted after waiting since `arrived_at_ms` (unix ms): its
    /// wait feeds the estimate's fallback (patent 0048).
    pub(crate) fn admitted(&self, arrived_at_ms: u64, wall: SystemTime) {
        let now_ms = usher_wire::clock::unix_ms(wall);
        let waited = Duration::from_millis(now_ms.saturating_sub(arrived_at_ms));
        self.lock().estimator.waited(waited);
    }

    /// Moves the head to match `free` places at the shops (less those admissions in flight
    /// are about to take) and measures the rate (Sa56); wakes the clients held near the front
    /// when the head moved or more places are free.
    pub(crate) fn tick(&self, now: Instant, free: u64) {
        let mut inner = self.lock();
        let grace = self.settings.line.grace;
        inner
            .front
            .retain(|_, since| now.saturating_duration_since(*since) < grace);
        let free = free.saturating_sub(inner.in_flight());
        let moved = inner.line.advance(now, free);
        inner.estimator.freed(now, moved);
        let gated = inner.line.waiting() > 0 || inner.line.expected_claims(now) > 0.0;
        self.gated.store(gated, Ordering::Release);
        let more_free = free > inner.last_free;
        inner.last_free = free;
        drop(inner);
        if moved > 0 || more_free {
            self.room_made.notify_waiters();
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

    /// Writes the counters if they changed since the last write, then tells the joins that
    /// waited for it. Blocking I/O runs off the runtime.
    pub(crate) async fn save(&self) -> Result<(), StateError> {
        let Some(path) = self.settings.state_file.clone() else {
            return Ok(());
        };
        let counters = self.lock().line.snapshot();
        if *self
            .last_saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            == Some(counters)
        {
            return Ok(());
        }
        let saved = Saved::new(self.epoch.0, counters, &self.honoured);
        tokio::task::spawn_blocking(move || state::save(&path, &saved))
            .await
            .map_err(|e| StateError::Write {
                path: self.settings.state_file.clone().unwrap_or_default(),
                source: std::io::Error::other(e),
            })??;
        *self
            .last_saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(counters);
        self.saved.send_if_modified(|below| {
            let changed = counters.issued > *below;
            *below = (*below).max(counters.issued);
            changed
        });
        Ok(())
    }

    /// Lets another reception take the state file (after the last save).
    pub(crate) fn release(&self) {
        self.lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// A shop reported: the head may move now rather than at the next tick.
    pub(crate) fn shop_reported(&self) {
        self.reported.notify_one();
    }

    /// Resolves after [`shop_reported`](Self::shop_reported).
    pub(crate) async fn reported(&self) {
        self.reported.notified().await;
    }

    /// Resolves when a join handed out a place that is not on disk yet.
    pub(crate) async fn save_wanted(&self) {
        self.save_wanted.notified().await;
    }

    /// For operators: the line's counters, waiting clients, rate and no-show share.
    pub(crate) fn status(&self, now: Instant) -> serde_json::Value {
        let inner = self.lock();
        let c = inner.line.snapshot();
        serde_json::json!({
            "epoch": self.epoch.0,
            "issued": c.issued,
            "head": c.head,
            "open_from": c.open_from,
            "waiting": inner.line.waiting(),
            "rate_per_s": inner.estimator.rate(now),
            "no_show_share": inner.line.no_show_share(),
            "heap_bytes": inner.line.heap_bytes(),
            "in_flight": inner.in_flight(),
            "front": inner.front.len(),
            "held": MAX_HELD - self.holds.available_permits(),
            "expected_claims": inner.line.expected_claims(now),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sa56 for `place`: its position, the estimate, and when to come back (Sc55).
fn wait_for(inner: &Inner, place: Place, now: Instant) -> Wait {
    let ahead = inner.line.ahead(place);
    let estimate = inner.estimator.estimate(ahead, now);
    let retry = inner.line.retry_after(place, now, &inner.estimator);
    Wait {
        queue_token: None,
        position: Some(ahead.max(1)),
        place: Some(place.0.saturating_add(1)),
        estimated_wait_ms: estimate.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        retry_after_ms: u64::try_from(retry.as_millis()).unwrap_or(u64::MAX),
        fresh: false,
    }
}

/// A random sale epoch for a line that starts afresh.
fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // Without randomness the epoch is still unique enough per run: the time.
    if getrandom::fill(&mut bytes).is_err() {
        return usher_wire::clock::unix_ms(SystemTime::now()) as u32;
    }
    u32::from_le_bytes(bytes)
}

/// An admission from the line under way: a claimed place, or a newcomer let past a gated line.
/// Until it ends, the place it will take counts as used. Dropped unfinished (the client went
/// away mid-admission), a claim is handed back, so the client keeps its place.
#[derive(Debug)]
pub(crate) struct InFlight {
    room: Arc<WaitingRoom>,
    clock: Arc<dyn Clock>,
    place: Option<Place>,
    done: bool,
}

impl InFlight {
    /// The admission of `place`, claimed by [`WaitingRoom::check_in`].
    pub(crate) fn claim(room: &Arc<WaitingRoom>, clock: &Arc<dyn Clock>, place: Place) -> Self {
        InFlight {
            room: Arc::clone(room),
            clock: Arc::clone(clock),
            place: Some(place),
            done: false,
        }
    }

    /// A newcomer let past by [`WaitingRoom::newcomer_may_pass`].
    pub(crate) fn newcomer(room: &Arc<WaitingRoom>, clock: &Arc<dyn Clock>) -> Self {
        InFlight {
            room: Arc::clone(room),
            clock: Arc::clone(clock),
            place: None,
            done: false,
        }
    }

    /// The admission ended; `admitted` false hands a claim back. Returns the client's wait
    /// (for a claim).
    pub(crate) fn finish(mut self, admitted: bool) -> Option<Wait> {
        self.done = true;
        self.end(admitted)
    }

    fn end(&self, admitted: bool) -> Option<Wait> {
        match self.place {
            Some(place) => Some(
                self.room
                    .settle_claim(place, self.clock.instant(), admitted),
            ),
            None => {
                self.room.newcomer_done();
                None
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.end(false);
        }
    }
}
