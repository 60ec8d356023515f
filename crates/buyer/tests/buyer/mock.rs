//! A scripted reception and shop that record what the buyer sent them.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::{ACCEPT, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use url::Url;
use usher_wire::{Admission, Code, ErrorBody, Rfc3339};

/// Size of every download the mock shop serves.
pub(crate) const DOWNLOAD_LEN: usize = 200_000;

/// How the mock answers.
#[derive(Debug, Default)]
pub(crate) struct Script {
    /// Answer this many asks with "waiting" before admitting.
    pub(crate) waits: u32,
    /// Never admit.
    pub(crate) always_wait: bool,
    /// Answer the first ask with `503 {"status":"unavailable"}` (before any waits).
    pub(crate) unavailable_first: bool,
    /// `retry_after_ms` in API waiting bodies.
    pub(crate) retry_after_ms: u64,
    /// `Retry-After` values on the browser path, one per waiting answer (then "0").
    pub(crate) retry_after_headers: Vec<&'static str>,
    /// Answer every order with `410`.
    pub(crate) sold_out: bool,
    /// The gate refuses every ticket with this status and raw body.
    pub(crate) claim_refusal: Option<(StatusCode, String)>,
}

/// What the buyer sent.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Asks at the reception, both paths.
    pub(crate) asks: u32,
    /// `queue_token` of each API ask.
    pub(crate) queue_tokens: Vec<Option<String>>,
    /// `Cookie` header of each browser ask.
    pub(crate) order_cookies: Vec<Option<String>>,
    /// `Cookie` header on the clean item page.
    pub(crate) page_cookie: Option<String>,
    /// `Cookie` and `Accept` headers of each buy.
    pub(crate) buys: Vec<(Option<String>, Option<String>)>,
    /// The peer address of every request, to either server.
    pub(crate) peers: Vec<IpAddr>,
}

pub(crate) struct Mock {
    script: Script,
    shop: Url,
    pub(crate) seen: Mutex<Seen>,
}

/// Binds a listener on an ephemeral loopback port and serves `app` on it; the bound listener is
/// ready before this returns.
pub(crate) async fn serve(app: Router) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Url::parse(&format!("http://{address}/")).unwrap()
}

/// Starts a reception and a shop (separate ports) that follow `script`; returns the mock and the
/// reception's URL.
pub(crate) async fn start(script: Script) -> (Arc<Mock>, Url) {
    let shop_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shop = Url::parse(&format!("http://{}/", shop_listener.local_addr().unwrap())).unwrap();
    let mock = Arc::new(Mock {
        script,
        shop,
        seen: Mutex::default(),
    });
    let record = middleware::from_fn_with_state(mock.clone(), record_peer);
    let shop_app = Router::new()
        .route("/t/{ticket}/items/{item}", get(open_ticket))
        .route("/items/{item}", get(item_page))
        .route("/items/{item}/buy", post(buy))
        .route("/orders/{id}", get(receipt))
        .route("/orders/{id}/download", get(download))
        .layer(record.clone())
        .with_state(mock.clone());
    tokio::spawn(async move {
        axum::serve(
            shop_listener,
            shop_app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let reception_app = Router::new()
        .route("/order/{item}", get(order_page))
        .route("/api/v1/admissions", post(order_api))
        .layer(record)
        .with_state(mock.clone());
    let reception = serve(reception_app).await;
    (mock, reception)
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers.get(COOKIE).map(|v| v.to_str().unwrap().to_owned())
}

fn session_cookie(item: &str) -> String {
    format!("usher_shop-a_{item}")
}

async fn record_peer(State(mock): State<Arc<Mock>>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .unwrap()
        .0
        .ip();
    mock.seen.lock().unwrap().peers.push(peer);
    next.run(request).await
}

enum Decision {
    Unavailable,
    Wait(u32),
    Admit(u32),
    SoldOut,
}

impl Mock {
    fn decide(&self) -> Decision {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.asks += 1;
            seen.asks
        };
        let script = &self.script;
        let waiting_from = u32::from(script.unavailable_first);
        if script.sold_out {
            Decision::SoldOut
        } else if n <= waiting_from {
            Decision::Unavailable
        } else if script.always_wait || n <= waiting_from + script.waits {
            Decision::Wait(n - waiting_from)
        } else {
            Decision::Admit(n)
        }
    }

    fn ticket_url(&self, n: u32, item: &str) -> String {
        self.shop
            .join(&format!("t/ticket-{n}/items/{item}"))
            .unwrap()
            .to_string()
    }
}

async fn order_page(
    State(mock): State<Arc<Mock>>,
    Path(item): Path<String>,
    headers: HeaderMap,
) -> Response {
    mock.seen
        .lock()
        .unwrap()
        .order_cookies
        .push(cookie(&headers));
    match mock.decide() {
        Decision::SoldOut => {
            (StatusCode::GONE, Json(ErrorBody::new(Code::SoldOut))).into_response()
        }
        Decision::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, "0")],
            Json(Admission::unavailable(None)),
        )
            .into_response(),
        Decision::Wait(place) => {
            let header = mock
                .script
                .retry_after_headers
                .get(place as usize - 1)
                .copied()
                .unwrap_or("0");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (RETRY_AFTER, header),
                    (SET_COOKIE, "usher_queue=place-1; Path=/"),
                ],
                Html("<p>You are in the queue.</p>"),
            )
                .into_response()
        }
        Decision::Admit(n) => (
            StatusCode::SEE_OTHER,
            [(LOCATION, mock.ticket_url(n, &item))],
        )
            .into_response(),
    }
}

async fn order_api(State(mock): State<Arc<Mock>>, Json(body): Json<Value>) -> Response {
    let item = body["item"].as_str().unwrap().to_owned();
    let token = body
        .get("queue_token")
        .map(|t| t.as_str().unwrap().to_owned());
    mock.seen.lock().unwrap().queue_tokens.push(token);
    let answer = match mock.decide() {
        Decision::SoldOut => Admission::sold_out(None),
        Decision::Unavailable => Admission::unavailable(None),
        Decision::Wait(place) => Admission::Waiting {
            queue_token: Some(format!("q{place}")),
            position: Some(u64::from(mock.script.waits.saturating_sub(place) + 1)),
            place: Some(u64::from(place) + 1),
            estimated_wait_ms: mock.script.retry_after_ms,
            estimate_low_ms: mock.script.retry_after_ms / 2,
            estimate_high_ms: mock.script.retry_after_ms * 2,
            retry_after_ms: mock.script.retry_after_ms,
            opens_at: None,
            pre_queue: None,
        },
        Decision::Admit(n) => Admission::Admitted {
            url: mock.ticket_url(n, &item),
            server: "shop-a".into(),
            expires_at: Rfc3339(SystemTime::now() + Duration::from_secs(60)),
        },
    };
    let status = StatusCode::from_u16(answer.status()).unwrap();
    (status, [(RETRY_AFTER, "0")], Json(answer)).into_response()
}

async fn open_ticket(
    State(mock): State<Arc<Mock>>,
    Path((ticket, item)): Path<(String, String)>,
) -> Response {
    if let Some((status, body)) = &mock.script.claim_refusal {
        return (
            *status,
            [("content-type", "application/json")],
            body.clone(),
        )
            .into_response();
    }
    let set_cookie = format!(
        "{}=session-{ticket}; Path=/; HttpOnly; SameSite=Lax",
        session_cookie(&item)
    );
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, format!("/items/{item}")),
            (SET_COOKIE, set_cookie),
        ],
    )
        .into_response()
}

fn has_session(headers: &HeaderMap, item: &str) -> bool {
    cookie(headers).is_some_and(|c| c.contains(&format!("{}=session-", session_cookie(item))))
}

async fn item_page(
    State(mock): State<Arc<Mock>>,
    Path(item): Path<String>,
    headers: HeaderMap,
) -> Response {
    mock.seen.lock().unwrap().page_cookie = cookie(&headers);
    if !has_session(&headers, &item) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(ErrorBody::new(Code::NoSession)),
        )
            .into_response();
    }
    Html(format!(
        "<h1>{item}</h1><form method=post action=/items/{item}/buy>"
    ))
    .into_response()
}

async fn buy(
    State(mock): State<Arc<Mock>>,
    Path(item): Path<String>,
    headers: HeaderMap,
) -> Response {
    let accept = headers.get(ACCEPT).map(|v| v.to_str().unwrap().to_owned());
    let repeat = {
        let mut seen = mock.seen.lock().unwrap();
        seen.buys.push((cookie(&headers), accept));
        seen.buys.len() > 1
    };
    if !has_session(&headers, &item) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(ErrorBody::new(Code::NoSession)),
        )
            .into_response();
    }
    let status = if repeat {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    // One absolute path and one relative link, both to be resolved against the shop's base.
    let body = json!({
        "order_id": "o-1",
        "item": item,
        "receipt_url": "/orders/o-1",
        "download_url": "orders/o-1/download",
    });
    (status, Json(body)).into_response()
}

async fn receipt(Path(id): Path<String>) -> Json<Value> {
    Json(json!({"order_id": id, "item": "poster", "total_cents": 1200}))
}

async fn download() -> Vec<u8> {
    vec![7; DOWNLOAD_LEN]
}
