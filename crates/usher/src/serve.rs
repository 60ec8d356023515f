//! Listening, shutting down, and reloading: what every server subcommand shares.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::extract::ConnectInfo;
use futures_util::task::AtomicWaker;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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

/// Limits every server applies to its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most; further ones wait in the accept queue.
    pub connections: usize,
    /// A connection that writes no response for this long (one that sends its request too
    /// slowly, or sits idle between requests) is closed. Checked at this period, so a connection
    /// lives at most twice this long without progress.
    pub stall_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 20_000,
            stall_timeout: Duration::from_secs(10),
            max_head: 16 * 1024,
        }
    }
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

/// Serves `service` on `listener` until shutdown: HTTP/1 and HTTP/2, WebSocket upgrades, and
/// [`Limits`] on connections, stalls and header size. In-flight requests finish on shutdown
/// (for up to 10 s).
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
        builder.http2().enable_connect_protocol();
        let builder = Arc::new(builder);
        let permits = Arc::new(Semaphore::new(limits.connections));
        let open = Arc::new(OpenConnections::default());
        let stop = until(shutdown);
        tokio::pin!(stop);
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut stop => break,
            };
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
                () = &mut stop => break,
            };
            let _ = stream.set_nodelay(true);
            let watch = open.add();
            let io = Watched {
                io: TokioIo::new(stream),
                watch: Arc::clone(&watch),
            };
            let service = service.clone();
            let builder = Arc::clone(&builder);
            let open = Arc::clone(&open);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| service.call(peer, request));
                let conn = builder.serve_connection_with_upgrades(io, service);
                Guarded {
                    conn,
                    watch: Arc::clone(&watch),
                    stall: tokio::time::sleep(limits.stall_timeout),
                    every: limits.stall_timeout,
                    seen: 0,
                    draining: false,
                }
                .await;
                open.remove(&watch);
                drop(permit);
            });
        }
        drop(listener);
        // Let in-flight requests finish, but not forever.
        open.stop_all();
        let _ = tokio::time::timeout(Duration::from_secs(10), open.all_closed()).await;
    })
}

/// What the accept loop and one connection share: responses written (progress), and the order
/// to finish.
#[derive(Debug, Default)]
struct ConnWatch {
    id: u64,
    written: AtomicU64,
    stop: AtomicBool,
    waker: AtomicWaker,
}

impl ConnWatch {
    /// Counts a write that sent something as progress, and passes its result on.
    fn count(&self, written: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.written.fetch_add(1, Ordering::Relaxed);
        }
        written
    }
}

/// Every open connection, so shutdown can reach them; touched once per connection, never per
/// request.
#[derive(Debug, Default)]
struct OpenConnections {
    next: AtomicU64,
    all: Mutex<HashMap<u64, Arc<ConnWatch>>>,
    stopping: AtomicBool,
    /// Woken whenever a connection closes (shutdown waits for the last).
    idle: tokio::sync::Notify,
}

impl OpenConnections {
    fn add(&self) -> Arc<ConnWatch> {
        let watch = Arc::new(ConnWatch {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            ..ConnWatch::default()
        });
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        all.insert(watch.id, Arc::clone(&watch));
        // A connection accepted as shutdown began finishes at once too.
        if self.stopping.load(Ordering::Acquire) {
            watch.stop.store(true, Ordering::Release);
        }
        watch
    }

    fn remove(&self, watch: &ConnWatch) {
        self.all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&watch.id);
        self.idle.notify_waiters();
    }

    async fn all_closed(&self) {
        loop {
            let closed = self.idle.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self
                .all
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return;
            }
            closed.await;
        }
    }

    fn stop_all(&self) {
        let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        self.stopping.store(true, Ordering::Release);
        for watch in all.values() {
            watch.stop.store(true, Ordering::Release);
            watch.waker.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// One connection under its limits: closed when it stalls, finished gracefully on shutdown.
    struct Guarded<C> {
        #[pin]
        conn: C,
        watch: Arc<ConnWatch>,
        #[pin]
        stall: tokio::time::Sleep,
        every: Duration,
        seen: u64,
        draining: bool,
    }
}

impl<C, E> Future for Guarded<C>
where
    C: Future<Output = Result<(), E>> + GracefulConnection,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if this.conn.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if !*this.draining {
            this.watch.waker.register(cx.waker());
            if this.watch.stop.load(Ordering::Acquire) {
                *this.draining = true;
                this.conn.as_mut().graceful_shutdown();
                // Shutting down may finish an idle connection at once.
                if this.conn.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
        }
        while this.stall.as_mut().poll(cx).is_ready() {
            let written = this.watch.written.load(Ordering::Relaxed);
            if written == *this.seen {
                // No response for a whole period: a slow or idle client. Dropping the
                // connection closes it.
                return Poll::Ready(());
            }
            *this.seen = written;
            let next = tokio::time::Instant::now() + *this.every;
            this.stall.as_mut().reset(next);
        }
        Poll::Pending
    }
}

/// The connection types [`Guarded`] can ask to finish.
trait GracefulConnection {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, E> GracefulConnection
    for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: hyper::body::Body + Send + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper_util::server::conn::auto::UpgradeableConnection::graceful_shutdown(self);
    }
}

pin_project_lite::pin_project! {
    /// A connection's socket that counts the writes (responses) going out, as progress.
    struct Watched<T> {
        #[pin]
        io: T,
        watch: Arc<ConnWatch>,
    }
}

impl<T: hyper::rt::Read> hyper::rt::Read for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write> hyper::rt::Write for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        this.watch.count(this.io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        this.watch.count(this.io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
