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

use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use base64::engine::Simd;
use base64::engine::general_purpose::NO_PAD;
use ring::aead::{Aad, LessSafeKey, NONCE_LEN, Nonce};

use crate::binding::Binding;
use crate::derive::{Secret, issuer_subkey};
use crate::error::SealError;
use crate::format::{Kind, MAX_RAW, RawBuf, VERSION, put};
use crate::ids::{IssuerId, ItemId, KeyId, MAX_SERVER_ID_LEN, TicketId};
use crate::issuer::Issuer;
use crate::rejection::Rejection;

/// base64url without padding, canonical (no stray trailing bits), with the AVX2/NEON kernels when
/// the CPU has them (detected once).
static BASE64: LazyLock<Simd> = LazyLock::new(|| Simd::url_safe(NO_PAD));

/// AES-256-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;
/// Header bytes before the scope.
pub(crate) const HEADER_FIXED: usize = 1 + 2 + 8 + 8 + 1;
/// Byte offset of the serial inside the header.
const SERIAL_AT: usize = 1 + 2 + 8;
/// Longest token text accepted: anything longer is refused before decoding.
pub const MAX_TOKEN_LEN: usize = MAX_RAW.div_ceil(3) * 4;

fn nonce(serial: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[NONCE_LEN - 8..].copy_from_slice(&serial.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// One issuer's subkey for one kind (and scope) of token, with its clear header built once.
#[derive(Debug)]
pub(crate) struct SealingKey {
    key: LessSafeKey,
    header: RawBuf,
    issuer: Arc<Issuer>,
}

impl SealingKey {
    pub(crate) fn new(
        kind: Kind,
        key_id: KeyId,
        scope: &[u8],
        purpose: &Secret,
        issuer: Arc<Issuer>,
    ) -> Result<SealingKey, SealError> {
        let mut header = RawBuf::new();
        let len = u8::try_from(scope.len()).map_err(|_| SealError::TooLong)?;
        put(&mut header, &[(VERSION << 4) | kind as u8])?;
        put(&mut header, &key_id.0.to_be_bytes())?;
        put(&mut header, &issuer.id().0.to_be_bytes())?;
        put(&mut header, &[0; 8])?;
        put(&mut header, &[len])?;
        put(&mut header, scope)?;
        Ok(SealingKey {
            key: issuer_subkey(purpose, kind, issuer.id()),
            header,
            issuer,
        })
    }

    /// Seals a token whose body is `fields` followed by the binding and the item, and appends
    /// its base64url text to `out`. The serial is drawn last, so a failed seal uses none.
    pub(crate) fn seal(
        &self,
        fields: &[u8],
        binding: &Binding,
        item: &ItemId,
        out: &mut String,
    ) -> Result<TicketId, SealError> {
        let mut buf = self.header.clone();
        let header_len = buf.len();
        put(&mut buf, fields)?;
        binding.encode(&mut buf)?;
        let item = item.as_str().as_bytes();
        put(&mut buf, &[item.len() as u8])?;
        put(&mut buf, item)?;
        let serial = self.issuer.next_serial()?;
        buf[SERIAL_AT..SERIAL_AT + 8].copy_from_slice(&serial.to_be_bytes());
        let (aad, body) = buf.split_at_mut(header_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(serial), Aad::from(&*aad), body)
            .map_err(|_| SealError::TooLong)?;
        put(&mut buf, tag.as_ref())?;
        // Into a stack buffer, then appended: `encode_string` goes through a chunked encoder
        // that cost a third of the whole seal. For tokens this short the scalar engine is as
        // fast as the SIMD one (whose scalar tail does most of the work anyway).
        let mut text = [0u8; MAX_TOKEN_LEN];
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(&buf, &mut text)
            .map_err(|_| SealError::TooLong)?;
        // Base64 output is ASCII.
        out.push_str(std::str::from_utf8(&text[..n]).map_err(|_| SealError::TooLong)?);
        Ok(TicketId {
            issuer: self.issuer.id(),
            serial,
        })
    }
}

/// The clear header of a token being opened (the scope stays in the buffer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) key_id: KeyId,
    pub(crate) issuer: IssuerId,
    pub(crate) serial: u64,
    /// Header length in bytes: where the sealed body starts.
    len: usize,
}

/// A decoded token whose header has been read but whose body is still sealed. Lives in a buffer
/// on the caller's stack, so opening a token allocates and copies nothing.
pub(crate) struct Envelope<'b> {
    pub(crate) header: Header,
    raw: &'b mut [u8],
}

/// An authenticated token: its header, scope and plaintext body.
pub(crate) struct Opened<'b> {
    pub(crate) header: Header,
    pub(crate) scope: &'b [u8],
    pub(crate) body: &'b [u8],
}

impl<'b> Envelope<'b> {
    /// Decodes `token` into `buf` and reads its clear header. Every failure is
    /// [`Rejection::Malformed`]; over-long text is refused before any decoding work.
    pub(crate) fn parse(token: &[u8], buf: &'b mut [u8; MAX_RAW]) -> Result<Self, Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Malformed);
        }
        let n = BASE64
            .decode_slice(token, &mut buf[..])
            .map_err(|_| Rejection::Malformed)?;
        let raw = &mut buf[..n];
        let header = Self::header(raw).ok_or(Rejection::Malformed)?;
        Ok(Envelope { header, raw })
    }

    fn header(raw: &[u8]) -> Option<Header> {
        let fixed: &[u8; HEADER_FIXED] = raw.first_chunk()?;
        let kind = Kind::from_byte(fixed[0])?;
        let [
            _,
            k0,
            k1,
            i0,
            i1,
            i2,
            i3,
            i4,
            i5,
            i6,
            i7,
            s0,
            s1,
            s2,
            s3,
            s4,
            s5,
            s6,
            s7,
            scope_len,
        ] = *fixed;
        let scope_len = usize::from(scope_len);
        let len = HEADER_FIXED + scope_len;
        if scope_len > MAX_SERVER_ID_LEN || raw.len() < len + 1 + TAG_LEN {
            return None;
        }
        Some(Header {
            kind,
            key_id: KeyId(u16::from_be_bytes([k0, k1])),
            issuer: IssuerId(u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7])),
            serial: u64::from_be_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
            len,
        })
    }

    /// The scope bytes (a server id for tickets, empty for queue tokens), not yet authenticated.
    pub(crate) fn scope(&self) -> &[u8] {
        &self.raw[HEADER_FIXED..self.header.len]
    }

    /// Opens the body with `key`. A wrong key or any altered byte is [`Rejection::Forged`].
    pub(crate) fn open(self, key: &LessSafeKey) -> Result<Opened<'b>, Rejection> {
        let Envelope { header, raw } = self;
        let (aad, body) = raw.split_at_mut(header.len);
        let body = key
            .open_in_place(nonce(header.serial), Aad::from(&*aad), body)
            .map_err(|_| Rejection::Forged)?;
        Ok(Opened {
            header,
            scope: &aad[HEADER_FIXED..],
            body,
        })
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

    pub(crate) fn binding(&mut self) -> Option<Binding> {
        let (binding, rest) = Binding::decode(self.0)?;
        self.0 = rest;
        Some(binding)
    }

    /// A length-prefixed item id; the rest of the body must be exactly that.
    pub(crate) fn final_item(self) -> Option<ItemId> {
        let (&len, rest) = self.0.split_first()?;
        if rest.len() != usize::from(len) {
            return None;
        }
        ItemId::new(std::str::from_utf8(rest).ok()?).ok()
    }
}
