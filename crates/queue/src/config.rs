//! Tunables for the line and the estimator, handed in as values.

use std::time::Duration;

/// Largest claim window accepted: 2^28 places, 32 MiB of bits. Anything larger is a typo, and
/// the window is allocated up front.
const MAX_WINDOW_PLACES: u64 = 1 << 28;

/// How the [`Line`](crate::Line) treats eligible places and schedules returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineConfig {
    /// How long a place stays claimable after it became eligible. The default, 120 s, is longer
    /// than the longest check-in (30 s) plus the delay of about a minute that browsers impose on
    /// a throttled background tab's timers, so a client that obeys its return times never loses
    /// its place.
    pub grace: Duration,
    /// Places tracked behind the head, one bit each (rounded up to a multiple of 64). It must hold
    /// every place that becomes eligible within one grace period; places pushed out sooner are
    /// given up early. The default, 2^18 (32 KiB), covers about 2,100 places a second for 120 s.
    pub window_places: u64,
    /// Longest time a waiting client is told to stay away before it checks in again, so long
    /// waits are cut into steps and a client learns of a better estimate (Sc56, 0049-0050).
    pub check_in: Duration,
    /// Shortest return time handed out, so that clients at the front do not spin.
    pub retry_floor: Duration,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(120),
            window_places: 1 << 18,
            check_in: Duration::from_secs(30),
            retry_floor: Duration::from_millis(25),
        }
    }
}

impl LineConfig {
    /// Brings values into range instead of failing: the window holds at least one word and at
    /// most [`MAX_WINDOW_PLACES`], and the check-in is never shorter than the floor.
    pub(crate) fn normalized(mut self) -> Self {
        self.window_places = self.window_places.clamp(64, MAX_WINDOW_PLACES);
        self.check_in = self.check_in.max(self.retry_floor);
        self
    }
}

/// How the [`Estimator`](crate::Estimator) measures the rate at which places free.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimatorConfig {
    /// Shortest sample window. A window closes at the first free at least this long after it
    /// opened, so it always ends on a free and spans whole bursts. Default 500 ms: two or three
    /// of the shops' 200 ms report ticks.
    pub window: Duration,
    /// Weight of the newest window in the smoothed rate (0 < w ≤ 1). Default 0.1: about ten
    /// windows, roughly five seconds, of history.
    pub smoothing: f64,
    /// Windows needed before the rate is trusted; until then the average of past waits is used
    /// (patent 0048). Default 1: early in a sale the line grows, so past waits are all shorter
    /// than the next one's, and one window's rate is the better guess.
    pub min_windows: u32,
    /// Windows over which the measured rate takes over from the prior, linearly. Default 8:
    /// about four seconds of a line, so one early window cannot swing every estimate.
    pub prior_windows: u32,
    /// The same for a prior whose session length the shops measured. Default 40: about twenty
    /// seconds, the start of a flash crowd, whose measured rate says more about buyers still
    /// arriving than about how fast the shops serve.
    pub measured_prior_windows: u32,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(500),
            smoothing: 0.1,
            min_windows: 1,
            prior_windows: 8,
            measured_prior_windows: 40,
        }
    }
}

impl EstimatorConfig {
    /// Brings values into range: a window of at least 1 ms (so no window spans zero time), a
    /// smoothing weight in (0, 1], and at least one window before the rate is used.
    pub(crate) fn normalized(mut self) -> Self {
        self.window = self.window.max(Duration::from_millis(1));
        self.smoothing = if self.smoothing.is_finite() {
            self.smoothing.clamp(0.001, 1.0)
        } else {
            Self::default().smoothing
        };
        self.min_windows = self.min_windows.max(1);
        self.prior_windows = self.prior_windows.max(1);
        self.measured_prior_windows = self.measured_prior_windows.max(1);
        self
    }
}
