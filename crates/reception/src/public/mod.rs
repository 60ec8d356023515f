//! The public listener: orders from browsers and API clients (Sc31), answered with a ticket
//! redirect (Sa35) or a busy answer (Sa36).
//!
//! # Layout
//! - `mod.rs`: [`service`], the listener as one service; `GET /order/{item}`, the hot path, is
//!   answered directly, everything else through an axum router.
//! - `browser.rs`: `GET /order/{item}` (cookies, pages or JSON); `api.rs`:
//!   `POST /api/v1/admissions`; `client.rs`: the client's address.
//! - `answer.rs`: outcomes as JSON answers and refusals; `pages.rs`: the small pages.

mod answer;
mod api;
mod browser;
mod client;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::{HeaderValue, Method, StatusCode, header};
use tower_http::set_header::SetResponseHeaderLayer;
use usher_wire::Code;

use crate::reception::Reception;
use crate::room::page as waiting;
use browser::Form;

/// Largest admission request body.
pub const MAX_BODY: usize = 4 * 1024;

/// The public listener as one service: `GET /order/{item}` (and `HEAD`), the hot path, is
/// answered directly (an order settled from a lease costs no await and no boxed future);
/// everything else goes through the router.
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
        let head = request.method() == Method::HEAD;
        if (head || request.method() == Method::GET)
            && let Some(item) = request.uri().path().strip_prefix("/order/")
        {
            let headers = request.headers();
            let client = client::client(&self.reception, peer, headers);
            let cookie = browser::queue_cookie(headers, item);
            let (settled, cookie) = browser::browser_order(&self.reception, item, client, cookie);
            let form = Form::of(headers);
            return match settled {
                Ok(outcome) => {
                    let answer =
                        browser::order_answer(&self.reception, outcome, item, form, cookie);
                    PublicFuture::Ready(Some(if head { headers_only(answer) } else { answer }))
                }
                Err(pending) => {
                    let reception = Arc::clone(&self.reception);
                    let item = item.to_owned();
                    PublicFuture::Later(Box::pin(async move {
                        let outcome = reception.order_later(pending).await;
                        let answer =
                            browser::order_answer(&reception, outcome, &item, form, cookie);
                        if head { headers_only(answer) } else { answer }
                    }))
                }
            };
        }
        let mut request = request.map(axum::body::Body::new);
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

/// Every route but the hot path. Served with `ConnectInfo<SocketAddr>` on every request.
fn router(reception: Arc<Reception>) -> Router {
    Router::new()
        // `GET` and `HEAD` never get here (see `PublicService::call`).
        .route("/order/{item}", any(order_method_not_allowed))
        .route("/api/v1/admissions", post(api::admissions))
        .route("/assets/waiting.js", get(script))
        .route("/assets/waiting.css", get(style))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { answer::error(Code::NotFound, StatusCode::NOT_FOUND, None) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(reception)
}

/// The answer to a `HEAD`: the headers a `GET` would get, its length, no body (HTTP/1 drops
/// the body by itself, HTTP/2 does not).
fn headers_only(mut response: Response) -> Response {
    if let Some(len) = axum::body::HttpBody::size_hint(response.body()).exact() {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    *response.body_mut() = axum::body::Body::empty();
    response
}

/// An order is a `GET` (or `HEAD`); any other method is `405` with `Allow`.
async fn order_method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("GET,HEAD"))],
    )
        .into_response()
}

/// `GET /assets/waiting.js`.
async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        waiting::SCRIPT,
    )
}

/// `GET /assets/waiting.css`.
async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        waiting::STYLE,
    )
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use usher_ticket::Keyring;
    use usher_wire::SystemClock;

    use super::*;
    use crate::ReceptionConfig;

    async fn ask(method: Method) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
        // No shop configured: every order is `503 unavailable`, with a body.
        let config = ReceptionConfig::new(Vec::new(), "http://127.0.0.1:1");
        let reception =
            Reception::new(config, Keyring::generate().unwrap(), Arc::new(SystemClock)).unwrap();
        let request = http::Request::builder()
            .method(method)
            .uri("/order/app")
            .body(axum::body::Body::empty())
            .unwrap();
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let response = service(reception).call(peer, request).await.unwrap();
        let (parts, body) = response.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes(),
        )
    }

    /// Guards the hot path's `HEAD`: the headers of a `GET` and no body, also where the server
    /// would not drop the body itself (HTTP/2).
    #[tokio::test]
    async fn a_head_order_gets_the_headers_of_a_get_and_no_body() {
        let (get_status, get_headers, get_body) = ask(Method::GET).await;
        let (status, headers, body) = ask(Method::HEAD).await;
        assert_eq!(get_status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!get_body.is_empty());
        assert_eq!(status, get_status);
        assert!(body.is_empty(), "{body:?}");
        assert_eq!(
            headers.get(header::CONTENT_LENGTH),
            Some(&HeaderValue::from(get_body.len()))
        );
        assert_eq!(
            headers.get(header::CACHE_CONTROL),
            get_headers.get(header::CACHE_CONTROL)
        );
        assert_eq!(
            headers.get(header::RETRY_AFTER),
            get_headers.get(header::RETRY_AFTER)
        );
    }

    #[tokio::test]
    async fn an_order_by_any_other_method_is_405_with_allow() {
        let (status, headers, _) = ask(Method::POST).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers.get(header::ALLOW).unwrap(), "GET,HEAD");
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    }
}
