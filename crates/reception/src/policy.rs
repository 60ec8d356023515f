//! Sa33: choosing among live shops. Policies sit behind a small trait so others can be compared.

use std::time::Duration;

/// One shop that could take the order: it is live, carries the item and has stock left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Index into the registry.
    pub index: usize,
    /// Places in use (as last reported, plus tickets handed out since) ÷ capacity.
    pub load: f64,
    /// Round-trip time on the management connection.
    pub rtt: Duration,
    /// Units of the item not held for admitted buyers, as last reported (`None` when the shop
    /// does not track holds).
    pub free: Option<u64>,
}

/// Puts candidates in the order they should be asked for a place.
pub trait SelectionPolicy: Send + Sync + std::fmt::Debug {
    /// Reorders `candidates`, best first.
    fn order(&self, candidates: &mut [Candidate]);
}

/// Least load first; loads within `margin` of the lowest are a near-tie, broken by the lower
/// round-trip time (patent 0043: prefer the nearer server among about equally loaded ones).
#[derive(Debug, Clone, Copy)]
pub struct LeastLoaded {
    /// Width of a near-tie, as a load fraction (0.05 = five points).
    pub margin: f64,
}

impl SelectionPolicy for LeastLoaded {
    fn order(&self, candidates: &mut [Candidate]) {
        candidates.sort_by(|a, b| a.load.total_cmp(&b.load));
        let Some(lowest) = candidates.first().map(|c| c.load) else {
            return;
        };
        let ties = candidates
            .iter()
            .take_while(|c| c.load <= lowest + self.margin)
            .count();
        candidates[..ties].sort_by(|a, b| a.rtt.cmp(&b.rtt).then(a.load.total_cmp(&b.load)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(index: usize, load: f64, rtt_ms: u64) -> Candidate {
        Candidate {
            index,
            load,
            rtt: Duration::from_millis(rtt_ms),
            free: None,
        }
    }

    #[test]
    fn least_loaded_goes_first() {
        let mut cs = [c(0, 0.9, 1), c(1, 0.2, 9), c(2, 0.5, 1)];
        LeastLoaded { margin: 0.05 }.order(&mut cs);
        assert_eq!(cs.map(|c| c.index), [1, 2, 0]);
    }

    #[test]
    fn a_near_tie_goes_to_the_lower_rtt() {
        let mut cs = [c(0, 0.30, 40), c(1, 0.32, 2), c(2, 0.60, 1)];
        LeastLoaded { margin: 0.05 }.order(&mut cs);
        assert_eq!(cs.map(|c| c.index), [1, 0, 2]);
        // Outside the margin, load wins over RTT.
        let mut cs = [c(0, 0.30, 40), c(1, 0.40, 2)];
        LeastLoaded { margin: 0.05 }.order(&mut cs);
        assert_eq!(cs.map(|c| c.index), [0, 1]);
    }

    #[test]
    fn no_candidates_is_fine() {
        let mut cs: [Candidate; 0] = [];
        LeastLoaded { margin: 0.05 }.order(&mut cs);
    }
}
