//! Authenticating both ends of the management channel.
//!
//! The reception sends a fresh nonce; the shop answers with a fresh nonce of its own and an
//! HMAC-SHA256, under its own management key, over both nonces, its id and its run. Both ends
//! then derive the link's session keys from the management key and both nonces
//! ([`crate::channel`]), and the reception's welcome is the first frame sealed under them: a
//! reception that does not hold the shop's management key cannot send it, so the shop learns
//! who it speaks to as surely as the reception does. A recorded hello answers no other
//! challenge, and a relay that passes the handshake through can neither read the session keys
//! nor alter, drop unnoticed or inject a frame afterwards.

use ring::hmac;

use crate::derive::Secret;
use crate::error::KeyError;
use crate::ids::{Epoch, ServerId};

const LABEL: &[u8] = b"usher v2 hello";
/// Length of each side's nonce, in bytes (64 hex digits on the wire).
pub const NONCE_LEN: usize = 32;

/// One side's fresh random bytes for one handshake.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Nonce([u8; NONCE_LEN]);

impl Nonce {
    /// Fresh bytes from the operating system; an error rather than anything predictable.
    pub fn random() -> Result<Nonce, KeyError> {
        let mut bytes = [0u8; NONCE_LEN];
        getrandom::fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(Nonce(bytes))
    }

    /// Wraps raw bytes (tests).
    pub fn from_bytes(bytes: [u8; NONCE_LEN]) -> Nonce {
        Nonce(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; NONCE_LEN] {
        &self.0
    }

    /// Parses the wire spelling, exactly 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Nonce> {
        usher_wire::hex::decode(text).map(Nonce)
    }

    /// The wire spelling, 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        usher_wire::hex::encode(&self.0)
    }
}

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nonce({})", self.to_hex())
    }
}

/// What one handshake is about: who the shop says it is, its run, and both sides' nonces.
/// The hello's MAC and the session keys are both bound to all of it.
#[derive(Debug, Clone, Copy)]
pub struct Handshake<'a> {
    /// The shop's id.
    pub server: &'a ServerId,
    /// The shop's run.
    pub epoch: Epoch,
    /// The reception's challenge.
    pub reception: &'a Nonce,
    /// The shop's own nonce, sent in its hello.
    pub shop: &'a Nonce,
}

impl Handshake<'_> {
    /// `label | reception nonce | shop nonce | len | server id | epoch`; only the id varies
    /// in length, and it is length-prefixed.
    pub(crate) fn message(&self, label: &[u8]) -> Vec<u8> {
        let id = self.server.as_str().as_bytes();
        let mut msg = Vec::with_capacity(label.len() + 2 * NONCE_LEN + 1 + id.len() + 4);
        msg.extend_from_slice(label);
        msg.extend_from_slice(&self.reception.0);
        msg.extend_from_slice(&self.shop.0);
        // A server id is at most 64 bytes (`ServerId::new`).
        msg.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        msg.extend_from_slice(id);
        msg.extend_from_slice(&self.epoch.0.to_be_bytes());
        msg
    }
}

/// The MAC a shop sends in its hello.
pub fn hello_mac(key: &Secret, handshake: &Handshake<'_>) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
    let tag = hmac::sign(&key, &handshake.message(LABEL));
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Checks a hello's MAC in constant time.
pub fn verify_hello(key: &Secret, handshake: &Handshake<'_>, mac: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
    hmac::verify(&key, &handshake.message(LABEL), mac).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyId, Keyring};

    #[test]
    fn a_shop_cannot_speak_for_another_or_replay() {
        let ring = Keyring::single(KeyId(1), Secret::from_bytes([3; 32]));
        let a = ServerId::new("shop-a").unwrap();
        let b = ServerId::new("shop-b").unwrap();
        let ka = ring.derive_server(&a);
        let kb = ring.derive_server(&b);
        let key_a = ka.management_key(KeyId(1)).unwrap();
        let key_b = kb.management_key(KeyId(1)).unwrap();
        let (r1, r2, s1) = (
            Nonce::from_bytes([1; 32]),
            Nonce::from_bytes([2; 32]),
            Nonce::from_bytes([9; 32]),
        );
        let hs = |server, epoch, reception| Handshake {
            server,
            epoch: Epoch(epoch),
            reception,
            shop: &s1,
        };
        let mac = hello_mac(key_a, &hs(&a, 5, &r1));
        assert!(verify_hello(key_a, &hs(&a, 5, &r1), &mac));
        // Shop A's key cannot make a hello that passes as shop B.
        let forged = hello_mac(key_a, &hs(&b, 5, &r1));
        assert!(!verify_hello(key_b, &hs(&b, 5, &r1), &forged));
        // A recorded hello does not answer a new challenge, another epoch, or another shop
        // nonce.
        assert!(!verify_hello(key_a, &hs(&a, 5, &r2), &mac));
        assert!(!verify_hello(key_a, &hs(&a, 6, &r1), &mac));
        let other_shop_nonce = Handshake {
            shop: &r2,
            ..hs(&a, 5, &r1)
        };
        assert!(!verify_hello(key_a, &other_shop_nonce, &mac));
        assert!(!verify_hello(key_a, &hs(&a, 5, &r1), &mac[..31]));
    }

    #[test]
    fn a_nonce_reads_back_its_hex_and_nothing_else() {
        let n = Nonce::from_bytes([0xab; 32]);
        assert_eq!(Nonce::from_hex(&n.to_hex()), Some(n));
        assert_eq!(Nonce::from_hex(&"ab".repeat(31)), None);
        assert_eq!(Nonce::from_hex(&"zz".repeat(32)), None);
        assert_eq!(Nonce::from_hex(&"é".repeat(32)), None);
        assert_ne!(Nonce::random().unwrap(), Nonce::random().unwrap());
    }
}
