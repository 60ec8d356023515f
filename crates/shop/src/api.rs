//! The JSON bodies the shop answers with when a client asks for `application/json`.

use serde::{Deserialize, Serialize};
use usher_ticket::ItemId;

use crate::catalogue::Item;
use crate::order::Order;

/// The answer to `POST /items/{item}/buy`: `201` for a new order, `200` for a retry of the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// The order's id.
    pub order_id: String,
    /// What was bought.
    pub item: ItemId,
    /// Where the receipt is; no session is needed to open it.
    pub receipt_url: String,
    /// Where the bought file is, for download items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

/// The answer to `GET /receipts/{order}?secret=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The order's id.
    pub order_id: String,
    /// What was bought.
    pub item: ItemId,
    /// The item's name, as the catalogue says now.
    pub name: String,
    /// The price paid, in the currency's smallest unit.
    pub price_cents: u64,
    /// The ISO 4217 code of the price (`EUR`, `USD`, …).
    #[serde(default)]
    pub currency: String,
    /// When the order was made, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Where the bought file is, for download items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

impl Purchase {
    pub(crate) fn new(order: &Order, item: Option<&Item>) -> Purchase {
        Purchase {
            order_id: order.id.clone(),
            item: order.item,
            receipt_url: order.receipt_url(),
            download_url: download_url(order, item),
        }
    }
}

impl Receipt {
    pub(crate) fn new(order: &Order, item: Option<&Item>, currency: &str) -> Receipt {
        Receipt {
            order_id: order.id.clone(),
            item: order.item,
            name: item.map_or_else(|| order.item.to_string(), |item| item.name.clone()),
            price_cents: order.price_cents,
            currency: currency.to_owned(),
            created_at_ms: order.created_at_ms,
            download_url: download_url(order, item),
        }
    }
}

fn download_url(order: &Order, item: Option<&Item>) -> Option<String> {
    item.and_then(|item| item.kind.file_name())
        .map(|_| order.download_url())
}
