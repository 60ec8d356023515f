//! Listening, shutting down, and reloading: what every server subcommand shares.
//!
//! # Layout
//! `mod.rs` is the accept loop. `limits.rs` is [`Limits`]; `per_address.rs` counts connections
//! per client network; `admission.rs` is what a connection holds (its permit and that count) and
//! the socket that carries it through an upgrade; `requests.rs` counts a connection's requests;
//! `watchdog.rs` closes a connection that stops answering or grows old; `open.rs` reaches every
//! connection at shutdown.

mod admission;
mod limits;
mod open;
mod per_address;
mod requests;
mod watchdog;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::extract::ConnectInfo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use admission::{Admission, Held};
pub use limits::Limits;
use open::OpenConnections;
use per_address::{OverCap, PerAddress};
use requests::Counted;
use watchdog::{Guarded, Watchdog};

/// The runtime every server runs on. `USHER_WORKERS` pins the number of runtime threads
/// (benchmarks run servers on one core); with one, everything runs on the main thread (tokio's
/// current-thread runtime), which spares the hand-offs between a worker and the thread that
/// waits for shutdown.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::env::var("USHER_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=1024).contains(n));
    let mut builder = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// A shutdown flag every task watches: it turns true on Ctrl-C or SIGTERM.
pub fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM");
                    let _ = ctrl_c.await;
                    let _ = tx.send(true);
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

/// Calls `reload` on every SIGHUP until shutdown.
pub fn reload_on_sighup(
    mut shutdown: watch::Receiver<bool>,
    reload: impl Fn() -> Result<()> + Send + 'static,
) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot watch SIGHUP; keys will not reload");
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => match reload() {
                    Ok(()) => tracing::info!("keys reloaded"),
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "key reload failed; keeping the old keys"),
                },
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Resolves when `shutdown` turns true.
pub async fn until(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the {what}"))
}

/// A service that answers requests knowing the connection's peer, without storing it in each
/// request (the admission path costs no allocation for that).
pub trait PeerService: Clone + Send + Sync + 'static {
    /// The answer's future.
    type Future: Future<Output = Result<axum::response::Response, Infallible>> + Send + 'static;
    /// Answers `request` from `peer`.
    fn call(
        &self,
        peer: SocketAddr,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Self::Future;
}

/// An axum router sees the peer as `ConnectInfo<SocketAddr>`.
impl PeerService for axum::Router {
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn call(
        &self,
        peer: SocketAddr,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Self::Future {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        tower::Service::call(&mut self.clone(), request)
    }
}

/// The reception's public listener answers orders on its fast path.
impl PeerService for usher_reception::public::PublicService {
    type Future = usher_reception::public::PublicFuture;

    fn call(
        &self,
        peer: SocketAddr,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Self::Future {
        usher_reception::public::PublicService::call(self, peer, request)
    }
}

/// Serves `service` on `listener` until shutdown, with default [`Limits`].
pub fn spawn_server(
    listener: TcpListener,
    service: impl PeerService,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    spawn_server_with(listener, service, shutdown, Limits::default())
}

/// Serves `service` on `listener` until shutdown: HTTP/1 with WebSocket upgrades, HTTP/2, and
/// [`Limits`] on connections (in all and per client network, upgraded ones included), progress,
/// lifetime and header size. In-flight requests finish on shutdown (for up to 10 s).
///
/// HTTP/2's extended CONNECT (WebSockets over HTTP/2) is left off: such a stream would live
/// inside a connection the watchdog closes when idle, and no browser speaks cleartext HTTP/2.
pub fn spawn_server_with(
    listener: TcpListener,
    service: impl PeerService,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
) -> tokio::task::JoinHandle<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;

    tokio::spawn(async move {
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().max_buf_size(limits.max_head.max(8192));
        let builder = Arc::new(builder);
        let permits = Arc::new(Semaphore::new(limits.connections));
        let per_address = Arc::new(PerAddress::new(limits.max_per_address, limits.cap_loopback));
        let rules = Watchdog::new(&limits);
        let open = Arc::new(OpenConnections::default());
        let stop = until(shutdown);
        tokio::pin!(stop);
        'serving: loop {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut stop => break,
            };
            // A connection over its network's share is closed without taking the permit, which
            // waits for the next one.
            let (stream, peer, address) = loop {
                let (stream, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off briefly, keep serving.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = &mut stop => break 'serving,
                };
                match per_address.admit(peer.ip()) {
                    Ok(address) => break (stream, peer, address),
                    Err(OverCap) => refuse(stream),
                }
            };
            let _ = stream.set_nodelay(true);
            let io = Held::new(TokioIo::new(stream), Admission::new(permit, address));
            let watch = open.add();
            let service = service.clone();
            let builder = Arc::clone(&builder);
            let open = Arc::clone(&open);
            tokio::spawn(async move {
                let counted = Arc::clone(&watch);
                let service = hyper::service::service_fn(move |request| {
                    Counted::new(&counted, service.call(peer, request))
                });
                let conn = builder.serve_connection_with_upgrades(io, service);
                Guarded::new(conn, Arc::clone(&watch), rules).await;
                open.remove(&watch);
            });
        }
        drop(listener);
        // Let in-flight requests finish, but not forever.
        open.stop_all();
        let _ = tokio::time::timeout(Duration::from_secs(10), open.all_closed()).await;
    })
}

/// Closes a refused connection with a reset: no answer to write, and no `TIME_WAIT` left behind
/// by a client that opens connections in a loop.
fn refuse(stream: tokio::net::TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
