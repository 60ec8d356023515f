//! The floor under the proxy benchmark: usher's own accept loop (`usher::serve`) passing every
//! request as it is to one upstream over hyper's HTTP/1 client connections, kept and reused;
//! no gate, no session, no header rewritten. `bench/proxy` runs it beside nginx `proxy_pass`
//! and `usher gate` to show what the HTTP plumbing alone (hyper's server and client on tokio)
//! costs per proxied request, so the gate's own share can be told from the stack's.
//!
//! Usage: `proxy_floor ADDR UPSTREAM` (`UPSTREAM` as `host:port`; prints `listening on ADDR`
//! once bound). `USHER_WORKERS=1` runs it on one thread, as `usher gate` in the benchmark.

mod floor;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Forwards everything to `upstream` over the connections in `idle`.
#[derive(Clone)]
struct Floor {
    upstream: Arc<str>,
    idle: Arc<Mutex<Vec<SendRequest<Incoming>>>>,
}

impl Floor {
    /// A ready kept connection, or a new one.
    async fn connection(&self) -> anyhow::Result<SendRequest<Incoming>> {
        {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            while let Some(sender) = idle.pop() {
                if sender.is_ready() {
                    return Ok(sender);
                }
                if !sender.is_closed() {
                    // Still delivering a body: keep it for later.
                    idle.insert(0, sender);
                    break;
                }
            }
        }
        let stream = tokio::net::TcpStream::connect(&*self.upstream).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("handshake")?;
        tokio::spawn(connection);
        Ok(sender)
    }

    async fn forward(self, request: hyper::Request<Incoming>) -> Response {
        let result = async {
            let mut sender = self.connection().await?;
            let response = sender.send_request(request).await?;
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(sender);
            anyhow::Ok(response)
        }
        .await;
        match result {
            Ok(response) => response.map(Body::new),
            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
        }
    }
}

impl usher::serve::PeerService for Floor {
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn call(&self, _: SocketAddr, request: hyper::Request<Incoming>) -> Self::Future {
        let floor = self.clone();
        Box::pin(async move { Ok(floor.forward(request).await) })
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .context("usage: proxy_floor ADDR UPSTREAM")?
        .parse()?;
    let upstream = args.next().context("usage: proxy_floor ADDR UPSTREAM")?;
    let floor = Floor {
        upstream: upstream.into(),
        idle: Arc::default(),
    };
    floor::serve(addr, floor)
}
