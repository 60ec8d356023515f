//! A crowd: the patent's client (the buyer crate: order, wait as told, ask again by itself,
//! follow the ticket, buy) run by the thousand against a live usher, and the report that says
//! whether the invariants held and how the buyers fared.
//!
//! # Layout
//! - `scenario.rs`: [`run::Scenario`], what a crowd does: how many buyers, when they arrive
//!   (all at once, at a steady rate, or on a ramp), who walks away, when the run stops.
//! - `run.rs`: [`run::run`] runs a scenario against a [`run::Target`]: each buyer from its own
//!   loopback address if asked, until its deadline; meanwhile `sampler.rs` reads the
//!   reception's management `/status` (`usher_wire::status::ReceptionStatus`) into
//!   [`Sample`]s.
//! - `metrics.rs`: the measures, pure functions over what the run recorded: Kendall's τ of
//!   admission order against arrival order, overruns from each shop's high-water mark,
//!   utilisation while the queue is non-empty, the median error of wait estimates and the share
//!   of waits inside their estimated range, latency percentiles.
//! - `report.rs`: [`Report`], written as JSON and as one self-contained HTML file (charts
//!   inline, nothing fetched).
//!
//! # Data flow
//! A run records one [`BuyerRecord`] per buyer and one [`Sample`] per tick of the system's state;
//! [`Report::build`] turns them into the figures.

pub mod metrics;
pub mod report;
pub mod run;
mod sampler;
mod scenario;

pub use report::Report;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What happened to one buyer, as the crowd saw it. Times are milliseconds since the run began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuyerRecord {
    /// Arrival order (0 = first to ask).
    pub arrival: u64,
    /// When it first asked the reception (for one the deadline kept away, when it was due).
    pub arrived_ms: u64,
    /// When the reception's first answer reached it: the order the reception saw the buyers in
    /// (in a flash crowd they all ask at the same instant). τ ranks arrivals by this.
    #[serde(default)]
    pub answered_ms: Option<u64>,
    /// Whether it obeyed every return time (an abandoner or an early retrier did not).
    pub obedient: bool,
    /// The first wait the reception estimated for it, if it was put in line.
    pub first_estimate_ms: Option<u64>,
    /// When that estimate reached it (the wait it predicts starts there; in a flash crowd the
    /// first answers may carry none, before anything is measured).
    #[serde(default)]
    pub estimated_ms: Option<u64>,
    /// The low end of that estimate's range (about its p10): with `first_high_ms`, what the
    /// range coverage judges. Absent from older records, and on the browser path.
    #[serde(default)]
    pub first_low_ms: Option<u64>,
    /// The high end of that estimate's range (about its p90).
    #[serde(default)]
    pub first_high_ms: Option<u64>,
    /// Its place in the sale's line (1 = first to join), if it waited: the order the reception
    /// put the buyers in, which τ ranks by.
    #[serde(default)]
    pub place: Option<u64>,
    /// When the reception admitted it.
    pub admitted_ms: Option<u64>,
    /// When its order completed at the shop.
    pub bought_ms: Option<u64>,
    /// Latencies of its calls, milliseconds: each ask of the reception, the claim at the shop
    /// (ticket → session), the buy.
    pub admission_latency_ms: Vec<f64>,
    /// See `admission_latency_ms`.
    pub claim_latency_ms: Option<f64>,
    /// See `admission_latency_ms`.
    pub order_latency_ms: Option<f64>,
    /// The refusal or failure code that ended it, if any (`sold_out`, `too_many`, `timeout`, …).
    pub error: Option<String>,
    /// Set when the run's deadline came before this buyer was done (bought, walked away, or
    /// ended in an error): such a buyer has no error, since nothing failed.
    #[serde(default)]
    pub unfinished: Option<Unfinished>,
}

/// Where the run's deadline found a buyer who was not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unfinished {
    /// It was due at the deadline or later, so it never asked (its `arrived_ms` is when it was
    /// due).
    NotArrived,
    /// It had arrived, and was still waiting, at the shop, or buying.
    CutShort,
}

/// The state of the system at one moment of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Milliseconds since the run began.
    pub at_ms: u64,
    /// Clients waiting in the reception's line.
    pub queue_len: u64,
    /// Per shop id: places in use (sessions + reservations + unused lease places) and capacity.
    pub shops: BTreeMap<String, ShopSample>,
    /// Before a scheduled opening: how long until it, ms (nobody can be admitted yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_in_ms: Option<u64>,
}

/// One shop at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSample {
    /// Places in use.
    pub in_use: u32,
    /// Places in all.
    pub capacity: u32,
    /// The most places ever in use at once in this run of the shop (read from the shop itself,
    /// so no peak between samples is missed).
    pub high_water: u32,
}
