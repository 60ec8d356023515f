//! The subkeys a verifier holds, per key id and admitted issuer, and the fast hash that finds
//! one on the verify path.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use ring::aead::LessSafeKey;

use crate::derive::{Secret, issuer_subkey};
use crate::envelope::{Envelope, Opened};
use crate::error::{KeyError, MAX_ISSUERS};
use crate::format::Kind;
use crate::ids::{IssuerId, KeyId};
use crate::rejection::Rejection;

/// Hashes (key id, issuer id) pairs in a couple of instructions (on the verify path). Only
/// admitted issuers are inserted, so a client cannot choose colliding entries; it can only make
/// a lookup miss.
#[derive(Default)]
pub(crate) struct PairHasher(u64);

impl PairHasher {
    fn mix(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.mix(u64::from(b));
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
}

/// The subkeys a verifier holds: one purpose key per key id, and one AES key per (key id,
/// admitted issuer). A token from an issuer not admitted is refused without deriving anything,
/// so clients cannot make a verifier do key derivation or grow memory.
#[derive(Debug)]
pub(crate) struct Subkeys {
    kind: Kind,
    purposes: BTreeMap<KeyId, Secret>,
    opening: HashMap<(KeyId, IssuerId), LessSafeKey, BuildHasherDefault<PairHasher>>,
    issuers: Vec<IssuerId>,
}

impl Subkeys {
    pub(crate) fn new(kind: Kind, purposes: BTreeMap<KeyId, Secret>) -> Subkeys {
        Subkeys {
            kind,
            purposes,
            opening: HashMap::default(),
            issuers: Vec::new(),
        }
    }

    pub(crate) fn admit(&mut self, issuer: IssuerId) -> Result<(), KeyError> {
        if self.issuers.contains(&issuer) {
            return Ok(());
        }
        if self.issuers.len() >= MAX_ISSUERS {
            return Err(KeyError::TooManyIssuers);
        }
        for (&id, purpose) in &self.purposes {
            let key = issuer_subkey(purpose, self.kind, issuer);
            self.opening.insert((id, issuer), key);
        }
        self.issuers.push(issuer);
        Ok(())
    }

    pub(crate) fn retire(&mut self, issuer: IssuerId) {
        self.issuers.retain(|i| *i != issuer);
        self.opening.retain(|(_, i), _| *i != issuer);
    }

    pub(crate) fn issuers(&self) -> &[IssuerId] {
        &self.issuers
    }

    /// Opens the body, or says which part of the header this verifier does not know.
    pub(crate) fn open<'b>(&self, envelope: Envelope<'b>) -> Result<Opened<'b>, Rejection> {
        let header = envelope.header;
        if header.kind != self.kind {
            return Err(Rejection::Malformed);
        }
        if !self.purposes.contains_key(&header.key_id) {
            return Err(Rejection::UnknownKey);
        }
        let key = self
            .opening
            .get(&(header.key_id, header.issuer))
            .ok_or(Rejection::UnknownIssuer)?;
        envelope.open(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_bounded() {
        let mut subkeys = Subkeys::new(Kind::Ticket, BTreeMap::new());
        for i in 0..MAX_ISSUERS as u64 {
            subkeys.admit(IssuerId(i)).unwrap();
        }
        subkeys.admit(IssuerId(0)).unwrap();
        assert_eq!(
            subkeys.admit(IssuerId(u64::MAX)),
            Err(KeyError::TooManyIssuers)
        );
        subkeys.retire(IssuerId(3));
        subkeys.admit(IssuerId(u64::MAX)).unwrap();
    }
}
