//! usher's reference content server: the shop that sits behind a gate. It sells items from a
//! catalogue with limited stock, records each order durably, and hands the buyer a receipt (and, for
//! download items, the file).
//!
//! # Layout
//! - [`catalogue`]: [`Catalogue`] and [`Item`], read from TOML (`[[items]]`) and validated; an
//!   embedded demo catalogue.
//! - `file_name`: the one rule for a file name a catalogue gives (a download's, a picture's).
//! - [`image`]: an item's picture, read beside the catalogue file (or built in, for the demo)
//!   and served from memory at `/static/items/{item}`.
//! - [`store`]: [`Store`], stock and orders in SQLite (`data_dir/shop.db`, WAL, `synchronous=FULL`).
//! - [`order`]: [`Order`], its random id and secret, and the receipt URL built from them.
//! - [`api`]: [`Purchase`] and [`Receipt`], the JSON bodies.
//! - `routes`: [`router`], the HTTP handlers; `pages`: their HTML; `error`: the one type that turns
//!   a failure into a response (the usher error body, or a small page for browsers); `accept`: JSON
//!   or HTML from `Accept`; `download`: the bytes a download item delivers.
//! - [`Shop`] (`shop.rs`): the cheap-to-clone handle (catalogue + store) the router and the gate's
//!   load reports share.
//! - `load`: [`report_load`] and [`refresh_load`], the shop's part of the gate's load reports
//!   (stock, orders, memory), refreshed on every report tick.
//!
//! # Data flow
//! The gate claims a buyer's ticket and passes requests on `/items/{item}` with an
//! `Extension<usher_gate::SessionInfo>`; the shop refuses those without one (`no_session`) or for
//! another item (`wrong_scope`). `POST /items/{item}/buy` runs one `BEGIN IMMEDIATE` transaction:
//! the ticket's existing order if it has one, otherwise one unit off stock (never below zero) and a
//! new order, committed to disk before the answer. The answer carries
//! [`usher_gate::ORDER_COMPLETE_HEADER`], so the gate ends the session and frees the place. The
//! receipt, `/receipts/{order}?secret=…`, needs no session: the 128-bit secret is the proof.
//!
//! # Invariants
//! - An order answered with 2xx is on disk; stock never goes below zero (checked by the schema too).
//! - One ticket makes at most one order (a `UNIQUE` column); a retried buy returns that same order.
//! - Ids from the client are validated, and paths and queries bounded, before any database work.
//! - Receipts do not say whether an order exists unless the secret matches.

pub mod api;
pub mod catalogue;
pub mod image;
pub mod order;
pub mod store;

mod accept;
mod download;
mod error;
mod file_name;
mod load;
mod pages;
mod routes;
mod shop;

pub use api::{Purchase, Receipt};
pub use catalogue::{Catalogue, CatalogueError, Item, Kind};
pub use image::{Image, ImageError};
pub use load::{refresh_load, report_load};
pub use order::Order;
pub use routes::{MAX_PATH_BYTES, MAX_QUERY_BYTES, router};
pub use shop::Shop;
pub use store::{Bought, BuyError, Store, StoreError, StoreReport};
