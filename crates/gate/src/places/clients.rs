//! Sessions per client prefix, so one host cannot hold every place (issue 14).

use std::collections::HashMap;
use std::net::IpAddr;

use usher_ticket::{Binding, BindingPolicy};

/// The part of a client's address its sessions are counted by: the network a ticket binds to
/// by default, the whole address for IPv4 (/32) and the network for IPv6 (/64, what one
/// subscriber is usually given). IPv4-mapped IPv6 counts as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct ClientPrefix(Binding);

impl ClientPrefix {
    /// The prefix `client` belongs to.
    pub(super) fn of(client: IpAddr) -> ClientPrefix {
        ClientPrefix(BindingPolicy::TICKET.bind(client))
    }
}

/// Open sessions per client prefix, and the cap on them. Holds an entry only for prefixes
/// with a session open, so its memory is bounded by the sessions, never by who asked.
#[derive(Debug, Default)]
pub(super) struct ClientCounts {
    open: HashMap<ClientPrefix, u32>,
    /// The most sessions one prefix may hold open; 0 for no cap.
    cap: u32,
}

impl ClientCounts {
    /// No sessions; a prefix may hold `cap` at once (0: no cap).
    pub(super) fn new(cap: u32) -> ClientCounts {
        ClientCounts {
            open: HashMap::new(),
            cap,
        }
    }

    /// Whether `prefix` already holds as many sessions as it may.
    pub(super) fn full(&self, prefix: ClientPrefix) -> bool {
        self.cap != 0 && self.open.get(&prefix).is_some_and(|&n| n >= self.cap)
    }

    /// `prefix` opened a session.
    pub(super) fn opened(&mut self, prefix: ClientPrefix) {
        *self.open.entry(prefix).or_insert(0) += 1;
    }

    /// One of `prefix`'s sessions stopped holding a place (ended or completed).
    pub(super) fn closed(&mut self, prefix: ClientPrefix) {
        if let Some(n) = self.open.get_mut(&prefix) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&prefix);
            }
        }
    }

    /// Prefixes holding a session now.
    #[cfg(test)]
    pub(super) fn prefixes(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_are_an_ipv4_address_or_an_ipv6_64() {
        assert_eq!(
            ClientPrefix::of(ip("::ffff:192.0.2.1")),
            ClientPrefix::of(ip("192.0.2.1"))
        );
        assert_ne!(
            ClientPrefix::of(ip("192.0.2.1")),
            ClientPrefix::of(ip("192.0.2.2"))
        );
        assert_eq!(
            ClientPrefix::of(ip("2001:db8:1:2::1")),
            ClientPrefix::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            ClientPrefix::of(ip("2001:db8:1:2::1")),
            ClientPrefix::of(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn a_prefix_is_full_at_the_cap_and_forgotten_at_zero() {
        let a = ClientPrefix::of(ip("192.0.2.1"));
        let mut counts = ClientCounts::new(2);
        counts.opened(a);
        assert!(!counts.full(a));
        counts.opened(a);
        assert!(counts.full(a));
        counts.closed(a);
        assert!(!counts.full(a));
        counts.closed(a);
        assert_eq!(counts.prefixes(), 0, "no entry left behind");
        let mut uncapped = ClientCounts::new(0);
        for _ in 0..100 {
            uncapped.opened(a);
        }
        assert!(!uncapped.full(a));
    }
}
