//! What the gate tells the application behind it about a request's session.

use http::HeaderName;
use usher_ticket::{ItemId, TicketId};

/// The session a request belongs to, inserted by the gate as a request extension
/// (`axum::Extension<SessionInfo>`) on every request it lets through to a session path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The ticket the session was opened with: one ticket makes at most one order.
    pub ticket: TicketId,
    /// The item the ticket admits to.
    pub item: ItemId,
    /// The order for this ticket has completed; the session's place is already free. The app
    /// should answer a retried buy with the same order and show the receipt.
    pub completed: bool,
}

/// Response header by which the application tells the gate that the session's order completed
/// (durably). The gate ends the session, kills the ticket, frees the place, and strips the header.
pub const ORDER_COMPLETE_HEADER: HeaderName = HeaderName::from_static("usher-order-complete");
