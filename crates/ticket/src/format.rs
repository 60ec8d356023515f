//! The pieces of the token format that the envelope, the binding and the key derivation share:
//! the version-and-kind byte, and the stack buffer a raw token is built in.

use arrayvec::ArrayVec;

use crate::error::SealError;

/// Format version in the high nibble of the first byte.
pub(crate) const VERSION: u8 = 1;
/// The largest raw token either kind can produce, with room to spare.
pub(crate) const MAX_RAW: usize = 192;

/// A raw token under construction or being opened, on the stack.
pub(crate) type RawBuf = ArrayVec<u8, MAX_RAW>;

/// Which kind of token an envelope holds; part of the authenticated header, and of each
/// issuer subkey's derivation (a ticket subkey never opens a queue token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ticket = 1,
    Queue = 2,
}

impl Kind {
    /// The kind named by a token's first byte, if its version is this format's.
    pub(crate) fn from_byte(byte: u8) -> Option<Kind> {
        if byte >> 4 != VERSION {
            return None;
        }
        match byte & 0x0F {
            1 => Some(Kind::Ticket),
            2 => Some(Kind::Queue),
            _ => None,
        }
    }
}

/// Appends `bytes`, failing only if a token would outgrow [`MAX_RAW`], which the field limits
/// rule out.
pub(crate) fn put(buf: &mut RawBuf, bytes: &[u8]) -> Result<(), SealError> {
    buf.try_extend_from_slice(bytes)
        .map_err(|_| SealError::TooLong)
}
