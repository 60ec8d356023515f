//! Reading a token's fields for an operator (`usher keys inspect`).

use serde::Serialize;

use crate::envelope::{Header, Kind};
use crate::{QueueToken, Rejection, Ticket};

/// An opened token of either kind, serialised with a `kind` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inspection {
    /// A permission ticket.
    Ticket(Ticket),
    /// A queue token.
    Queue(QueueToken),
}

pub(crate) fn decode(header: &Header, body: &[u8]) -> Result<Inspection, Rejection> {
    match header.kind {
        Kind::Ticket => Ticket::decode(header, body).map(Inspection::Ticket),
        Kind::Queue => QueueToken::decode(header, body).map(Inspection::Queue),
    }
}
