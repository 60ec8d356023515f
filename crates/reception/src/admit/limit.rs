//! Live admissions per client prefix, so that one host cannot hold every place (a `curl` loop,
//! or an `<img>` pointing at `/order/{item}` on a busy page).
//!
//! A ticket is live for its window; a prefix may hold at most `cap` tickets issued within the
//! current window and the one before it (so the count is never under the live tickets, at the
//! price of counting a ticket up to two windows). Memory is fixed: a count-min sketch of two
//! rows of atomic counters, each packing the window it counts in with its two counts, so the
//! admission path takes no lock. A collision only overstates a count; concurrent admissions
//! may pass the cap by the few that race, never more.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use usher_ticket::Binding;

/// Counters per row (a power of two). A sale admitting 300 buyers a second counts some 18,000
/// tickets over two 30 s windows: at 4,096 counters a row, buyers who shared both their slots
/// with others were refused as `too_many` (84 of a 10,000-buyer flash crowd, each from its own
/// address). At 16,384 (128 KiB a row, within a core's L2 cache) an honest buyer meets a slot
/// over the default cap of 4 in both rows about once in a thousand at that rate.
const WIDTH: usize = 16_384;

/// A counter: the window it was last written in (high 32 bits), the count in that window
/// (next 16) and in the window before it (low 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    window: u32,
    current: u16,
    previous: u16,
}

impl Packed {
    fn from_bits(bits: u64) -> Packed {
        Packed {
            window: (bits >> 32) as u32,
            current: (bits >> 16) as u16,
            previous: bits as u16,
        }
    }

    fn bits(self) -> u64 {
        (u64::from(self.window) << 32) | (u64::from(self.current) << 16) | u64::from(self.previous)
    }

    /// As seen from `window`: counts of older windows roll over or drop out.
    fn at(self, window: u32) -> Packed {
        match window.wrapping_sub(self.window) {
            0 => self,
            1 => Packed {
                window,
                current: 0,
                previous: self.current,
            },
            _ => Packed {
                window,
                current: 0,
                previous: 0,
            },
        }
    }

    fn live(self) -> u32 {
        u32::from(self.current) + u32::from(self.previous)
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct LiveAdmissions {
    cap: u32,
    window: Duration,
    origin: Instant,
    rows: [Box<[AtomicU64]>; 2],
    hasher: std::collections::hash_map::RandomState,
}

impl LiveAdmissions {
    /// At most `cap` tickets per prefix within a ticket's `window` (0: no cap), windows counted
    /// from `origin`.
    pub(crate) fn new(cap: u32, window: Duration, origin: Instant) -> LiveAdmissions {
        let row = || (0..WIDTH).map(|_| AtomicU64::new(0)).collect();
        LiveAdmissions {
            cap,
            window: window.max(Duration::from_millis(1)),
            origin,
            rows: [row(), row()],
            hasher: Default::default(),
        }
    }

    /// Where `prefix` is counted (hashed once per order, however often it is looked at).
    pub(crate) fn key(&self, prefix: &Binding) -> LiveKey {
        if self.cap == 0 {
            return LiveKey([0, 0]);
        }
        let mut hasher = self.hasher.build_hasher();
        prefix.hash(&mut hasher);
        let hash = std::hash::Hasher::finish(&hasher);
        LiveKey([
            hash as usize & (WIDTH - 1),
            (hash >> 32) as usize & (WIDTH - 1),
        ])
    }

    /// Whether the prefix at `key` may be admitted once more at `now`.
    pub(crate) fn allows(&self, key: LiveKey, now: Instant) -> bool {
        if self.cap == 0 {
            return true;
        }
        let window = self.window_at(now);
        let live = self
            .counters(key)
            .map(|c| {
                Packed::from_bits(c.load(Ordering::Relaxed))
                    .at(window)
                    .live()
            })
            .min()
            .unwrap_or(0);
        live < self.cap
    }

    /// The prefix at `key` was admitted at `now`.
    pub(crate) fn count(&self, key: LiveKey, now: Instant) {
        if self.cap == 0 {
            return;
        }
        let window = self.window_at(now);
        for counter in self.counters(key) {
            let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                let mut packed = Packed::from_bits(bits).at(window);
                packed.current = packed.current.saturating_add(1);
                Some(packed.bits())
            });
        }
    }

    fn window_at(&self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.origin);
        (elapsed.as_nanos() / self.window.as_nanos()) as u32
    }

    /// The prefix's counter in each row.
    fn counters(&self, key: LiveKey) -> impl Iterator<Item = &AtomicU64> {
        self.rows.iter().zip(key.0).map(|(row, i)| &row[i])
    }
}

/// Where one prefix is counted: its counter in each row (the halves of one hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiveKey([usize; 2]);

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use usher_ticket::BindingPolicy;

    use super::*;

    fn prefix(ip: &str) -> Binding {
        BindingPolicy::TICKET.bind(ip.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn a_prefix_holds_at_most_its_cap_of_live_tickets() {
        let start = Instant::now();
        let live = LiveAdmissions::new(3, Duration::from_secs(30), start);
        let one = prefix("192.0.2.1");
        for _ in 0..3 {
            assert!(live.allows(live.key(&one), start));
            live.count(live.key(&one), start);
        }
        assert!(!live.allows(live.key(&one), start), "a fourth live ticket");
        assert!(
            live.allows(live.key(&prefix("192.0.2.2")), start),
            "another address"
        );
        assert!(live.allows(live.key(&prefix("2001:db8::1")), start));
    }

    #[test]
    fn tickets_stop_counting_once_their_window_and_the_next_have_passed() {
        let start = Instant::now();
        let window = Duration::from_secs(30);
        let live = LiveAdmissions::new(2, window, start);
        let one = prefix("192.0.2.1");
        live.count(live.key(&one), start);
        live.count(live.key(&one), start);
        // Still live (or possibly so) through the next window.
        assert!(!live.allows(live.key(&one), start + window));
        assert!(live.allows(live.key(&one), start + window * 2));
        // A ticket issued late in a window still counts well into the next.
        live.count(
            live.key(&one),
            start + window * 3 - Duration::from_millis(1),
        );
        live.count(
            live.key(&one),
            start + window * 3 - Duration::from_millis(1),
        );
        assert!(!live.allows(live.key(&one), start + window * 3 + Duration::from_secs(25)));
    }

    /// Guards against honest buyers refused as `too_many` in a big sale: a 10,000-buyer flash
    /// crowd, each from its own address, lost 84 buyers to slots shared in both rows when a row
    /// held 4,096 counters. A sale's worth of live tickets from distinct addresses (18,000: 300
    /// admissions a second over two windows) leaves nearly every newcomer allowed.
    #[test]
    fn a_big_sale_of_distinct_buyers_is_not_refused() {
        let start = Instant::now();
        let live = LiveAdmissions::new(4, Duration::from_secs(30), start);
        let address = |n: u32| prefix(&std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string());
        for n in 0..18_000 {
            live.count(live.key(&address(n)), start);
        }
        let refused = (18_000..28_000)
            .filter(|&n| !live.allows(live.key(&address(n)), start))
            .count();
        assert!(refused <= 30, "{refused} of 10,000 newcomers refused");
    }

    #[test]
    fn a_cap_of_zero_counts_nothing_and_refuses_nothing() {
        let start = Instant::now();
        let live = LiveAdmissions::new(0, Duration::from_secs(30), start);
        let one = prefix("192.0.2.1");
        for _ in 0..1000 {
            live.count(live.key(&one), start);
        }
        assert!(live.allows(live.key(&one), start));
    }

    #[test]
    fn counters_round_trip_their_packing() {
        let packed = Packed {
            window: 7,
            current: 65_535,
            previous: 3,
        };
        assert_eq!(Packed::from_bits(packed.bits()), packed);
        assert_eq!(packed.at(8).live(), 65_535);
        assert_eq!(packed.at(9).live(), 0);
    }
}
