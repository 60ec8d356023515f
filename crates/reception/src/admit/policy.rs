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

/// The policies a reception can be started with (`--policy`), for comparing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyKind {
    /// [`LeastLoaded`], the patent's (the default).
    #[default]
    LeastLoaded,
    /// [`PowerOfTwo`].
    PowerOfTwo,
    /// [`RoundRobin`].
    RoundRobin,
    /// [`Random`].
    Random,
}

impl std::str::FromStr for PolicyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "least-loaded" => Ok(PolicyKind::LeastLoaded),
            "p2c" => Ok(PolicyKind::PowerOfTwo),
            "round-robin" => Ok(PolicyKind::RoundRobin),
            "random" => Ok(PolicyKind::Random),
            other => Err(format!(
                "{other:?}: expected least-loaded, p2c, round-robin or random"
            )),
        }
    }
}

impl PolicyKind {
    /// The policy itself; `margin` is [`LeastLoaded`]'s near-tie width.
    pub fn build(self, margin: f64) -> Box<dyn SelectionPolicy> {
        match self {
            PolicyKind::LeastLoaded => Box::new(LeastLoaded { margin }),
            PolicyKind::PowerOfTwo => Box::new(PowerOfTwo),
            PolicyKind::RoundRobin => Box::new(RoundRobin::default()),
            PolicyKind::Random => Box::new(Random),
        }
    }
}

/// The better loaded of two shops picked at random goes first (the "power of two choices":
/// near-least-loaded without every reception herding onto the same shop), the rest at random.
#[derive(Debug, Clone, Copy, Default)]
pub struct PowerOfTwo;

impl SelectionPolicy for PowerOfTwo {
    fn order(&self, candidates: &mut [Candidate]) {
        shuffle(candidates);
        if candidates.len() >= 2 && candidates[1].load < candidates[0].load {
            candidates.swap(0, 1);
        }
    }
}

/// Shops in turn, whatever their load (the prior art's DNS round robin, fig. 6, as a policy).
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: std::sync::atomic::AtomicUsize,
}

impl SelectionPolicy for RoundRobin {
    fn order(&self, candidates: &mut [Candidate]) {
        if candidates.is_empty() {
            return;
        }
        candidates.sort_by_key(|c| c.index);
        let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        candidates.rotate_left(turn % candidates.len());
    }
}

/// Any shop, at random.
#[derive(Debug, Clone, Copy, Default)]
pub struct Random;

impl SelectionPolicy for Random {
    fn order(&self, candidates: &mut [Candidate]) {
        shuffle(candidates);
    }
}

/// Fisher-Yates with a per-thread xorshift generator: selection needs spread, not secrecy.
fn shuffle(candidates: &mut [Candidate]) {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
            let mut seed = [0u8; 8];
            // Without randomness, a fixed odd seed still spreads choices.
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed) | 1
        });
    }
    STATE.with(|state| {
        let mut x = state.get();
        for i in (1..candidates.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let j = (x % (i as u64 + 1)) as usize;
            candidates.swap(i, j);
        }
        state.set(x);
    });
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
    fn every_policy_takes_no_candidates_and_keeps_a_lone_one() {
        for kind in [
            PolicyKind::LeastLoaded,
            PolicyKind::PowerOfTwo,
            PolicyKind::RoundRobin,
            PolicyKind::Random,
        ] {
            let policy = kind.build(0.05);
            let mut none: [Candidate; 0] = [];
            policy.order(&mut none);
            let mut one = [c(3, 0.5, 1)];
            policy.order(&mut one);
            assert_eq!(one.map(|c| c.index), [3], "{kind:?}");
        }
    }

    #[test]
    fn round_robin_takes_shops_in_turn() {
        let policy = RoundRobin::default();
        let firsts: Vec<usize> = (0..6)
            .map(|_| {
                let mut cs = [c(2, 0.1, 1), c(0, 0.9, 1), c(1, 0.5, 1)];
                policy.order(&mut cs);
                cs[0].index
            })
            .collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn power_of_two_puts_the_better_of_its_two_first() {
        // With two shops, the less loaded always wins.
        for _ in 0..50 {
            let mut cs = [c(0, 0.9, 1), c(1, 0.2, 1)];
            PowerOfTwo.order(&mut cs);
            assert_eq!(cs[0].index, 1);
        }
        // With many, the most loaded never comes first.
        for _ in 0..200 {
            let mut cs = [c(0, 0.1, 1), c(1, 0.2, 1), c(2, 0.3, 1), c(3, 0.99, 1)];
            PowerOfTwo.order(&mut cs);
            assert_ne!(cs[0].index, 3);
        }
    }

    #[test]
    fn random_reaches_every_shop_and_keeps_them_all() {
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut cs = [c(0, 0.1, 1), c(1, 0.2, 1), c(2, 0.3, 1)];
            Random.order(&mut cs);
            let mut seen = cs.map(|c| c.index);
            firsts.insert(seen[0]);
            seen.sort_unstable();
            assert_eq!(seen, [0, 1, 2]);
        }
        assert_eq!(firsts.len(), 3);
    }

    #[test]
    fn policy_names_parse() {
        for (name, kind) in [
            ("least-loaded", PolicyKind::LeastLoaded),
            ("p2c", PolicyKind::PowerOfTwo),
            ("round-robin", PolicyKind::RoundRobin),
            ("random", PolicyKind::Random),
        ] {
            assert_eq!(name.parse::<PolicyKind>().unwrap(), kind);
        }
        assert!("fastest".parse::<PolicyKind>().is_err());
    }
}
