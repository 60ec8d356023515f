//! The waiting room of a sale: one fair line for clients who find every shop busy (Sa54), and
//! the estimate of how long each of them waits (Sa56).
//!
//! The crate is pure logic: no I/O, no async runtime, no clock. Every call that depends on time
//! takes the current [`Instant`](std::time::Instant) as an argument, so the reception passes its
//! clock in and tests drive time by hand. A [`Line`] holds O(1) state per waiting client (two
//! counters and a fixed window of claim bits); the reception seals each client's place into a
//! queue token, and persists the line's [`Counters`] so a restart keeps every place.
//!
//! # Layout
//! - `line.rs`: [`Line`], [`Place`] and [`Counters`]: joining at the back, the head that makes
//!   places eligible strictly in arrival order, claims (once, within a grace period), and
//!   scheduled return times (Sc55-Sc56, Sc51).
//! - `window.rs`: the ring of claim bits for the open places just behind the head.
//! - `shows.rs`: what the line learns about returning clients (no-show share, claim delay),
//!   which lets the head run past places nobody will claim.
//! - `arrivals.rs`: [`Arrivals`], the smoothed arrival rate (a pre-queue's growth until its
//!   draw).
//! - `draw.rs`: [`Draw`], the order of a scheduled opening's pre-queue, drawn from a seed
//!   committed to before the opening and published after it.
//! - `estimator.rs`: [`Estimator`], the wait estimate by Little's law from the smoothed rate at
//!   which places free (Sa56), falling back to the average of past waits (patent 0048).
//! - `config.rs`: [`LineConfig`] and [`EstimatorConfig`]. `error.rs`: [`ClaimError`] and
//!   [`CountersError`].
//!
//! # Data flow
//! The reception owns one line and one estimator per sale and calls them from its handlers:
//! - A new order: admitted at once only if [`Line::admits_newcomer`]; otherwise (every shop
//!   busy, Sa54, or others waiting) [`Line::join`], then answer with [`Line::ahead`],
//!   [`Estimator::estimate`] and [`Line::retry_after`].
//! - Each load report: [`Line::advance`] with the free places, and hand what it returns to
//!   [`Estimator::freed`].
//! - A client back with its token: [`Line::claim`]; on success admit it, and give the place back
//!   with [`Line::unclaim`] if no shop has room after all. Report its wait to
//!   [`Estimator::waited`].

mod arrivals;
mod config;
mod draw;
mod error;
mod estimator;
mod line;
mod shows;
mod window;

pub use arrivals::Arrivals;
pub use config::{EstimatorConfig, LineConfig};
pub use draw::{Draw, PreQueueOrder, ROUNDS, SEED_LEN, commitment};
pub use error::{ClaimError, CountersError};
pub use estimator::{Estimate, Estimator};
pub use line::{Counters, Line, Place};
