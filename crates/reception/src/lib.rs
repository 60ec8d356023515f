//! The reception: the front door of usher (the patent's reception server).
//!
//! It watches every configured shop's load over the management listener (Sa31), answers each
//! order (Sc31) by ranking live shops that carry the item with stock left (Sa33), asking the
//! best one to hold a place for a freshly sealed ticket (Sa34, which is also the notice, Sa35),
//! and redirecting the client to that shop with the ticket; when every shop is full it says so
//! with a time to come back (Sa36).
//!
//! # Layout
//! - [`Reception`] (`reception.rs`): the admission decision and ticket sealing.
//! - `registry.rs`: per-shop view (last report, RTT, tickets handed out since the report) and
//!   the shop's management connection.
//! - [`policy`]: [`SelectionPolicy`](policy::SelectionPolicy) and the default
//!   [`LeastLoaded`](policy::LeastLoaded).
//! - [`public`]: `GET /order/{item}`, `POST /api/v1/admissions`.
//! - [`mgmt`]: the management WebSocket shops dial, and `/status`.
//!
//! Deliberately absent: the reception never sees a shop's sessions or orders, and never admits
//! without a place the shop granted.

mod config;
mod lease;
pub mod mgmt;
mod order;
mod pages;
pub mod policy;
pub mod public;
mod reception;
mod registry;
mod room;
mod waiting_page;

pub use config::{MAX_SHOPS, QueueSettings, ReceptionConfig, Reservation, ShopEntry};
pub use order::Pending;
pub use reception::{Outcome, Reception, StartError, TicketUrl};
pub use room::Wait;
pub use room::state::StateError;
