//! Clocks that servers take as values, so tests can move time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Where a server reads the time: wall-clock time for tickets and reports, a monotonic instant
/// for its own deadlines.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Wall-clock time.
    fn wall(&self) -> SystemTime;
    /// Monotonic time.
    fn instant(&self) -> Instant;
}

/// The operating system's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The system's clocks moved ahead by an offset that a test advances.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicU64,
}

impl OffsetClock {
    /// A clock that starts at the system's time.
    pub fn new() -> OffsetClock {
        OffsetClock::default()
    }

    /// Moves both clocks ahead.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

impl Clock for OffsetClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now() + self.offset()
    }

    fn instant(&self) -> Instant {
        Instant::now() + self.offset()
    }
}

/// Unix milliseconds of a wall-clock time (0 before 1970).
pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_moves_both_clocks() {
        let clock = OffsetClock::new();
        let (w0, i0) = (clock.wall(), clock.instant());
        clock.advance(Duration::from_secs(60));
        assert!(clock.wall().duration_since(w0).unwrap() >= Duration::from_secs(60));
        assert!(clock.instant() - i0 >= Duration::from_secs(60));
    }
}
