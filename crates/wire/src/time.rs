//! Timestamps on the wire.

use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant written as RFC 3339 with whole seconds (`2026-11-27T12:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rfc3339(pub SystemTime);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // humantime cannot write times before 1970; nothing usher sends is that old.
        let at = self.0.max(std::time::UNIX_EPOCH);
        write!(f, "{}", humantime::format_rfc3339_seconds(at))
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        humantime::parse_rfc3339(&text)
            .map(Rfc3339)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn round_trips_as_rfc3339_utc() {
        let at = Rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_000_000));
        let json = serde_json::to_string(&at).unwrap();
        assert_eq!(json, "\"2026-11-18T11:06:40Z\"");
        assert_eq!(serde_json::from_str::<Rfc3339>(&json).unwrap(), at);
    }

    #[test]
    fn refuses_text_that_is_not_a_timestamp() {
        assert!(serde_json::from_str::<Rfc3339>("\"yesterday\"").is_err());
    }
}
