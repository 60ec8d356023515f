//! What is on sale: the reception's landing page (`GET /`) and `GET /api/v1/sale`.

use serde::{Deserialize, Serialize};

use crate::Rfc3339;

/// The sale as a newcomer would find it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sale {
    /// Every item a shop has reported, by id.
    pub items: Vec<SaleItem>,
    /// Clients waiting in the sale's line (one line for every item).
    pub waiting: u64,
    /// The scheduled opening, while it is ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<Rfc3339>,
}

/// One item and what ordering it would meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SaleItem {
    /// The item's id.
    pub item: String,
    /// The name buyers know it by, when a shop said one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What an order would meet now.
    pub state: ItemState,
    /// Where to order it (`GET` for a browser; the API takes `{"item": ...}`).
    pub order_url: String,
}

/// What an order for an item would meet now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// A shop has a place: an order is admitted at once.
    Open,
    /// Every shop is full, or others wait already: an order joins the line.
    Waiting,
    /// No unit is left at any shop.
    SoldOut,
    /// The sale opens at a set time: an order before it joins the pre-queue.
    Opening,
    /// No shop that sells it can be reached.
    Unavailable,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_sale_reads_as_documented() {
        let sale = Sale {
            items: vec![SaleItem {
                item: "concert".into(),
                name: None,
                state: ItemState::SoldOut,
                order_url: "http://r.example/order/concert".into(),
            }],
            waiting: 3,
            opens_at: None,
        };
        assert_eq!(
            serde_json::to_value(&sale).unwrap(),
            json!({"items":[{"item":"concert","state":"sold_out",
                             "order_url":"http://r.example/order/concert"}],"waiting":3})
        );
    }
}
