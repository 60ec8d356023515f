//! Why a token could not be sealed, or a key operation not done, and the limits those errors
//! name. A leaf: every other module may use it, it uses none of them.

use thiserror::Error;

use crate::ids::KeyId;

/// Most keys one keyring or key file may hold (rotation keeps a few; this bounds loading).
pub const MAX_KEYS: usize = 64;
/// Most issuers one verifier accepts at once; bounds the memory an announcement can cost.
pub const MAX_ISSUERS: usize = 4096;

/// Why a token could not be sealed. Field limits make these rare; none is a client's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SealError {
    /// The window is empty, longer than 65,535 s, or starts outside 1970..2106.
    #[error("the ticket window must start between 1970 and 2106 and last 1 to 65535 seconds")]
    Window,
    /// A hand-built binding with a prefix wider than its family or host bits set.
    #[error("the binding's prefix is too long for its family or has host bits set")]
    Binding,
    /// The token would exceed the format's size.
    #[error("the token would be too long")]
    TooLong,
    /// This issuer has sealed 2^63 tokens; start a new one.
    #[error("this issuer's serials are used up; start a new issuer")]
    SerialsExhausted,
}

/// A key operation that could not be done.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random,
    /// No key with this id is in the keyring.
    #[error("no key with id {0} in the keyring")]
    NoSuchKey(KeyId),
    /// The active key cannot be retired; rotate first.
    #[error("key {0} is the active key; rotate to a new key before retiring it")]
    RetireActive(KeyId),
    /// The keyring holds [`MAX_KEYS`] keys or the ids are used up; retire old keys first.
    #[error("the keyring is full; retire old keys first")]
    Full,
    /// More than [`MAX_ISSUERS`] issuers were admitted.
    #[error("too many issuers admitted (at most {MAX_ISSUERS})")]
    TooManyIssuers,
}
