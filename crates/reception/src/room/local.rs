//! What one reception keeps of the line for itself, beside the shared store.

use std::time::Duration;

use usher_queue::Estimator;

use super::limit::JoinLimiter;
use super::store::LineStore;
use super::wait::{SESSION_LEARNT, ShopRoom};
use super::waiting::WaitingCap;

/// What this reception keeps of the line for itself (locked before the store, never after).
#[derive(Debug)]
pub(super) struct Local {
    pub(super) estimator: Estimator,
    pub(super) limiter: JoinLimiter,
    /// Places each network holds waiting, forgotten as [`head`](Self::head) passes them.
    pub(super) waiting: WaitingCap,
    /// The line's head at the last tick (it only moves forward, so an old one over-counts).
    pub(super) head: u64,
    /// Claimed places whose admission is in flight (a handful: one per admission under way).
    pub(super) admitting: Vec<u64>,
    /// Newcomers let past a gated line whose admission is in flight.
    pub(super) newcomers: u64,
    /// Places free at the last tick, so held clients are woken only when more are.
    pub(super) last_free: u64,
}

impl Local {
    /// Places about to be taken by admissions in flight, which no report shows yet.
    pub(super) fn in_flight(&self) -> u64 {
        self.admitting.len() as u64 + self.newcomers
    }

    /// The estimate's prior from the shops at a tick: their places over the session length
    /// they measure (kept with the line), or else the one kept, or else `expected`.
    pub(super) fn learn_prior(
        &mut self,
        shops: ShopRoom,
        store: &dyn LineStore,
        expected: Duration,
    ) {
        let measured = shops.session.filter(|s| SESSION_LEARNT.contains(s));
        if let Some(session) = measured {
            store.learn_session(session);
        }
        let session = measured
            .or_else(|| store.session())
            .unwrap_or(expected)
            .as_secs_f64();
        let places = shops.places as f64;
        self.estimator
            .set_prior((places > 0.0).then(|| places / session), measured.is_some());
    }
}
