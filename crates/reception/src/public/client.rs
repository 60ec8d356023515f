//! Who is ordering: the client address every binding and limit counts by.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use usher_wire::forwarded;

/// The client's address: the socket's peer, or, when the peer is one of the reception's
/// trusted proxies, the rightmost untrusted `X-Forwarded-For` hop over every header line
/// ([`forwarded::client_address`]).
pub(crate) fn client(
    reception: &crate::reception::Reception,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> IpAddr {
    let trusted_proxies = &reception.config().trusted_proxies;
    let ip = peer.ip().to_canonical();
    // Most peers are not proxies: their answer costs no header lookup.
    if !trusted_proxies.contains(&ip) {
        return ip;
    }
    let lines = headers
        .get_all(forwarded::X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok());
    forwarded::client_address(ip, trusted_proxies, lines)
}
