//! What an order gets: the reception's answer before it is written for a browser or an API
//! client.

use std::time::SystemTime;

use usher_ticket::ServerId;
use usher_wire::Code;

use crate::room::Wait;

/// What an order gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Sa35: go to `url` before `expires_at`.
    Admitted {
        /// `{shop}/t/{ticket}/items/{item}`.
        url: TicketUrl,
        /// The chosen shop.
        server: ServerId,
        /// When the ticket's window closes.
        expires_at: SystemTime,
    },
    /// Sa36/Sa56: every shop that carries the item is full; wait in line and come back.
    Waiting(Wait),
    /// Every live shop that carries the item is out of it.
    SoldOut,
    /// No live shop.
    Unavailable,
    /// No shop carries an item by that name.
    UnknownItem,
    /// The queue token cannot be honoured (`400`), or the client's prefix joined the line too
    /// often (`too_many`, `429`).
    Refused(Code),
}

/// A ticket URL, kept as the `Location` header value it becomes (built once, never copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketUrl(http::HeaderValue);

impl TicketUrl {
    /// A URL already checked to be a valid header value.
    pub(crate) fn new(value: http::HeaderValue) -> TicketUrl {
        TicketUrl(value)
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        // Built from a `str` of visible ASCII; never fails.
        self.0.to_str().unwrap_or_default()
    }

    /// The URL as a header value.
    pub fn header_value(self) -> http::HeaderValue {
        self.0
    }
}

impl std::fmt::Display for TicketUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
