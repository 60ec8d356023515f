//! Authenticating a server on the management channel: HMAC-SHA256 under the server's own
//! management key over a fresh challenge, so one shop cannot speak for another and a recorded
//! hello cannot be replayed.

use ring::hmac;

use crate::derive::Secret;
use crate::ids::{Epoch, ServerId};

const LABEL: &[u8] = b"usher v1 hello";
/// Longest challenge nonce used in the MAC.
pub const MAX_NONCE_LEN: usize = 64;

/// `label | len | nonce | len | server id | epoch`, every variable part length-prefixed.
fn message(server: &ServerId, nonce: &[u8], epoch: Epoch) -> Vec<u8> {
    let nonce = &nonce[..nonce.len().min(MAX_NONCE_LEN)];
    let id = server.as_str().as_bytes();
    let mut msg = Vec::with_capacity(LABEL.len() + 2 + nonce.len() + id.len() + 4);
    msg.extend_from_slice(LABEL);
    msg.push(nonce.len() as u8);
    msg.extend_from_slice(nonce);
    msg.push(id.len() as u8);
    msg.extend_from_slice(id);
    msg.extend_from_slice(&epoch.0.to_be_bytes());
    msg
}

/// The MAC a server sends in its hello.
pub fn hello_mac(key: &Secret, server: &ServerId, nonce: &[u8], epoch: Epoch) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
    let tag = hmac::sign(&key, &message(server, nonce, epoch));
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Checks a hello's MAC in constant time.
pub fn verify_hello(
    key: &Secret,
    server: &ServerId,
    nonce: &[u8],
    epoch: Epoch,
    mac: &[u8],
) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
    hmac::verify(&key, &message(server, nonce, epoch), mac).is_ok()
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
        let mac = hello_mac(key_a, &a, b"nonce-1", Epoch(5));
        assert!(verify_hello(key_a, &a, b"nonce-1", Epoch(5), &mac));
        // Shop A's key cannot make a hello that passes as shop B.
        let forged = hello_mac(key_a, &b, b"nonce-1", Epoch(5));
        assert!(!verify_hello(key_b, &b, b"nonce-1", Epoch(5), &forged));
        // A recorded hello does not answer a new challenge, or another epoch.
        assert!(!verify_hello(key_a, &a, b"nonce-2", Epoch(5), &mac));
        assert!(!verify_hello(key_a, &a, b"nonce-1", Epoch(6), &mac));
        assert!(!verify_hello(key_a, &a, b"nonce-1", Epoch(5), &mac[..31]));
    }
}
