//! The estimated wait (Sa56): how long until a place some positions back in line gets its turn.

use std::time::{Duration, Instant};

use crate::EstimatorConfig;

/// Longest estimate handed out. A stalled sale would otherwise produce absurd figures, and
/// `Duration` cannot hold every `f64`.
const MAX_ESTIMATE: Duration = Duration::from_secs(24 * 60 * 60);

/// How many usual window lengths may pass without a free before the rate is presumed to have
/// dropped. Two leaves room for the ordinary jitter of report ticks.
const STALL_SLACK: f64 = 2.0;

/// Past waits averaged with equal weight before older ones start to fade (the fallback of
/// patent 0048 should follow the sale, not its first minutes).
const WAIT_HISTORY: u32 = 64;

/// The spread (standard deviation of the log of actual ÷ estimated wait) of an estimate from
/// the prior alone, or from past waits: the expected session length may be off by half.
const PRIOR_SPREAD: f64 = 0.6;

/// The spread of an estimate from a prior whose session length the shops measured: a full
/// line frees places at about that rate, but a sale's start runs slower or faster.
const MEASURED_PRIOR_SPREAD: f64 = 0.3;

/// The least spread of an estimate from a measured rate: shops' sessions vary and clients
/// come back a little late, whatever the rate says.
const MODEL_SPREAD: f64 = 0.15;

/// p10 and p90 of a normal distribution are this many standard deviations from its middle.
const P90_Z: f64 = 1.2816;

/// Added below and above every range: what the reception's own steps (report ticks, return
/// times, holds near the front) can add to or take from any wait.
const RANGE_SLACK: Duration = Duration::from_secs(1);

/// A wait told to a client (Sa56): the estimate and an honest range around it, about its p10
/// and p90.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The estimated wait.
    pub wait: Duration,
    /// About the 10th percentile of the real wait.
    pub low: Duration,
    /// About the 90th percentile of the real wait.
    pub high: Duration,
}

/// Estimates waits in line from the rate at which places free.
///
/// By Little's law a place `ahead` positions from its turn waits about `ahead ÷ rate`, where
/// the rate is how fast the head of the line moves (Sa56). The rate is measured over sample
/// windows that each run from one free to the first free at least
/// [`EstimatorConfig::window`] later, so a window always spans whole bursts: places freed in
/// batches (by report ticks, or a shop finishing many orders at once) give the same rate as the
/// same places freed one by one. Windows are smoothed by an exponentially weighted moving
/// average of both their counts and their lengths (a ratio of averages, so long windows weigh
/// in proportion to the time they cover).
///
/// A shop that stops freeing places closes no window, so the smoothed rate alone would never
/// notice. Once the time since the last free exceeds twice the usual window length, the rate is
/// scaled down by that excess: a stall of `t` seconds makes estimates grow in proportion to `t`.
///
/// Before any window has closed (the first seconds of a sale) the rate comes from a prior
/// ([`Estimator::set_prior`]): the places at the live shops over the expected session length,
/// by Little's law. As windows close, the measured rate takes over linearly over
/// [`EstimatorConfig::prior_windows`] windows, so the first estimates are neither missing nor
/// followed by a jump. With no prior and no window, the estimate is the average of past
/// completed waits (patent 0048); with none of these there is nothing to go on and the
/// estimate is `None`.
///
/// Each estimate comes with a range ([`Estimate`]): wide while the prior weighs in, narrowing
/// to the measured rate's own variation (window to window, averaged over the windows the wait
/// spans) and a floor for what no rate can know.
///
/// Feed it with [`Estimator::freed`] for every place handed to the line (what
/// [`Line::advance`](crate::Line::advance) returns) and with [`Estimator::waited`] for every
/// wait that ended in an admission.
#[derive(Debug, Clone)]
pub struct Estimator {
    config: EstimatorConfig,
    /// Start of the open window and the places freed since; `None` before the first free.
    open: Option<(Instant, u64)>,
    last_free: Option<Instant>,
    /// Smoothed places per window and window length in seconds.
    mean_count: f64,
    mean_span: f64,
    /// Smoothed squared relative deviation of a window's rate from the smoothed rate.
    rate_variance: f64,
    windows: u32,
    /// Places per second from the live shops' places and the session length.
    prior: Option<f64>,
    /// Whether that session length was measured by the shops.
    prior_measured: bool,
    /// Average of past completed waits in seconds, for the fallback.
    mean_wait: f64,
    waits: u32,
}

impl Estimator {
    /// An estimator that knows nothing yet.
    pub fn new(config: EstimatorConfig) -> Self {
        Self {
            config: config.normalized(),
            open: None,
            last_free: None,
            mean_count: 0.0,
            mean_span: 0.0,
            rate_variance: 0.0,
            windows: 0,
            prior: None,
            prior_measured: false,
            mean_wait: 0.0,
            waits: 0,
        }
    }

    /// Records that `n` places were handed on at `now` (made eligible in line, or admitted).
    ///
    /// The first call only opens the first window: the time before it is unknown, so its
    /// places cannot be turned into a rate.
    pub fn freed(&mut self, now: Instant, n: u64) {
        if n == 0 {
            return;
        }
        self.last_free = Some(self.last_free.map_or(now, |last| last.max(now)));
        let Some((start, count)) = self.open.as_mut() else {
            self.open = Some((now, 0));
            return;
        };
        *count = count.saturating_add(n);
        let span = now.saturating_duration_since(*start);
        if span < self.config.window {
            return;
        }
        let count = *count as f64;
        self.open = Some((now, 0));
        self.close_window(count, span.as_secs_f64());
    }

    /// Someone joined while nobody waited at `now`. If nothing was freed within the last
    /// window (the line is starting afresh), the open window is dropped, so that time spent
    /// with nobody waiting (when nothing is fed in) never counts as one slow window, and a
    /// stall is counted from now. The first free after this opens the next window. A line
    /// that empties and refills while places keep freeing keeps its window.
    ///
    /// The window does not open here: frees right after a line forms say little about the
    /// rate (the shops may have filled just before, or long ago), and a rate measured too low
    /// feeds itself, as clients told to come back late leave places idle.
    pub fn line_formed(&mut self, now: Instant) {
        let fresh = self
            .last_free
            .is_none_or(|last| now.saturating_duration_since(last) > self.config.window);
        if fresh {
            self.open = None;
            self.last_free = Some(now);
        }
    }

    /// Records a completed wait, from joining the line to admission, for the fallback of
    /// patent 0048.
    pub fn waited(&mut self, wait: Duration) {
        self.waits = self.waits.saturating_add(1);
        let weight = f64::from(self.waits.min(WAIT_HISTORY));
        self.mean_wait += (wait.as_secs_f64() - self.mean_wait) / weight;
    }

    /// The prior rate, in places per second: the places at the live shops divided by the
    /// session length (Little's law), what the estimate starts from before any rate is
    /// measured. `None` (or not a positive number) when there is none. `measured`: the session
    /// length is what the shops measured, not a configured guess; such a prior gives way to
    /// the measured rate more slowly ([`EstimatorConfig::measured_prior_windows`]), since a
    /// sale's first seconds measure its start (buyers still arriving, tickets not yet
    /// claimed) more than its pace, and a full line frees places at exactly this rate.
    pub fn set_prior(&mut self, places_per_second: Option<f64>, measured: bool) {
        self.prior = places_per_second.filter(|r| r.is_finite() && *r > 0.0);
        self.prior_measured = measured;
    }

    /// The prior rate in use, if any.
    pub fn prior(&self) -> Option<f64> {
        self.prior
    }

    /// The share of the rate that is measured rather than from the prior: 0 before the first
    /// window, 1 from [`EstimatorConfig::prior_windows`] windows on (or with no prior).
    fn measured_weight(&self) -> f64 {
        if self.prior.is_none() {
            return 1.0;
        }
        let over = if self.prior_measured {
            self.config.measured_prior_windows
        } else {
            self.config.prior_windows
        };
        (f64::from(self.windows) / f64::from(over)).min(1.0)
    }

    /// The smoothed measured rate, places per second; `None` until enough windows have closed.
    pub fn measured_rate(&self) -> Option<f64> {
        (self.windows >= self.config.min_windows).then(|| self.mean_count / self.mean_span)
    }

    /// The measured rate at which places free, in places per second, lowered during a stall;
    /// `None` until enough windows have closed. What return times are scheduled by: a prior
    /// that is too low would send clients back after their turn, and their places would
    /// stand idle (clients who know no measured rate check in again shortly instead).
    pub fn rate(&self, now: Instant) -> Option<f64> {
        let measured = self.measured_rate()?;
        Some(self.stalled(measured, self.mean_span * STALL_SLACK, now))
    }

    /// The rate return times are scheduled by, in places per second: the measured one, never
    /// below the prior (the shops' places over how long sessions hold one: how fast places
    /// free while every one is in use). A client back before its turn costs one short answer;
    /// one back after it leaves its place idle, and a rate measured from a line slowed that way
    /// would schedule everyone later still (in a flash crowd of 10,000 this kept two thirds of
    /// the places idle). `None` until a rate is measured: the prior alone may be a guess.
    pub fn schedule_rate(&self, now: Instant) -> Option<f64> {
        let measured = self.rate(now)?;
        Some(self.prior.map_or(measured, |prior| measured.max(prior)))
    }

    /// The rate an estimate is told from, in places per second: the measured one blended with
    /// the prior while few windows have closed, lowered during a stall; `None` with neither.
    pub fn told_rate(&self, now: Instant) -> Option<f64> {
        let (rate, usual) = match (self.measured_rate(), self.prior) {
            (Some(measured), prior) => {
                let w = self.measured_weight();
                let rate = w * measured + (1.0 - w) * prior.unwrap_or(measured);
                (rate, self.mean_span * STALL_SLACK)
            }
            // The usual gap between frees at the prior's rate, at least a window.
            (None, Some(prior)) => (
                prior,
                (1.0 / prior).max(self.config.window.as_secs_f64()) * STALL_SLACK,
            ),
            (None, None) => return None,
        };
        Some(self.stalled(rate, usual, now))
    }

    /// `rate` lowered by how far the time since the last free exceeds `usual` seconds.
    fn stalled(&self, rate: f64, usual: f64, now: Instant) -> f64 {
        let quiet = self.last_free.map_or(0.0, |last| {
            now.saturating_duration_since(last).as_secs_f64()
        });
        if quiet > usual {
            rate * usual / quiet
        } else {
            rate
        }
    }

    /// Estimated time until the place `ahead` positions from its turn (1 = next) becomes
    /// eligible: `ahead ÷ rate` (Sa56), else the average of past waits (0048), else `None`.
    pub fn estimate(&self, ahead: u64, now: Instant) -> Option<Duration> {
        self.estimate_range(ahead, now).map(|e| e.wait)
    }

    /// [`estimate`](Self::estimate) with its honest range, about p10 to p90 of the real wait.
    pub fn estimate_range(&self, ahead: u64, now: Instant) -> Option<Estimate> {
        if ahead == 0 {
            return Some(Estimate {
                wait: Duration::ZERO,
                low: Duration::ZERO,
                high: RANGE_SLACK,
            });
        }
        let (wait, spread) = match self.told_rate(now) {
            Some(rate) if rate > 0.0 => {
                let wait = ahead as f64 / rate;
                (wait, self.spread(wait))
            }
            _ if self.waits > 0 => (self.mean_wait, PRIOR_SPREAD),
            _ => return None,
        };
        let wide = (P90_Z * spread).exp();
        let slack = RANGE_SLACK.as_secs_f64();
        let estimate = seconds(wait);
        Some(Estimate {
            wait: estimate,
            low: seconds((wait / wide - slack).max(0.0)).min(estimate),
            high: seconds(wait * wide + slack).max(estimate),
        })
    }

    /// The spread (standard deviation of log actual ÷ estimated) of a wait of `wait` seconds:
    /// the measured rate's variation averaged over the windows the wait spans, never under
    /// [`MODEL_SPREAD`], and the prior's share at [`PRIOR_SPREAD`].
    fn spread(&self, wait: f64) -> f64 {
        let w = if self.measured_rate().is_some() {
            self.measured_weight()
        } else {
            0.0
        };
        let spans = if self.mean_span > 0.0 {
            (wait / self.mean_span).max(1.0)
        } else {
            1.0
        };
        let measured = (self.rate_variance / spans + MODEL_SPREAD * MODEL_SPREAD).sqrt();
        let prior = if self.prior_measured {
            MEASURED_PRIOR_SPREAD
        } else {
            PRIOR_SPREAD
        };
        w * measured + (1.0 - w) * prior
    }

    /// Folds one closed window into the averages. Written as `m += w·(x − m)` so that equal
    /// windows leave the averages exactly unchanged: steady service gives a steady estimate.
    /// The first windows are averaged with equal weight (w = 1/n) until that falls to the
    /// smoothing weight, so one noisy first window does not linger as it would with a plain
    /// moving average started from it.
    fn close_window(&mut self, count: f64, span: f64) {
        self.windows = self.windows.saturating_add(1);
        let weight = self.config.smoothing.max(1.0 / f64::from(self.windows));
        // This window's rate against the rate before it (none for the first window).
        let before = (self.windows > 1).then(|| self.mean_count / self.mean_span);
        self.mean_count += weight * (count - self.mean_count);
        self.mean_span += weight * (span - self.mean_span);
        if let Some(before) = before.filter(|r| *r > 0.0) {
            let deviation = (count / span) / before - 1.0;
            let squared = (deviation * deviation).min(4.0);
            self.rate_variance += weight * (squared - self.rate_variance);
        }
    }
}

impl Default for Estimator {
    fn default() -> Self {
        Self::new(EstimatorConfig::default())
    }
}

/// Seconds as a `Duration`, at most [`MAX_ESTIMATE`] (also for infinities and NaN).
fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).map_or(MAX_ESTIMATE, |d| d.min(MAX_ESTIMATE))
}

#[cfg(test)]
mod tests;
