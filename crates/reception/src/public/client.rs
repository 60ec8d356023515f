//! Who is ordering: the client address every binding and limit counts by.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

/// The client's address: the socket's peer, or the forwarded address when the peer is one of
/// `trusted_proxies`. IPv4-mapped IPv6 is IPv4.
pub(crate) fn client_address(
    trusted_proxies: &[IpAddr],
    peer: SocketAddr,
    headers: &HeaderMap,
) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_canonical())
}

/// [`client_address`] with the reception's trusted proxies.
pub(crate) fn client(
    reception: &crate::reception::Reception,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> IpAddr {
    client_address(&reception.config().trusted_proxies, peer, headers)
}
