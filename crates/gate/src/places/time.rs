//! Deadlines that cannot overflow.

use std::time::{Duration, Instant};

/// `at + by`, or the far future if that would overflow (a very long configured timeout).
pub(super) fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(at)
}
