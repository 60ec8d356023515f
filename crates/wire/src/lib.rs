//! The wire types every usher part shares: admission answers, the one error body, and the one enum
//! of refusal codes.
//!
//! # Layout
//! - [`clock`]: [`Clock`], the time source servers take as a value (tests hand in their own).
//! - [`code`]: [`Code`], every refusal code with its serde name, default HTTP status and meaning.
//! - [`admission`]: [`Admission`], what the reception answers to an order (`status` is a serde enum).
//! - [`error`]: [`ErrorBody`], the body of every 4xx refusal at every part.
//! - [`fetch`]: which requests may take a place (a navigation or an API client, never a
//!   subresource or a prefetch), from the fetch metadata headers.
//! - [`forwarded`]: the client's address behind trusted proxies (`X-Forwarded-For`).
//! - [`hex`]: lowercase hex, as ids, nonces, secrets and seeds are spelt.
//! - [`html`]: the HTML escape the parts' small pages share.
//! - [`mgmt`]: the messages of the management channel between shops and the reception.
//! - [`notices`]: the binary frame that carries batches of notices on that channel.
//! - [`sale`]: [`Sale`], what is on sale and what an order for each item would meet now.
//! - [`status`]: the status documents of the management listeners (reception and shop).
//! - [`time`]: [`Rfc3339`], a UTC timestamp that travels as RFC 3339 text.
//!
//! Nothing here does I/O (the clock reads the time); the crate is types and their (de)serialisation, so that the reception,
//! the gate, the shop and the buyer cannot drift apart on names.

pub mod admission;
pub mod clock;
pub mod code;
pub mod error;
pub mod fetch;
pub mod forwarded;
pub mod hex;
pub mod html;
pub mod mgmt;
pub mod notices;
pub mod sale;
pub mod status;
pub mod time;

pub use admission::{Admission, Opening};
pub use clock::{Clock, OffsetClock, SystemClock};
pub use code::Code;
pub use error::ErrorBody;
pub use sale::{ItemState, Sale, SaleItem};
pub use time::Rfc3339;
