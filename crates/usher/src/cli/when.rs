//! The one way the binary reads a moment (a sale's opening): RFC 3339 in UTC
//! (`2026-12-24T18:00:00Z`), or `+DURATION` from when the command starts (`+10s`), on the
//! command line and in settings files alike.

use std::str::FromStr;
use std::time::SystemTime;

/// See the module documentation. A relative moment is fixed when it is read, so a restarted
/// server moves it: a real sale names its opening in RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct When(pub(crate) SystemTime);

impl FromStr for When {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(after) = text.strip_prefix('+') {
            let after = super::duration::parse(after)
                .map_err(|e| format!("{text:?}: {e} (write +10s, +5m, +1h)"))?;
            // Whole seconds, as the opening is published (RFC 3339 without fractions).
            let at = SystemTime::now()
                .checked_add(after)
                .ok_or_else(|| format!("{text:?}: too far ahead"))?;
            let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let whole = std::time::Duration::from_secs(
                since.as_secs() + u64::from(since.subsec_nanos() > 0),
            );
            return Ok(When(std::time::UNIX_EPOCH + whole));
        }
        humantime::parse_rfc3339_weak(text).map(When).map_err(|e| {
            format!("{text:?}: {e} (write RFC 3339 in UTC, 2026-12-24T18:00:00Z, or +10s)")
        })
    }
}

impl From<When> for SystemTime {
    fn from(when: When) -> SystemTime {
        when.0
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn moments_read_as_rfc3339_or_from_now() {
        let at: When = "2026-12-24T18:00:00Z".parse().unwrap();
        assert_eq!(at.0, UNIX_EPOCH + Duration::from_secs(1_798_135_200));
        let before = SystemTime::now();
        let soon: When = "+10s".parse().unwrap();
        let ahead = soon.0.duration_since(before).unwrap();
        assert!(ahead >= Duration::from_secs(10) && ahead < Duration::from_secs(20));
        let since = soon.0.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(since.subsec_nanos(), 0, "whole seconds, as published");
    }

    #[test]
    fn a_moment_that_is_not_one_names_the_forms() {
        let refused = "tomorrow".parse::<When>().unwrap_err();
        assert!(refused.contains("RFC 3339"), "{refused}");
        assert!("+soon".parse::<When>().unwrap_err().contains("+10s"));
    }
}
