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
use usher_queue::{ClaimError, Estimator, Line, Place};
use usher_ticket::{
    Epoch, Issuer, IssuerId, ItemId, Keyring, QueueContext, QueueOpener, QueueSealer, QueueSpec,
    QueueToken, Rejection,
};
use usher_wire::Code;

use crate::config::QueueSettings;
use limit::JoinLimiter;
use state::{MAX_ISSUERS, Saved, StateError};

/// What a client in line is told (the `503 waiting` body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The sealed place, to send back on the next try.
    pub queue_token: Option<String>,
    /// 1 = next (also for a client whose turn came but found no free place: it is at the front).
    pub position: Option<u64>,
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
            }),
            gated: AtomicBool::new(gated),
            saved: watch::Sender::new(saved_below),
            save_wanted: Notify::new(),
            reported: Notify::new(),
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
    /// have more free places than eligible clients are expected to claim.
    pub(crate) fn newcomer_may_pass(&self, now: Instant, free: u64) -> bool {
        self.lock().line.admits_newcomer(now, free)
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

    /// Sc56 → Sa53: a client is back with its place. Its turn: the place is claimed (once).
    /// Not yet: a fresh estimate for the same place, never a penalty and never an advantage.
    pub(crate) fn check_in(&self, place: Place, now: Instant) -> CheckIn {
        let mut inner = self.lock();
        match inner.line.claim(place, now) {
            Ok(()) => CheckIn::Claimed,
            Err(ClaimError::NotYet) => CheckIn::Wait(wait_for(&inner, place, now)),
            Err(ClaimError::AlreadyClaimed) => CheckIn::Refused(Code::Used),
            Err(ClaimError::GivenUp) => CheckIn::Refused(Code::GivenUp),
            // A number this line never handed out: the state was lost or the token is not ours.
            Err(ClaimError::Unknown) => CheckIn::Refused(Code::StaleEpoch),
        }
    }

    /// A claimed client found no free place after all: it keeps its place at the front.
    pub(crate) fn unclaim(&self, place: Place, now: Instant) -> Wait {
        let mut inner = self.lock();
        inner.line.unclaim(place, now);
        wait_for(&inner, place, now)
    }

    /// A client from the line was admitted after waiting since `arrived_at_ms` (unix ms): its
    /// wait feeds the estimate's fallback (patent 0048).
    pub(crate) fn admitted(&self, arrived_at_ms: u64, wall: SystemTime) {
        let now_ms = usher_wire::clock::unix_ms(wall);
        let waited = Duration::from_millis(now_ms.saturating_sub(arrived_at_ms));
        self.lock().estimator.waited(waited);
    }

    /// Moves the head to match `free` places at the shops and measures the rate (Sa56).
    pub(crate) fn tick(&self, now: Instant, free: u64) {
        let mut inner = self.lock();
        let moved = inner.line.advance(now, free);
        inner.estimator.freed(now, moved);
        let gated = inner.line.waiting() > 0 || inner.line.expected_claims(now) > 0.0;
        self.gated.store(gated, Ordering::Release);
    }

    /// Writes the counters if places were handed out beyond what is on disk (or `always`),
    /// then tells the joins that waited for it. Blocking I/O runs off the runtime.
    pub(crate) async fn save(&self, always: bool) -> Result<(), StateError> {
        let Some(path) = self.settings.state_file.clone() else {
            return Ok(());
        };
        let counters = self.lock().line.snapshot();
        if !always && counters.issued <= *self.saved.borrow() {
            return Ok(());
        }
        let saved = Saved::new(self.epoch.0, counters, &self.honoured);
        tokio::task::spawn_blocking(move || state::save(&path, &saved))
            .await
            .map_err(|e| StateError::Write {
                path: self.settings.state_file.clone().unwrap_or_default(),
                source: std::io::Error::other(e),
            })??;
        self.saved.send_if_modified(|below| {
            let changed = counters.issued > *below;
            *below = (*below).max(counters.issued);
            changed
        });
        Ok(())
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
