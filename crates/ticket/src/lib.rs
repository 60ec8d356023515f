//! Permission tickets and queue tokens for usher: sealing, verifying, and the keys behind them.
//!
//! A **ticket** (patent fig. 4, part 42) lets one client into one content server for one item
//! within a short window; the reception seals it (Sa35) and the server's gate verifies it locally
//! (Sb32), with no call back to the reception (0041). A **queue token** is a waiting client's
//! sealed place in line (Sa56). Both are AEAD envelopes: nobody without the key can read, forge
//! or alter one (0040). The crate is pure: no network, no async runtime; the only I/O is reading
//! and writing key files ([`keyfile`]).
//!
//! # Layout
//! Modules point one way: `error`, `ids`, `rejection` and `format` at the ground; `derive` (key
//! material) ← `envelope` ← `subkeys` ← `ticket` / `queue` ← `inspect` ← `keys` ← [`keyfile`].
//! - [`keys`]: who holds which key: the master [`Keyring`] → per-server [`ServerKeys`].
//! - `derive.rs`: [`Secret`] and the HKDF-SHA256 steps from a master key to an issuer's sealing
//!   subkey.
//! - `subkeys.rs`: the subkeys a verifier holds per key id and admitted issuer.
//! - `envelope.rs`: the sealed envelope both kinds of token share; `format.rs` its version-and-kind
//!   byte and raw buffer.
//! - [`keyfile`]: the TOML key-file format, written 0600 and refused when others can read it.
//! - [`Issuer`] (`issuer.rs`): one sealing process, a random 64-bit id and a nonce counter.
//! - [`TicketSealer`] / [`TicketOpener`] (`ticket.rs`): seal and verify tickets; [`QueueSealer`] /
//!   [`QueueOpener`] (`queue.rs`) the same for queue tokens. A verifier yields the fields or a
//!   [`Rejection`] (`rejection.rs`), each of which maps to one wire [`usher_wire::Code`].
//! - [`Inspection`] (`inspect.rs`): a token read for an operator, never to admit anyone.
//! - [`SealError`] and [`KeyError`] (`error.rs`): why a seal or a key operation failed.
//! - [`hello`]: the management channel's handshake (both nonces, the shop's HMAC hello);
//!   [`channel`]: the session keys it yields, and every frame after sealed (AES-256-GCM) in sequence.
//! - [`Binding`] / [`BindingPolicy`]: the client address prefix a token is bound to.
//! - [`ids`]: the ids tokens carry (server, item, key, issuer, ticket, epoch).
//!
//! # Why nonces never repeat
//! Tokens are sealed with ring's AES-256-GCM (the fastest well-kept AEAD measured here), whose
//! 96-bit nonce must never repeat under one key. No key is shared between sealing processes: each
//! process draws a random 64-bit **issuer id** at start-up, and seals under a subkey derived from
//! its purpose key and that id. The nonce is the issuer's 64-bit counter, which is atomic and never
//! resets within the process (it stops at 2^63, about 1.5 million years at 200,000 tokens per
//! second). A restart draws a new issuer id, hence a new subkey, so a counter starting again at
//! zero is harmless. Two processes collide only if they draw the same 64-bit id: over a million
//! process starts the chance is about 3·10⁻⁸. Random 96-bit nonces under one long-lived key
//! would instead pass the usual 2³² message bound within six hours at that rate.
//!
//! The issuer id and the counter are written in the clear header, which is authenticated as
//! associated data together with the format version, kind, key id and server id. The counter
//! doubles as the ticket's unique id ([`TicketId`]). A verifier derives subkeys only for issuers it
//! has been told about ([`TicketOpener::admit_issuer`]), so a client cannot make it derive keys
//! for ids of its choosing, and an unknown issuer is refused as `unknown_issuer`.
//!
//! # Size
//! A ticket is 20 header bytes + the server id + 10 body bytes + the binding (2 + ⌈prefix/8⌉, or
//! 1 for an unbound ticket) + 1 +
//! the item + a 16-byte tag. For server `shop-a`, item `concert` and an IPv6 /64 binding that is
//! 70 bytes, 94 characters of base64url (IPv4 /32: 66 bytes, 88 characters); the longest ids
//! (32 and 64 bytes) give at most 161 bytes, 215 characters.

pub mod binding;
pub mod channel;
mod derive;
mod envelope;
mod error;
mod format;
pub mod hello;
pub mod ids;
mod inspect;
mod issuer;
pub mod keyfile;
pub mod keys;
mod queue;
mod rejection;
mod subkeys;
mod ticket;

pub use binding::{Binding, BindingPolicy};
pub use envelope::MAX_TOKEN_LEN;
pub use error::SealError;
pub use ids::{Epoch, InvalidId, IssuerId, ItemId, KeyId, MAX_ITEM_ID_LEN, ServerId, TicketId};
pub use inspect::Inspection;
pub use issuer::Issuer;
pub use keyfile::{KeyFile, KeyFileError};
pub use keys::{KeyError, Keyring, MAX_ISSUERS, Secret, ServerKeys};
pub use queue::{QueueContext, QueueOpener, QueueSealer, QueueSpec, QueueToken};
pub use rejection::Rejection;
pub use ticket::{DEFAULT_SKEW, Ticket, TicketOpener, TicketSealer, TicketSpec, VerifyContext};
