//! The limits every server applies to its clients, as one value the caller passes in.

use std::time::Duration;

/// Limits every server applies to its clients: what one client can hold, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most, upgraded ones included; further ones wait in the accept queue.
    pub connections: usize,
    /// Connections one client network (an IPv4 /32, an IPv6 /64) may hold at once, upgraded ones
    /// included; 0 for no cap. A connection beyond it is closed at once (a reset, no answer) and
    /// takes none of the `connections`.
    pub max_per_address: usize,
    /// Whether loopback peers are capped per address too. Off by default: on loopback every
    /// client is this host (a TLS proxy in front, the demo, the crowd), speaking for many.
    pub cap_loopback: bool,
    /// A request in flight must be answered within this long of its start or of the previous
    /// answer, whichever is later. Bytes do not count, only answers: a client that trickles a body
    /// or reads an answer slowly is cut off.
    pub stall_timeout: Duration,
    /// A connection with no request in flight (idle between requests, or sending a head) is
    /// closed this long after its last answer, or after it opened.
    pub idle_timeout: Duration,
    /// A connection is asked to finish (graceful shutdown: its request in flight is answered)
    /// once it is this old, so no client keeps a slot forever by asking often enough.
    pub max_lifetime: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 20_000,
            max_per_address: 256,
            cap_loopback: false,
            stall_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            max_lifetime: Duration::from_secs(10 * 60),
            max_head: 16 * 1024,
        }
    }
}
