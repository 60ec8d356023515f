//! Orders completed through the gate, per item: what stock the gate keeps itself (a fixed
//! number in its config) counts down by.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Shared count of completed orders per item (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Completions {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Completions {
    /// One more order of `item` completed.
    pub(crate) fn add(&self, item: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(item.to_owned()).or_default() += 1;
    }

    /// Orders of `item` completed so far.
    pub fn of(&self, item: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(item).copied().unwrap_or(0)
    }

    /// Orders completed so far, all items.
    pub fn total(&self) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.values().sum()
    }
}
