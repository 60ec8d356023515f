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
    /// This gate's own scheme, for `X-Forwarded-Proto` when no trusted proxy said it.
    pub(crate) scheme: &'a str,
}

/// Removes the hop-by-hop headers: the standard ones and those `Connection` names. `Upgrade`
/// (and `Connection: upgrade`) stay when `upgrading`.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| !(upgrading && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        KEEP_ALIVE,
        PROXY_CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    if upgrading {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

/// The request's headers as the upstream gets them.
pub(crate) fn to_upstream(
    headers: &mut HeaderMap,
    origin: &Origin<'_>,
    session: Option<&SessionInfo>,
    server: &HeaderValue,
    upgrading: bool,
) {
    remove_hop_by_hop(headers, upgrading);
    let usher: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("usher-"))
        .cloned()
        .collect();
    for name in usher {
        headers.remove(name);
    }
    let ticket_referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|r| r.contains("/t/"));
    if ticket_referer {
        headers.remove(header::REFERER);
    }
    forwarded(headers, origin);
    if let Some(session) = session {
        let id = HeaderValue::from_str(&session.ticket.to_string());
        let item = HeaderValue::from_str(session.item.as_str());
        if let (Ok(id), Ok(item)) = (id, item) {
            headers.insert(SESSION_HEADER, id);
            headers.insert(ITEM_HEADER, item);
        }
        headers.insert(SERVER_HEADER, server.clone());
    }
}

/// Sets `X-Forwarded-For/-Proto/-Host` and `Forwarded` (RFC 7239). A trusted proxy's own
/// `X-Forwarded-*` are kept (and the peer added to the chain); anyone else's are replaced, so a
/// client cannot tell the shop it is someone else.
fn forwarded(headers: &mut HeaderMap, origin: &Origin<'_>) {
    use std::fmt::Write as _;

    let host = headers.get(header::HOST).cloned();
    // The chain the trusted proxies vouched for, then the peer: one string, written once.
    let mut chain = String::new();
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
            chain.push_str(hop);
            chain.push_str(", ");
        }
        proto = headers.get(X_FORWARDED_PROTO).cloned();
        forwarded_host = headers.get(X_FORWARDED_HOST).cloned();
    }
    let _ = write!(chain, "{}", origin.peer);
    let proto = proto.unwrap_or_else(|| HeaderValue::from_static(scheme(origin.scheme)));
    let forwarded_host = forwarded_host.or(host);
    // `for` is the client as the gate found it (the first hop a trusted proxy vouched for, or
    // the peer); IPv6 is quoted and bracketed.
    let client = chain.split(", ").next().unwrap_or_default();
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
    headers.remove(header::FORWARDED);
    headers.remove(X_FORWARDED_FOR);
    if let Ok(v) = HeaderValue::try_from(chain) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if let Ok(v) = HeaderValue::try_from(value) {
        headers.insert(header::FORWARDED, v);
    }
    headers.insert(X_FORWARDED_PROTO, proto);
    if let Some(h) = forwarded_host {
        headers.insert(X_FORWARDED_HOST, h);
    }
}

fn scheme(scheme: &str) -> &'static str {
    if scheme == "https" { "https" } else { "http" }
}

/// Writes a `Forwarded` node: an IPv4 address as is, an IPv6 one as `"[addr]"`, anything else
/// (a proxy's opaque token) quoted.
fn push_node(out: &mut String, hop: &str) {
    use std::fmt::Write as _;

    match hop.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let _ = write!(out, "{v4}");
        }
        Ok(IpAddr::V6(v6)) => {
            let _ = write!(out, "\"[{v6}]\"");
        }
        Err(_) => {
            out.push('"');
            out.extend(
                hop.chars()
                    .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\'),
            );
            out.push('"');
        }
    }
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

    fn origin(peer: &str, trusted: bool) -> Origin<'static> {
        Origin {
            peer: peer.parse().unwrap(),
            trusted,
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
