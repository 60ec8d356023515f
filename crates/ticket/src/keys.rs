//! The key hierarchy: master keys, the keys derived from them, and the subkeys that seal.
//!
//! ```text
//! master secret (per key id) --HKDF-SHA256(salt "usher v1")--> master PRK
//!   ├─ expand("usher v1 ticket", len, server id)     = ticket key of that server (held by the shop)
//!   ├─ expand("usher v1 management", len, server id) = management key of that server (held by it)
//!   └─ expand("usher v1 queue")                 = queue-token key              (receptions only)
//! purpose key --HKDF expand("usher v1 issuer", kind, issuer id)--> AES-256-GCM subkey
//! ```
//! A shop's key file holds only its own ticket and management keys, so it can neither read nor
//! seal another shop's tickets, nor speak for another server on the management channel.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Prk, Salt};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::envelope::{Envelope, Kind, MAX_RAW, Opened};
use crate::ids::{IssuerId, KeyId, ServerId};
use crate::issuer::Issuer;
use crate::rejection::Rejection;
use crate::{QueueOpener, QueueSealer, TicketOpener, TicketSealer};

/// Length of every secret in the hierarchy.
pub const SECRET_LEN: usize = 32;
/// Most keys one keyring or key file may hold (rotation keeps a few; this bounds loading).
pub const MAX_KEYS: usize = 64;
/// Most issuers one verifier accepts at once; bounds the memory an announcement can cost.
pub const MAX_ISSUERS: usize = 4096;

const SALT: &[u8] = b"usher v1";
const LABEL_TICKET: &[u8] = b"usher v1 ticket";
const LABEL_MANAGEMENT: &[u8] = b"usher v1 management";
const LABEL_QUEUE: &[u8] = b"usher v1 queue";
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

    fn expand(prk: &Prk, info: &[&[u8]]) -> Secret {
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

fn scoped<'a>(label: &'static [u8], server: &'a ServerId) -> [&'a [u8]; 3] {
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

fn master_prk(secret: &Secret) -> Prk {
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
    pub fn inspect(&self, token: &str) -> Result<crate::Inspection, Rejection> {
        let mut buf = [0u8; MAX_RAW];
        let envelope = Envelope::parse(token.as_bytes(), &mut buf)?;
        let header = envelope.header;
        let secret = self.keys.get(&header.key_id).ok_or(Rejection::UnknownKey)?;
        let purpose = match header.kind {
            Kind::Ticket => {
                let server = crate::inspect::server_id(envelope.scope())?;
                Secret::expand(&master_prk(secret), &scoped(LABEL_TICKET, &server))
            }
            Kind::Queue => Secret::expand(&master_prk(secret), &[LABEL_QUEUE]),
        };
        let key = issuer_subkey(&purpose, header.kind, header.issuer);
        crate::inspect::decode(&envelope.open(&key)?)
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
    pub fn inspect(&self, token: &str) -> Result<crate::Inspection, Rejection> {
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
        crate::inspect::decode(&envelope.open(&key)?)
    }
}

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
