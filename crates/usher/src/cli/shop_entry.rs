//! A shop as the reception's settings name it: `--shop ID=URL`, or a `[[shops]]` table.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use usher_reception::ShopEntry;
use usher_ticket::ServerId;

/// A shop as `--shop ID=URL` or as a `[[shops]]` table with `id`, `url` and, optionally, the
/// `capacity` it may report at most.
#[derive(Debug, Clone)]
pub(crate) struct Shop(pub(crate) ShopEntry);

impl Shop {
    fn new(id: &str, url: &str, capacity: Option<u32>) -> Result<Shop, String> {
        let id = ServerId::new(id).map_err(|e| format!("shop id {id:?}: {e}"))?;
        Ok(Shop(ShopEntry {
            id,
            url: url.trim_end_matches('/').to_owned(),
            capacity,
        }))
    }
}

impl FromStr for Shop {
    type Err = String;

    fn from_str(text: &str) -> Result<Shop, String> {
        let (id, url) = text.split_once('=').ok_or("--shop takes ID=URL")?;
        Shop::new(id, url, None)
    }
}

impl<'de> Deserialize<'de> for Shop {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            id: String,
            url: String,
            /// The most places the shop may report (file only).
            #[serde(default)]
            capacity: Option<u32>,
        }
        let table = Table::deserialize(deserializer)?;
        Shop::new(&table.id, &table.url, table.capacity).map_err(serde::de::Error::custom)
    }
}
