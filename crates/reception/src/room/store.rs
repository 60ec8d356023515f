//! The seam between the waiting room's logic and the line's state: what several receptions
//! selling one sale would share (the counters, the claim bits, the clients waiting at the
//! front, the sale's epoch and the issuers whose tokens are honoured) and how it is kept.
//!
//! [`LineStore`] is that state's whole interface; [`MemoryStore`](super::memory::MemoryStore)
//! (in memory, its counters in a state file) is today's one implementation. Each method is one
//! atomic step, so a shared store can run each as one transaction. What stays per reception
//! sits above the seam, in the room: the estimate, join limits, the cap on places waiting per
//! network, admissions in flight.
//!
//! The room calls the store with its own lock held, so one reception's steps never interleave
//! (a claim and the standing it then reports, say). Across receptions sharing a store they can:
//! the standing is then read a moment after the claim, which only ever finds the line further
//! on (the head never moves back), so a client is told a position no worse than its own.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use std::time::SystemTime;

use usher_queue::{ClaimError, Counters, Estimator, Place, PreQueueOrder, SEED_LEN};
use usher_ticket::{Epoch, IssuerId, ItemId};

/// A future a store returns (boxed, so stores can sit behind `dyn`).
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a client back with its place finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Its turn: the place is claimed (once), and no longer waits at the front.
    Claimed,
    /// Eligible, but places made eligible together just ahead of it go first, briefly.
    Behind,
    /// Not claimed (not yet, already, given up, unknown).
    Refused(ClaimError),
}

/// The head moved (or not) at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Advanced {
    /// Places made eligible.
    pub(crate) moved: u64,
    /// Where the head now is: places below it are eligible.
    pub(crate) head: u64,
    /// Newcomers must look at the line: someone waits, or an eligible client may still come.
    pub(crate) gated: bool,
}

/// Where a place stands in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    /// Places ahead of it (0 once eligible).
    pub(crate) ahead: u64,
    /// When its client should come back (Sc55).
    pub(crate) retry_after: Duration,
}

/// How long sessions hold a place, as learnt from the shops' reports: all items together and
/// per item (at most [`MAX_LEARNT_ITEMS`], the first learnt), in milliseconds as kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Learnt {
    pub(crate) all_ms: Option<u64>,
    pub(crate) by_item_ms: BTreeMap<String, u64>,
}

/// Most items whose session length is kept with the line (they must fit the state file's slot
/// beside the rest: 24 of the longest item ids take about 2.1 KB).
pub(crate) const MAX_LEARNT_ITEMS: usize = 24;

impl Learnt {
    /// All items together.
    pub(crate) fn all(&self) -> Option<Duration> {
        self.all_ms.map(Duration::from_millis)
    }

    /// For `item`.
    pub(crate) fn item(&self, item: &str) -> Option<Duration> {
        self.by_item_ms
            .get(item)
            .copied()
            .map(Duration::from_millis)
    }

    /// Learns `session` for `item`, unless [`MAX_LEARNT_ITEMS`] others are kept already (an
    /// item id, bounded in length and plain in its characters, is what keeps the state file
    /// within its slot); whether that changed what is kept.
    pub(crate) fn learn_item(&mut self, item: &ItemId, session: Duration) -> bool {
        let ms = usher_wire::mgmt::millis(session);
        let room = self.by_item_ms.len() < MAX_LEARNT_ITEMS;
        match self.by_item_ms.get_mut(item.as_str()) {
            Some(kept) => std::mem::replace(kept, ms) != ms,
            None if room => {
                self.by_item_ms.insert(item.as_str().to_owned(), ms);
                true
            }
            None => false,
        }
    }

    /// Learns `session` for all items together; whether that changed what is kept.
    pub(crate) fn learn_all(&mut self, session: Duration) -> bool {
        let ms = Some(usher_wire::mgmt::millis(session));
        std::mem::replace(&mut self.all_ms, ms) != ms
    }
}

/// The line's state, for operators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LineView {
    pub(crate) counters: Counters,
    pub(crate) waiting: u64,
    pub(crate) no_show_share: f64,
    pub(crate) heap_bytes: usize,
    pub(crate) front: usize,
    pub(crate) expected_claims: f64,
}

/// The pre-queue of a scheduled opening, as kept with the line: its clients hold the places
/// `first..end`, in arrival order, until the draw gives each its place in that range. What
/// the draw depends on is kept here, not taken from the settings, so that no restart with
/// other settings can draw it again differently.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct PreQueue {
    /// The draw's seed: secret until the draw, published after it.
    pub(crate) seed: [u8; SEED_LEN],
    /// When the sale opens (may move until the draw is made).
    pub(crate) opens_at: SystemTime,
    /// How the draw orders it.
    pub(crate) order: PreQueueOrder,
    /// The pre-queue's first place (the line's `issued` when the opening was first set).
    pub(crate) first: u64,
    /// The place past its last, fixed by the draw; `None` before the draw.
    pub(crate) end: Option<u64>,
}

impl std::fmt::Debug for PreQueue {
    /// Leaves the seed out: it is secret until the draw.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreQueue")
            .field("opens_at", &self.opens_at)
            .field("order", &self.order)
            .field("first", &self.first)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl PreQueue {
    /// Whether `place` is one of the pre-queue's (any place from `first` before the draw).
    pub(crate) fn holds(&self, place: Place) -> bool {
        place.0 >= self.first && self.end.is_none_or(|end| place.0 < end)
    }
}

/// See the module documentation. `now` is the caller's monotonic clock throughout.
pub(crate) trait LineStore: Send + Sync + std::fmt::Debug {
    /// The sale's epoch, sealed into every queue token.
    fn epoch(&self) -> Epoch;

    /// Issuers whose queue tokens are honoured: earlier runs' and this run's (newest last).
    fn honoured(&self) -> Vec<IssuerId>;

    /// Sa54: a place at the back of the line; `true` with it when nobody was waiting.
    fn join(&self) -> (Place, bool);

    /// Sa53: claims `place` if its turn came. A client whose turn came earlier and who waits at
    /// the front (handed back within the grace period) claims it even after the line gave up
    /// its time's places.
    fn claim(&self, place: Place, now: Instant) -> Claim;

    /// A claimed place found no room after all: the claim is handed back and the client waits
    /// at the front, its grace counted from `now`.
    fn hand_back(&self, place: Place, now: Instant);

    /// Moves the head to match `free` places at the shops; forgets clients at the front whose
    /// grace ran out.
    fn advance(&self, now: Instant, free: u64) -> Advanced;

    /// Whether a newcomer may take one of `free` places now, ahead of nobody.
    fn admits_newcomer(&self, now: Instant, free: u64) -> bool;

    /// Whether newcomers must look at the line (see [`Advanced::gated`]).
    fn is_gated(&self, now: Instant) -> bool;

    /// Where `place` stands, and when to tell its client to come back given the `estimator`.
    fn standing(&self, place: Place, now: Instant, estimator: &Estimator) -> Standing;

    /// The state, for operators.
    fn view(&self, now: Instant) -> LineView;

    /// The session lengths learnt so far (kept with the line, so a restart starts from them).
    fn sessions(&self) -> Learnt;

    /// Keeps `learnt` as the session lengths learnt so far.
    fn learn_sessions(&self, learnt: &Learnt);

    /// Places handed out so far (the next place's number).
    fn issued(&self) -> u64;

    /// The pre-queue of the sale's scheduled opening, if it has one.
    fn pre_queue(&self) -> Option<PreQueue>;

    /// The draw at the opening: fixes the pre-queue's end at the places kept durably so far
    /// (once; later calls return what the first fixed), so that a restart before the end is
    /// itself on disk draws the very same pre-queue again, and no client waits for the disk to
    /// learn its drawn place. Places handed out but not yet durable (joins whose answers
    /// still wait for the disk) fall behind the pre-queue, as the first arrivals after the
    /// opening. `None` without a pre-queue, and while a write is under way (what it makes
    /// durable is not known until it lands): ask again in a moment.
    fn draw(&self) -> Option<PreQueue>;

    /// Whether `place` is kept durably (no restart can hand its number out again).
    fn is_saved(&self, place: Place) -> bool;

    /// Resolves once `place` is kept durably.
    fn saved(&self, place: Place) -> StoreFuture<'_, ()>;

    /// Keeps the state durable until `shutdown`, then once more, and lets it go (another
    /// reception may take it). Errors are logged; places not yet durable are never answered.
    fn persist(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> StoreFuture<'_, ()>;
}
