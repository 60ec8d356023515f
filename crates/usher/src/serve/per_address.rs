//! How many connections each client network holds, so that one host cannot take every slot.
//!
//! Counts are exact (a map, not hashed counters, so no honest address shares an attacker's
//! count) and live only while connections do: an address leaves the map when its count reaches
//! zero, so memory follows the open connections. The map is split into shards, each under a lock
//! held for one map operation per accept and per close, never per request.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use usher_ticket::{Binding, BindingPolicy};

use super::proxy::Proxies;

/// Shards of the map: closes on many threads rarely meet on one lock.
const SHARDS: usize = 16;

/// The part of an address one client is taken to own: the network a ticket binds to by
/// default (an IPv4 address, IPv4-mapped IPv6 included; an IPv6 /64, what one host or household
/// is usually given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Network(Binding);

impl Network {
    /// The network `ip` counts against.
    pub(super) fn of(ip: IpAddr) -> Network {
        Network(BindingPolicy::TICKET.bind(ip))
    }

    /// Its shard. Which one does not matter for correctness (counts are exact per network), so a
    /// multiply that spreads neighbouring networks is enough.
    fn shard(self) -> usize {
        let bits = match self.0 {
            Binding::V4 { net, .. } => u64::from(net),
            Binding::V6 { net, .. } => (net >> 64) as u64,
            Binding::Any => 0,
        };
        let spread = bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60;
        usize::try_from(spread).unwrap_or(0) % SHARDS
    }
}

/// A connection refused because its network holds its share already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OverCap;

/// Live connections per client network.
#[derive(Debug)]
pub(super) struct PerAddress {
    cap: usize,
    cap_loopback: bool,
    /// Trusted proxies carry many clients over many connections from one address: uncapped.
    proxies: Proxies,
    shards: [Mutex<HashMap<Network, usize>>; SHARDS],
}

impl PerAddress {
    /// A table allowing `cap` connections per network (0: no cap), loopback included only if
    /// `cap_loopback`, trusted `proxies` never.
    pub(super) fn new(cap: usize, cap_loopback: bool, proxies: Proxies) -> PerAddress {
        PerAddress {
            cap,
            cap_loopback,
            proxies,
            shards: std::array::from_fn(|_| Mutex::default()),
        }
    }

    /// Counts a new connection from `ip`: `Ok(None)` when `ip` is not capped, the count to hold
    /// while the connection lives, or [`OverCap`].
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Option<AddressCount>, OverCap> {
        if self.cap == 0
            || (!self.cap_loopback && ip.to_canonical().is_loopback())
            || self.proxies.trusts(ip)
        {
            return Ok(None);
        }
        let network = Network::of(ip);
        let mut shard = self.shards[network.shard()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = shard.entry(network).or_insert(0);
        if *count >= self.cap {
            return Err(OverCap);
        }
        *count += 1;
        Ok(Some(AddressCount {
            table: Arc::clone(self),
            network,
        }))
    }

    fn release(&self, network: Network) {
        let mut shard = self.shards[network.shard()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Entry::Occupied(mut entry) = shard.entry(network) {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }

    /// Networks with a live connection (for tests: the map must not outgrow the connections).
    #[cfg(test)]
    fn networks(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// One connection's place in its network's count, given back when dropped.
#[derive(Debug)]
pub(super) struct AddressCount {
    table: Arc<PerAddress>,
    network: Network,
}

impl Drop for AddressCount {
    fn drop(&mut self) {
        self.table.release(self.network);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn a_mapped_ipv4_address_is_that_ipv4_address_and_ipv6_counts_per_64() {
        assert_eq!(
            Network::of(ip("::ffff:192.0.2.7")),
            Network::of(ip("192.0.2.7"))
        );
        assert_ne!(Network::of(ip("192.0.2.7")), Network::of(ip("192.0.2.8")));
        assert_eq!(
            Network::of(ip("2001:db8:1:2::1")),
            Network::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Network::of(ip("2001:db8:1:2::1")),
            Network::of(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn a_network_holds_its_cap_and_leaves_the_map_when_its_last_connection_closes() {
        let table = Arc::new(PerAddress::new(2, true, Proxies::default()));
        let a = table.admit(ip("192.0.2.1")).expect("first");
        let b = table.admit(ip("::ffff:192.0.2.1")).expect("second");
        assert_eq!(table.admit(ip("192.0.2.1")).err(), Some(OverCap));
        let other = table.admit(ip("192.0.2.2")).expect("another address");
        assert_eq!(table.networks(), 2);
        drop(a);
        let c = table.admit(ip("192.0.2.1")).expect("a place freed");
        drop((b, c, other));
        assert_eq!(table.networks(), 0);
    }

    #[test]
    fn loopback_trusted_proxies_and_a_zero_cap_are_not_counted() {
        let table = Arc::new(PerAddress::new(1, false, Proxies::default()));
        assert!(matches!(table.admit(ip("127.0.0.1")), Ok(None)));
        assert!(matches!(table.admit(ip("::1")), Ok(None)));
        let none = Arc::new(PerAddress::new(0, true, Proxies::default()));
        assert!(matches!(none.admit(ip("192.0.2.1")), Ok(None)));
        assert_eq!(none.networks(), 0);
        let proxy = ip("192.0.2.9");
        let behind = Arc::new(PerAddress::new(1, true, Proxies::new(&[proxy], false)));
        assert!(matches!(behind.admit(ip("::ffff:192.0.2.9")), Ok(None)));
        assert!(matches!(behind.admit(proxy), Ok(None)));
        assert_eq!(behind.networks(), 0);
    }
}
