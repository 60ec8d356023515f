//! What the line has learnt about who comes back for their turn: the share of no-shows and how
//! long the others take to claim.

use std::time::Duration;

/// Assumed share of no-shows before any place has settled, and how many places that guess is
/// worth. A small positive guess lets the head pass places nobody claims from the start of a
/// sale, instead of only once the first grace period has run out.
const PRIOR_SHARE: f64 = 0.1;
const PRIOR_PLACES: f64 = 50.0;

/// The head never runs ahead by more than 1 ÷ (1 − 0.9) = ten places per free place, however
/// many walk away: beyond that the measurement is too thin to act on.
const MAX_SHARE: f64 = 0.9;

/// Weight kept by older settled places each time a group settles, so the share follows the sale.
const SETTLE_DECAY: f64 = 0.98;

/// Assumed mean time from eligibility to claim before any claim, in seconds, and its floor.
const PRIOR_DELAY: f64 = 2.0;
const MIN_DELAY: f64 = 0.05;

/// Multiple of the mean claim delay after which an unclaimed place counts as a no-show in the
/// share (with exponential delays, e^-8: one late claim in three thousand).
const PRESUME_DELAYS: f64 = 8.0;

/// Weight of each claim's delay in the mean, and the multiple of the mean a single delay is
/// cut to first, so one throttled background tab cannot inflate it.
const DELAY_SMOOTHING: f64 = 0.05;
const DELAY_CLIP: f64 = 4.0;

/// The line's model of returning clients.
///
/// A place that became eligible either gets claimed after some delay or never (a no-show).
/// With a no-show share `s` and claim delays roughly exponential with mean `d`, a place still
/// unclaimed at age `a` will yet be claimed with probability
/// `(1 − s)·e^(−a/d) ÷ ((1 − s)·e^(−a/d) + s)`: fresh places almost surely, old ones hardly.
/// The line counts unclaimed places by that probability, so places of people who walked away
/// stop holding back the head well before their grace period ends.
#[derive(Debug, Clone)]
pub(crate) struct Shows {
    /// Decayed counts of settled places and of those among them never claimed.
    settled: f64,
    gone: f64,
    /// Mean delay from eligibility to claim, in seconds.
    delay: f64,
}

impl Shows {
    pub(crate) fn new() -> Self {
        Self {
            settled: 0.0,
            gone: 0.0,
            delay: PRIOR_DELAY,
        }
    }

    /// Share of eligible places never claimed within the grace period.
    pub(crate) fn share(&self) -> f64 {
        let share = (self.gone + PRIOR_SHARE * PRIOR_PLACES) / (self.settled + PRIOR_PLACES);
        share.clamp(0.0, MAX_SHARE)
    }

    /// Records a group of `places` whose grace period ended, `unclaimed` of them never claimed.
    pub(crate) fn settled(&mut self, places: u64, unclaimed: u64) {
        self.settled = self.settled * SETTLE_DECAY + places as f64;
        self.gone = self.gone * SETTLE_DECAY + unclaimed.min(places) as f64;
    }

    /// Records a claim made `age` after the place became eligible.
    pub(crate) fn claimed(&mut self, age: Duration) {
        let age = age.as_secs_f64().min(self.delay * DELAY_CLIP);
        self.delay = (self.delay + DELAY_SMOOTHING * (age - self.delay)).max(MIN_DELAY);
    }

    /// Age after which an unclaimed place is presumed a no-show for the share: many times the
    /// usual claim delay, and never under a second.
    pub(crate) fn presume_after(&self) -> Duration {
        Duration::from_secs_f64((self.delay * PRESUME_DELAYS).max(1.0))
    }

    /// How long a freshly eligible place keeps the places behind it from overtaking: the usual
    /// claim delay, within 50 and 200 ms. Short on purpose: a place whose client walked away
    /// holds the ones behind it that long, and clients at the front ask every 100 ms.
    pub(crate) fn precedence_hold(&self) -> Duration {
        Duration::from_secs_f64(self.delay.clamp(0.05, 0.2))
    }

    /// Probability that a place unclaimed at `age` since eligibility will still be claimed,
    /// given the current `share` (passed in so a caller summing many places computes it once).
    pub(crate) fn chance(&self, age: Duration, share: f64) -> f64 {
        let keep = (1.0 - share) * (-age.as_secs_f64() / self.delay).exp();
        let total = keep + share;
        if total > 0.0 { keep / total } else { 1.0 }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Shows;

    #[test]
    fn share_follows_settled_places() {
        let mut shows = Shows::new();
        assert!((shows.share() - 0.1).abs() < 1e-9);
        for _ in 0..500 {
            shows.settled(100, 40);
        }
        assert!((shows.share() - 0.4).abs() < 0.01, "{}", shows.share());
    }

    #[test]
    fn chance_falls_with_age() {
        let shows = Shows::new();
        let share = shows.share();
        let fresh = shows.chance(Duration::ZERO, share);
        assert!((fresh - 0.9).abs() < 1e-9);
        let older = shows.chance(Duration::from_secs(4), share);
        let stale = shows.chance(Duration::from_secs(30), share);
        assert!(
            fresh > older && older > stale && stale < 0.01,
            "{older} {stale}"
        );
    }

    #[test]
    fn one_late_claim_does_not_swamp_the_delay() {
        let mut shows = Shows::new();
        for _ in 0..200 {
            shows.claimed(Duration::from_millis(300));
        }
        let before = shows.delay;
        shows.claimed(Duration::from_secs(80));
        assert!(shows.delay < before * 1.2, "{before} -> {}", shows.delay);
    }
}
