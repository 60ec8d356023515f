//! The headers a request and its answer lose and gain on the way through the gate.
//!
//! To the upstream: hop-by-hop headers go (RFC 9110 §7.6.1: `Connection`, and every header it
//! names, `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`
//! unless the request upgrades); so does every `usher-*` header the client sent (nobody claims
//! or ends a session by sending one) and a `Referer` that could hold a ticket. The gate adds
//! who is buying (`usher-session`, `usher-item`, `usher-server`) and where the request came
//! from (`Forwarded`, `X-Forwarded-For`, `-Proto`, `-Host`). From the upstream: hop-by-hop
//! headers go.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use usher_gate::SessionInfo;
use usher_wire::forwarded::X_FORWARDED_FOR;

/// `usher-session`: the session's opaque id (its ticket's id: one ticket, one order).
pub const SESSION_HEADER: HeaderName = HeaderName::from_static("usher-session");
/// `usher-item`: the item the session admits to.
pub const ITEM_HEADER: HeaderName = HeaderName::from_static("usher-item");
/// `usher-server`: this shop's id.
pub const SERVER_HEADER: HeaderName = HeaderName::from_static("usher-server");

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Where a request came from, as the gate saw it.
pub(crate) struct Origin<'a> {
    /// The socket's peer.
    pub(crate) peer: IpAddr,
    /// Whether the peer is a trusted proxy (its `X-Forwarded-*` are kept and added to).
    pub(crate) trusted: bool,
    /// The trusted proxies, to find the client in a chain as the gate's claims do.
    pub(crate) proxies: &'a [IpAddr],
    /// This gate's own scheme, for `X-Forwarded-Proto` when no trusted proxy said it.
    pub(crate) scheme: &'a str,
}

/// The hop-by-hop headers every message loses (RFC 9110 §7.6.1), besides `Connection`,
/// `Upgrade` (kept for an upgrade) and those `Connection` names.
const HOP_BY_HOP: [HeaderName; 5] = [
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Whether `name` is a hop-by-hop header whatever `Connection` says.
fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION || name == header::UPGRADE || HOP_BY_HOP.contains(name)
}

/// Removes the hop-by-hop headers: the standard ones and those `Connection` names. `Upgrade`
/// (and `Connection: upgrade`) stay when `upgrading`.
///
/// Only the names present are removed (each removal is a lookup of its own), and `Connection`'s
/// tokens are collected only when one names a header beyond the standard ones: most messages
/// carry `Connection: keep-alive` and nothing else to remove.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    let named: Vec<HeaderName> = if connection_names_others(headers) {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .filter(|name| !(upgrading && name == header::UPGRADE))
            .collect()
    } else {
        Vec::new()
    };
    for name in named {
        headers.remove(name);
    }
    // Which of the standard ones are here: bit i for `HOP_BY_HOP[i]`.
    let mut present = 0u8;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present |= 1 << i;
        }
    }
    for (i, name) in HOP_BY_HOP.into_iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if upgrading {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

/// Whether `Connection` names a header other than the standard hop-by-hop ones (`close` names
/// none).
fn connection_names_others(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|token| {
            !(token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
                || token.eq_ignore_ascii_case("upgrade")
                || token.is_empty())
        })
}

/// The answer's headers as the buyer gets them: hop-by-hop ones removed, when there are any
/// (most answers carry none but `Connection: keep-alive`, if that).
pub(crate) fn from_upstream(headers: &mut HeaderMap, upgrading: bool) {
    if headers.keys().any(hop_by_hop) {
        remove_hop_by_hop(headers, upgrading);
    }
}

/// Whether a request header may not pass as the client sent it: hop-by-hop, a client's
/// `usher-*`, or one the gate writes itself.
fn dropped(name: &HeaderName, trusted: bool) -> bool {
    (!trusted && vouching(name))
        || hop_by_hop(name)
        || name == header::REFERER
        || name.as_str().starts_with("usher-")
}

/// The request's headers as the upstream gets them.
pub(crate) fn to_upstream(
    headers: &mut HeaderMap,
    origin: &Origin<'_>,
    session: Option<&SessionInfo>,
    server: &HeaderValue,
    upgrading: bool,
) {
    // Most requests carry none of the headers to drop: one pass over the names finds out, and
    // only then are they removed (each removal is a lookup of its own).
    if headers.keys().any(|name| dropped(name, origin.trusted)) {
        remove_hop_by_hop(headers, upgrading);
        // A client's own `usher-*`, and what an untrusted peer says of its origin.
        let claimed: Vec<HeaderName> = headers
            .keys()
            .filter(|n| n.as_str().starts_with("usher-") || (!origin.trusted && vouching(n)))
            .cloned()
            .collect();
        for name in claimed {
            headers.remove(name);
        }
        let ticket_referer = headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|r| r.contains("/t/"));
        if ticket_referer {
            headers.remove(header::REFERER);
        }
    }
    // Room for what is added below, made once rather than grown insert by insert.
    headers.reserve(7);
    forwarded(headers, origin);
    if let Some(session) = session {
        let id = HeaderValue::from_bytes(&ticket_hex(session));
        let item = HeaderValue::from_str(session.item.as_str());
        if let (Ok(id), Ok(item)) = (id, item) {
            headers.insert(SESSION_HEADER, id);
            headers.insert(ITEM_HEADER, item);
        }
        headers.insert(SERVER_HEADER, server.clone());
    }
}

/// Headers by which a proxy vouches for where a request came from, which frameworks often
/// believe: only a trusted proxy's pass (the gate writes its own `X-Forwarded-*` and
/// `Forwarded` after).
fn vouching(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.starts_with("x-forwarded-")
        || name == "forwarded"
        || name == "x-real-ip"
        || name == "true-client-ip"
        || name == "x-client-ip"
        || name == "proxy-authorization"
}

/// The session's ticket id as 32 lowercase hex digits (as `TicketId` prints), without the
/// formatting machinery: this runs on every forwarded request.
fn ticket_hex(session: &SessionInfo) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    let words = [session.ticket.issuer.0, session.ticket.serial];
    for (half, word) in out.chunks_exact_mut(16).zip(words) {
        for (i, digit) in half.iter_mut().enumerate() {
            *digit = DIGITS[((word >> (60 - 4 * i)) & 0xf) as usize];
        }
    }
    out
}

/// Sets `X-Forwarded-For/-Proto/-Host` and `Forwarded` (RFC 7239). A trusted proxy's own
/// `X-Forwarded-*` are kept (and the peer added to the chain); anyone else's are replaced, so a
/// client cannot tell the shop it is someone else.
fn forwarded(headers: &mut HeaderMap, origin: &Origin<'_>) {
    let host = headers.get(header::HOST).cloned();
    // The chain the trusted proxies vouched for, then the peer: one string, written once.
    let mut chain = String::with_capacity(48);
    let mut chained = false;
    let mut proto = None;
    let mut forwarded_host = None;
    if origin.trusted {
        for hop in headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
        {
            chained = true;
            chain.push_str(hop);
            chain.push_str(", ");
        }
        // Only a scheme: anything else would write itself into `Forwarded`.
        proto = headers
            .get(X_FORWARDED_PROTO)
            .filter(|p| *p == "http" || *p == "https")
            .cloned();
        forwarded_host = headers.get(X_FORWARDED_HOST).cloned();
    }
    push_ip(&mut chain, origin.peer);
    let proto = proto.unwrap_or_else(|| HeaderValue::from_static(scheme(origin.scheme)));
    let forwarded_host = forwarded_host.or(host);
    // `for` is the client as the gate finds it for claims: the rightmost hop no trusted proxy
    // added (a client's own entries further left are not believed); IPv6 quoted and bracketed.
    let client = if chained {
        let lines = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok());
        usher_wire::forwarded::client_address(origin.peer, origin.proxies, lines)
    } else {
        origin.peer
    };
    let mut value = String::with_capacity(64);
    value.push_str("for=");
    push_node(&mut value, client);
    if let Ok(p) = proto.to_str() {
        value.push_str(";proto=");
        value.push_str(p);
    }
    if let Some(h) = forwarded_host.as_ref().and_then(|h| h.to_str().ok())
        && h.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        value.push_str(";host=\"");
        value.push_str(h);
        value.push('"');
    }
    // Each insert replaces every value the client sent under that name.
    if let Ok(v) = HeaderValue::try_from(chain) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if let Ok(v) = HeaderValue::try_from(value) {
        headers.insert(header::FORWARDED, v);
    }
    headers.insert(X_FORWARDED_PROTO, proto);
    match forwarded_host {
        Some(h) => {
            headers.insert(X_FORWARDED_HOST, h);
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

/// Writes an address: IPv4 digit by digit (the formatting machinery costs more than the rest
/// of a request's headers), IPv6 as it displays.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Writes a `Forwarded` node for an address: IPv4 as is, IPv6 as `"[addr]"`.
fn push_node(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(_) => push_ip(out, ip),
        IpAddr::V6(_) => {
            out.push_str("\"[");
            push_ip(out, ip);
            out.push_str("]\"");
        }
    }
}

fn scheme(scheme: &str) -> &'static str {
    if scheme == "https" { "https" } else { "http" }
}

#[cfg(test)]
mod tests {
    use usher_ticket::{IssuerId, ItemId, TicketId};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    const PROXIES: &[IpAddr] = &[IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1))];

    fn origin(peer: &str, trusted: bool) -> Origin<'static> {
        Origin {
            peer: peer.parse().unwrap(),
            trusted,
            proxies: PROXIES,
            scheme: "http",
        }
    }

    fn session() -> SessionInfo {
        SessionInfo {
            ticket: TicketId {
                issuer: IssuerId(0xab),
                serial: 7,
            },
            item: ItemId::new("concert").unwrap(),
            completed: false,
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("accept", "text/html"),
        ]);
        remove_hop_by_hop(&mut h, false);
        let left: Vec<_> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["accept"]);
        let mut h = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        remove_hop_by_hop(&mut h, true);
        assert_eq!(h[header::UPGRADE], "websocket");
        assert_eq!(h[header::CONNECTION], "upgrade");
    }

    #[test]
    fn a_client_sent_usher_header_never_reaches_the_upstream() {
        let mut h = headers(&[
            ("usher-session", "forged"),
            ("usher-order-complete", "1"),
            ("usher-item", "other"),
            ("host", "shop.example"),
        ]);
        let server = HeaderValue::from_static("shop-a");
        to_upstream(&mut h, &origin("203.0.113.9", false), None, &server, false);
        assert!(h.keys().all(|k| !k.as_str().starts_with("usher-")), "{h:?}");
        to_upstream(
            &mut h,
            &origin("203.0.113.9", false),
            Some(&session()),
            &server,
            false,
        );
        assert_eq!(h[SESSION_HEADER], session().ticket.to_string());
        assert_eq!(h[ITEM_HEADER], "concert");
        assert_eq!(h[SERVER_HEADER], "shop-a");
    }

    #[test]
    fn addresses_and_ticket_ids_are_written_as_their_display_would() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.100.255.9",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = String::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
        let hex = ticket_hex(&session());
        assert_eq!(
            std::str::from_utf8(&hex).unwrap(),
            session().ticket.to_string()
        );
    }

    #[test]
    fn a_client_cannot_send_its_own_forwarded_headers_through() {
        let server = HeaderValue::from_static("shop-a");
        let mut h = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-for", "6.6.6.6"),
        ]);
        h.append("x-real-ip", HeaderValue::from_static("6.6.6.6"));
        h.append("x-forwarded-ssl", HeaderValue::from_static("on"));
        to_upstream(&mut h, &origin("203.0.113.9", false), None, &server, false);
        assert!(
            !h.contains_key("x-real-ip") && !h.contains_key("x-forwarded-ssl"),
            "{h:?}"
        );
        assert_eq!(h.get_all(header::FORWARDED).iter().count(), 1);
        assert_eq!(h[header::FORWARDED], "for=203.0.113.9;proto=http");
        assert!(!h.contains_key(X_FORWARDED_HOST), "{h:?}");
        assert_eq!(h.get_all(X_FORWARDED_FOR).iter().count(), 1);
    }

    #[test]
    fn forwarded_headers_trust_only_a_trusted_proxy() {
        let server = HeaderValue::from_static("shop-a");
        let sent = [
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-proto", "https"),
            ("host", "shop.example"),
            ("referer", "https://shop.example/t/SECRET/items/concert"),
        ];
        let mut h = headers(&sent);
        to_upstream(&mut h, &origin("203.0.113.9", false), None, &server, false);
        assert_eq!(h[X_FORWARDED_FOR], "203.0.113.9");
        assert_eq!(h[X_FORWARDED_PROTO], "http");
        assert_eq!(h[X_FORWARDED_HOST], "shop.example");
        assert_eq!(
            h[header::FORWARDED],
            "for=203.0.113.9;proto=http;host=\"shop.example\""
        );
        assert!(!h.contains_key(header::REFERER), "a ticket in a referer");
        let mut h = headers(&sent);
        to_upstream(&mut h, &origin("10.0.0.1", true), None, &server, false);
        assert_eq!(h[X_FORWARDED_FOR], "1.1.1.1, 10.0.0.1");
        assert_eq!(h[X_FORWARDED_PROTO], "https");
        assert!(
            h[header::FORWARDED]
                .to_str()
                .unwrap()
                .starts_with("for=1.1.1.1;proto=https")
        );
        let mut h = headers(&[]);
        to_upstream(&mut h, &origin("::1", false), None, &server, false);
        assert_eq!(h[header::FORWARDED], "for=\"[::1]\";proto=http");
    }
}
