//! Reading a token's fields for an operator (`usher keys inspect`).

use serde::Serialize;

use crate::envelope::Opened;
use crate::format::Kind;
use crate::ids::ServerId;
use crate::queue::QueueToken;
use crate::rejection::Rejection;
use crate::ticket::Ticket;

/// An opened token of either kind, serialised with a `kind` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inspection {
    /// A permission ticket.
    Ticket(Ticket),
    /// A queue token.
    Queue(QueueToken),
}

pub(crate) fn decode(opened: &Opened<'_>) -> Result<Inspection, Rejection> {
    let header = &opened.header;
    match header.kind {
        Kind::Ticket => {
            let server = server_id(opened.scope)?;
            Ticket::decode(header, server, opened.body).map(Inspection::Ticket)
        }
        Kind::Queue => QueueToken::decode(header, opened.scope, opened.body).map(Inspection::Queue),
    }
}

/// A ticket's scope as a server id.
pub(crate) fn server_id(scope: &[u8]) -> Result<ServerId, Rejection> {
    let text = std::str::from_utf8(scope).map_err(|_| Rejection::Malformed)?;
    ServerId::new(text).map_err(|_| Rejection::Malformed)
}
