//! The management link: the shop dials the reception's management address and keeps one
//! WebSocket open (patent network 15). Reports go up every 200 ms, and within a few
//! milliseconds of an order freeing a place (Sa31); reservations, which
//! are the notices of tickets (Sa34, Sa35), come down and are answered; pings measure the
//! round-trip time the reception breaks near-ties with (0043).
//!
//! # Layout
//! - `mod.rs`: [`LinkConfig`], [`LinkError`], and [`run`], which reconnects with backoff.
//! - `socket.rs`: dialling, and the frames both ways (JSON messages, binary notices).
//! - `handshake.rs`: challenge → hello → welcome.
//! - `connection.rs`: the established link: reports when due, and one small step per message
//!   from the reception.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use usher_wire::Code;

use crate::Gate;

mod connection;
mod handshake;
mod socket;

use connection::Connection;

/// Where and how often.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The reception's management base URL, `ws://host:port`.
    pub reception: String,
    /// How often to report (default 200 ms).
    pub report_every: Duration,
    /// First wait before reconnecting; doubles up to `retry_max`.
    pub retry_min: Duration,
    /// Longest wait before reconnecting.
    pub retry_max: Duration,
}

impl LinkConfig {
    /// Defaults: reports every 200 ms, reconnect after 100 ms doubling to 2 s.
    pub fn new(reception: impl Into<String>) -> LinkConfig {
        LinkConfig {
            reception: reception.into().trim_end_matches('/').to_owned(),
            report_every: Duration::from_millis(200),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
        }
    }
}

/// Why a link session ended.
#[derive(Debug, Error)]
pub enum LinkError {
    /// The WebSocket failed.
    #[error("management connection: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The reception said something out of protocol.
    #[error("management protocol: {0}")]
    Protocol(String),
    /// The reception refused this shop.
    #[error("refused by the reception: {0}")]
    Refused(String),
    /// The connection closed.
    #[error("management connection closed")]
    Closed,
}

impl LinkError {
    /// The reception's refusal of this shop.
    fn refused(error: Code, message: &str) -> LinkError {
        LinkError::Refused(format!("{error}: {message}"))
    }
}

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
    let (mut tx, mut rx) = socket::connect(config).await?;
    handshake::handshake(gate, &mut tx, &mut rx).await?;
    tracing::info!(server = %gate.config().server, epoch = gate.epoch().0, "management link up");
    Connection::new(gate, link, tx, config.report_every)
        .serve(&mut rx, shutdown)
        .await
}
