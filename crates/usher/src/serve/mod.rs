//! Listening, shutting down, and reloading: what every server subcommand shares.
//!
//! # Layout
//! `mod.rs` is the accept loop. `limits.rs` is [`Limits`] and their ranges; `proxy.rs` is who
//! stands in front ([`Proxies`]) and the PROXY protocol header a trusted proxy opens a
//! connection with; `per_address.rs` counts connections per client network; `admission.rs` is
//! what a connection holds (its permit and that count) and the socket that carries it through an
//! upgrade; `requests.rs` counts a connection's requests; `watchdog.rs` closes a connection that
//! stops answering or grows old; `open.rs` reaches every connection at shutdown; `tls.rs` is
//! TLS on a listener (certificate and key from PEM files).

mod admission;
mod limits;
mod open;
mod per_address;
mod proxy;
mod requests;
mod tls;
mod watchdog;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use admission::{Admission, Held};
pub use limits::{Limits, LimitsError, PublicListener};
use open::OpenConnections;
use per_address::{AddressCount, OverCap, PerAddress};
pub use proxy::{MAX_HEADER, Proxies};
use proxy::{Rewound, read_header};
use requests::{ConnWatch, Counted};
pub use tls::acceptor as tls_acceptor;
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

/// Connections the kernel may hold for a listener before it accepts them (capped by the
/// system's `net.core.somaxconn`). A crowd arrives at once, at a sale's opening most of all:
/// at tokio's 1,024, a flash of 10,000 new connections overflowed the queue and a tenth of the
/// buyers waited a second for their connection to be retried.
pub const LISTEN_BACKLOG: u32 = 16_384;

/// Binds `addr` (port 0 picks a free port), with [`LISTEN_BACKLOG`].
pub async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    };
    socket
        .and_then(|socket| {
            // As std and tokio do on Unix: a restarted server takes its port back at once
            // (on Windows the option would let another process share the port).
            #[cfg(unix)]
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(LISTEN_BACKLOG)
        })
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

/// `request` as an axum service takes it, its peer as `ConnectInfo<SocketAddr>`.
fn with_peer(
    peer: SocketAddr,
    request: hyper::Request<hyper::body::Incoming>,
) -> axum::extract::Request {
    let mut request = request.map(axum::body::Body::new);
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

/// An axum router sees the peer as `ConnectInfo<SocketAddr>`.
impl PeerService for axum::Router {
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn call(
        &self,
        peer: SocketAddr,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Self::Future {
        tower::Service::call(&mut self.clone(), with_peer(peer, request))
    }
}

/// A tower service over axum's bodies served as it is, without a router in front: `usher
/// gate`, whose every request goes to the gate's layer over the forwarding service. The
/// service must always be ready (it is called without `poll_ready`, as the gate's layer over
/// the forwarding service is).
#[derive(Debug, Clone)]
pub struct Direct<S>(pub S);

impl<S> PeerService for Direct<S>
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type Future = S::Future;

    fn call(
        &self,
        peer: SocketAddr,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Self::Future {
        tower::Service::call(&mut self.0.clone(), with_peer(peer, request))
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

/// Serves `service` on `listener` until shutdown, as [`spawn_server_behind`] with no proxies in
/// front.
pub fn spawn_server_with(
    listener: TcpListener,
    service: impl PeerService,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
) -> tokio::task::JoinHandle<()> {
    spawn_server_behind(listener, service, shutdown, limits, Proxies::default())
}

/// Serves `service` on `listener` over TLS (`acceptor`), with `limits` and no proxies in front:
/// the reception's management listener when shops dial `wss://`. A client has
/// 10 s for its TLS handshake.
pub fn spawn_tls_server(
    listener: TcpListener,
    service: impl PeerService,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
    acceptor: tokio_rustls::TlsAcceptor,
) -> tokio::task::JoinHandle<()> {
    spawn(
        listener,
        service,
        shutdown,
        limits,
        Proxies::default(),
        Some(acceptor),
    )
}

/// Serves `service` on `listener` until shutdown: HTTP/1 with WebSocket upgrades, HTTP/2, and
/// [`Limits`] on connections (in all and per client network, upgraded ones included), progress,
/// lifetime and header size. In-flight requests finish on shutdown (for up to 10 s).
///
/// `proxies` are not held to the per-network cap. If they speak the PROXY protocol, each of
/// their connections must begin with a header (within the idle timeout and [`MAX_HEADER`]
/// bytes, or it is closed); the header's source is then the connection's peer for the service
/// and for the per-network cap. Anyone else's connection is served as its own peer's.
///
/// HTTP/2's extended CONNECT (WebSockets over HTTP/2) is left off: such a stream would live
/// inside a connection the watchdog closes when idle, and no browser speaks cleartext HTTP/2.
pub fn spawn_server_behind<S: PeerService>(
    listener: TcpListener,
    service: S,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
    proxies: Proxies,
) -> tokio::task::JoinHandle<()> {
    spawn(listener, service, shutdown, limits, proxies, None)
}

/// The accept loop behind every `spawn_*` function; TLS only where no proxy stands in front.
fn spawn<S: PeerService>(
    listener: TcpListener,
    service: S,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
    proxies: Proxies,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().max_buf_size(limits.max_head.max(8192));
        let permits = Arc::new(Semaphore::new(limits.connections));
        let shared = Arc::new(Shared {
            service,
            builder,
            rules: Watchdog::new(&limits),
            open: OpenConnections::default(),
            per_address: Arc::new(PerAddress::new(
                limits.max_per_address,
                limits.cap_loopback,
                proxies.clone(),
            )),
            proxies,
            header_within: limits.idle_timeout,
            tls,
        });
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
            // waits for the next one. A trusted proxy's is not counted here: with the PROXY
            // protocol, it counts against the client its header names, once read.
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
                match shared.per_address.admit(peer.ip()) {
                    Ok(address) => break (stream, peer, address),
                    Err(OverCap) => refuse(stream),
                }
            };
            let _ = stream.set_nodelay(true);
            let watch = shared.open.add();
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                if shared.proxies.sends_header(peer.ip()) {
                    shared.serve_proxied(stream, peer, permit, &watch).await;
                } else if let Some(tls) = &shared.tls {
                    let admission = Admission::new(permit, address);
                    shared.serve_tls(tls, stream, peer, admission, &watch).await;
                } else {
                    let io = Held::new(TokioIo::new(stream), Admission::new(permit, address));
                    shared.serve(io, peer, &watch).await;
                }
                shared.open.remove(&watch);
            });
        }
        drop(listener);
        // Let in-flight requests finish, but not forever.
        shared.open.stop_all();
        let _ = tokio::time::timeout(Duration::from_secs(10), shared.open.all_closed()).await;
    })
}

/// What every connection of one listener shares.
struct Shared<S> {
    service: S,
    builder: Builder<TokioExecutor>,
    rules: Watchdog,
    open: OpenConnections,
    per_address: Arc<PerAddress>,
    proxies: Proxies,
    /// How long a proxy has to send its PROXY header.
    header_within: Duration,
    /// Set on a TLS listener.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl<S: PeerService> Shared<S> {
    /// Serves one connection from `peer` on `io` until it ends, under the watchdog.
    async fn serve<I>(self: &Arc<Self>, io: I, peer: SocketAddr, watch: &Arc<ConnWatch>)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let counted = Arc::clone(watch);
        let shared = Arc::clone(self);
        let service = hyper::service::service_fn(move |request| {
            Counted::new(&counted, shared.service.call(peer, request))
        });
        let conn = self.builder.serve_connection_with_upgrades(io, service);
        Guarded::new(conn, Arc::clone(watch), self.rules).await;
    }

    /// Serves one connection over TLS once its handshake completes in time; closes it if not.
    async fn serve_tls(
        self: &Arc<Self>,
        tls: &tokio_rustls::TlsAcceptor,
        stream: TcpStream,
        peer: SocketAddr,
        admission: Admission,
        watch: &Arc<ConnWatch>,
    ) {
        match tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
            Ok(Ok(stream)) => {
                let io = Held::new(TokioIo::new(stream), admission);
                self.serve(io, peer, watch).await;
            }
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "no TLS handshake in time"),
        }
    }

    /// Serves a trusted proxy's connection as its PROXY header's client, counted against that
    /// client's network; closes it if no valid header comes in time or the client is over its
    /// share.
    async fn serve_proxied(
        self: &Arc<Self>,
        mut stream: TcpStream,
        proxy: SocketAddr,
        permit: OwnedSemaphorePermit,
        watch: &Arc<ConnWatch>,
    ) {
        let header =
            match tokio::time::timeout(self.header_within, read_header(&mut stream, proxy)).await {
                Ok(Ok(header)) => header,
                Ok(Err(e)) => {
                    tracing::debug!(%proxy, error = %e, "closed a proxy's connection");
                    return refuse(stream);
                }
                Err(_) => {
                    tracing::debug!(%proxy, "no PROXY header in time");
                    return refuse(stream);
                }
            };
        let address: Option<AddressCount> = match self.per_address.admit(header.client.ip()) {
            Ok(address) => address,
            Err(OverCap) => return refuse(stream),
        };
        let io = Rewound::new(stream, header.rest);
        let io = Held::new(TokioIo::new(io), Admission::new(permit, address));
        self.serve(io, header.client, watch).await;
    }
}

/// Closes a refused connection with a reset: no answer to write, and no `TIME_WAIT` left behind
/// by a client that opens connections in a loop.
fn refuse(stream: tokio::net::TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
