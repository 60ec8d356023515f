//! Why a token was refused.

use thiserror::Error;
use usher_wire::Code;

/// A token refused by [`crate::TicketOpener::verify`] or [`crate::QueueOpener::verify`]. Each
/// variant maps to exactly one wire [`Code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Rejection {
    /// Not an usher token: wrong length, encoding, layout or version.
    #[error("the token is malformed")]
    Malformed,
    /// The seal does not verify: altered, or sealed under another key.
    #[error("the token's seal does not verify")]
    Forged,
    /// Sealed under a key id this verifier does not hold.
    #[error("the token names a key this server does not hold")]
    UnknownKey,
    /// Sealed by an issuer this verifier has not been told about.
    #[error("the token comes from an issuer this server has not been told about")]
    UnknownIssuer,
    /// A ticket for another server.
    #[error("the ticket is for another server")]
    WrongServer,
    /// For another item.
    #[error("the token is for another item")]
    WrongScope,
    /// For an earlier epoch of the server (or sale).
    #[error("the token is for an earlier epoch")]
    StaleEpoch,
    /// Its window has not opened.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Its window has closed.
    #[error("the token has expired")]
    Expired,
    /// Presented from outside its binding.
    #[error("the token is bound to another client")]
    WrongClient,
}

impl Rejection {
    /// The wire code for this refusal.
    pub const fn code(self) -> Code {
        match self {
            Rejection::Malformed => Code::Malformed,
            Rejection::Forged => Code::Forged,
            Rejection::UnknownKey => Code::UnknownKey,
            Rejection::UnknownIssuer => Code::UnknownIssuer,
            Rejection::WrongServer => Code::WrongServer,
            Rejection::WrongScope => Code::WrongScope,
            Rejection::StaleEpoch => Code::StaleEpoch,
            Rejection::NotYetValid => Code::NotYetValid,
            Rejection::Expired => Code::Expired,
            Rejection::WrongClient => Code::WrongClient,
        }
    }
}

impl From<Rejection> for Code {
    fn from(rejection: Rejection) -> Code {
        rejection.code()
    }
}
