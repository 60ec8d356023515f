//! [`Arrivals`]: how fast clients are arriving, so a pre-queue's final size can be foreseen
//! before the draw (a client's drawn place can be anywhere in it, so its estimate depends on how
//! many will have joined by then, not only on how many have so far).

use std::time::{Duration, Instant};

/// The arrival rate, smoothed over [`Arrivals::SPAN`]: each arrival counts `1/SPAN` and fades
/// with time constant `SPAN`, so the rate follows a rush within moments and forgets it within
/// seconds of its end. O(1): two numbers.
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    /// The rate at `at`, per second.
    rate: f64,
    at: Option<Instant>,
}

impl Arrivals {
    /// The time constant of the smoothing.
    pub const SPAN: Duration = Duration::from_secs(5);

    /// A client arrived at `now`.
    pub fn arrived(&mut self, now: Instant) {
        self.rate = self.rate_at(now) + 1.0 / Self::SPAN.as_secs_f64();
        self.at = Some(now);
    }

    /// Arrivals per second lately, as of `now`.
    pub fn rate_at(&self, now: Instant) -> f64 {
        let Some(at) = self.at else {
            return 0.0;
        };
        let since = now.saturating_duration_since(at).as_secs_f64();
        self.rate * (-since / Self::SPAN.as_secs_f64()).exp()
    }

    /// How many more clients will have arrived `ahead` from `now`, at the recent pace: the
    /// pre-queue's growth until its draw. A straight line, so a steady stream is foreseen
    /// whole; a rush that is ending is foreseen too large, which only widens the high end of
    /// an estimate that the next check-in then narrows.
    pub fn expected_within(&self, ahead: Duration, now: Instant) -> u64 {
        let n = self.rate_at(now) * ahead.as_secs_f64();
        if n.is_finite() && n > 0.0 {
            n.min(u64::MAX as f64) as u64
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_stream_is_measured_at_its_rate_and_foreseen_whole() {
        let start = Instant::now();
        let mut arrivals = Arrivals::default();
        assert_eq!(arrivals.rate_at(start), 0.0);
        // Ten a second for a minute.
        for n in 0..600 {
            arrivals.arrived(start + Duration::from_millis(100 * n));
        }
        let now = start + Duration::from_secs(60);
        let rate = arrivals.rate_at(now);
        assert!((9.0..=11.0).contains(&rate), "{rate}");
        let minute = arrivals.expected_within(Duration::from_secs(60), now);
        assert!((540..=660).contains(&minute), "{minute}");
    }

    #[test]
    fn a_rush_is_forgotten_seconds_after_it_ends() {
        let start = Instant::now();
        let mut arrivals = Arrivals::default();
        for n in 0..1_000 {
            arrivals.arrived(start + Duration::from_micros(100 * n));
        }
        let just_after = arrivals.rate_at(start + Duration::from_millis(100));
        assert!(just_after > 150.0, "{just_after}");
        let later = arrivals.rate_at(start + Duration::from_secs(30));
        assert!(later < 1.0, "{later}");
        assert_eq!(
            arrivals.expected_within(Duration::ZERO, start),
            0,
            "nothing within no time"
        );
    }
}
