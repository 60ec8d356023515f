//! The key material and how each key is derived from the one above it.
//!
//! ```text
//! master secret (per key id) --HKDF-SHA256(salt "usher v1")--> master PRK
//!   ├─ expand("usher v1 ticket", len, server id)     = ticket key of that server (held by the shop)
//!   ├─ expand("usher v1 management", len, server id) = management key of that server (held by it)
//!   └─ expand("usher v1 queue")                 = queue-token key              (receptions only)
//! purpose key --HKDF expand("usher v1 issuer", kind, issuer id)--> AES-256-GCM subkey
//! ```
//! Who holds which key is `keys.rs`' business; this module only derives, and depends on
//! nothing above the format.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Prk, Salt};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::KeyError;
use crate::format::Kind;
use crate::ids::{IssuerId, ServerId};

/// Length of every secret in the hierarchy.
pub const SECRET_LEN: usize = 32;

const SALT: &[u8] = b"usher v1";
pub(crate) const LABEL_TICKET: &[u8] = b"usher v1 ticket";
pub(crate) const LABEL_MANAGEMENT: &[u8] = b"usher v1 management";
pub(crate) const LABEL_QUEUE: &[u8] = b"usher v1 queue";
const LABEL_ISSUER: &[u8] = b"usher v1 issuer";

/// 32 secret bytes, wiped from memory when dropped and never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    /// Fresh random bytes from the operating system.
    pub fn random() -> Result<Secret, KeyError> {
        let mut bytes = [0u8; SECRET_LEN];
        getrandom::fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(Secret(bytes))
    }

    /// Wraps raw bytes (for tests and for keys read from a file).
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Secret {
        Secret(bytes)
    }

    /// The raw bytes, for a MAC or a further derivation.
    pub fn expose(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// Parses the key-file spelling: 43 characters of base64url without padding.
    pub(crate) fn from_text(text: &str) -> Option<Secret> {
        let mut bytes = [0u8; SECRET_LEN + 3];
        let n = URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()?;
        let secret = (n == SECRET_LEN).then(|| {
            let mut out = [0u8; SECRET_LEN];
            out.copy_from_slice(&bytes[..SECRET_LEN]);
            Secret(out)
        });
        bytes.zeroize();
        secret
    }

    /// The key-file spelling.
    pub(crate) fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// One HKDF expand step: the secret `info` names under `prk`.
    pub(crate) fn expand(prk: &Prk, info: &[&[u8]]) -> Secret {
        let mut out = [0u8; SECRET_LEN];
        prk.expand(info, HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .expect("32 bytes is within HKDF-SHA256's output limit");
        Secret(out)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The HKDF info naming one server's key of one purpose: `label | len | server id`.
pub(crate) fn scoped<'a>(label: &'static [u8], server: &'a ServerId) -> [&'a [u8]; 3] {
    // The length byte keeps "ab" + "c" and "a" + "bc" apart; ids are at most 32 bytes.
    const LENS: [u8; 33] = {
        let mut lens = [0u8; 33];
        let mut i = 0;
        while i < 33 {
            lens[i] = i as u8;
            i += 1;
        }
        lens
    };
    let id = server.as_str().as_bytes();
    [label, std::slice::from_ref(&LENS[id.len()]), id]
}

/// The HKDF extract step: the PRK every key of one master secret is expanded from.
pub(crate) fn master_prk(secret: &Secret) -> Prk {
    Salt::new(HKDF_SHA256, SALT).extract(secret.expose())
}

/// The AES-256-GCM key that one issuer seals one kind of token with under one purpose key.
pub(crate) fn issuer_subkey(purpose: &Secret, kind: Kind, issuer: IssuerId) -> LessSafeKey {
    let prk = Prk::new_less_safe(HKDF_SHA256, purpose.expose());
    let issuer = issuer.0.to_be_bytes();
    let info: [&[u8]; 3] = [LABEL_ISSUER, &[kind as u8], &issuer];
    let okm = prk
        .expand(&info, &AES_256_GCM)
        .expect("an AES-256 key is within HKDF-SHA256's output limit");
    LessSafeKey::new(UnboundKey::from(okm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_text_is_exactly_32_bytes_of_canonical_base64url() {
        let secret = Secret::from_bytes([0xA5; 32]);
        let text = secret.to_text();
        assert_eq!(text.len(), 43);
        assert_eq!(Secret::from_text(&text), Some(secret));
        assert_eq!(Secret::from_text(&text[..42]), None);
        assert_eq!(Secret::from_text(&format!("{text}A")), None);
        assert_eq!(Secret::from_text(&format!("{text}=")), None);
    }
}
