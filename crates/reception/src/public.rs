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
            let cookie = queue_cookie(request.headers(), item);
            let (settled, cookie) = browser_order(&self.reception, item, client, cookie);
            let form = || Form::of(request.headers());
            return match settled {
                Ok(outcome) => PublicFuture::Ready(Some(order_answer(
                    &self.reception,
                    outcome,
                    item,
                    form(),
                    cookie,
                ))),
                Err(pending) => {
                    let reception = Arc::clone(&self.reception);
                    let item = item.to_owned();
                    let form = form();
                    PublicFuture::Later(Box::pin(async move {
                        let outcome = reception.order_later(pending).await;
                        order_answer(&reception, outcome, &item, form, cookie)
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
        .route("/assets/waiting.js", get(script))
        .route("/assets/waiting.css", get(style))
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
    let (settled, cookie) = browser_order(&reception, item, client, queue_cookie(headers, item));
    let outcome = match settled {
        Ok(outcome) => outcome,
        Err(pending) => reception.order_later(pending).await,
    };
    order_answer(&reception, outcome, item, Form::of(headers), cookie)
}

/// How a `GET /order/{item}` wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// A browser navigating: `303` to the ticket, or a page.
    Page,
    /// The waiting page's script (`Accept: application/json`): the JSON body even when
    /// admitted, since a script cannot read a cross-origin redirect.
    Json,
    /// Anything else (`curl`): `303` to the ticket, JSON otherwise.
    Other,
}

impl Form {
    fn of(headers: &HeaderMap) -> Form {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("text/html") {
            Form::Page
        } else if accept.contains("application/json") {
            Form::Json
        } else {
            Form::Other
        }
    }
}

/// What became of the browser's queue cookie, for the answer's `Set-Cookie`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cookie {
    /// None was sent.
    Absent,
    /// One was sent and is still good.
    Kept,
    /// One was sent and refused (stale, foreign, used, given up): the browser joined afresh.
    Dropped,
}

/// The queue token in the browser's cookie for `item`, if any.
fn queue_cookie<'h>(headers: &'h HeaderMap, item: &str) -> Option<&'h str> {
    let name_len = QUEUE_COOKIE.len() + item.len();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name.len() == name_len && name.starts_with(QUEUE_COOKIE) && name.ends_with(item))
                .then_some(value)
        })
}

/// Queue cookies are named per item (`usher-queue-{item}`), so waiting for one item never
/// overwrites the place held for another.
const QUEUE_COOKIE: &str = "usher-queue-";

/// A browser's order with the token from its cookie. A cookie that cannot be honoured is
/// dropped and the browser joins afresh, instead of seeing an error it cannot act on.
fn browser_order(
    reception: &Reception,
    item: &str,
    client: IpAddr,
    cookie: Option<&str>,
) -> (Result<Outcome, Box<crate::Pending>>, Cookie) {
    let Some(token) = cookie else {
        return (reception.order_now(item, client, None), Cookie::Absent);
    };
    match reception.order_now(item, client, Some(token)) {
        Ok(Outcome::Refused(code)) if crate::order::is_token_refusal(code) => {
            (reception.order_now(item, client, None), Cookie::Dropped)
        }
        settled => (settled, Cookie::Kept),
    }
}

/// The `Set-Cookie` for `item`'s queue cookie: `token`, or an expired one to delete it.
fn set_queue_cookie(
    reception: &Reception,
    response: &mut Response,
    item: &str,
    token: Option<&str>,
) {
    let secure = if reception.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = match token {
        Some(t) => format!("{QUEUE_COOKIE}{item}={t}; Path=/; HttpOnly; SameSite=Lax{secure}"),
        None => format!("{QUEUE_COOKIE}{item}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The answer to `GET /order/{item}`: admitted → `303` to the ticket URL (or the JSON body for
/// the waiting page's script); otherwise a page or JSON, with the queue cookie set, kept or
/// deleted. Every answer carries `Cache-Control: no-store`.
fn order_answer(
    reception: &Reception,
    outcome: Outcome,
    item: &str,
    form: Form,
    cookie: Cookie,
) -> Response {
    if let Outcome::Admitted {
        url,
        server,
        expires_at,
    } = outcome
    {
        if form != Form::Json {
            let mut headers = HeaderMap::with_capacity(2);
            headers.insert(header::LOCATION, url.header_value());
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            *r.headers_mut() = headers;
            if cookie != Cookie::Absent {
                set_queue_cookie(reception, &mut r, item, None);
            }
            return r;
        }
        let outcome = Outcome::Admitted {
            url,
            server,
            expires_at,
        };
        let mut response = no_store(answer_json(
            admission(outcome).unwrap_or(Admission::Unavailable),
        ));
        if cookie != Cookie::Absent {
            set_queue_cookie(reception, &mut response, item, None);
        }
        return response;
    }
    let fresh = match &outcome {
        Outcome::Waiting(wait) if wait.fresh => wait.queue_token.clone(),
        _ => None,
    };
    let mut response = match outcome {
        Outcome::Refused(code) if form == Form::Page => {
            crate::pages::refusal_page(code, &reception.config.public_url)
        }
        Outcome::Refused(code) => refusal(reception, code),
        // The page's script needs no token: the cookie carries it (and stays HttpOnly).
        Outcome::Waiting(mut wait) if form == Form::Json => {
            wait.queue_token = None;
            answer_json(admission(Outcome::Waiting(wait)).unwrap_or(Admission::Unavailable))
        }
        Outcome::Waiting(wait) if form == Form::Page && wait.position.is_some() => {
            waiting_page(item, &wait)
        }
        other => match admission(other) {
            Some(answer) if form == Form::Page => crate::pages::answer_page(&answer, item),
            Some(answer) => answer_json(answer),
            None => unknown_item(reception),
        },
    };
    match (fresh, cookie) {
        (Some(token), _) => set_queue_cookie(reception, &mut response, item, Some(&token)),
        (None, Cookie::Dropped) => set_queue_cookie(reception, &mut response, item, None),
        _ => {}
    }
    no_store(response)
}

/// Sa56 for a browser: the waiting page, with its policy and `Retry-After`.
fn waiting_page(item: &str, wait: &crate::Wait) -> Response {
    let page = crate::waiting_page::waiting_page(&crate::waiting_page::WaitingView {
        item,
        position: wait.position.unwrap_or(1),
        estimated_wait_ms: wait.estimated_wait_ms,
        retry_after_ms: wait.retry_after_ms,
    });
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, crate::waiting_page::CSP),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response();
    retry_after(&mut response, wait.retry_after_ms);
    response
}

/// A queue token refused (`400` with its code), or too many joins (`429`).
fn refusal(reception: &Reception, code: Code) -> Response {
    let status = if code == Code::TooMany {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = error(
        code,
        status,
        Some(format!("{}/", reception.config.public_url)),
    );
    if code == Code::TooMany {
        retry_after(&mut response, 60_000);
    }
    response
}

/// `GET /assets/waiting.js`.
async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        crate::waiting_page::SCRIPT,
    )
}

/// `GET /assets/waiting.css`.
async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::waiting_page::STYLE,
    )
}

/// The body of `POST /api/v1/admissions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmissionRequest {
    item: String,
    #[serde(default)]
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
    let outcome = reception
        .order(&request.item, client, request.queue_token.as_deref())
        .await;
    match outcome {
        Outcome::Refused(code) => refusal(&reception, code),
        outcome => match admission(outcome) {
            Some(answer) => no_store(answer_json(answer)),
            None => unknown_item(&reception),
        },
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
        Outcome::Waiting(wait) => Admission::Waiting {
            queue_token: wait.queue_token,
            position: wait.position,
            place: wait.place,
            estimated_wait_ms: wait.estimated_wait_ms,
            retry_after_ms: wait.retry_after_ms,
        },
        Outcome::SoldOut => Admission::SoldOut,
        Outcome::Unavailable => Admission::Unavailable,
        Outcome::UnknownItem | Outcome::Refused(_) => return None,
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
