//! Client binding: the address prefix a token was issued to.
//!
//! Binding is by prefix, not by exact address, because clients move within a network (carrier NAT,
//! IPv6 privacy addresses). Tickets live seconds and default to /32 and /64; queue tokens live
//! minutes and default to /24 and /48. An IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) is the
//! IPv4 address it maps.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::error::SealError;
use crate::format::{RawBuf, put};

/// How wide a binding is, per address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BindingPolicy {
    /// Prefix length for IPv4 clients, 0 to 32.
    pub v4_prefix: u8,
    /// Prefix length for IPv6 clients, 0 to 128.
    pub v6_prefix: u8,
}

/// A prefix length beyond the family's address width.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("prefix lengths must be at most 32 for IPv4 and 128 for IPv6 (got /{v4} and /{v6})")]
pub struct InvalidPolicy {
    v4: u8,
    v6: u8,
}

impl BindingPolicy {
    /// Tickets: one address for IPv4, one /64 (a household or a phone) for IPv6.
    pub const TICKET: BindingPolicy = BindingPolicy {
        v4_prefix: 32,
        v6_prefix: 64,
    };
    /// Queue tokens live longer and phones change address, so they bind wider.
    pub const QUEUE: BindingPolicy = BindingPolicy {
        v4_prefix: 24,
        v6_prefix: 48,
    };

    /// A policy with the given prefix lengths.
    pub fn new(v4_prefix: u8, v6_prefix: u8) -> Result<Self, InvalidPolicy> {
        if v4_prefix > 32 || v6_prefix > 128 {
            return Err(InvalidPolicy {
                v4: v4_prefix,
                v6: v6_prefix,
            });
        }
        Ok(Self {
            v4_prefix,
            v6_prefix,
        })
    }

    /// The binding for a client at `addr`.
    pub fn bind(&self, addr: IpAddr) -> Binding {
        match addr.to_canonical() {
            IpAddr::V4(v4) => Binding::V4 {
                prefix: self.v4_prefix.min(32),
                net: u32::from(v4) & mask32(self.v4_prefix),
            },
            IpAddr::V6(v6) => Binding::V6 {
                prefix: self.v6_prefix.min(128),
                net: u128::from(v6) & mask128(self.v6_prefix),
            },
        }
    }
}

/// The network a token is bound to. `Any` is for deployments that turn binding off. A binding
/// belongs to one address family: even a /0 IPv6 binding admits no IPv4 client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// Any client may present the token.
    Any,
    /// An IPv4 network (host bits are zero).
    V4 {
        /// Prefix length, 0 to 32.
        prefix: u8,
        /// The network address.
        net: u32,
    },
    /// An IPv6 network (host bits are zero).
    V6 {
        /// Prefix length, 0 to 128.
        prefix: u8,
        /// The network address.
        net: u128,
    },
}

const TAG_ANY: u8 = 0;
const TAG_V4: u8 = 4;
const TAG_V6: u8 = 6;

fn mask32(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

fn mask128(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => u128::MAX,
        p => u128::MAX << (128 - u32::from(p)),
    }
}

impl Binding {
    /// Whether a client at `addr` is inside this binding.
    pub fn admits(&self, addr: IpAddr) -> bool {
        match (*self, addr.to_canonical()) {
            (Binding::Any, _) => true,
            (Binding::V4 { prefix, net }, IpAddr::V4(v4)) => u32::from(v4) & mask32(prefix) == net,
            (Binding::V6 { prefix, net }, IpAddr::V6(v6)) => {
                u128::from(v6) & mask128(prefix) == net
            }
            _ => false,
        }
    }

    /// Bytes this binding takes in a token.
    #[cfg(test)]
    pub(crate) fn encoded_len(&self) -> usize {
        match *self {
            Binding::Any => 1,
            Binding::V4 { prefix, .. } | Binding::V6 { prefix, .. } => {
                2 + usize::from(prefix).div_ceil(8)
            }
        }
    }

    /// Appends `tag, prefix, ceil(prefix/8) network bytes`. A binding built by hand with a prefix
    /// wider than its family or host bits set is refused, so every sealed binding decodes.
    pub(crate) fn encode(&self, out: &mut RawBuf) -> Result<(), SealError> {
        let canonical = match *self {
            Binding::Any => true,
            Binding::V4 { prefix, net } => prefix <= 32 && net & !mask32(prefix) == 0,
            Binding::V6 { prefix, net } => prefix <= 128 && net & !mask128(prefix) == 0,
        };
        if !canonical {
            return Err(SealError::Binding);
        }
        match *self {
            Binding::Any => put(out, &[TAG_ANY]),
            Binding::V4 { prefix, net } => {
                put(out, &[TAG_V4, prefix])?;
                put(out, &net.to_be_bytes()[..usize::from(prefix).div_ceil(8)])
            }
            Binding::V6 { prefix, net } => {
                put(out, &[TAG_V6, prefix])?;
                put(out, &net.to_be_bytes()[..usize::from(prefix).div_ceil(8)])
            }
        }
    }

    /// Reads a binding from the front of `input`, returning it and the rest. Refuses
    /// non-canonical forms (host bits set, prefix too long), so one binding has one encoding.
    pub(crate) fn decode(input: &[u8]) -> Option<(Binding, &[u8])> {
        let (&tag, rest) = input.split_first()?;
        if tag == TAG_ANY {
            return Some((Binding::Any, rest));
        }
        let (&prefix, rest) = rest.split_first()?;
        let width = match tag {
            TAG_V4 => 32,
            TAG_V6 => 128,
            _ => return None,
        };
        if prefix > width {
            return None;
        }
        let n = usize::from(prefix).div_ceil(8);
        let (bytes, rest) = rest.split_at_checked(n)?;
        let mut full = [0u8; 16];
        full[..n].copy_from_slice(bytes);
        let binding = if tag == TAG_V4 {
            let net = u32::from_be_bytes([full[0], full[1], full[2], full[3]]);
            if net & !mask32(prefix) != 0 {
                return None;
            }
            Binding::V4 { prefix, net }
        } else {
            let net = u128::from_be_bytes(full);
            if net & !mask128(prefix) != 0 {
                return None;
            }
            Binding::V6 { prefix, net }
        };
        Some((binding, rest))
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Binding::Any => f.write_str("any"),
            Binding::V4 { prefix, net } => write!(f, "{}/{prefix}", Ipv4Addr::from(net)),
            Binding::V6 { prefix, net } => write!(f, "{}/{prefix}", Ipv6Addr::from(net)),
        }
    }
}

impl Serialize for Binding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_prefix_admits_its_network_only() {
        let b = BindingPolicy::QUEUE.bind(ip("203.0.113.77"));
        assert_eq!(b.to_string(), "203.0.113.0/24");
        assert!(b.admits(ip("203.0.113.1")));
        assert!(!b.admits(ip("203.0.114.1")));
        assert!(!b.admits(ip("2001:db8::1")));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_treated_as_ipv4() {
        let b = BindingPolicy::TICKET.bind(ip("::ffff:198.51.100.9"));
        assert_eq!(b.to_string(), "198.51.100.9/32");
        assert!(b.admits(ip("198.51.100.9")));
        let b = BindingPolicy::TICKET.bind(ip("198.51.100.9"));
        assert!(b.admits(ip("::ffff:198.51.100.9")));
    }

    #[test]
    fn ipv6_binds_a_slash_64_by_default() {
        let b = BindingPolicy::TICKET.bind(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(b.to_string(), "2001:db8:1:2::/64");
        assert!(b.admits(ip("2001:db8:1:2:ffff::9")));
        assert!(!b.admits(ip("2001:db8:1:3::1")));
        assert!(!b.admits(ip("10.0.0.1")));
    }

    #[test]
    fn encoding_round_trips_and_is_canonical() {
        for (addr, policy) in [
            ("1.2.3.4", BindingPolicy::new(0, 0).unwrap()),
            ("1.2.3.4", BindingPolicy::new(13, 0).unwrap()),
            ("2001:db8::5", BindingPolicy::new(0, 127).unwrap()),
            ("2001:db8::5", BindingPolicy::new(0, 128).unwrap()),
        ] {
            let b = policy.bind(ip(addr));
            let mut out = RawBuf::new();
            b.encode(&mut out).unwrap();
            assert_eq!(out.len(), b.encoded_len());
            out.push(0xEE);
            assert_eq!(Binding::decode(&out), Some((b, &[0xEE][..])));
        }
        // Host bits set beyond the prefix are not a second spelling of the same binding.
        assert_eq!(Binding::decode(&[TAG_V4, 12, 1, 0x0F]), None);
        assert_eq!(Binding::decode(&[TAG_V4, 33, 1, 2, 3, 4, 5]), None);
        assert_eq!(Binding::decode(&[9]), None);
        assert_eq!(Binding::decode(&[TAG_V6, 64, 1, 2]), None);
    }

    #[test]
    fn hand_made_bindings_that_are_not_canonical_do_not_seal() {
        let mut out = RawBuf::new();
        for bad in [
            Binding::V4 { prefix: 40, net: 0 },
            Binding::V4 {
                prefix: 24,
                net: 0x0102_0304,
            },
            Binding::V6 {
                prefix: 200,
                net: 0,
            },
            Binding::V6 { prefix: 1, net: 1 },
        ] {
            assert_eq!(bad.encode(&mut out), Err(SealError::Binding), "{bad:?}");
        }
    }

    #[test]
    fn policy_refuses_prefixes_wider_than_the_family() {
        assert!(BindingPolicy::new(33, 64).is_err());
        assert!(BindingPolicy::new(32, 129).is_err());
    }
}
