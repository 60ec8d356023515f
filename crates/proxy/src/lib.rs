//! `usher gate`'s forwarding half: any HTTP shop, written in anything, behind usher.
//!
//! The gate itself is `usher-gate`'s tower layer, unchanged: it claims tickets (Sb32), keeps
//! sessions, ends orders (claim 7) and refuses what has no session. This crate is the service
//! under it, which carries what the gate lets through to the shop upstream and its answers
//! back, so there is one gate, whatever is behind it:
//!
//! ```text
//! buyer ─▶ serve (limits, PROXY) ─▶ GateLayer (claim, session, refusals) ─▶ Forward ─▶ shop
//! ```
//!
//! # Layout
//! - [`Forward`] (`forward.rs`): the service: keep-alive connections to the upstream
//!   (`pool.rs`: hyper's own HTTP/1 connections, reused when ready, at most `max_connections` requests at once), bodies streamed both ways, `502 upstream_failed` and `504 upstream_timeout` in the
//!   refusal shape (the session survives), completion rules, `Upgrade` passed through
//!   (`upgrade.rs`).
//! - `headers.rs`: hop-by-hop headers removed, client-sent `usher-*` headers dropped, who is
//!   buying (`usher-session`, `usher-item`, `usher-server`) and where from (`Forwarded`,
//!   `X-Forwarded-*`) added.
//! - [`ProxyConfig`] (`config.rs`), [`CompletionRule`] (`rules.rs`).
//! - [`keep_load`] (`stock.rs`): the shop's part of the gate's reports: stock counted down from
//!   a configured number ([`Completions`], `completions.rs`) or read from the shop's stock URL,
//!   and whether the shop answers ([`Health`], `health.rs`: health checks and the forwarded
//!   requests' outcomes and latency; a failing shop leaves the reception's rotation).

mod completions;
mod config;
mod forward;
mod headers;
mod health;
mod pool;
mod rules;
mod stock;
mod upgrade;

pub use completions::Completions;
pub use config::{ConfigError, HostHeader, MAX_REQUEST_BODY, ProxyConfig};
pub use forward::Forward;
pub use headers::{ITEM_HEADER, SERVER_HEADER, SESSION_HEADER};
pub use health::Health;
pub use rules::{CompletionRule, RuleError};
pub use stock::{StockSource, UNLIMITED, keep_load};
