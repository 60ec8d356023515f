//! The sealed envelope both kinds of token share.
//!
//! ```text
//! clear header (associated data)                                    sealed body      tag
//! +-----------+--------+-----------+-----------+-----+-------------+----------------+----+
//! | ver|kind  | key id | issuer id | serial    | len | scope       | kind's fields  | 16 |
//! | 1         | 2      | 8         | 8         | 1   | 0..=32      |                |    |
//! +-----------+--------+-----------+-----------+-----+-------------+----------------+----+
//! ```
//! All integers big-endian. The scope is the server id for tickets and empty for queue tokens.
//! The whole is base64url without padding. The serial is the AES-256-GCM nonce (zero-extended to
//! 96 bits) under a subkey that only this issuer uses, see the crate docs.

use arrayvec::ArrayVec;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, LessSafeKey, NONCE_LEN, Nonce};

use crate::ids::{IssuerId, KeyId, MAX_SERVER_ID_LEN};
use crate::rejection::Rejection;

/// Format version in the high nibble of the first byte.
const VERSION: u8 = 1;
/// AES-256-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;
/// Header bytes before the scope.
pub(crate) const HEADER_FIXED: usize = 1 + 2 + 8 + 8 + 1;
/// Byte offset of the serial inside the header.
const SERIAL_AT: usize = 1 + 2 + 8;
/// The largest raw token either kind can produce, with room to spare.
pub(crate) const MAX_RAW: usize = 192;
/// Longest token text accepted: anything longer is refused before decoding.
pub const MAX_TOKEN_LEN: usize = MAX_RAW.div_ceil(3) * 4;
/// Shortest meaningful raw token: a header with no scope, one body byte and the tag.
const MIN_RAW: usize = HEADER_FIXED + 1 + TAG_LEN;

/// A raw token under construction or being opened, on the stack.
pub(crate) type RawBuf = ArrayVec<u8, MAX_RAW>;

/// Which kind of token an envelope holds; part of the authenticated header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ticket = 1,
    Queue = 2,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
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
pub(crate) fn put(buf: &mut RawBuf, bytes: &[u8]) -> Result<(), crate::SealError> {
    buf.try_extend_from_slice(bytes)
        .map_err(|_| crate::SealError::TooLong)
}

/// The clear header of a sealing key, built once; only the serial changes per token.
pub(crate) fn header_prefix(
    kind: Kind,
    key_id: KeyId,
    issuer: IssuerId,
    scope: &[u8],
) -> Result<RawBuf, crate::SealError> {
    let mut buf = RawBuf::new();
    let len = u8::try_from(scope.len()).map_err(|_| crate::SealError::TooLong)?;
    put(&mut buf, &[(VERSION << 4) | kind as u8])?;
    put(&mut buf, &key_id.0.to_be_bytes())?;
    put(&mut buf, &issuer.0.to_be_bytes())?;
    put(&mut buf, &[0; 8])?;
    put(&mut buf, &[len])?;
    put(&mut buf, scope)?;
    Ok(buf)
}

fn nonce(serial: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[NONCE_LEN - 8..].copy_from_slice(&serial.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// Seals `buf` (header prefix followed by the body) in place with `serial` and appends the
/// base64url text to `out`.
pub(crate) fn seal_into(
    key: &LessSafeKey,
    mut buf: RawBuf,
    header_len: usize,
    serial: u64,
    out: &mut String,
) -> Result<(), crate::SealError> {
    buf[SERIAL_AT..SERIAL_AT + 8].copy_from_slice(&serial.to_be_bytes());
    let (aad, body) = buf.split_at_mut(header_len);
    let tag = key
        .seal_in_place_separate_tag(nonce(serial), Aad::from(&*aad), body)
        .map_err(|_| crate::SealError::TooLong)?;
    put(&mut buf, tag.as_ref())?;
    URL_SAFE_NO_PAD.encode_string(&buf, out);
    Ok(())
}

/// The clear header of a token being opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) key_id: KeyId,
    pub(crate) issuer: IssuerId,
    pub(crate) serial: u64,
    scope: [u8; MAX_SERVER_ID_LEN],
    scope_len: usize,
    len: usize,
}

impl Header {
    /// The scope bytes (a server id for tickets).
    pub(crate) fn scope(&self) -> &[u8] {
        &self.scope[..self.scope_len]
    }
}

/// A decoded token whose header has been read but whose body is still sealed.
pub(crate) struct Envelope {
    pub(crate) header: Header,
    buf: RawBuf,
}

impl Envelope {
    /// Decodes `token` and reads its clear header. Every failure is [`Rejection::Malformed`];
    /// over-long text is refused before any decoding work.
    pub(crate) fn parse(token: &[u8]) -> Result<Envelope, Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Malformed);
        }
        let mut buf = RawBuf::from([0; MAX_RAW]);
        let n = URL_SAFE_NO_PAD
            .decode_slice(token, &mut buf)
            .map_err(|_| Rejection::Malformed)?;
        buf.truncate(n);
        let header = Self::header(&buf).ok_or(Rejection::Malformed)?;
        Ok(Envelope { header, buf })
    }

    fn header(raw: &[u8]) -> Option<Header> {
        if raw.len() < MIN_RAW {
            return None;
        }
        let kind = Kind::from_byte(raw[0])?;
        let key_id = KeyId(u16::from_be_bytes([raw[1], raw[2]]));
        let issuer = IssuerId(u64::from_be_bytes(raw[3..11].try_into().ok()?));
        let serial = u64::from_be_bytes(raw[SERIAL_AT..SERIAL_AT + 8].try_into().ok()?);
        let scope_len = usize::from(raw[HEADER_FIXED - 1]);
        let len = HEADER_FIXED + scope_len;
        if scope_len > MAX_SERVER_ID_LEN || raw.len() < len + 1 + TAG_LEN {
            return None;
        }
        let mut scope = [0u8; MAX_SERVER_ID_LEN];
        scope[..scope_len].copy_from_slice(&raw[HEADER_FIXED..len]);
        Some(Header {
            kind,
            key_id,
            issuer,
            serial,
            scope,
            scope_len,
            len,
        })
    }

    /// Opens the body with `key`, returning the plaintext fields. A wrong key or any altered byte
    /// is [`Rejection::Forged`].
    pub(crate) fn open(&mut self, key: &LessSafeKey) -> Result<&[u8], Rejection> {
        let (aad, body) = self.buf.split_at_mut(self.header.len);
        key.open_in_place(nonce(self.header.serial), Aad::from(&*aad), body)
            .map(|plain| &*plain)
            .map_err(|_| Rejection::Forged)
    }
}

/// Reads big-endian fields off the front of a body, in order.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.bytes().map(u16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.bytes().map(u32::from_be_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.bytes().map(u64::from_be_bytes)
    }

    pub(crate) fn binding(&mut self) -> Option<crate::Binding> {
        let (binding, rest) = crate::Binding::decode(self.0)?;
        self.0 = rest;
        Some(binding)
    }

    /// A length-prefixed item id; the rest of the body must be exactly that.
    pub(crate) fn final_item(self) -> Option<crate::ItemId> {
        let (&len, rest) = self.0.split_first()?;
        if rest.len() != usize::from(len) {
            return None;
        }
        crate::ItemId::new(std::str::from_utf8(rest).ok()?).ok()
    }
}
