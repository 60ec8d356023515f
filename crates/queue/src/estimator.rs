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
/// Until enough windows have closed, the estimate is the average of past completed waits
/// (patent 0048); with neither there is nothing to go on and the estimate is `None`.
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
    windows: u32,
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
            windows: 0,
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

    /// The smoothed rate at which places free, in places per second, lowered during a stall;
    /// `None` until enough windows have closed.
    pub fn rate(&self, now: Instant) -> Option<f64> {
        if self.windows < self.config.min_windows {
            return None;
        }
        let rate = self.mean_count / self.mean_span;
        let usual = self.mean_span * STALL_SLACK;
        let quiet = self.last_free.map_or(0.0, |last| {
            now.saturating_duration_since(last).as_secs_f64()
        });
        Some(if quiet > usual {
            rate * usual / quiet
        } else {
            rate
        })
    }

    /// Estimated time until the place `ahead` positions from its turn (1 = next) becomes
    /// eligible: `ahead ÷ rate` (Sa56), else the average of past waits (0048), else `None`.
    pub fn estimate(&self, ahead: u64, now: Instant) -> Option<Duration> {
        if ahead == 0 {
            return Some(Duration::ZERO);
        }
        match self.rate(now) {
            Some(rate) if rate > 0.0 => Some(seconds(ahead as f64 / rate)),
            _ => (self.waits > 0).then(|| seconds(self.mean_wait)),
        }
    }

    /// Folds one closed window into the averages. Written as `m += w·(x − m)` so that equal
    /// windows leave the averages exactly unchanged: steady service gives a steady estimate.
    /// The first windows are averaged with equal weight (w = 1/n) until that falls to the
    /// smoothing weight, so one noisy first window does not linger as it would with a plain
    /// moving average started from it.
    fn close_window(&mut self, count: f64, span: f64) {
        self.windows = self.windows.saturating_add(1);
        let weight = self.config.smoothing.max(1.0 / f64::from(self.windows));
        self.mean_count += weight * (count - self.mean_count);
        self.mean_span += weight * (span - self.mean_span);
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
