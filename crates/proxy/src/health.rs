//! How the shop behind the gate has been answering: every forwarded request's outcome and time
//! to answer, in one-second slots of atomic counters (no lock on the forwarding path), read
//! once per report as the last few seconds' median latency and error share, together with the
//! gate's own health checks (a shop nobody is sent to must still be seen to answer).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use usher_wire::mgmt::UpstreamHealth;

/// Seconds a report looks back over.
const WINDOW: u64 = 5;
/// Slots in the ring: the window and the second being filled.
const SLOTS: usize = WINDOW as usize + 1;
/// Latency buckets: four per doubling from 64 µs, the last holding everything from ~4 s up.
const BUCKETS: usize = 64;
/// Below this many requests in the window, their error share says nothing.
const MIN_REQUESTS: u32 = 4;
/// A window with at least this share of failed requests is a failing shop.
const FAILING_SHARE: f64 = 0.5;
/// Health checks in a row that must fail before the shop is out (one can be a blip).
const FAILED_CHECKS: u32 = 2;

/// One second's counts.
struct Slot {
    /// Which second (since `start`) this slot holds, plus one (0: none yet).
    second: AtomicU64,
    requests: AtomicU32,
    errors: AtomicU32,
    latency: [AtomicU32; BUCKETS],
}

impl Slot {
    fn new() -> Slot {
        Slot {
            second: AtomicU64::new(0),
            requests: AtomicU32::new(0),
            errors: AtomicU32::new(0),
            latency: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

/// The shop's recent answers. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    start: Instant,
    slots: [Slot; SLOTS],
    /// Health checks failed in a row.
    failed_checks: AtomicU32,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            inner: Arc::new(Inner {
                start: Instant::now(),
                slots: std::array::from_fn(|_| Slot::new()),
                failed_checks: AtomicU32::new(0),
            }),
        }
    }
}

/// The bucket of a latency: four per doubling from 64 µs.
fn bucket(latency: Duration) -> usize {
    let us = latency.as_micros().max(1) as f64;
    let index = ((us / 64.0).log2() * 4.0).floor();
    if index <= 0.0 {
        0
    } else {
        (index as usize).min(BUCKETS - 1)
    }
}

/// The latency a bucket stands for (its lower edge).
fn bucket_latency_us(index: usize) -> u64 {
    (64.0 * 2f64.powf(index as f64 / 4.0)) as u64
}

impl Health {
    /// One forwarded request's outcome: answered (`ok`) or failed, after `latency`.
    pub(crate) fn record(&self, now: Instant, latency: Duration, ok: bool) {
        let slot = self.slot(now);
        slot.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            slot.errors.fetch_add(1, Ordering::Relaxed);
        }
        slot.latency[bucket(latency)].fetch_add(1, Ordering::Relaxed);
    }

    /// One health check's outcome.
    pub(crate) fn checked(&self, ok: bool) {
        if ok {
            self.inner.failed_checks.store(0, Ordering::Relaxed);
        } else {
            self.inner.failed_checks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The slot for `now`'s second, emptied first if it still holds an older one. Two threads
    /// turning a slot over at once may lose a count; a health figure can afford that.
    fn slot(&self, now: Instant) -> &Slot {
        let second = now.saturating_duration_since(self.inner.start).as_secs();
        let slot = &self.inner.slots[(second % SLOTS as u64) as usize];
        let held = slot.second.load(Ordering::Acquire);
        if held != second + 1
            && slot
                .second
                .compare_exchange(held, second + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            slot.requests.store(0, Ordering::Relaxed);
            slot.errors.store(0, Ordering::Relaxed);
            for b in &slot.latency {
                b.store(0, Ordering::Relaxed);
            }
        }
        slot
    }

    /// The last [`WINDOW`] seconds as a report shows them.
    pub fn snapshot(&self, now: Instant) -> UpstreamHealth {
        let second = now.saturating_duration_since(self.inner.start).as_secs();
        let mut requests = 0u32;
        let mut errors = 0u32;
        let mut latency = [0u64; BUCKETS];
        for slot in &self.inner.slots {
            let held = slot.second.load(Ordering::Acquire);
            // Only seconds within the window (held is second + 1).
            if held == 0 || held + WINDOW < second + 1 {
                continue;
            }
            requests = requests.saturating_add(slot.requests.load(Ordering::Relaxed));
            errors = errors.saturating_add(slot.errors.load(Ordering::Relaxed));
            for (sum, b) in latency.iter_mut().zip(&slot.latency) {
                *sum += u64::from(b.load(Ordering::Relaxed));
            }
        }
        let counted: u64 = latency.iter().sum();
        let mut seen = 0u64;
        let median_latency_us = latency
            .iter()
            .position(|n| {
                seen += n;
                counted > 0 && seen * 2 >= counted
            })
            .map_or(0, bucket_latency_us);
        let failing =
            requests >= MIN_REQUESTS && f64::from(errors) >= FAILING_SHARE * f64::from(requests);
        let checks_failing = self.inner.failed_checks.load(Ordering::Relaxed) >= FAILED_CHECKS;
        UpstreamHealth {
            ok: !failing && !checks_failing,
            median_latency_us,
            requests,
            errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_buckets_a_quarter_doubling_wide() {
        assert_eq!(bucket(Duration::from_micros(10)), 0);
        assert_eq!(bucket(Duration::from_micros(128)), 4);
        assert_eq!(bucket(Duration::from_secs(3600)), BUCKETS - 1);
        let edge = bucket_latency_us(bucket(Duration::from_millis(10)));
        assert!((8_000..=10_000).contains(&edge), "{edge}");
    }

    #[test]
    fn the_window_gives_a_median_and_an_error_share() {
        let health = Health::default();
        let t0 = health.inner.start;
        for ms in [1, 2, 3, 50, 2] {
            health.record(t0, Duration::from_millis(ms), true);
        }
        let seen = health.snapshot(t0);
        assert!(seen.ok);
        assert_eq!((seen.requests, seen.errors), (5, 0));
        assert!(
            (1_600..=2_000).contains(&seen.median_latency_us),
            "{seen:?}"
        );
        // Mostly failing: out.
        for _ in 0..6 {
            health.record(t0, Duration::from_millis(1), false);
        }
        assert!(!health.snapshot(t0).ok);
        // Six seconds on, the window has forgotten it.
        let later = t0 + Duration::from_secs(WINDOW + 1);
        let forgotten = health.snapshot(later);
        assert!(forgotten.ok);
        assert_eq!(forgotten.requests, 0);
    }

    #[test]
    fn two_failed_checks_in_a_row_take_the_shop_out_and_one_passing_brings_it_back() {
        let health = Health::default();
        let now = health.inner.start;
        health.checked(false);
        assert!(health.snapshot(now).ok, "one failure can be a blip");
        health.checked(false);
        assert!(!health.snapshot(now).ok);
        health.checked(true);
        assert!(health.snapshot(now).ok);
    }
}
