//! The public listener: orders from browsers and API clients (Sc31), answered with a ticket
//! redirect (Sa35) or a busy answer (Sa36).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use tower_http::set_header::SetResponseHeaderLayer;
use usher_wire::{Admission, Code, ErrorBody, Rfc3339};

use crate::reception::{Outcome, Reception};

/// Largest admission request body.
pub const MAX_BODY: usize = 4 * 1024;

/// The public listener as one service: `GET /order/{item}`, the hot path, is answered directly
/// (an order settled from a lease costs no await and no boxed future); everything else goes
/// through [`router`].
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
        if request.method() == http::Method::GET
            && let Some(item) = request.uri().path().strip_prefix("/order/")
        {
            let client = client(&self.reception, peer, request.headers());
            let html = || crate::pages::wants_html(request.headers());
            return match self.reception.admit_now(item, client) {
                Ok(outcome) => {
                    PublicFuture::Ready(Some(order_answer(&self.reception, outcome, item, html())))
                }
                Err(pending) => {
                    let reception = Arc::clone(&self.reception);
                    let item = item.to_owned();
                    let html = html();
                    PublicFuture::Later(Box::pin(async move {
                        let outcome = reception.admit_later(pending).await;
                        order_answer(&reception, outcome, &item, html)
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
                .unwrap_or_else(|| error(Code::NotFound, StatusCode::NOT_FOUND, None)))),
            PublicFuture::Later(future) => future.as_mut().poll(cx).map(Ok),
            PublicFuture::Router(future) => std::pin::Pin::new(future).poll(cx),
        }
    }
}

/// The public listener's routes. Serve with `ConnectInfo<SocketAddr>` on every request.
pub fn router(reception: Arc<Reception>) -> Router {
    Router::new()
        .route("/order/{item}", get(order))
        .route("/api/v1/admissions", post(admissions))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { error(Code::NotFound, StatusCode::NOT_FOUND, None) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(reception)
}

/// The client's address: the socket's peer, or the forwarded address when the peer is a
/// trusted proxy. IPv4-mapped IPv6 is IPv4.
fn client(reception: &Reception, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !reception.config.trusted_proxies.contains(&peer) {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_canonical())
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn retry_after(response: &mut Response, ms: u64) {
    let secs = ms.div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

fn error(code: Code, status: StatusCode, retry: Option<String>) -> Response {
    let mut body = ErrorBody::new(code);
    body.retry = retry;
    no_store((status, axum::Json(body)).into_response())
}

/// `GET /order/{item}`: a browser's order (also reached through the router, for tests that
/// drive it with `oneshot`).
async fn order(
    State(reception): State<Arc<Reception>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let path = request.uri().path();
    let item = path.strip_prefix("/order/").unwrap_or("");
    let headers = request.headers();
    let client = client(&reception, peer, headers);
    let outcome = reception.admit(item, client).await;
    order_answer(&reception, outcome, item, crate::pages::wants_html(headers))
}

/// The answer to `GET /order/{item}`: admitted → `303` to the ticket URL; otherwise a page or
/// JSON. Every answer carries `Cache-Control: no-store`.
fn order_answer(reception: &Reception, outcome: Outcome, item: &str, html: bool) -> Response {
    let response = match outcome {
        Outcome::Admitted { url, .. } => {
            let mut headers = HeaderMap::with_capacity(2);
            headers.insert(header::LOCATION, url.header_value());
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            *r.headers_mut() = headers;
            return r;
        }
        other => match admission(other) {
            Some(answer) if html => crate::pages::answer_page(&answer, item),
            Some(answer) => answer_json(answer),
            None => unknown_item(reception),
        },
    };
    no_store(response)
}

/// The body of `POST /api/v1/admissions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmissionRequest {
    item: String,
    #[serde(default)]
    #[allow(dead_code)]
    queue_token: Option<String>,
}

/// `POST /api/v1/admissions`: an API client's order.
async fn admissions(
    State(reception): State<Arc<Reception>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<axum::Json<AdmissionRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(axum::Json(r)) => r,
        Err(rejection) => {
            let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Code::PayloadTooLarge
            } else {
                Code::BadRequest
            };
            return error(
                code,
                StatusCode::from_u16(code.default_status()).unwrap_or(StatusCode::BAD_REQUEST),
                None,
            );
        }
    };
    let client = client(&reception, peer, &headers);
    let outcome = reception.admit(&request.item, client).await;
    match admission(outcome) {
        Some(answer) => no_store(answer_json(answer)),
        None => unknown_item(&reception),
    }
}

fn unknown_item(reception: &Reception) -> Response {
    error(
        Code::UnknownItem,
        StatusCode::NOT_FOUND,
        Some(format!("{}/", reception.config.public_url)),
    )
}

/// The wire answer for an outcome; `None` for an unknown item (an error, not an answer).
fn admission(outcome: Outcome) -> Option<Admission> {
    Some(match outcome {
        Outcome::Admitted {
            url,
            server,
            expires_at,
        } => Admission::Admitted {
            url: url.as_str().to_owned(),
            server: server.to_string(),
            expires_at: Rfc3339(expires_at),
        },
        Outcome::Waiting { retry_after_ms } => Admission::Waiting {
            queue_token: None,
            position: None,
            estimated_wait_ms: None,
            retry_after_ms,
        },
        Outcome::SoldOut => Admission::SoldOut,
        Outcome::Unavailable => Admission::Unavailable,
        Outcome::UnknownItem => return None,
    })
}

fn answer_json(answer: Admission) -> Response {
    let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::OK);
    let wait = match &answer {
        Admission::Waiting { retry_after_ms, .. } => Some(*retry_after_ms),
        Admission::Unavailable => Some(1000),
        _ => None,
    };
    let mut response = (status, axum::Json(answer)).into_response();
    if let Some(ms) = wait {
        retry_after(&mut response, ms);
    }
    response
}

pub(crate) fn set_retry_after(response: &mut Response, ms: u64) {
    retry_after(response, ms);
}
