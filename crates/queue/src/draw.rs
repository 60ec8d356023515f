//! The draw at a scheduled opening: the order of the pre-queue, from a seed committed to before
//! the opening and published after it, so anyone can recompute every place.
//!
//! The pre-queue's `size` arrivals hold the numbers `0..size` in arrival order. The draw is a
//! keyed permutation of those numbers, exactly (so anyone can recompute it from the seed):
//! 1. `bits` = the bit length of `size - 1` (so `2^bits >= size`), at least 2;
//!    `h` = `ceil(bits / 2)`; `mask` = `2^h - 1`. (Size 16: bits 4, h 2; size 17: bits 5, h 3.)
//! 2. One pass over `x` (a number below `2^(2h)`): `L = x >> h`, `R = x & mask`; then for
//!    `r` = 0, 1, …, 7 ([`ROUNDS`]): `F` = the first 8 bytes, big-endian, of
//!    HMAC-SHA256(key = the 32-byte seed, message = the byte `r`, the byte `h`, then `R` as 8
//!    bytes big-endian), masked with `mask`; `(L, R) = (R, L xor F)`. No swap after the last
//!    round. The pass's result is `(L << h) | R`.
//! 3. The index of number `n`: pass `n`, then pass the result again while it is `>= size`
//!    (cycle walking: exact for any size, about 4 passes at most on average).
//!
//! With seed 32 zero bytes and size 10, numbers 0..10 draw indexes
//! `[6, 2, 8, 5, 9, 7, 1, 3, 0, 4]`. A number's drawn index needs only the seed and the size:
//! O(1) state per client, as for the rest of the line. The commitment published before the
//! opening is the SHA-256 of the seed; it binds the seed, not the size, and the size is fixed
//! by the draw.

use ring::{digest, hmac};

/// Rounds of the Feistel network: well past the four that make a pseudo-random permutation of
/// a pseudo-random round function, for the small domains a pre-queue has.
pub const ROUNDS: u8 = 8;

/// The seed's length in bytes.
pub const SEED_LEN: usize = 32;

/// How the pre-queue is put in order at the opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreQueueOrder {
    /// Drawn at random from the seed: arriving early buys nothing. (Joining again is one more
    /// entry in the draw, which the limits per client network bound.)
    #[default]
    Random,
    /// In the order of arrival.
    Arrival,
}

impl PreQueueOrder {
    /// The name settings and the published opening use (`random`, `arrival`).
    pub const fn as_str(self) -> &'static str {
        match self {
            PreQueueOrder::Random => "random",
            PreQueueOrder::Arrival => "arrival",
        }
    }
}

impl std::str::FromStr for PreQueueOrder {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [PreQueueOrder::Random, PreQueueOrder::Arrival]
            .into_iter()
            .find(|order| order.as_str() == text)
            .ok_or_else(|| format!("pre-queue order {text:?}: it is `random` or `arrival`"))
    }
}

/// The SHA-256 of `seed`: what is published before the opening.
pub fn commitment(seed: &[u8; SEED_LEN]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, seed).as_ref());
    out
}

/// The permutation of a pre-queue of `size` numbers (see the module documentation).
#[derive(Clone)]
pub struct Draw {
    key: Option<hmac::Key>,
    size: u64,
    half_bits: u32,
}

impl std::fmt::Debug for Draw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Draw")
            .field("random", &self.key.is_some())
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Draw {
    /// The draw of `size` numbers in `order`, from `seed` (unused for [`PreQueueOrder::Arrival`]).
    pub fn new(seed: &[u8; SEED_LEN], size: u64, order: PreQueueOrder) -> Draw {
        let bits = (u64::BITS - size.saturating_sub(1).leading_zeros()).max(2);
        Draw {
            key: (order == PreQueueOrder::Random).then(|| hmac::Key::new(hmac::HMAC_SHA256, seed)),
            size,
            half_bits: bits.div_ceil(2),
        }
    }

    /// How many numbers are drawn.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The drawn index (0 = first) of pre-queue number `n` (0 = first to arrive); `None` when
    /// `n` is not in the pre-queue.
    pub fn index(&self, n: u64) -> Option<u64> {
        if n >= self.size {
            return None;
        }
        let Some(key) = &self.key else {
            return Some(n);
        };
        let mut x = n;
        // Cycle walking: the domain is under 4 × size, so this ends after four steps on
        // average; it always ends, since the cycle through `n` comes back below `size`.
        loop {
            x = self.permute(key, x);
            if x < self.size {
                return Some(x);
            }
        }
    }

    /// One pass of the Feistel network over the `2 × half_bits`-bit domain.
    fn permute(&self, key: &hmac::Key, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for round in 0..ROUNDS {
            let mut message = [0u8; 10];
            message[0] = round;
            // At most 32: a u64 domain has two halves of 32 bits.
            message[1] = self.half_bits as u8;
            message[2..].copy_from_slice(&right.to_be_bytes());
            let tag = hmac::sign(key, &message);
            let mut first = [0u8; 8];
            first.copy_from_slice(&tag.as_ref()[..8]);
            let f = u64::from_be_bytes(first) & mask;
            (left, right) = (right, left ^ f);
        }
        (left << self.half_bits) | right
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; SEED_LEN] = [7; SEED_LEN];

    fn drawn(draw: &Draw) -> Vec<u64> {
        (0..draw.size()).map(|n| draw.index(n).unwrap()).collect()
    }

    #[test]
    fn the_draw_is_a_permutation_of_the_pre_queue_for_any_size() {
        for size in [0u64, 1, 2, 3, 4, 5, 17, 100, 255, 256, 257, 1000, 4097] {
            let draw = Draw::new(&SEED, size, PreQueueOrder::Random);
            let mut seen = drawn(&draw);
            seen.sort_unstable();
            assert_eq!(seen, (0..size).collect::<Vec<_>>(), "size {size}");
            assert_eq!(draw.index(size), None);
        }
    }

    #[test]
    fn the_same_seed_and_size_give_the_same_order_and_another_seed_another() {
        let a = drawn(&Draw::new(&SEED, 1000, PreQueueOrder::Random));
        assert_eq!(a, drawn(&Draw::new(&SEED, 1000, PreQueueOrder::Random)));
        let b = drawn(&Draw::new(&[8; SEED_LEN], 1000, PreQueueOrder::Random));
        assert_ne!(a, b);
    }

    #[test]
    fn arriving_first_buys_nothing_in_a_random_draw() {
        // The first tenth of arrivals lands across the whole order, not at its front.
        let draw = Draw::new(&SEED, 10_000, PreQueueOrder::Random);
        let early: Vec<u64> = (0..1000).map(|n| draw.index(n).unwrap()).collect();
        let mean = early.iter().sum::<u64>() as f64 / early.len() as f64;
        assert!((4000.0..6000.0).contains(&mean), "mean index {mean}");
        let in_front = early.iter().filter(|&&i| i < 1000).count();
        assert!((50..150).contains(&in_front), "{in_front} of 1000 in front");
    }

    #[test]
    fn an_arrival_order_draw_keeps_the_order() {
        let draw = Draw::new(&SEED, 50, PreQueueOrder::Arrival);
        assert_eq!(drawn(&draw), (0..50).collect::<Vec<_>>());
    }

    /// Pins the construction: a change to it would make published seeds recompute to other
    /// orders.
    #[test]
    fn the_construction_is_pinned() {
        let draw = Draw::new(&[0; SEED_LEN], 10, PreQueueOrder::Random);
        let order = drawn(&draw);
        assert_eq!(order, PINNED);
        assert_eq!(
            commitment(&[0; SEED_LEN])[..4],
            [0x66, 0x68, 0x7a, 0xad],
            "SHA-256 of 32 zero bytes"
        );
    }

    /// Computed by a separate Python implementation of the module documentation's recipe
    /// (`hmac`, `hashlib`), as anyone checking a draw would.
    const PINNED: [u64; 10] = [6, 2, 8, 5, 9, 7, 1, 3, 0, 4];

    #[test]
    fn pre_queue_orders_parse() {
        assert_eq!("random".parse(), Ok(PreQueueOrder::Random));
        assert_eq!("arrival".parse(), Ok(PreQueueOrder::Arrival));
        assert!("shuffle".parse::<PreQueueOrder>().is_err());
    }
}
