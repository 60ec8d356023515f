//! A scheduled opening: before it, arrivals join a pre-queue (or, before the pre-queue opens,
//! are told when to come back) and nobody is admitted; at it, the pre-queue's order is drawn
//! from a seed committed to before the opening and published after it, and the line runs as
//! any other, arrivals after the opening joining behind.
//!
//! The pre-queue's clients hold ordinary places `first..end` in arrival order (so joining,
//! tokens and persistence are the line's own); the draw gives each of them the place
//! `first + index(place - first)` in the same range, `index` the seeded permutation of
//! [`Draw`]. Nothing is kept per client: a token's drawn place is computed when it comes back.

use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use usher_queue::{Arrivals, Draw, Estimate, Estimator, Place, PreQueueOrder};
use usher_wire::{Opening, Rfc3339, hex};

use super::store::{LineStore, PreQueue};
use super::wait::{Wait, millis, pre_queue_number};

/// How soon a draw held back by a write under way is tried again.
const DRAW_RETRY: Duration = Duration::from_millis(2);

/// How long before the opening the draw is made: in that second its clients learn their
/// places and are told return times spread by them, so the opening meets the few it lets in
/// first (held for it) rather than the whole pre-queue at once. Arrivals in that second join
/// behind the pre-queue, as later ones do.
pub(crate) const DRAW_LEAD: Duration = Duration::from_secs(1);

/// Where within the draw's second pre-queue client `number` comes back: spread evenly over
/// its first 700 ms by the golden ratio, whatever the pre-queue's size.
fn spread(number: u64) -> Duration {
    const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
    let fraction = number.wrapping_mul(GOLDEN) >> 54; // 0..1024
    Duration::from_micros(fraction * 700_000 / 1024)
}

/// An estimate with nothing to go on but the opening, `until` away: then, or at the check-in
/// after it.
fn at_the_opening(until: Duration, check_in: Duration) -> Estimate {
    Estimate {
        wait: until,
        low: until,
        high: until + check_in,
    }
}

/// Where a client with a place stands at a sale with a scheduled opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seat {
    /// Its place in the line (drawn, for a client of the pre-queue), and its pre-queue number
    /// (1-based).
    Line(Place, Option<NonZeroU64>),
    /// Before the opening (in the pre-queue, or ahead of it from an earlier line): what it is
    /// told. Nobody is let in before the opening.
    Before(Wait),
}

/// What a waiting client's answer is worked out from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Told<'a> {
    pub(crate) estimator: &'a Estimator,
    /// How fast clients join (the pre-queue's growth until the draw).
    pub(crate) arrivals: &'a Arrivals,
    /// The longest time between check-ins.
    pub(crate) check_in: Duration,
    /// How long a request near its turn may be held.
    pub(crate) hold: Duration,
    pub(crate) now: std::time::Instant,
    pub(crate) wall: SystemTime,
}

/// The draw once made.
#[derive(Debug)]
struct Drawn {
    first: u64,
    draw: Draw,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// When the sale opens.
    opens_at: SystemTime,
    /// Arrivals before this are told to come back then; `None`: any time before the opening.
    pre_queue_from: Option<SystemTime>,
    /// How the draw orders the pre-queue.
    order: PreQueueOrder,
    drawn: OnceLock<Drawn>,
    /// The opening came (and the draw is made): clients may be let in.
    opened: std::sync::atomic::AtomicBool,
    /// Set at the first admission after the opening (which is logged, with how long after).
    first_admitted: std::sync::atomic::AtomicBool,
}

impl Schedule {
    /// The schedule of the pre-queue the line keeps (its opening and order are the line's,
    /// so a restart never draws it differently); a draw made in an earlier run is taken up.
    pub(crate) fn new(pre: &PreQueue, pre_queue_from: Option<SystemTime>) -> Schedule {
        let schedule = Schedule {
            opens_at: pre.opens_at,
            pre_queue_from,
            order: pre.order,
            drawn: OnceLock::new(),
            opened: std::sync::atomic::AtomicBool::new(false),
            first_admitted: std::sync::atomic::AtomicBool::new(pre.end.is_some()),
        };
        if pre.end.is_some() {
            schedule.take_up(pre);
        }
        schedule
    }

    /// How the draw orders the pre-queue.
    pub(crate) fn order(&self) -> PreQueueOrder {
        self.order
    }

    /// Whether the draw is made (then the sale runs as one without a schedule).
    pub(crate) fn is_drawn(&self) -> bool {
        self.drawn.get().is_some()
    }

    /// Whether the opening came and its draw is made: clients may be let in.
    pub(crate) fn is_open(&self) -> bool {
        self.opened.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Opens the sale if the opening came at `wall` and its draw is made; `true` when this call
    /// opened it (the line forms now).
    pub(crate) fn open_if_due(&self, wall: SystemTime) -> bool {
        let due = self.is_drawn() && wall >= self.opens_at;
        due && !self.opened.swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// Makes the draw if it is due at `wall` ([`DRAW_LEAD`] before the opening) and not made
    /// yet; `true` when this call made it.
    pub(crate) fn draw_if_due(&self, wall: SystemTime, store: &dyn LineStore) -> bool {
        if self.is_drawn() || wall + DRAW_LEAD < self.opens_at {
            return false;
        }
        let Some(pre) = store.draw() else {
            return false;
        };
        self.take_up(&pre);
        let size = pre.end.map(|end| end - pre.first);
        tracing::info!(pre_queue = size, "the pre-queue's order is drawn");
        true
    }

    fn take_up(&self, pre: &PreQueue) {
        let size = pre.end.unwrap_or(pre.first).saturating_sub(pre.first);
        let _ = self.drawn.set(Drawn {
            first: pre.first,
            draw: Draw::new(&pre.seed, size, pre.order),
        });
    }

    /// Where the client holding `place` (from its token) stands at `wall`, and what it is told
    /// if it waits for the opening.
    pub(crate) fn seat(&self, place: Place, store: &dyn LineStore, told: Told<'_>) -> Seat {
        let (place, number) = match store.pre_queue().filter(|p| p.holds(place)) {
            Some(pre) => {
                let number = place.0 - pre.first;
                let Some(drawn) = self.drawn.get() else {
                    let size = store.issued().saturating_sub(pre.first);
                    return Seat::Before(self.pre_queue_wait(number, size, told));
                };
                match drawn.draw.index(number) {
                    Some(index) => (Place(drawn.first + index), pre_queue_number(number)),
                    // Past the draw's size: a place handed out after the draw.
                    None => (place, None),
                }
            }
            // A place from before the pre-queue, or after the draw.
            None => (place, None),
        };
        if self.is_open() {
            return Seat::Line(place, number);
        }
        Seat::Before(self.held_back(place, number, store, told))
    }

    /// What a client with a place in the line (drawn, or from before the pre-queue, or after
    /// the draw) is told before the opening: its place, its wait counted from the opening, and
    /// when to come back, spread by its place (the first places held for the opening).
    fn held_back(
        &self,
        place: Place,
        number: Option<NonZeroU64>,
        store: &dyn LineStore,
        told: Told<'_>,
    ) -> Wait {
        let (mut wait, standing) =
            Wait::for_place(place, store, told.estimator, told.now, told.check_in);
        let until = self.until_opening(told.wall);
        let after = |ms: u64| ms.saturating_add(millis(until));
        wait.estimated_wait_ms = after(wait.estimated_wait_ms);
        wait.estimate_low_ms = after(wait.estimate_low_ms);
        wait.estimate_high_ms = after(wait.estimate_high_ms);
        let retry = self.return_time(until, told) + standing.retry_after;
        wait.retry_after_ms = millis(retry.min(told.check_in));
        wait.opens_at = Some(self.opens_at);
        wait.pre_queue = number;
        wait
    }

    /// What a client of the pre-queue (number `number`, 0-based, of `size` so far) is told at
    /// `wall`: the opening, its number, and an estimate that counts the time to the opening
    /// and the place it may draw (any of the pre-queue's, when drawn at random: between a tenth
    /// of those there so far and nine tenths of those foreseen by the draw at the recent pace
    /// of arrivals, about half of those likely by then). It comes back after the draw, or at
    /// its next check-in before that.
    fn pre_queue_wait(&self, number: u64, size: u64, told: Told<'_>) -> Wait {
        let Told {
            estimator,
            arrivals,
            check_in,
            now,
            wall,
            ..
        } = told;
        let until = self.until_opening(wall);
        // Back after the draw, to learn the place it drew: spread over most of the second
        // before the opening by its number, so the pre-queue does not come back all at once.
        let until_draw = until.saturating_sub(DRAW_LEAD);
        let size = size.max(number + 1);
        let likely = size.saturating_add(arrivals.likely_within(until_draw, now));
        let most = size.saturating_add(arrivals.expected_within(until_draw, now));
        let (low, mid, high) = match self.order {
            PreQueueOrder::Random => (size / 10, likely / 2, most - most / 10),
            PreQueueOrder::Arrival => (number, number, number),
        };
        let range = |ahead| estimator.estimate_range(ahead, now);
        let estimate = match (range(low), range(mid), range(high)) {
            (Some(low), Some(mid), Some(high)) => Estimate {
                wait: until + mid.wait,
                low: until + low.low,
                high: until + high.high,
            },
            _ => at_the_opening(until, check_in),
        };
        let back = match until_draw {
            until_draw if until_draw > check_in => check_in,
            until_draw if until_draw.is_zero() => until.min(DRAW_RETRY * 50),
            until_draw => until_draw + spread(number),
        };
        let mut wait = self.early_wait(back, estimate);
        wait.pre_queue = pre_queue_number(number);
        wait
    }

    /// When a client waiting for the opening, `until` away, comes back: at its next check-in,
    /// or a little before the opening, to be held until it (the clients it draws first are then
    /// let in the moment it comes, whatever their connections' delay).
    fn return_time(&self, until: Duration, told: Told<'_>) -> Duration {
        let early = told.hold / 2;
        match until {
            until if until > told.check_in => told.check_in,
            until if until > early => until - early,
            until => until,
        }
    }

    /// What an arrival before the pre-queue opens is told: come back when it opens (or at the
    /// next check-in before that). `None` once the pre-queue is open.
    pub(crate) fn too_early(&self, wall: SystemTime, check_in: Duration) -> Option<Wait> {
        let until_pre_queue = self.pre_queue_from?.duration_since(wall).ok()?;
        if self.is_drawn() || until_pre_queue.is_zero() {
            return None;
        }
        let estimate = at_the_opening(self.until_opening(wall), check_in);
        Some(self.early_wait(until_pre_queue.min(check_in), estimate))
    }

    fn early_wait(&self, retry_after: Duration, estimate: Estimate) -> Wait {
        Wait {
            queue_token: None,
            position: None,
            place: None,
            estimated_wait_ms: millis(estimate.wait),
            estimate_low_ms: millis(estimate.low),
            estimate_high_ms: millis(estimate.high),
            retry_after_ms: millis(retry_after),
            fresh: false,
            opens_at: Some(self.opens_at),
            pre_queue: None,
        }
    }

    /// A client from the line was admitted at `wall`: the first after the opening is logged,
    /// with how long after the opening it came.
    pub(crate) fn admitted(&self, wall: SystemTime) {
        use std::sync::atomic::Ordering;
        if self.first_admitted.load(Ordering::Relaxed)
            || self.first_admitted.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let after = wall.duration_since(self.opens_at).unwrap_or_default();
        tracing::info!(
            after_ms = after.as_millis() as u64,
            "the first buyer of the opening was admitted"
        );
    }

    /// How long until the next step of the opening: the draw ([`DRAW_LEAD`] before it, tried
    /// again every [`DRAW_RETRY`] while a write under way holds it back), then the opening.
    pub(crate) fn next_try(&self, wall: SystemTime) -> Duration {
        let lead = if self.is_drawn() {
            Duration::ZERO
        } else {
            DRAW_LEAD
        };
        self.until_opening(wall)
            .saturating_sub(lead)
            .max(DRAW_RETRY)
    }

    /// How long until the opening (zero once it came).
    pub(crate) fn until_opening(&self, wall: SystemTime) -> Duration {
        self.opens_at.duration_since(wall).unwrap_or_default()
    }

    /// The opening as published: the seed's hash before the draw, the seed once it is made.
    pub(crate) fn published(&self, store: &dyn LineStore) -> Option<Opening> {
        let pre = store.pre_queue()?;
        let drawn = pre.end.is_some();
        Some(Opening {
            opens_at: Rfc3339(self.opens_at),
            pre_queue_from: self.pre_queue_from.map(Rfc3339),
            pre_queue_order: self.order.as_str().to_owned(),
            seed_sha256: hex::encode(&usher_queue::commitment(&pre.seed)),
            seed: drawn.then(|| hex::encode(&pre.seed)),
            pre_queue_size: pre.end.map(|end| end - pre.first),
            first_place: pre.first + 1,
        })
    }
}
