//! Places joined per client network, so that one host cannot take the line.
//!
//! Budgets are layered, so spreading over many small networks does not escape them: a /24 or
//! /48 gets the limit, the /16 or /40 around it eight times that, the /32 (IPv6) sixteen times
//! (an IPv6 /32 holds 65,536 /48s). Each layer counts over a sliding window (this window's count
//! plus the last window's, weighted by how much of it the sliding window still covers), so no
//! edge between windows lets twice the limit through.
//!
//! Memory is fixed (a count-min sketch per layer and window: two rows of counters indexed by
//! independent hashes, a network's count being the smaller of its two), however many networks
//! join; a collision can only overstate a count, so a network is never let past its limit.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use usher_ticket::{Binding, BindingPolicy};

/// Counters per row.
const WIDTH: usize = 4096;

/// The layers: the prefix lengths (IPv4, IPv6) counted together, and how many times the base
/// limit each may join.
const LAYERS: [(u8, u8, u32); 3] = [(24, 48, 1), (16, 40, 8), (16, 32, 16)];

/// Counts of one window, per layer.
type Sketch = [Box<[u32; WIDTH]>; 2];

fn sketch() -> Sketch {
    [Box::new([0; WIDTH]), Box::new([0; WIDTH])]
}

/// One layer of budgets.
#[derive(Debug)]
struct Layer {
    policy: BindingPolicy,
    limit: u32,
    current: Sketch,
    previous: Sketch,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct JoinLimiter {
    window: Duration,
    /// When the current window began.
    started: Option<Instant>,
    layers: Vec<Layer>,
    hashers: [std::collections::hash_map::RandomState; 2],
}

impl JoinLimiter {
    /// `limit` joins per /24 or /48 per `window` (and the wider layers' multiples); a limit of
    /// 0 counts nothing and refuses nothing.
    pub(crate) fn new(limit: u32, window: Duration) -> JoinLimiter {
        let layers = if limit == 0 {
            Vec::new()
        } else {
            LAYERS
                .iter()
                .map(|&(v4_prefix, v6_prefix, times)| Layer {
                    policy: BindingPolicy {
                        v4_prefix,
                        v6_prefix,
                    },
                    limit: limit.saturating_mul(times),
                    current: sketch(),
                    previous: sketch(),
                })
                .collect()
        };
        JoinLimiter {
            window: window.max(Duration::from_millis(1)),
            started: None,
            layers,
            hashers: Default::default(),
        }
    }

    /// Counts one join by `client` at `now`; `false` (and nothing counted) if any of its
    /// networks is over its budget.
    pub(crate) fn admit(&mut self, client: IpAddr, now: Instant) -> bool {
        if self.layers.is_empty() {
            return true;
        }
        let covered = self.roll(now);
        let mut at = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let prefix = layer.policy.bind(client);
            let index = [self.index(0, &prefix), self.index(1, &prefix)];
            let count = |s: &Sketch| s[0][index[0]].min(s[1][index[1]]);
            let estimate =
                f64::from(count(&layer.current)) + f64::from(count(&layer.previous)) * covered;
            if estimate >= f64::from(layer.limit) {
                return false;
            }
            at.push(index);
        }
        for (layer, index) in self.layers.iter_mut().zip(at) {
            for (row, i) in layer.current.iter_mut().zip(index) {
                row[i] = row[i].saturating_add(1);
            }
        }
        true
    }

    /// Moves to the window `now` falls in; returns the share of the previous window the
    /// sliding window still covers.
    fn roll(&mut self, now: Instant) -> f64 {
        let start = *self.started.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        let windows = elapsed.as_nanos() / self.window.as_nanos();
        if windows >= 1 {
            for layer in &mut self.layers {
                if windows == 1 {
                    std::mem::swap(&mut layer.previous, &mut layer.current);
                } else {
                    layer.previous.iter_mut().for_each(|row| row.fill(0));
                }
                layer.current.iter_mut().for_each(|row| row.fill(0));
            }
            let step = self
                .window
                .saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX));
            self.started = Some(start + step);
        }
        let into = now.saturating_duration_since(self.started.unwrap_or(now));
        1.0 - (into.as_secs_f64() / self.window.as_secs_f64()).min(1.0)
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
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_prefix_is_held_to_its_limit_per_window_and_others_are_not() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.admit(ip("10.0.0.1"), t0));
        }
        assert!(
            !limiter.admit(ip("10.0.0.200"), t0),
            "the /24 shares one count"
        );
        assert!(limiter.admit(ip("10.0.1.1"), t0));
        assert!(
            limiter.admit(ip("10.0.0.1"), t0 + Duration::from_secs(121)),
            "two windows later"
        );
    }

    /// Guards against a window's edge letting twice the limit through (issue 14, point 6).
    #[test]
    fn the_window_slides_so_its_edge_lets_no_double_through() {
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        let mut limiter = JoinLimiter::new(10, window);
        // Windows count from the first join.
        assert!(limiter.admit(ip("192.0.2.1"), t0));
        let late = t0 + window - Duration::from_millis(10);
        assert_eq!(
            (0..20)
                .filter(|_| limiter.admit(ip("10.0.0.1"), late))
                .count(),
            10
        );
        let just_after = t0 + window + Duration::from_millis(10);
        let admitted = (0..20)
            .filter(|_| limiter.admit(ip("10.0.0.1"), just_after))
            .count();
        assert!(
            admitted <= 1,
            "the last window still counts almost whole: {admitted}"
        );
        let half_way = t0 + window + window / 2;
        let admitted = (0..20)
            .filter(|_| limiter.admit(ip("10.0.0.1"), half_way))
            .count();
        // Half of the last window's 10 still counts, with the one just after.
        assert!((3..=5).contains(&admitted), "{admitted}");
    }

    /// Guards against spreading over many /48s of one /32 (an IPv6 /32 holds 65,536 of them)
    /// or many /24s of one /16 (issue 14, point 6).
    #[test]
    fn many_small_networks_of_one_larger_one_share_its_budget() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(2, Duration::from_secs(60));
        let admitted = (0..200u16)
            .filter(|i| limiter.admit(ip(&format!("2001:db8:{i:x}00::1")), t0))
            .count();
        // Each in its own /48 and /40, all in one /32, whose budget is 32.
        assert_eq!(admitted, 32);
        let admitted = (0..200u8)
            .filter(|i| limiter.admit(ip(&format!("10.1.{i}.1")), t0))
            .count();
        assert_eq!(admitted, 16, "the /16's budget");
        assert!(limiter.admit(ip("10.2.0.1"), t0), "another /16");
    }

    #[test]
    fn honest_prefixes_pass_among_thousands_of_others() {
        let t0 = Instant::now();
        // 5,000 /16s land about six to a counter in each layer: well under the limits.
        let mut limiter = JoinLimiter::new(100, Duration::from_secs(60));
        let mut refused = 0;
        for i in 0..5_000u32 {
            let client = IpAddr::from(std::net::Ipv4Addr::from((i + 1) << 16));
            for _ in 0..5 {
                refused += usize::from(!limiter.admit(client, t0));
            }
        }
        assert_eq!(refused, 0, "joins refused under the limit");
    }

    #[test]
    fn zero_means_no_limit() {
        let mut limiter = JoinLimiter::new(0, Duration::from_secs(60));
        assert!((0..10_000).all(|_| limiter.admit(ip("10.0.0.1"), Instant::now())));
    }
}
