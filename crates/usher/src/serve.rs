//! Listening, shutting down, and reloading: what every server subcommand shares.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::extract::ConnectInfo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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
    /// A client must send its request headers within this long (slow clients are cut off).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 20_000,
            header_read_timeout: Duration::from_secs(10),
            max_head: 16 * 1024,
        }
    }
}

/// Serves `router` on `listener` until shutdown, with the peer address available to handlers
/// (`ConnectInfo<SocketAddr>`), HTTP/1 and HTTP/2, WebSocket upgrades, and [`Limits`] on
/// connections, header time and header size. In-flight requests finish on shutdown.
pub fn spawn_server<S>(
    listener: TcpListener,
    service: S,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()>
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    spawn_server_with(listener, service, shutdown, Limits::default())
}

/// [`spawn_server`] with explicit limits.
pub fn spawn_server_with<S>(
    listener: TcpListener,
    router: S,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
) -> tokio::task::JoinHandle<()>
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use tower::ServiceExt as _;

    tokio::spawn(async move {
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_head.max(8192));
        builder.http2().enable_connect_protocol();
        let permits = Arc::new(Semaphore::new(limits.connections));
        let graceful = GracefulShutdown::new();
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
            let service =
                router
                    .clone()
                    .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut req = req.map(axum::body::Body::new);
                        req.extensions_mut().insert(ConnectInfo(peer));
                        req
                    });
            let service = hyper_util::service::TowerToHyperService::new(service);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let conn = graceful.watch(conn.into_owned());
            tokio::spawn(async move {
                let _ = conn.await;
                drop(permit);
            });
        }
        drop(listener);
        // Let in-flight requests finish, but not forever.
        let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    })
}

/// Parses `30s`, `200ms`, `1m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}
