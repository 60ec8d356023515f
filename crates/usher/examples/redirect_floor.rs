//! The floor under the admission benchmark: usher's own accept loop (`usher::serve`) answering
//! every request with a fixed `303`, no ticket, no reception. `bench/admission` runs it beside
//! nginx and the reception to show what the HTTP plumbing alone costs.
//!
//! Usage: `redirect_floor ADDR` (prints `listening on ADDR` once bound). Its runtime is `usher`'s
//! own ([`usher::serve::runtime`]): `USHER_WORKERS=1` runs it on one thread.

mod floor;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// Answers everything with the same redirect.
#[derive(Clone)]
struct Floor;

impl usher::serve::PeerService for Floor {
    type Future = Ready<Result<Response, Infallible>>;

    fn call(&self, _: SocketAddr, _: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::SEE_OTHER;
        r.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_static("http://127.0.0.1:1/t/ticket/items/app"),
        );
        ready(Ok(r))
    }
}

fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()?;
    floor::serve(addr, Floor)
}
