//! Why a claim or a restore was refused.

use thiserror::Error;

/// Why a place could not be claimed. None of them admits; they differ in what the client is
/// told (wait on, or start again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ClaimError {
    /// The head has not reached the place yet: the client keeps waiting (invariant 5).
    #[error("this place is not eligible yet")]
    NotYet,
    /// The place was claimed already: a place admits once.
    #[error("this place was already claimed")]
    AlreadyClaimed,
    /// The place was eligible for longer than the grace period without a claim, or was pushed
    /// out of the claim window; the client has to join again.
    #[error("this place was given up")]
    GivenUp,
    /// No such place was ever handed out by this line.
    #[error("this place was never issued")]
    Unknown,
}

/// Persisted counters that cannot describe a line: they must satisfy
/// `open_from <= head <= issued <= 2^62` (a line restored near `u64::MAX` would wrap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error(
    "inconsistent line counters: open_from {open_from}, head {head}, issued {issued} (must be \
     open_from <= head <= issued <= 2^62)"
)]
pub struct CountersError {
    /// The `open_from` read.
    pub open_from: u64,
    /// The `head` read.
    pub head: u64,
    /// The `issued` read.
    pub issued: u64,
}
