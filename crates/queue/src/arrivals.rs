//! [`Arrivals`]: how fast clients are arriving, so a pre-queue's final size can be foreseen
//! before the draw (a client's drawn place can be anywhere in it, so its estimate depends on how
//! many will have joined by then, not only on how many have so far).

use std::time::{Duration, Instant};

/// The arrival rate, smoothed over [`Arrivals::SPAN`]: each arrival counts `1/SPAN` and fades
/// with time constant `SPAN`, so the rate follows a rush within moments and forgets it within
/// seconds of its end. O(1): a rate and two instants.
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    /// The rate at `at`, per second.
    rate: f64,
    at: Option<Instant>,
    /// The first arrival of the stream now coming (one that came after the rate had faded to
    /// less than one arrival's worth a [`SPAN`](Self::SPAN) ago starts a new stream).
    first: Option<Instant>,
}

impl Arrivals {
    /// The time constant of the smoothing.
    pub const SPAN: Duration = Duration::from_secs(5);

    /// A client arrived at `now`.
    pub fn arrived(&mut self, now: Instant) {
        let one = 1.0 / Self::SPAN.as_secs_f64();
        let before = self.rate_at(now);
        if before < one / std::f64::consts::E {
            self.first = Some(now);
        }
        self.rate = before + one;
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
        count(self.rate_at(now) * ahead.as_secs_f64())
    }

    /// How many more are likely by `ahead` from `now`: at the recent pace, for as long again
    /// as arrivals have been coming (the median guess of how much longer a stream seen for a
    /// while goes on), at most `ahead`. A rush that came at once is then foreseen as about
    /// over, a stream that has run for minutes as going on. The upper end is
    /// [`expected_within`](Self::expected_within).
    pub fn likely_within(&self, ahead: Duration, now: Instant) -> u64 {
        let lasted = self
            .first
            .map_or(Duration::ZERO, |first| now.saturating_duration_since(first));
        self.expected_within(ahead.min(lasted), now)
    }
}

/// A count from a rate's product, 0 for anything not a positive number.
fn count(n: f64) -> u64 {
    if n.is_finite() && n > 0.0 {
        n.min(u64::MAX as f64) as u64
    } else {
        0
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
        // It has run a minute: likely as long again.
        let likely = arrivals.likely_within(Duration::from_secs(60), now);
        assert_eq!(likely, minute);
        let longer = arrivals.likely_within(Duration::from_secs(600), now);
        assert!(
            (540..=660).contains(&longer),
            "no more than it lasted: {longer}"
        );
    }

    #[test]
    fn a_rush_is_forgotten_seconds_after_it_ends() {
        let start = Instant::now();
        let mut arrivals = Arrivals::default();
        for n in 0..1_000 {
            arrivals.arrived(start + Duration::from_micros(100 * n));
        }
        let just_after = start + Duration::from_millis(100);
        assert!(arrivals.rate_at(just_after) > 150.0);
        // The rush lasted a tenth of a second: likely about over, though it may not be.
        let minute = Duration::from_secs(60);
        assert!(arrivals.likely_within(minute, just_after) < 30);
        assert!(arrivals.expected_within(minute, just_after) > 9_000);
        let later = arrivals.rate_at(start + Duration::from_secs(30));
        assert!(later < 1.0, "{later}");
        assert_eq!(
            arrivals.expected_within(Duration::ZERO, start),
            0,
            "nothing within no time"
        );
    }

    /// Guards the middle of a pre-queue's estimate: a rush that comes after a lone early
    /// arrival has lasted moments, not since that arrival.
    #[test]
    fn a_stream_begins_again_after_the_rate_faded() {
        let start = Instant::now();
        let mut arrivals = Arrivals::default();
        arrivals.arrived(start);
        let rush = start + Duration::from_secs(20);
        for n in 0..1_000 {
            arrivals.arrived(rush + Duration::from_micros(100 * n));
        }
        let just_after = rush + Duration::from_millis(100);
        assert!(arrivals.likely_within(Duration::from_secs(60), just_after) < 30);
    }
}
