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

/// The public listener as one service: `GET /order/{item}`, the hot path, is answered directly;
/// everything else goes through [`router`]. The requests must carry `ConnectInfo<SocketAddr>`.
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

impl tower::Service<axum::extract::Request> for PublicService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        match peer {
            Some(peer)
                if request.method() == http::Method::GET
                    && request.uri().path().starts_with("/order/") =>
            {
                let reception = Arc::clone(&self.reception);
                Box::pin(async move {
                    let mut response = order(State(reception), ConnectInfo(peer), request).await;
                    response
                        .headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    Ok(response)
                })
            }
            _ => {
                use tower::ServiceExt as _;
                Box::pin(self.router.clone().oneshot(request))
            }
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

/// `GET /order/{item}`: a browser's order. Admitted → `303` to the ticket URL.
///
/// The hot path: the item is read from the path and the headers by reference (no copies), and
/// the ticket URL becomes the `Location` header without another copy.
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
    let html = crate::pages::wants_html(headers);
    let response = match outcome {
        Outcome::Admitted { url, .. } => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(url)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        other => match admission(other) {
            Some(answer) if html => crate::pages::answer_page(&answer, item),
            Some(answer) => answer_json(answer),
            None => unknown_item(&reception),
        },
    };
    // `Cache-Control: no-store` is set on every answer by the router's layer.
    response
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
            url,
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
