//! Orders completed through the gate, per item: what stock the gate keeps itself (a fixed
//! number in its config) counts down by.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use usher_ticket::TicketId;

/// Shared count of completed orders per item (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Completions {
    inner: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    per_item: BTreeMap<String, u64>,
    /// Tickets whose order was counted: two answers completing one session (a retried buy
    /// racing the first) count once. One entry per order sold, no more than the stock.
    counted: HashSet<TicketId>,
}

impl Completions {
    /// The order of `ticket`'s session, for `item`, completed; counted once per ticket.
    pub(crate) fn add(&self, item: &str, ticket: TicketId) {
        let mut counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.counted.insert(ticket) {
            *counts.per_item.entry(item.to_owned()).or_default() += 1;
        }
    }

    /// Orders of `item` completed so far.
    pub fn of(&self, item: &str) -> u64 {
        let counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        counts.per_item.get(item).copied().unwrap_or(0)
    }

    /// Orders completed so far, all items.
    pub fn total(&self) -> u64 {
        let counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        counts.per_item.values().sum()
    }
}
