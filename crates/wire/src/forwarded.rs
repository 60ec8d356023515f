//! The client's address behind trusted proxies (SPEC "Client address"): the socket's peer,
//! unless that peer is a configured proxy; then the `X-Forwarded-For` hops are walked from the
//! right (each proxy appends the address it got the request from), past every trusted proxy,
//! and the first hop not trusted is the client. Every header line counts, in order, so a proxy
//! that adds its own line instead of extending the client's cannot be fooled by what the client
//! wrote first. IPv4-mapped IPv6 is IPv4.

use std::net::IpAddr;

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Hops read at most, from the right (a longer chain is someone's padding).
const MAX_HOPS: usize = 32;

/// The client behind `peer`, given the `X-Forwarded-For` header `lines` in the order they
/// arrived and the `trusted` proxies.
pub fn client_address<'a>(
    peer: IpAddr,
    trusted: &[IpAddr],
    lines: impl DoubleEndedIterator<Item = &'a str>,
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.contains(ip);
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let hops = lines.rev().flat_map(|line| line.rsplit(',')).take(MAX_HOPS);
    for hop in hops {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client) {
                    return client;
                }
            }
            // Not an address: nothing left of it can be believed; the nearest trusted hop is
            // as far as the chain is known.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let got = client_address(
            ip("203.0.113.7"),
            &[ip("10.0.0.1")],
            ["198.51.100.1"].into_iter(),
        );
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        // The client wrote a hop of its own choosing first; the proxies appended after it.
        let got = client_address(
            ip("10.0.0.1"),
            &proxies,
            ["1.2.3.4, 203.0.113.7, 10.0.0.2"].into_iter(),
        );
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn every_header_line_counts_in_order() {
        // A proxy that adds its own line: the client's forged line comes first.
        let got = client_address(
            ip("10.0.0.1"),
            &[ip("10.0.0.1")],
            ["1.2.3.4", "203.0.113.7"].into_iter(),
        );
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn mapped_addresses_are_ipv4_and_garbage_stops_the_walk() {
        let proxies = [ip("10.0.0.1")];
        let got = client_address(
            ip("::ffff:10.0.0.1"),
            &proxies,
            ["::ffff:203.0.113.7"].into_iter(),
        );
        assert_eq!(got, ip("203.0.113.7"));
        let got = client_address(
            ip("10.0.0.1"),
            &proxies,
            ["203.0.113.7, nonsense"].into_iter(),
        );
        assert_eq!(
            got,
            ip("10.0.0.1"),
            "the chain is known only up to the proxy"
        );
        let got = client_address(ip("10.0.0.1"), &proxies, std::iter::empty());
        assert_eq!(got, ip("10.0.0.1"));
    }
}
