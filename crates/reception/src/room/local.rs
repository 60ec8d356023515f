//! What one reception keeps of the line for itself, beside the shared store.

use usher_queue::Estimator;

use super::limit::JoinLimiter;
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
}
