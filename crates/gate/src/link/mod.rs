//! The management link: the shop dials the reception's management address and keeps one
//! WebSocket open (patent network 15). Reports go up every 200 ms, and within a few
//! milliseconds of an order freeing a place (Sa31); reservations, which
//! are the notices of tickets (Sa34, Sa35), come down and are answered; pings measure the
//! round-trip time the reception breaks near-ties with (0043).
//!
//! # Layout
//! - `mod.rs`: [`run`], which reconnects with backoff.
//! - `config.rs`: [`LinkConfig`] and [`LinkError`].
//! - `socket.rs`: dialling, and the frames both ways: plain JSON during the handshake, then
//!   every frame sealed under the link's session keys (JSON messages, binary notices).
//! - `handshake.rs`: challenge → hello (both nonces, an HMAC under the management key) →
//!   the welcome, sealed, so the reception proves it holds the key too; the welcome's issuers
//!   are admitted scoped to this link (at most [`MAX_WELCOME_ISSUERS`]).
//! - `tls.rs`: whom a `wss://` link trusts ([`client_config`]).
//! - `connection.rs`: the established link: reports when due, and one small step per message
//!   from the reception; a second welcome is a protocol error that ends the link.

use std::sync::Arc;

use tokio::sync::watch;

use crate::Gate;

mod config;
mod connection;
mod handshake;
mod socket;
mod tls;

pub use config::{LinkConfig, LinkError};
use connection::Connection;
pub use handshake::MAX_WELCOME_ISSUERS;
pub use tls::{TlsError, client_config, provider};

/// Runs the link until `shutdown` turns true, reconnecting with backoff whenever it drops.
pub async fn run(gate: Arc<Gate>, config: LinkConfig, mut shutdown: watch::Receiver<bool>) {
    let mut wait = config.retry_min;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let link = gate.next_link();
        let ended = session(&gate, &config, link, &mut shutdown).await;
        gate.drop_link(link);
        match ended {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(server = %gate.config().server, error = %e, "management link down")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = (wait * 2).min(config.retry_max);
    }
}

/// One connection's life: connect, handshake, then serve until shutdown (`Ok`) or a failure.
async fn session(
    gate: &Gate,
    config: &LinkConfig,
    link: u64,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), LinkError> {
    // A reception that accepts and then says nothing (or a path that swallows packets) must
    // not hold the link, and the places leased on it, for as long as TCP would wait.
    let opened = tokio::time::timeout(config.handshake_timeout, async {
        let (tx, rx) = socket::connect(config).await?;
        handshake::handshake(gate, link, tx, rx).await
    });
    let (tx, mut rx, welcomed) = opened
        .await
        .map_err(|_| LinkError::Protocol("no handshake within 10 s".into()))??;
    tracing::info!(server = %gate.config().server, epoch = gate.epoch().0, "management link up");
    Connection::new(gate, link, tx, config.report_every)
        .serve(&mut rx, shutdown, welcomed.reads_names)
        .await
}
