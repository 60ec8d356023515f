//! The floor under `bench/waiting`'s API polls: usher's own accept loop (`usher::serve`)
//! reading each request's body whole and answering a fixed `503` with a waiting body of the
//! same size as the reception's, no token opened, no JSON read. `bench/waiting` runs it beside
//! nginx and the reception, all three sent the same `POST` with a body, to show what the HTTP
//! plumbing alone costs for a request with a body.
//!
//! Usage: `waiting_floor ADDR` (prints `listening on ADDR` once bound). Its runtime is
//! `usher`'s own ([`usher::serve::runtime`]): `USHER_WORKERS=1` runs it on one thread.

mod floor;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt as _;

/// A waiting answer of the reception's length (its token is a fixed stand-in).
const BODY: &str = concat!(
    r#"{"status":"waiting","queue_token":"EgABbtc3t7AUAr8AAAAAAAAACwBXagMTv1yd05OZGUCmHbHb0Z"#,
    r#"swxdPS1-FASf35EAOh3okkI4QZuRPV_bjUguCtaui9","position":1000000,"place":1000001,"#,
    r#""estimated_wait_ms":600000,"estimate_low_ms":500000,"estimate_high_ms":700000,"#,
    r#""retry_after_ms":30000}"#
);

/// Reads the body, then answers the same `503`.
#[derive(Clone)]
struct Floor;

impl usher::serve::PeerService for Floor {
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, _: SocketAddr, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        Box::pin(async move {
            let read = request.into_body().collect().await.is_ok();
            let mut r = Response::new(axum::body::Body::from(BODY));
            *r.status_mut() = if read {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            let headers = r.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            Ok(r)
        })
    }
}

fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()?;
    floor::serve(addr, Floor)
}
