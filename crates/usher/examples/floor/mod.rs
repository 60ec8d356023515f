//! What every floor example shares: it serves one fixed service on usher's own accept loop and
//! runtime (`USHER_WORKERS=1` runs it on one thread), printing `listening on ADDR` once bound.

use std::net::SocketAddr;

/// Serves `service` on `addr` until the process is stopped.
pub(crate) fn serve<S: usher::serve::PeerService>(
    addr: SocketAddr,
    service: S,
) -> anyhow::Result<()> {
    let runtime = usher::serve::runtime()?;
    runtime.block_on(async move {
        let listener = usher::serve::bind(addr, "floor").await?;
        println!("listening on {}", listener.local_addr()?);
        let (_tx, shutdown) = tokio::sync::watch::channel(false);
        usher::serve::spawn_server(listener, service, shutdown).await?;
        Ok(())
    })
}
