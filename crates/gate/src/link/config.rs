//! What a management link is told, and why one ends.

use std::time::Duration;

use thiserror::Error;
use usher_wire::Code;

/// Where and how often.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The reception's management base URL, `ws://host:port` or `wss://host:port`.
    pub reception: String,
    /// For `wss://`: whom to trust (see [`client_config`](super::client_config)); `None`
    /// trusts the system's roots.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// How often to report (default 200 ms).
    pub report_every: Duration,
    /// First wait before reconnecting; doubles up to `retry_max`.
    pub retry_min: Duration,
    /// Longest wait before reconnecting.
    pub retry_max: Duration,
    /// Longest a connection and its handshake (TLS included) may take, so a reception that
    /// accepts and then says nothing does not hold the link (and what is leased on it).
    pub handshake_timeout: Duration,
}

impl LinkConfig {
    /// Defaults: reports every 200 ms, reconnect after 100 ms doubling to 2 s, 10 s to connect
    /// and shake hands.
    pub fn new(reception: impl Into<String>) -> LinkConfig {
        LinkConfig {
            reception: reception.into().trim_end_matches('/').to_owned(),
            tls: None,
            report_every: Duration::from_millis(200),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(10),
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
    /// A frame was not sealed under the link's keys, or came out of order.
    #[error("management channel: {0}")]
    Channel(#[from] usher_ticket::channel::ChannelError),
    /// The connection closed.
    #[error("management connection closed")]
    Closed,
}

impl LinkError {
    /// The reception's refusal of this shop.
    /// The peer's words are escaped (`{:?}`), so whatever it sends cannot forge log lines.
    pub(super) fn refused(error: Code, message: &str) -> LinkError {
        LinkError::Refused(format!("{error}: {message:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards against a peer writing log lines of its choosing (issue 14, point 8).
    #[test]
    fn a_peers_refusal_cannot_forge_a_log_line() {
        let error = LinkError::refused(Code::Forged, "no\n2026-12-07T00:00:00Z INFO all is well");
        let text = error.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("\\n"), "{text}");
    }
}
