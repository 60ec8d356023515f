//! Places joined per client prefix, so that one host cannot take the line.
//!
//! A count-min sketch over fixed windows: two rows of counters indexed by independent hashes of
//! the prefix, a prefix's count being the smaller of its two. Memory is fixed (32 KiB) however
//! many prefixes join; a collision can only overstate a count, so a prefix is never let past its
//! limit. An honest prefix is refused early only when the others sharing both of its counters
//! joined about the limit between them: with the default limit (5,000 a minute) that takes
//! millions of joins a minute.

use std::hash::{BuildHasher, Hash};
use std::time::{Duration, Instant};

use usher_ticket::Binding;

/// Counters per row.
const WIDTH: usize = 4096;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct JoinLimiter {
    limit: u32,
    window: Duration,
    started: Option<Instant>,
    rows: [Box<[u32; WIDTH]>; 2],
    hashers: [std::collections::hash_map::RandomState; 2],
}

impl JoinLimiter {
    /// `limit` joins per prefix per `window`; a limit of 0 counts nothing and refuses nothing.
    pub(crate) fn new(limit: u32, window: Duration) -> JoinLimiter {
        JoinLimiter {
            limit,
            window: window.max(Duration::from_millis(1)),
            started: None,
            rows: [Box::new([0; WIDTH]), Box::new([0; WIDTH])],
            hashers: Default::default(),
        }
    }

    /// Counts one join by `prefix` at `now`; `false` (and nothing counted) if it is over.
    pub(crate) fn admit(&mut self, prefix: &Binding, now: Instant) -> bool {
        if self.limit == 0 {
            return true;
        }
        match self.started {
            Some(start) if now.saturating_duration_since(start) < self.window => {}
            _ => {
                self.started = Some(now);
                for row in &mut self.rows {
                    row.fill(0);
                }
            }
        }
        let at = [self.index(0, prefix), self.index(1, prefix)];
        let count = self.rows[0][at[0]].min(self.rows[1][at[1]]);
        if count >= self.limit {
            return false;
        }
        for (row, i) in self.rows.iter_mut().zip(at) {
            row[i] = row[i].saturating_add(1);
        }
        true
    }

    fn index(&self, row: usize, prefix: &Binding) -> usize {
        let mut hasher = self.hashers[row].build_hasher();
        prefix.hash(&mut hasher);
        // WIDTH is a power of two.
        (std::hash::Hasher::finish(&hasher) as usize) & (WIDTH - 1)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use usher_ticket::BindingPolicy;

    use super::*;

    fn prefix(ip: &str) -> Binding {
        BindingPolicy::QUEUE.bind(ip.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn a_prefix_is_held_to_its_limit_per_window_and_others_are_not() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(3, Duration::from_secs(60));
        let a = prefix("10.0.0.1");
        let same_24 = prefix("10.0.0.200");
        for _ in 0..3 {
            assert!(limiter.admit(&a, t0));
        }
        assert!(!limiter.admit(&same_24, t0), "the /24 shares one count");
        assert!(limiter.admit(&prefix("10.0.1.1"), t0));
        assert!(
            limiter.admit(&a, t0 + Duration::from_secs(61)),
            "a new window"
        );
    }

    #[test]
    fn honest_prefixes_pass_among_thousands_of_others() {
        let t0 = Instant::now();
        // 5,000 prefixes land about six to a counter: 30 joins, well under the limit.
        let mut limiter = JoinLimiter::new(100, Duration::from_secs(60));
        let mut refused = 0;
        for i in 0..5_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from((10u32 << 24) | (i << 8)));
            for _ in 0..5 {
                refused += usize::from(!limiter.admit(&BindingPolicy::QUEUE.bind(ip), t0));
            }
        }
        assert_eq!(refused, 0, "joins refused under the limit");
    }

    #[test]
    fn zero_means_no_limit() {
        let mut limiter = JoinLimiter::new(0, Duration::from_secs(60));
        let a = prefix("10.0.0.1");
        assert!((0..10_000).all(|_| limiter.admit(&a, Instant::now())));
    }
}
