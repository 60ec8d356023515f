//! The content server's side of usher: the patent's content server (Sb32-Sb33, claim 7).
//!
//! The gate verifies tickets locally, without calling the reception (0041), turns each into a
//! session, frees the place when the order completes or the session idles out, and keeps the
//! count of places in use (sessions + reservations) at or under capacity (invariant 1). It
//! reports its load to the reception over the management link and holds places for the tickets
//! the reception announces (Sa34, Sa35).
//!
//! # Layout
//! - [`Gate`] (`gate.rs`): shared state: keys, [`places`], epoch, reports.
//! - [`BackLinks`] (`back_links.rs`): where refused buyers start again: the reception's public
//!   URL as the operator set it or as the reception's welcome said.
//! - [`ItemNames`] (`names.rs`): the app's item names, sent up once per management link.
//! - `issuers.rs`: the issuers whose tickets the gate accepts, each scoped to the link that
//!   announced it, bounded by [`usher_ticket::MAX_ISSUERS`]: when room is needed the issuer
//!   longest without a live link goes first; one whose link ended stays [`MAX_TICKET_LIFE`].
//! - [`places`] (`places/`): the notice/session state machine and the capacity count. Pure; time
//!   passed in. `mod.rs` holds [`places::Places`] and the rules that move a place between its
//!   parts: `leases.rs` (places granted to receptions in advance), `notices.rs` (each ticket's
//!   reservation and claim), `sessions.rs` ([`SessionId`] and the sessions: a claimed one
//!   ends at its first-use deadline unless its cookie comes back), `clients.rs` (sessions per
//!   client prefix, and their cap); `tests.rs`.
//! - `stock.rs`: units of stock held for admitted buyers, so nobody admitted finds it sold out.
//! - [`GateLayer`] (`layer.rs`): the tower layer for axum apps: claim, session, open paths;
//!   `navigation.rs`: which requests may claim (a `GET` by a navigation or an API client, never
//!   a subresource); `refusal.rs`: its refusals (the code, a link back, nothing of the content).
//! - [`link`] (`link/`): the management connection the shop dials to the reception: `mod.rs`
//!   reconnects, `socket.rs` dials and frames, `handshake.rs` authenticates and admits the
//!   welcome's issuers, `connection.rs` reports and answers each message (a second welcome ends
//!   the link).
//! - [`GateConfig`] (`config.rs`): what a gate is told at start-up, with [`ItemPaths`] for a
//!   shop whose items live at paths of its own (behind `usher gate`).
//! - [`refusal`] and [`wants_html`] (`refusal.rs`): refusals as JSON or a small page, shared
//!   with `usher gate`'s forwarding service; [`resident_memory`] (`memory.rs`) for reports.
//! - [`SessionInfo`] and [`ORDER_COMPLETE_HEADER`] (`session.rs`): the contract with the app
//!   behind the gate.
//!
//! Nobody hoards the places: a claim must be a `GET` made by a navigation or an API client, a
//! session whose cookie never comes back ends at [`GateConfig::first_use_timeout`], and one
//! client prefix holds at most [`GateConfig::sessions_per_client`] sessions; a refused claim
//! leaves its ticket for the buyer's own navigation.
//!
//! Deliberately absent: no call to the reception when verifying; the ticket text is never logged.

mod app_call;
mod back_links;
mod config;
mod gate;
mod issuers;
mod layer;
pub mod link;
mod memory;
mod names;
mod navigation;
pub mod places;
mod refusal;
mod session;
mod stock;

pub use back_links::{BackLinks, MAX_RECEPTION_URL};
pub use config::{
    ConfigError, DEFAULT_FIRST_USE_TIMEOUT, DEFAULT_SESSIONS_PER_CLIENT, MAX_CAPACITY,
    MAX_IDLE_TIMEOUT,
};
pub use config::{GateConfig, ItemPaths};
pub use gate::{AppLoad, ClaimError, Gate, MAX_TICKET_LIFE, NoRandomness, StockMark};
pub use layer::{GateLayer, GateService};
pub use memory::resident_memory;
pub use names::ItemNames;
pub use places::{PlaceStats, SessionId};
pub use refusal::{refusal, wants_html};
pub use session::{ORDER_COMPLETE_HEADER, SessionInfo};
