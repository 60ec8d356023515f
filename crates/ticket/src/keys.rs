//! Who holds which key: the master [`Keyring`] (receptions and operators) and one server's
//! [`ServerKeys`] (its shop). How each key is derived from the one above it is in `derive.rs`.
//!
//! A shop's key file holds only its own ticket and management keys, so it can neither read nor
//! seal another shop's tickets, nor speak for another server on the management channel.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::derive::{
    LABEL_MANAGEMENT, LABEL_QUEUE, LABEL_TICKET, issuer_subkey, master_prk, scoped,
};
use crate::envelope::Envelope;
use crate::format::{Kind, MAX_RAW};
use crate::ids::{KeyId, ServerId};
use crate::inspect::{self, Inspection};
use crate::issuer::Issuer;
use crate::queue::{QueueOpener, QueueSealer};
use crate::rejection::Rejection;
use crate::subkeys::Subkeys;
use crate::ticket::{TicketOpener, TicketSealer};

pub use crate::derive::{SECRET_LEN, Secret};
pub use crate::error::{KeyError, MAX_ISSUERS, MAX_KEYS};

/// The master keys: one active for sealing, the others still accepted until retired.
///
/// Receptions hold this; shops hold only a [`ServerKeys`] derived from it.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: BTreeMap<KeyId, Secret>,
    active: KeyId,
}

impl Keyring {
    /// A new keyring with one random key, id 1.
    pub fn generate() -> Result<Keyring, KeyError> {
        Ok(Keyring::from_parts(
            BTreeMap::from([(KeyId(1), Secret::random()?)]),
            KeyId(1),
        ))
    }

    /// A keyring from its keys; `active` must be one of them (checked by the key-file loader).
    pub(crate) fn from_parts(keys: BTreeMap<KeyId, Secret>, active: KeyId) -> Keyring {
        Keyring { keys, active }
    }

    /// A keyring holding exactly `secret` under `id`, for tests and tools.
    pub fn single(id: KeyId, secret: Secret) -> Keyring {
        Keyring::from_parts(BTreeMap::from([(id, secret)]), id)
    }

    /// Adds a new random key and makes it the active one; the old keys stay for verifying.
    pub fn rotate(&mut self) -> Result<KeyId, KeyError> {
        if self.keys.len() >= MAX_KEYS {
            return Err(KeyError::Full);
        }
        let last = self.keys.keys().next_back().map_or(0, |id| id.0);
        let id = KeyId(last.checked_add(1).ok_or(KeyError::Full)?);
        self.keys.insert(id, Secret::random()?);
        self.active = id;
        Ok(id)
    }

    /// Removes a key: tokens sealed under it are refused from now on (`unknown_key`).
    pub fn retire(&mut self, id: KeyId) -> Result<(), KeyError> {
        if id == self.active {
            return Err(KeyError::RetireActive(id));
        }
        self.keys
            .remove(&id)
            .map(drop)
            .ok_or(KeyError::NoSuchKey(id))
    }

    /// The key new tokens are sealed with.
    pub fn active(&self) -> KeyId {
        self.active
    }

    /// Every key id held, oldest first.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.keys().copied()
    }

    pub(crate) fn secrets(&self) -> &BTreeMap<KeyId, Secret> {
        &self.keys
    }

    /// Everything one server needs and nothing more: its ticket and management keys for every
    /// key id in this keyring. This is what `usher keys derive` writes.
    pub fn derive_server(&self, server: &ServerId) -> ServerKeys {
        let keys = self
            .keys
            .iter()
            .map(|(&id, secret)| {
                let prk = master_prk(secret);
                let pair = ServerKey {
                    ticket: Secret::expand(&prk, &scoped(LABEL_TICKET, server)),
                    management: Secret::expand(&prk, &scoped(LABEL_MANAGEMENT, server)),
                };
                (id, pair)
            })
            .collect();
        ServerKeys::from_parts(*server, keys, self.active)
    }

    fn queue_keys(&self) -> BTreeMap<KeyId, Secret> {
        self.keys
            .iter()
            .map(|(&id, secret)| (id, Secret::expand(&master_prk(secret), &[LABEL_QUEUE])))
            .collect()
    }

    /// A sealer of tickets for `server`, under the active key, for this process's `issuer`.
    pub fn ticket_sealer(&self, server: &ServerId, issuer: Arc<Issuer>) -> TicketSealer {
        self.derive_server(server).ticket_sealer(issuer)
    }

    /// A verifier of `server`'s tickets (what that server's gate builds from its own key file).
    pub fn ticket_opener(&self, server: &ServerId) -> TicketOpener {
        self.derive_server(server).ticket_opener()
    }

    /// A sealer of queue tokens under the active key.
    pub fn queue_sealer(&self, issuer: Arc<Issuer>) -> QueueSealer {
        let keys = self.queue_keys();
        let purpose = &keys[&self.active];
        QueueSealer::new(self.active, purpose, issuer)
    }

    /// A verifier of queue tokens under every key held.
    pub fn queue_opener(&self) -> QueueOpener {
        QueueOpener::new(Subkeys::new(Kind::Queue, self.queue_keys()))
    }

    /// Opens any token sealed under this keyring, whatever its server, issuer, window or binding,
    /// for an operator to read (`usher keys inspect`). Never use it to admit anyone.
    pub fn inspect(&self, token: &str) -> Result<Inspection, Rejection> {
        let mut buf = [0u8; MAX_RAW];
        let envelope = Envelope::parse(token.as_bytes(), &mut buf)?;
        let header = envelope.header;
        let secret = self.keys.get(&header.key_id).ok_or(Rejection::UnknownKey)?;
        let purpose = match header.kind {
            Kind::Ticket => {
                let server = inspect::server_id(envelope.scope())?;
                Secret::expand(&master_prk(secret), &scoped(LABEL_TICKET, &server))
            }
            Kind::Queue => Secret::expand(&master_prk(secret), &[LABEL_QUEUE]),
        };
        let key = issuer_subkey(&purpose, header.kind, header.issuer);
        inspect::decode(&envelope.open(&key)?)
    }
}

/// One server's keys under one key id.
#[derive(Clone, Debug)]
pub(crate) struct ServerKey {
    pub(crate) ticket: Secret,
    pub(crate) management: Secret,
}

/// One server's own derived keys, for every key id of the keyring they came from.
#[derive(Clone, Debug)]
pub struct ServerKeys {
    server: ServerId,
    keys: BTreeMap<KeyId, ServerKey>,
    active: KeyId,
}

impl ServerKeys {
    pub(crate) fn from_parts(
        server: ServerId,
        keys: BTreeMap<KeyId, ServerKey>,
        active: KeyId,
    ) -> ServerKeys {
        ServerKeys {
            server,
            keys,
            active,
        }
    }

    pub(crate) fn entries(&self) -> &BTreeMap<KeyId, ServerKey> {
        &self.keys
    }

    /// The server these keys belong to.
    pub fn server(&self) -> &ServerId {
        &self.server
    }

    /// The key id this server's peers seal with now.
    pub fn active(&self) -> KeyId {
        self.active
    }

    /// Every key id held, oldest first.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.keys().copied()
    }

    /// The key this server authenticates to the management channel with, under `id`.
    pub fn management_key(&self, id: KeyId) -> Option<&Secret> {
        self.keys.get(&id).map(|k| &k.management)
    }

    /// A verifier of this server's tickets under every key id held.
    pub fn ticket_opener(&self) -> TicketOpener {
        let purposes = self
            .keys
            .iter()
            .map(|(&id, k)| (id, k.ticket.clone()))
            .collect();
        TicketOpener::new(self.server, Subkeys::new(Kind::Ticket, purposes))
    }

    /// A sealer of tickets for this server only: a shop's key file holds no other server's key.
    pub fn ticket_sealer(&self, issuer: Arc<Issuer>) -> TicketSealer {
        let key = &self.keys[&self.active];
        TicketSealer::new(self.server, self.active, &key.ticket, issuer)
    }

    /// Opens one of this server's tickets for an operator to read, whatever its issuer, window
    /// or binding. Never use it to admit anyone.
    pub fn inspect(&self, token: &str) -> Result<Inspection, Rejection> {
        let mut buf = [0u8; MAX_RAW];
        let envelope = Envelope::parse(token.as_bytes(), &mut buf)?;
        let header = envelope.header;
        if header.kind != Kind::Ticket {
            return Err(Rejection::Malformed);
        }
        if envelope.scope() != self.server.as_str().as_bytes() {
            return Err(Rejection::WrongServer);
        }
        let key = self.keys.get(&header.key_id).ok_or(Rejection::UnknownKey)?;
        let key = issuer_subkey(&key.ticket, header.kind, header.issuer);
        inspect::decode(&envelope.open(&key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(id: &str) -> ServerId {
        ServerId::new(id).unwrap()
    }

    #[test]
    fn derivation_is_deterministic_and_separated_by_server_and_purpose() {
        let ring = Keyring::single(KeyId(1), Secret::from_bytes([7; 32]));
        let a = ring.derive_server(&server("shop-a"));
        let a2 = ring.derive_server(&server("shop-a"));
        let b = ring.derive_server(&server("shop-b"));
        let ka = &a.entries()[&KeyId(1)];
        assert_eq!(ka.ticket, a2.entries()[&KeyId(1)].ticket);
        assert_ne!(ka.ticket, b.entries()[&KeyId(1)].ticket);
        assert_ne!(ka.ticket, ka.management);
        assert_ne!(ka.ticket.expose(), &[7; 32]);
        // "ab"+"c" and "a"+"bc" are different inputs thanks to the length byte.
        let ab = scoped(LABEL_TICKET, &server("ab")).concat();
        let a_ = scoped(LABEL_TICKET, &server("a")).concat();
        assert_ne!(ab[..a_.len()], a_[..]);
    }

    #[test]
    fn rotate_makes_a_new_active_key_and_keeps_the_old() {
        let mut ring = Keyring::generate().unwrap();
        let id = ring.rotate().unwrap();
        assert_eq!(id, KeyId(2));
        assert_eq!(ring.active(), KeyId(2));
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), [KeyId(1), KeyId(2)]);
        assert_eq!(ring.retire(KeyId(2)), Err(KeyError::RetireActive(KeyId(2))));
        assert_eq!(ring.retire(KeyId(9)), Err(KeyError::NoSuchKey(KeyId(9))));
        ring.retire(KeyId(1)).unwrap();
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), [KeyId(2)]);
    }

    #[test]
    fn keyring_refuses_to_grow_past_its_limit() {
        let mut ring = Keyring::generate().unwrap();
        for _ in 1..MAX_KEYS {
            ring.rotate().unwrap();
        }
        assert_eq!(ring.rotate(), Err(KeyError::Full));
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::from_bytes([1; 32]);
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        let ring = Keyring::single(KeyId(1), secret);
        assert!(!format!("{ring:?}").contains("1, 1"));
    }
}
