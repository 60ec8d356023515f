//! A session length for one item: `--expected-session-for ITEM=DURATION`, or in a settings
//! file an `[expected_session_for]` table of `item = "duration"`.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::duration::HumanDuration;

/// One item's expected session length, as the command line or a file gives it (checked with
/// the rest of the reception's settings, so both say the same when it is out of range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemSession {
    pub(crate) item: String,
    pub(crate) session: Duration,
}

impl FromStr for ItemSession {
    type Err = String;

    fn from_str(text: &str) -> Result<ItemSession, String> {
        let (item, session) = text
            .split_once('=')
            .ok_or("--expected-session-for takes ITEM=DURATION")?;
        let session: HumanDuration = session
            .parse()
            .map_err(|e| format!("{session:?} is not a duration: {e}"))?;
        Ok(ItemSession {
            item: item.to_owned(),
            session: session.into(),
        })
    }
}

/// Reads the file's `[expected_session_for]` table.
pub(crate) fn from_table<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<ItemSession>>, D::Error> {
    let table = BTreeMap::<String, HumanDuration>::deserialize(deserializer)?;
    Ok(Some(
        table
            .into_iter()
            .map(|(item, session)| ItemSession {
                item,
                session: session.into(),
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_session_reads_as_item_equals_duration() {
        let read: ItemSession = "concert=90s".parse().unwrap();
        assert_eq!(read.item, "concert");
        assert_eq!(read.session, Duration::from_secs(90));
        assert!("concert".parse::<ItemSession>().is_err());
        assert!("concert=soon".parse::<ItemSession>().is_err());
    }
}
