//! The public listener: orders from browsers and API clients (Sc31), answered with a ticket
//! redirect (Sa35) or a busy answer (Sa36).
//!
//! # Layout
//! - `mod.rs`: [`service`], the listener as one service; `GET /order/{item}`, the hot path, is
//!   answered directly, everything else through an axum router.
//! - `browser.rs`: `GET /order/{item}` (cookies, pages or JSON); `api.rs`:
//!   `POST /api/v1/admissions` and `GET /api/v1/opening`; `client.rs`: the client's address.
//! - `landing.rs`: `GET /` (where every "Start again" leads) and `GET /api/v1/sale`: the items
//!   and what an order for each would meet now.
//! - `openapi.rs`: `GET /api/v1/openapi.json`, the API described from the wire types.
//! - `answer.rs`: outcomes as JSON answers and refusals; `pages.rs`: the small pages.

mod answer;
mod api;
mod browser;
mod client;
mod landing;
mod openapi;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderValue, Method, StatusCode, header};
use tower_http::set_header::SetResponseHeaderLayer;
use usher_wire::Code;

use crate::outcome::Outcome;
use crate::reception::Reception;
use crate::room::page as waiting;
use browser::Form;

pub use api::MAX_BODY;

/// The public listener as one service: `GET /order/{item}`, the hot path, is answered directly
/// (an order settled from a lease costs no await and no boxed future), and so is
/// `POST /api/v1/admissions`, what apps poll while they wait; everything else goes through the
/// router.
pub fn service(reception: Arc<Reception>) -> PublicService {
    PublicService {
        router: router(Arc::clone(&reception)),
        reception,
    }
}

/// See [`service`].
#[derive(Debug, Clone)]
pub struct PublicService {
    reception: Arc<Reception>,
    router: Router,
}

impl PublicService {
    /// Answers `request` from `peer`.
    pub fn call<B>(&self, peer: SocketAddr, request: http::Request<B>) -> PublicFuture
    where
        B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        if request.method() == Method::GET
            && let Some(item) = request.uri().path().strip_prefix("/order/")
        {
            // A trailing slash is the same order (`/order/concert/`).
            let item = item.strip_suffix('/').unwrap_or(item);
            let headers = request.headers();
            let form = Form::of(headers);
            if !browser::fetch_metadata(headers).may_take_place() {
                // An image, a frame, a script, another site's fetch or a prefetch: no place.
                let outcome = Outcome::Refused(Code::NotNavigation);
                return PublicFuture::Ready(Some(browser::order_answer(
                    &self.reception,
                    outcome,
                    item,
                    form,
                    browser::Cookie::Absent,
                )));
            }
            let client = client::client(&self.reception, peer, headers);
            let cookie = browser::queue_cookie(headers, item);
            let (settled, cookie) = browser::browser_order(&self.reception, item, client, cookie);
            return match settled {
                Ok(outcome) => PublicFuture::Ready(Some(browser::order_answer(
                    &self.reception,
                    outcome,
                    item,
                    form,
                    cookie,
                ))),
                Err(pending) => {
                    let reception = Arc::clone(&self.reception);
                    let item = item.to_owned();
                    PublicFuture::Later(Box::pin(async move {
                        let outcome = reception.order_later(pending).await;
                        browser::order_answer(&reception, outcome, &item, form, cookie)
                    }))
                }
            };
        }
        if request.method() == Method::POST
            && matches!(
                request.uri().path(),
                "/api/v1/admissions" | "/api/v1/admissions/"
            )
        {
            let (parts, body) = request.into_parts();
            return match api::admission_client(&self.reception, peer, &parts.headers) {
                Some(client) => {
                    let reception = Arc::clone(&self.reception);
                    PublicFuture::Later(Box::pin(api::admissions(reception, client, body)))
                }
                None => PublicFuture::Ready(Some(api::not_json())),
            };
        }
        let mut request = request.map(axum::body::Body::new);
        trim_trailing_slash(request.uri_mut());
        request.extensions_mut().insert(ConnectInfo(peer));
        PublicFuture::Router(tower::Service::call(&mut self.router.clone(), request))
    }
}

/// The answer of [`PublicService::call`].
pub enum PublicFuture {
    /// Settled without waiting.
    Ready(Option<Response>),
    /// An order that waits for a shop.
    Later(std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>),
    /// Any other route.
    Router(axum::routing::future::RouteFuture<std::convert::Infallible>),
}

impl std::fmt::Debug for PublicFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicFuture::Ready(_) => "PublicFuture::Ready",
            PublicFuture::Later(_) => "PublicFuture::Later",
            PublicFuture::Router(_) => "PublicFuture::Router",
        })
    }
}

impl std::future::Future for PublicFuture {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // Every variant is Unpin (the boxed future is pinned in its box).
        match self.get_mut() {
            PublicFuture::Ready(response) => std::task::Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| answer::error(Code::NotFound, StatusCode::NOT_FOUND, None)))),
            PublicFuture::Later(future) => future.as_mut().poll(cx).map(Ok),
            PublicFuture::Router(future) => std::pin::Pin::new(future).poll(cx),
        }
    }
}

/// `/api/v1/opening/` is `/api/v1/opening`: a trailing slash (but `/` itself) is dropped
/// before routing, the query kept.
fn trim_trailing_slash(uri: &mut http::Uri) {
    let path = uri.path();
    if path.len() < 2 || !path.ends_with('/') {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(new) = http::Uri::from_parts(parts) {
            *uri = new;
        }
    }
}

/// Every route but the hot path. Served with `ConnectInfo<SocketAddr>` on every request.
fn router(reception: Arc<Reception>) -> Router {
    Router::new()
        // A `GET` never gets here (see `PublicService::call`).
        .route("/order/{item}", any(order_method_not_allowed))
        // A `POST` never gets here (see `PublicService::call`).
        .route(
            "/api/v1/admissions",
            any(api::admissions_method_not_allowed),
        )
        .route("/", get(landing::landing))
        .route("/api/v1/sale", get(landing::sale_json))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/opening", get(api::opening))
        .route("/assets/waiting.js", get(script))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        // Axum adds `Allow`; the body is the refusal shape, as everywhere.
        .method_not_allowed_fallback(|| async {
            answer::error(Code::MethodNotAllowed, StatusCode::METHOD_NOT_ALLOWED, None)
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(reception)
}

/// Nothing here: the refusal page for a browser, the refusal body for anyone else.
async fn not_found(
    axum::extract::State(reception): axum::extract::State<Arc<Reception>>,
    headers: http::HeaderMap,
) -> Response {
    if Form::of(&headers) == Form::Page {
        pages::refusal_page(Code::NotFound, &reception.config().public_url)
    } else {
        answer::error(Code::NotFound, StatusCode::NOT_FOUND, None)
    }
}

/// An order is a `GET`. Any other method is `405` and takes no place: link checkers, chat link
/// previews and uptime monitors send `HEAD`, and must not drain the shops.
async fn order_method_not_allowed() -> Response {
    let mut response = answer::error(Code::MethodNotAllowed, StatusCode::METHOD_NOT_ALLOWED, None);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    response
}

/// `GET /assets/waiting.js`.
async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        waiting::SCRIPT,
    )
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use usher_ticket::Keyring;
    use usher_wire::SystemClock;

    use super::*;
    use crate::ReceptionConfig;

    async fn ask(
        method: Method,
        headers: &[(&str, &str)],
    ) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
        // No shop configured: every order is `503 unavailable`, with a body.
        let config = ReceptionConfig::new(Vec::new(), "http://127.0.0.1:1");
        let reception =
            Reception::new(config, Keyring::generate().unwrap(), Arc::new(SystemClock)).unwrap();
        let mut request = http::Request::builder().method(method).uri("/order/app");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(axum::body::Body::empty()).unwrap();
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let response = service(reception).call(peer, request).await.unwrap();
        let (parts, body) = response.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes(),
        )
    }

    /// Guards against link checkers, chat previews and uptime monitors draining the shops.
    #[tokio::test]
    async fn a_head_order_is_405_and_never_reaches_the_admission() {
        let (status, headers, body) = ask(Method::HEAD, &[]).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers.get(header::ALLOW).unwrap(), "GET");
        assert!(body.is_empty(), "{body:?}");
    }

    /// Guards against `<img src=".../order/concert">` on a busy page spending every visitor's
    /// address on a place.
    #[tokio::test]
    async fn an_order_from_an_image_is_refused_before_the_admission() {
        let image = [
            ("sec-fetch-dest", "image"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-site", "cross-site"),
        ];
        let (status, headers, body) = ask(Method::GET, &image).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "not_navigation");
        // With no shop, an order that reached the admission would be `503 unavailable`.
        let navigation = [
            ("sec-fetch-dest", "document"),
            ("sec-fetch-mode", "navigate"),
        ];
        let (status, _, _) = ask(Method::GET, &navigation).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    /// Guards against another site framing the reception's pages (issue 14, point 8): every
    /// page a browser gets carries the policy, not only the waiting page.
    #[tokio::test]
    async fn every_page_forbids_framing() {
        let (status, headers, _) = ask(Method::GET, &[("accept", "text/html")]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let refused = [("accept", "text/html"), ("sec-fetch-dest", "iframe")];
        let (refused_status, refused_headers, _) = ask(Method::GET, &refused).await;
        assert_eq!(refused_status, StatusCode::FORBIDDEN);
        for headers in [headers, refused_headers] {
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        }
    }

    #[tokio::test]
    async fn an_order_by_any_other_method_is_405_with_allow() {
        let (status, headers, body) = ask(Method::POST, &[]).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers.get(header::ALLOW).unwrap(), "GET");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "method_not_allowed");
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    }
}
