//! The limits every server applies to its clients, as one value the caller passes in, and the
//! ranges an operator may set them to.

use std::ops::RangeInclusive;
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

/// Open connections an operator may allow: at least one, and no more than a host's descriptors.
const CONNECTIONS: RangeInclusive<usize> = 1..=1_000_000;
/// Connections per client network an operator may allow (0: no cap).
const PER_ADDRESS: RangeInclusive<usize> = 0..=1_000_000;
/// The request and idle timeouts an operator may set: long enough for an answer over a slow
/// link, short enough that a silent client gives its slot back within minutes.
const TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(100)..=Duration::from_secs(10 * 60);
/// The connection lifetimes an operator may set.
const LIFETIME: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(86_400);
/// The request head sizes an operator may allow (hyper reads no less than 8 KiB at a time).
const HEAD: RangeInclusive<usize> = 8 * 1024..=1024 * 1024;

impl Limits {
    /// Checks every limit against its range, so a typo cannot turn a limit off or every client
    /// away.
    pub fn validate(&self) -> Result<(), LimitsError> {
        if !CONNECTIONS.contains(&self.connections) {
            return Err(LimitsError::Connections(self.connections));
        }
        if !PER_ADDRESS.contains(&self.max_per_address) {
            return Err(LimitsError::PerAddress(self.max_per_address));
        }
        if !TIMEOUT.contains(&self.stall_timeout) {
            return Err(LimitsError::RequestTimeout(self.stall_timeout));
        }
        if !TIMEOUT.contains(&self.idle_timeout) {
            return Err(LimitsError::IdleTimeout(self.idle_timeout));
        }
        if !LIFETIME.contains(&self.max_lifetime) {
            return Err(LimitsError::Lifetime(self.max_lifetime));
        }
        if !HEAD.contains(&self.max_head) {
            return Err(LimitsError::Head(self.max_head));
        }
        Ok(())
    }
}

/// A [`Limits`] value out of range; the messages name the settings as operators write them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// Too few or too many connections.
    #[error("max_connections is {0}; it must be 1 to 1,000,000")]
    Connections(usize),
    /// Too many connections per client network.
    #[error("connections_per_client is {0}; it must be 0 (no cap) to 1,000,000")]
    PerAddress(usize),
    /// A request timeout too short or too long.
    #[error("request_timeout is {0:?}; it must be 100ms to 10m")]
    RequestTimeout(Duration),
    /// An idle timeout too short or too long.
    #[error("connection_idle_timeout is {0:?}; it must be 100ms to 10m")]
    IdleTimeout(Duration),
    /// A connection lifetime too short or too long.
    #[error("connection_lifetime is {0:?}; it must be 1s to 24h")]
    Lifetime(Duration),
    /// A request head size too small or too large.
    #[error("max_header_size is {0} bytes; it must be 8192 to 1048576")]
    Head(usize),
}

/// How a public listener meets its clients: its [`Limits`], and whether the trusted proxies in
/// front of it (the server's `trusted_proxies`) open each connection with a PROXY header.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicListener {
    /// The limits on its connections.
    pub limits: Limits,
    /// Whether a trusted proxy's connection must begin with a PROXY protocol header (v1 or v2)
    /// naming the client. Off by default: proxies are believed through `X-Forwarded-For` only.
    pub proxy_protocol: bool,
}

impl PublicListener {
    /// The proxies in front of this listener, once its settings are checked: limits in range,
    /// and the PROXY protocol only with `trusted` proxies to speak it.
    pub fn front(&self, trusted: &[std::net::IpAddr]) -> anyhow::Result<super::proxy::Proxies> {
        self.limits.validate()?;
        anyhow::ensure!(
            !self.proxy_protocol || !trusted.is_empty(),
            "proxy_protocol is on but trusted_proxies is empty: no connection would be read as proxied"
        );
        Ok(super::proxy::Proxies::new(trusted, self.proxy_protocol))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_in_range_and_each_limit_has_its_bounds() {
        assert_eq!(Limits::default().validate(), Ok(()));
        let with = |change: fn(&mut Limits)| {
            let mut limits = Limits::default();
            change(&mut limits);
            limits.validate()
        };
        assert_eq!(
            with(|l| l.connections = 0),
            Err(LimitsError::Connections(0))
        );
        assert_eq!(with(|l| l.max_per_address = 0), Ok(()));
        assert!(with(|l| l.max_per_address = 2_000_000).is_err());
        assert!(with(|l| l.stall_timeout = Duration::from_millis(10)).is_err());
        assert!(with(|l| l.idle_timeout = Duration::from_secs(3600)).is_err());
        assert!(with(|l| l.max_lifetime = Duration::ZERO).is_err());
        assert!(with(|l| l.max_head = 1024).is_err());
    }
}
