//! Places one client network holds waiting in the line at once (joined, not yet eligible), so
//! that one host cannot inflate everyone's position and estimate with fake places while it
//! stays under its join budget (`limit.rs`).
//!
//! The reception keeps nothing per waiting client (a waiting client is a place number in its
//! token), so the count lives in a fixed table, however long the line: two rows of slots
//! indexed by independent hashes of the /24 or /48, a network's count the smaller of its two
//! slots' (as in `limit.rs`). A slot keeps a few generations, each the places joined into it
//! and the highest of them; a join adds to the newest, opening another once it holds its share
//! of the cap, and a generation is forgotten once the line's head has passed its highest place
//! (every place in it is eligible). So a count is never under the truth: a lone network's is
//! over it by at most one generation's share (eligible places of its oldest live generation),
//! and networks sharing a slot in both rows only ever hold each other back early, never let one
//! past its cap.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;

use usher_queue::Place;
use usher_ticket::{Binding, BindingPolicy};

/// Slots per row: a power of two. Two rows of 8,192 slots of 64 bytes are 1 MiB; an honest
/// line spread evenly over many networks puts about `waiting / 8,192` places in each slot, so
/// the default cap of 500 holds nobody back early until some four million wait.
const WIDTH: usize = 8192;

/// Generations per slot: a lone network is over-counted by at most a cap's `1 / GENERATIONS`.
const GENERATIONS: usize = 4;

/// The network a cap counts: the /24 or /48, as the join budget's first layer.
const NETWORK: BindingPolicy = BindingPolicy {
    v4_prefix: 24,
    v6_prefix: 48,
};

/// Places joined into one slot together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Generation {
    /// How many (0: the generation is unused).
    count: u32,
    /// The highest: once the head passes it, every place of the generation is eligible.
    highest: u64,
}

/// One slot's live generations, oldest first, unused ones (count 0) after them.
#[derive(Debug, Clone, Copy, Default)]
struct Slot([Generation; GENERATIONS]);

impl Slot {
    /// Generations in use.
    fn live(&self) -> usize {
        self.0.iter().take_while(|g| g.count > 0).count()
    }

    /// Forgets the generations whose places are all eligible (below `head`). Places are joined
    /// in rising order, so those are the oldest.
    fn forget_eligible(&mut self, head: u64) {
        let passed = self
            .0
            .iter()
            .take_while(|g| g.count > 0 && g.highest < head)
            .count();
        if passed > 0 {
            self.0.rotate_left(passed);
            self.0[GENERATIONS - passed..].fill(Generation::default());
        }
    }

    /// Places counted as waiting.
    fn waiting(&self) -> u64 {
        self.0.iter().map(|g| u64::from(g.count)).sum()
    }

    /// Counts `place`, into the newest generation while it holds under `per_generation`.
    fn add(&mut self, place: u64, per_generation: u32) {
        let live = self.live();
        if let Some(newest) = live.checked_sub(1).map(|at| &mut self.0[at])
            && newest.count < per_generation
        {
            newest.count += 1;
            newest.highest = newest.highest.max(place);
            return;
        }
        let fresh = Generation {
            count: 1,
            highest: place,
        };
        if live < GENERATIONS {
            self.0[live] = fresh;
            return;
        }
        // Every generation in use (only when networks share the slot): the two oldest become
        // one, which keeps each of their places counted until the later of the two is eligible.
        let merged = Generation {
            count: self.0[0].count.saturating_add(self.0[1].count),
            highest: self.0[0].highest.max(self.0[1].highest),
        };
        self.0.rotate_left(1);
        self.0[0] = merged;
        self.0[GENERATIONS - 1] = fresh;
    }
}

/// A network holds its cap of places waiting: the join is refused (`too_many`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// Where a network with room is counted, from [`WaitingCap::check`] until its place is known.
#[derive(Debug)]
#[must_use = "a join that went ahead is counted with `WaitingCap::joined`"]
pub(crate) struct Slots(Option<[usize; 2]>);

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct WaitingCap {
    cap: u32,
    per_generation: u32,
    rows: [Box<[Slot]>; 2],
    hashers: [RandomState; 2],
}

impl WaitingCap {
    /// At most `cap` places waiting per /24 or /48; a cap of 0 counts nothing, refuses nothing
    /// and allocates nothing.
    pub(crate) fn new(cap: u32) -> WaitingCap {
        let width = if cap == 0 { 0 } else { WIDTH };
        let row = || vec![Slot::default(); width].into_boxed_slice();
        WaitingCap {
            cap,
            per_generation: cap.div_ceil(GENERATIONS as u32).max(1),
            rows: [row(), row()],
            hashers: Default::default(),
        }
    }

    /// Whether `client`'s network holds fewer than the cap places not yet eligible, the line's
    /// head being at `head` (a head read a moment ago only over-counts: it never moves back).
    /// Counts nothing: a join that goes ahead is counted by [`joined`](Self::joined).
    pub(crate) fn check(&mut self, client: IpAddr, head: u64) -> Result<Slots, Full> {
        if self.cap == 0 {
            return Ok(Slots(None));
        }
        let network = NETWORK.bind(client);
        let at = [self.index(0, &network), self.index(1, &network)];
        let mut waiting = u64::MAX;
        for (row, i) in self.rows.iter_mut().zip(at) {
            row[i].forget_eligible(head);
            waiting = waiting.min(row[i].waiting());
        }
        if waiting >= u64::from(self.cap) {
            return Err(Full);
        }
        Ok(Slots(Some(at)))
    }

    /// The network checked into `slots` joined at `place`.
    pub(crate) fn joined(&mut self, slots: Slots, place: Place) {
        let Some(at) = slots.0 else {
            return;
        };
        for (row, i) in self.rows.iter_mut().zip(at) {
            row[i].add(place.0, self.per_generation);
        }
    }

    fn index(&self, row: usize, network: &Binding) -> usize {
        // WIDTH is a power of two.
        (self.hashers[row].hash_one(network) as usize) & (WIDTH - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Joins `client` at `place` if its network has room, as the room does.
    fn join(cap: &mut WaitingCap, client: &str, place: u64, head: u64) -> bool {
        match cap.check(ip(client), head) {
            Ok(slots) => {
                cap.joined(slots, Place(place));
                true
            }
            Err(Full) => false,
        }
    }

    /// Guards against one host filling the line with fake places while under its join budget
    /// (issue 14, point 6): its /24 or /48 holds the cap, another network still joins.
    #[test]
    fn a_network_cannot_hold_more_than_its_share_of_the_line() {
        let mut cap = WaitingCap::new(10);
        let mut place = 0;
        for client in ["10.0.0.1", "10.0.0.200", "2001:db8::1", "2001:db8:0:ff::9"] {
            let joined = (0..30)
                .filter(|_| {
                    let joined = join(&mut cap, client, place, 0);
                    place += u64::from(joined);
                    joined
                })
                .count();
            let first_of_its_network = matches!(client, "10.0.0.1" | "2001:db8::1");
            assert_eq!(
                joined,
                if first_of_its_network { 10 } else { 0 },
                "{client}: the /24 or /48 shares one count"
            );
        }
        assert!(join(&mut cap, "10.0.1.1", place, 0), "the next /24");
        assert!(
            join(&mut cap, "2001:db8:1::1", place + 1, 0),
            "the next /48"
        );
    }

    /// Guards against a cap that never lets go (issue 14, point 6): as the head passes a
    /// network's places, it may join again, and only for the places that became eligible.
    #[test]
    fn a_network_may_join_again_once_its_places_are_eligible() {
        let mut cap = WaitingCap::new(8);
        for place in 0..8 {
            assert!(join(&mut cap, "10.0.0.1", place, 0));
        }
        assert!(!join(&mut cap, "10.0.0.1", 8, 0));
        // Generations of two: places 0 and 1 count until both are eligible.
        assert!(!join(&mut cap, "10.0.0.1", 8, 1), "place 1 still waits");
        assert!(join(&mut cap, "10.0.0.1", 8, 2));
        assert!(join(&mut cap, "10.0.0.1", 9, 2));
        assert!(!join(&mut cap, "10.0.0.1", 10, 2), "back at its cap");
        // The whole line moved past it.
        let joined = (10..40)
            .filter(|&p| join(&mut cap, "10.0.0.1", p, 10))
            .count();
        assert_eq!(joined, 8);
    }

    /// Eligible places it still counts are at most one generation's share of the cap.
    #[test]
    fn a_lone_network_is_over_counted_by_at_most_one_generation() {
        let mut cap = WaitingCap::new(100);
        for place in 0..100 {
            assert!(join(&mut cap, "192.0.2.1", place, 0));
        }
        // 24 of its places eligible: all in its first generation (0-24), which lives on.
        assert!(!join(&mut cap, "192.0.2.1", 100, 24));
        let joined = (100..200)
            .filter(|&p| join(&mut cap, "192.0.2.1", p, 25))
            .count();
        assert_eq!(joined, 25, "the first generation was forgotten whole");
    }

    /// Guards against a slot shared by many networks forgetting places: when its generations
    /// run out the oldest merge, so its count stays at or above the truth.
    #[test]
    fn a_full_slot_merges_generations_and_counts_every_place() {
        let mut slot = Slot::default();
        for place in 0..40 {
            slot.add(place, 2);
        }
        assert_eq!(slot.waiting(), 40);
        assert_eq!(slot.live(), GENERATIONS);
        slot.forget_eligible(38);
        assert!(slot.waiting() >= 2, "places 38 and 39 still wait: {slot:?}");
        slot.forget_eligible(40);
        assert_eq!(slot.waiting(), 0);
        assert_eq!(slot.live(), 0);
    }

    #[test]
    fn honest_networks_pass_among_thousands_of_others() {
        let mut cap = WaitingCap::new(500);
        let mut place = 0;
        let mut refused = 0;
        // 200,000 places from 20,000 /24s: about 25 a slot, far under the cap.
        for i in 0..20_000u32 {
            let client = IpAddr::from(std::net::Ipv4Addr::from((i + 1) << 8));
            for _ in 0..10 {
                match cap.check(client, 0) {
                    Ok(slots) => cap.joined(slots, Place(place)),
                    Err(Full) => refused += 1,
                }
                place += 1;
            }
        }
        assert_eq!(refused, 0, "joins refused under the cap");
    }

    #[test]
    fn zero_means_no_cap_and_no_table() {
        let mut cap = WaitingCap::new(0);
        assert!((0..10_000).all(|p| join(&mut cap, "10.0.0.1", p, 0)));
        assert!(cap.rows.iter().all(|row| row.is_empty()));
    }
}
