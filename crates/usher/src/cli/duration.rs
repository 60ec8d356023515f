//! The one way the binary reads a duration (`30s`, `200ms`, `1m`, `1h 30m`), on the command line
//! and in settings files alike.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses a duration as humantime writes it; clap's `value_parser` for plain `Duration` flags.
pub(crate) fn parse(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

/// A duration setting: read by clap through [`FromStr`] and from a TOML file as the same text,
/// so a setting declared once reads the same way from both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub(crate) Duration);

impl FromStr for HumanDuration {
    type Err = humantime::DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text).map(HumanDuration)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_files_read_the_same_text() {
        #[derive(Deserialize)]
        struct File {
            hold: HumanDuration,
        }
        let file: File = toml::from_str(r#"hold = "500ms""#).unwrap();
        assert_eq!(file.hold, "500ms".parse().unwrap());
        assert_eq!(file.hold.0, Duration::from_millis(500));
        assert_eq!(parse("1m").unwrap(), Duration::from_secs(60));
        assert!("soon".parse::<HumanDuration>().is_err());
        assert!(toml::from_str::<File>("hold = 5").is_err());
    }
}
