//! The gate as a tower layer in front of any axum app.
//!
//! Requests are sorted by path:
//! - `/t/{ticket}/items/{item}`: a claim (Sb32). Only a `GET` (anything else is `405`, so a
//!   `HEAD` from a link checker never takes a place) made by a navigation or an API client
//!   (never a subresource: `403 not_navigation`, see `navigation.rs`). Verified locally, matched
//!   to its notice, turned into a session cookie and a `303` to the clean path, so the ticket
//!   leaves the address bar. A refused claim leaves the ticket and its notice as they were.
//! - an open path (`/healthz`, `/receipts/`, …): passed through.
//! - `/items/{item}…`: needs that item's session cookie; passed through with
//!   [`SessionInfo`](crate::SessionInfo) in the request's extensions. When the app's answer
//!   carries [`ORDER_COMPLETE_HEADER`](crate::ORDER_COMPLETE_HEADER) the session's order is
//!   complete (claim 7) and the header is removed. The first request with the cookie is the
//!   session's first use; a `HEAD` only looks (it is not a use and opens no walk-in). With
//!   `walk_ins` (the prior art, for comparisons only) a request without a session opens one,
//!   whatever the load.
//! - anything else: `403 no_session`.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use tower::{Layer, Service};
use usher_wire::{Code, forwarded};

use crate::app_call::AppCall;
use crate::gate::{ClaimError, Gate};
use crate::navigation::opened_by_navigation;
use crate::places::{ClaimRefusal, SessionId};
use crate::refusal::{guard_headers, refusal, see_other, wants_html};

/// Wraps a service with a [`Gate`].
#[derive(Debug, Clone)]
pub struct GateLayer {
    gate: Arc<Gate>,
}

impl GateLayer {
    /// A layer for `gate`.
    pub fn new(gate: Arc<Gate>) -> GateLayer {
        GateLayer { gate }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> GateService<S> {
        GateService {
            gate: Arc::clone(&self.gate),
            inner,
        }
    }
}

/// The service [`GateLayer`] builds.
#[derive(Debug, Clone)]
pub struct GateService<S> {
    gate: Arc<Gate>,
    inner: S,
}

/// Where a request is going.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Claim { token: &'a str, item: &'a str },
    Open,
    Session { item: &'a str },
    Ambiguous,
    Other,
}

/// Whether `path` could mean another path to the server behind the gate: a `.` or `..`
/// segment, an encoded dot, slash or backslash, or a backslash.
fn ambiguous(path: &str) -> bool {
    path.split('/')
        .any(|segment| segment == "." || segment == "..")
        || path.contains('\\')
        || path.as_bytes().windows(3).any(|w| {
            w[0] == b'%' && matches!(&w[1..], b"2e" | b"2E" | b"2f" | b"2F" | b"5c" | b"5C")
        })
}

fn route<'a>(path: &'a str, gate: &'a Gate) -> Route<'a> {
    let config = gate.config();
    if let Some(rest) = path.strip_prefix("/t/") {
        if let Some((token, item)) = rest.split_once("/items/")
            && !token.contains('/')
            && !item.is_empty()
            && !item.contains('/')
        {
            return Route::Claim { token, item };
        }
        return Route::Other;
    }
    // A path the shop could read as another (`/static/../concert`, `%2e%2e`, `%2f`, `\`) is
    // refused before it is matched: prefixes are matched on the path as sent, and a shop that
    // resolves dot segments would otherwise serve an item's page through an open path.
    if ambiguous(path) {
        return Route::Ambiguous;
    }
    if config
        .open_paths
        .iter()
        .any(|p| crate::config::covers(p, path))
    {
        return Route::Open;
    }
    match config.item_of(path) {
        Some(item) => Route::Session { item },
        None => Route::Other,
    }
}

/// The client's address: the socket's peer, or, behind a trusted proxy, the rightmost
/// `X-Forwarded-For` hop it did not add (the same rule as the reception's, so a ticket bound
/// there is checked against the same address here).
fn client_ip<B>(req: &Request<B>, trusted_proxies: &[IpAddr]) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
            c.0.ip().to_canonical()
        });
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let lines = req
        .headers()
        .get_all(forwarded::X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok());
    forwarded::client_address(peer, trusted_proxies, lines)
}

/// The value of the session cookie for `item` at `server` (named as
/// [`GateConfig::cookie_name`](crate::GateConfig::cookie_name) names it), matched without
/// writing the name out: this runs on every request to an item.
fn session_cookie_of<'h>(headers: &'h HeaderMap, server: &str, item: &str) -> Option<&'h str> {
    let named = |k: &str| {
        k.strip_prefix("usher-")
            .and_then(|k| k.strip_prefix(server))
            .and_then(|k| k.strip_prefix('~'))
            == Some(item)
    };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| named(k).then_some(v))
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request<Body>> for GateService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> BoxFuture {
        let gate = Arc::clone(&self.gate);
        let html = wants_html(req.headers());
        // A clone of the URI shares its bytes: the route borrows from it, not from `req`.
        let uri = req.uri().clone();
        match route(uri.path(), &gate) {
            Route::Claim { token, item } => {
                if let Some(refused) = refuse_claim(&gate, &req, item, html) {
                    return Box::pin(async move { Ok(refused) });
                }
                let (token, item) = (token.to_owned(), item.to_owned());
                let client = client_ip(&req, &gate.config().trusted_proxies);
                Box::pin(async move { Ok(claim(&gate, &token, &item, client, html).await) })
            }
            Route::Open => {
                // The app may link back to the reception (a receipt's "Back to the sale").
                let mut req = req;
                req.extensions_mut().insert(Arc::clone(gate.back_links()));
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move {
                    let mut response = inner.call(req).await?;
                    // Without a session an answer ends no order: its completion header, if the
                    // app sent one, is not passed on either.
                    response.headers_mut().remove(crate::ORDER_COMPLETE_HEADER);
                    guard_headers(response.headers_mut());
                    Ok(response)
                })
            }
            Route::Ambiguous => {
                let retry = gate.back_links().retry_url(None);
                let response = refusal(Code::BadRequest, StatusCode::BAD_REQUEST, retry, html);
                Box::pin(async move { Ok(response) })
            }
            Route::Session { item } => {
                let config = gate.config();
                // A HEAD (a link checker, a preview) takes nothing: it neither uses a session
                // nor walks in.
                let looks = req.method() == Method::HEAD;
                let session = session_cookie_of(req.headers(), config.server.as_str(), item)
                    .and_then(SessionId::from_hex)
                    .and_then(|id| {
                        let info = if looks {
                            gate.look(id, item)
                        } else {
                            gate.session(id, item)
                        };
                        info.map(|info| (id, info))
                    });
                // A walk-in (prior-art mode only) gets its cookie on the answer.
                let (session, walked_in) = match session {
                    Some(found) => (Some(found), None),
                    None if looks => (None, None),
                    None => match gate.walk_in(item) {
                        Some((id, info)) => (Some((id, info)), session_cookie(&gate, item, id)),
                        None => (None, None),
                    },
                };
                let Some((id, info)) = session else {
                    let retry = gate.back_links().retry_url(Some(item));
                    let response = refusal(Code::NoSession, StatusCode::FORBIDDEN, retry, html);
                    return Box::pin(async move { Ok(response) });
                };
                req.extensions_mut().insert(info);
                // The app's pages may link back to the sale (an item sold out, an order done).
                req.extensions_mut().insert(Arc::clone(gate.back_links()));
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                // The app's call runs to the end even if the client goes away, so a committed
                // order always ends its session.
                let call = AppCall::new(inner.call(req), Arc::clone(&gate), id);
                Box::pin(async move {
                    let Ok(mut response) = call.await;
                    response.headers_mut().remove(crate::ORDER_COMPLETE_HEADER);
                    if let Some(cookie) = walked_in {
                        response.headers_mut().append(header::SET_COOKIE, cookie);
                    }
                    guard_headers(response.headers_mut());
                    Ok(response)
                })
            }
            Route::Other => {
                let retry = gate.back_links().retry_url(None);
                let response = refusal(Code::NoSession, StatusCode::FORBIDDEN, retry, html);
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// The `Set-Cookie` value for `session` at `item`.
fn session_cookie(gate: &Gate, item: &str, session: SessionId) -> Option<HeaderValue> {
    let config = gate.config();
    let cookie = format!(
        "{}={session}; Path=/; HttpOnly; SameSite=Lax{}",
        config.cookie_name(item),
        if config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    HeaderValue::from_str(&cookie).ok()
}

/// The refusal of a claim request that may not take a place whatever its ticket says: any method
/// but `GET` (`405`, `Allow: GET`), or a request that is neither a navigation nor an API
/// client's (`403 not_navigation`). Checked before the ticket is read, so it stays unclaimed.
fn refuse_claim<B>(gate: &Gate, req: &Request<B>, item: &str, html: bool) -> Option<Response> {
    let retry = || {
        gate.back_links()
            .retry_url(Some(item).filter(|i| i.len() <= 64))
    };
    if req.method() != Method::GET {
        tracing::debug!(method = %req.method(), item, "claim refused: method");
        let mut response = refusal(
            Code::MethodNotAllowed,
            StatusCode::METHOD_NOT_ALLOWED,
            retry(),
            html,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return Some(response);
    }
    if !opened_by_navigation(req.headers()) {
        tracing::debug!(item, "claim refused: not a navigation");
        return Some(refusal(
            Code::NotNavigation,
            StatusCode::FORBIDDEN,
            retry(),
            html,
        ));
    }
    None
}

/// Sb32-Sb33: a ticket URL becomes a session cookie and a redirect to the clean path.
async fn claim(gate: &Gate, token: &str, item: &str, client: IpAddr, html: bool) -> Response {
    let wait = gate.config().notice_wait;
    match gate.claim_waiting(token, item, client, wait).await {
        Ok((session, ticket)) => {
            tracing::debug!(ticket = %ticket.id, item, "claimed");
            let config = gate.config();
            let location = config.landing(item);
            let mut response = see_other(&location);
            if let Some(value) = session_cookie(gate, item, session) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => {
            let (code, status) = match error {
                ClaimError::Ticket(rejection) => (rejection.code(), StatusCode::FORBIDDEN),
                ClaimError::Place(ClaimRefusal::NotNotified) => {
                    (Code::NotNotified, StatusCode::FORBIDDEN)
                }
                ClaimError::Place(ClaimRefusal::Used) => (Code::Used, StatusCode::FORBIDDEN),
                ClaimError::Place(ClaimRefusal::TooMany) => {
                    (Code::TooMany, StatusCode::TOO_MANY_REQUESTS)
                }
            };
            tracing::debug!(%code, item, "claim refused");
            let retry = gate
                .back_links()
                .retry_url(Some(item).filter(|i| i.len() <= 64));
            refusal(code, status, retry, html)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_the_shop_could_read_as_another_is_ambiguous() {
        for path in [
            "/static/../concert",
            "/static/./x",
            "/static/%2e%2e/concert",
            "/static/%2E%2E/concert",
            "/static/..%2fconcert",
            "/static/..\\concert",
            "/concert/%5cvip",
            "/..",
        ] {
            assert!(ambiguous(path), "{path}");
        }
        for path in [
            "/concert",
            "/static/a.b.css",
            "/concert/...x",
            "/receipts/12",
            "/",
        ] {
            assert!(!ambiguous(path), "{path}");
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; usher-shop-a~x=abc; usher-shop-a~xy=def"),
        );
        assert_eq!(session_cookie_of(&headers, "shop-a", "x"), Some("abc"));
        assert_eq!(session_cookie_of(&headers, "shop-a", "xy"), Some("def"));
        assert_eq!(session_cookie_of(&headers, "shop-b", "x"), None);
    }

    /// Guards against two shops on one host sharing a cookie: server `shop` selling `a-x` and
    /// server `shop-a` selling `x` were both `usher-shop-a-x`.
    #[test]
    fn no_two_servers_and_items_share_a_cookie_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("usher-shop-a~x=mine"),
        );
        assert_eq!(session_cookie_of(&headers, "shop-a", "x"), Some("mine"));
        assert_eq!(session_cookie_of(&headers, "shop", "a-x"), None);
    }
}
