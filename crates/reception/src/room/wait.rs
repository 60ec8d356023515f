//! What the waiting room is told of the shops at each tick, and what it tells a client in line
//! (Sa56: the estimate and its range; Sc55: when to come back).

use std::num::NonZeroU64;
use std::time::{Duration, SystemTime};

use usher_queue::{Estimate, Estimator, Place};
use usher_ticket::ItemId;

use super::store::{LineStore, Standing};

/// The shops as the waiting room sees them at a tick.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ShopRoom {
    /// Places free at every live shop, as far as this reception knows (what the head follows).
    pub(crate) free: u64,
    /// Every live shop, as the prior rate counts it.
    pub(crate) live: Vec<LiveShop>,
}

/// A live shop as the estimate's prior counts it (Sa56 before a rate is measured).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LiveShop {
    /// Its places, used or not.
    pub(crate) places: u64,
    /// How long its sessions have held a place lately, all items together, as it reports.
    pub(crate) session: Option<Duration>,
    /// The items it carries (at most [`MAX_PRIOR_ITEMS`]; only names that are item ids, so
    /// nothing else a report names reaches what the line keeps), each with how long its
    /// sessions held a place lately, where the shop has measured it.
    pub(crate) items: Vec<(ItemId, Option<Duration>)>,
}

/// Most items of one shop the prior looks at.
pub(crate) const MAX_PRIOR_ITEMS: usize = 256;

/// Shortest and longest session length learnt: beyond these a measurement is noise rather
/// than how long buyers stay.
pub(crate) const SESSION_LEARNT: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(86_400);

/// What a client in line is told (the `503 waiting` body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The sealed place, to send back on the next try.
    pub queue_token: Option<String>,
    /// 1 = next (also for a client whose turn came but found no free place: it is at the front).
    pub position: Option<u64>,
    /// The place in line, counted from the sale's start (1 = first to join).
    pub place: Option<u64>,
    /// Sa56: the honest estimate of the rest of the wait, from the first answer on.
    pub estimated_wait_ms: u64,
    /// About the 10th and 90th percentiles of the real wait.
    pub estimate_low_ms: u64,
    /// See [`estimate_low_ms`](Self::estimate_low_ms).
    pub estimate_high_ms: u64,
    /// Sc55: when to ask again, in milliseconds (scheduled per place, no jitter).
    pub retry_after_ms: u64,
    /// The token was issued by this answer (a browser should keep it in its queue cookie).
    pub fresh: bool,
    /// The sale's scheduled opening, while it is ahead.
    pub opens_at: Option<SystemTime>,
    /// The client's number in the pre-queue (1 = first to arrive), for a client who joined it.
    pub pre_queue: Option<NonZeroU64>,
}

impl Wait {
    /// Sa56 for `place` as the line in `store` stands at `now`: its position, the estimate
    /// from `estimator`, and when to come back (Sc55); with the standing it was worked from.
    pub(crate) fn for_place(
        place: Place,
        store: &dyn LineStore,
        estimator: &Estimator,
        now: std::time::Instant,
        check_in: Duration,
    ) -> (Wait, Standing) {
        let standing = store.standing(place, now, estimator);
        let estimate = estimator.estimate_range(standing.ahead, now);
        (Wait::new(place, &standing, estimate, check_in), standing)
    }

    /// The answer for `place` standing as `standing` says, told `estimate`. With nothing at all
    /// to go on (no live shop's places known yet, no rate, no past wait) the next check-in is
    /// the honest figure: the client learns more then.
    pub(crate) fn new(
        place: Place,
        standing: &Standing,
        estimate: Option<Estimate>,
        check_in: Duration,
    ) -> Wait {
        let estimate = estimate.unwrap_or(Estimate {
            wait: standing.retry_after,
            low: Duration::ZERO,
            high: check_in.max(standing.retry_after),
        });
        Wait {
            queue_token: None,
            position: Some(standing.ahead.max(1)),
            place: Some(place.0.saturating_add(1)),
            estimated_wait_ms: millis(estimate.wait),
            estimate_low_ms: millis(estimate.low),
            estimate_high_ms: millis(estimate.high),
            retry_after_ms: millis(standing.retry_after),
            fresh: false,
            opens_at: None,
            pre_queue: None,
        }
    }
}

/// The pre-queue number (1-based) of the client that arrived `n`th (0-based).
pub(crate) fn pre_queue_number(n: u64) -> Option<NonZeroU64> {
    NonZeroU64::new(n.saturating_add(1))
}

/// Whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
