//! The reception: the front door of usher (the patent's reception server).
//!
//! It watches every configured shop's load over the management listener (Sa31), answers each
//! order (Sc31) by ranking live shops that carry the item with stock left (Sa33), taking a place
//! the best one granted for a freshly sealed ticket (Sa34, whose notice is Sa35), and
//! redirecting the client to that shop with the ticket; when every shop is full, the client
//! joins one fair line for the sale and is told its place, the estimated wait and when to come
//! back (Sa36, Sa54-Sa56).
//!
//! # Layout
//! - [`Reception`] (`reception.rs`): an order from start to end, the line in front of the
//!   admission; `outcome.rs`: [`Outcome`], what an order gets; `config.rs`: the settings.
//! - `admit/`: the admission (Sa33-Sa35): the registry of shops and their links, the
//!   [`policy`] that ranks them, leases of places and their batched notices, sealing.
//! - `room/`: the waiting room (Sa54-Sa56): the line's logic, the seam to its state
//!   (`store.rs`) with today's in-memory store and its state file, join limits and the cap on
//!   places waiting per network (`waiting.rs`), the waiting page and its assets.
//! - [`public`]: the public listener (`GET /order/{item}`, `POST /api/v1/admissions`).
//! - [`mgmt`]: the management listener (the WebSocket shops dial, `/status`).
//!
//! The folders point one way: `public` and `mgmt` use the reception; the reception uses
//! `admit` and `room`; `admit` uses `room` only for the busy answer; `room` uses neither.
//!
//! Deliberately absent: the reception never sees a shop's sessions or orders, never admits
//! without a place the shop granted, and holds no state per waiting client.

mod admit;
mod config;
pub mod mgmt;
mod outcome;
pub mod public;
mod reception;
mod room;

pub use admit::policy;
pub use config::{ConfigError, MAX_EXPECTED_ITEMS, MAX_QUEUE_HOLD, MAX_WAITING_PER_CLIENT};
pub use config::{
    MAX_SHOP_CAPACITY, MAX_SHOPS, OpeningSettings, QueueSettings, ReceptionConfig, Reservation,
    ShopEntry,
};
pub use outcome::{Outcome, TicketUrl};
pub use reception::{Pending, Reception, StartError};
pub use room::Wait;
pub use room::state::StateError;
pub use usher_queue::PreQueueOrder;
