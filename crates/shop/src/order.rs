//! One order, its random identifiers, and the receipt URL that proves it.

use std::fmt;

use usher_ticket::ItemId;

/// Length of an order id and of a receipt secret: 128 random bits as lowercase hex.
pub const TOKEN_HEX_LEN: usize = 32;

/// A completed order. Its secret is left out of `Debug` so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Order {
    /// The order's id (32 lowercase hex digits), public in receipt URLs.
    pub id: String,
    /// The ticket that made the order (its `TicketId` as 32 hex digits); one ticket, one order.
    pub ticket_id: String,
    /// What was bought.
    pub item: ItemId,
    /// The price paid, in the currency's smallest unit.
    pub price_cents: u64,
    /// When the order was made, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    pub(crate) secret: String,
}

impl Order {
    /// The receipt's path; it needs no session, only the secret inside it.
    pub fn receipt_url(&self) -> String {
        format!("/receipts/{}?secret={}", self.id, self.secret)
    }

    /// The download's path (meaningful for download items only).
    pub fn download_url(&self) -> String {
        format!("/receipts/{}/download?secret={}", self.id, self.secret)
    }

    /// Whether `candidate` is this order's secret, compared in constant time.
    pub fn secret_matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.secret.as_bytes(), candidate.as_bytes())
    }
}

impl fmt::Debug for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Order")
            .field("id", &self.id)
            .field("ticket_id", &self.ticket_id)
            .field("item", &self.item)
            .field("price_cents", &self.price_cents)
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

/// 128 random bits from the operating system, as lowercase hex.
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_HEX_LEN / 2];
    getrandom::fill(&mut bytes)?;
    Ok(usher_wire::hex::encode(&bytes))
}

/// Whether `text` has the shape of an order id or secret; checked before any database work.
pub(crate) fn is_token(text: &str) -> bool {
    text.len() == TOKEN_HEX_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares without an early exit, so the time taken says nothing about where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_are_hex_and_distinct() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert!(is_token(&a) && is_token(&b));
        assert_ne!(a, b);
        assert!(!is_token("ABCDEF0123456789abcdef0123456789"));
        assert!(!is_token("abc"));
    }

    #[test]
    fn secret_comparison_and_debug_hide_nothing_else() {
        let order = Order {
            id: "0".repeat(32),
            ticket_id: "1".repeat(32),
            item: ItemId::new("concert").unwrap(),
            price_cents: 4500,
            created_at_ms: 1,
            secret: "ab".repeat(16),
        };
        assert!(order.secret_matches(&"ab".repeat(16)));
        assert!(!order.secret_matches(&"ab".repeat(15)));
        assert!(!order.secret_matches(&"ba".repeat(16)));
        assert!(!format!("{order:?}").contains(&"ab".repeat(16)));
        assert!(order.receipt_url().ends_with(&"ab".repeat(16)));
    }
}
