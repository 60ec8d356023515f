//! Listening, shutting down, and reloading: what every server subcommand shares.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

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

/// Serves `router` on `listener` until shutdown, with the peer address available to handlers.
pub fn spawn_server(
    listener: TcpListener,
    router: Router,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(until(shutdown))
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped");
        }
    })
}

/// Parses `30s`, `200ms`, `1m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}
