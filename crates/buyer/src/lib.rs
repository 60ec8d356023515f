//! The patent's client as a library: a [`Buyer`] orders an item at the reception, waits in the
//! queue as long as it is told and asks again by itself (Sc31, Sc55, Sc56), follows its ticket to
//! the shop, keeps the session cookie, buys, and fetches the receipt and the download, timing
//! every step. The crowd runs thousands of these and aggregates their [`Journey`]s.
//!
//! # Layout
//! - `config`: [`BuyerConfig`], the reception URL, local address, browser or API path, limits.
//! - `client`: [`Buyer`] (one HTTP client with its own cookie jar, redirects never followed
//!   automatically) and the helpers every step shares (bounded body reads, `Location`,
//!   `Retry-After`, error bodies).
//! - `order`: [`Buyer::order`], the ask-wait-ask loop, giving [`Admitted`].
//! - `shop`: [`Buyer::claim`], [`Buyer::buy`] (giving [`Order`]), [`Buyer::receipt`],
//!   [`Buyer::download`].
//! - `journey`: [`Buyer::journey`], all steps in a row, recorded as a serde [`Journey`].
//! - `error`: [`BuyerError`], plus [`RefusalCode`] and [`ErrorKind`] for reports.
//!
//! # Flow
//! `order` → ticket URL → `claim` (`303` + cookie, then the clean item page) → `buy` → `receipt`
//! → `download`. Each step checks the status the contract allows and turns any usher error body
//! into [`BuyerError::Refused`] with its code; nothing a server sends can make the buyer panic,
//! and every body read is bounded. Ticket URLs are secrets: they are kept out of errors and logs.

mod client;
mod config;
mod error;
mod journey;
mod order;
mod shop;
mod step;

pub use client::Buyer;
pub use config::BuyerConfig;
pub use error::{BuyerError, ErrorKind, RefusalCode};
pub use journey::{Failure, Journey, StepRecord};
pub use order::{Admitted, DEFAULT_RETRY, MAX_CHECK_IN};
pub use shop::Order;
pub use step::Step;
