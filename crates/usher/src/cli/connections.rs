//! How a server's public listener meets its clients (its connection limits and the PROXY
//! protocol), declared once for `usher reception` and `usher shop`: both flatten
//! [`ConnectionSettings`] into their settings, so the flags, variables and file keys are the same.

use clap::Args;
use serde::Deserialize;
use usher::serve::{Limits, PublicListener};

use super::duration::HumanDuration;

/// Settings of a public listener. Not `deny_unknown_fields`: the server's settings that flatten
/// it refuse unknown keys for both.
#[derive(Debug, Default, Args, Deserialize)]
pub(crate) struct ConnectionSettings {
    /// Open connections on the public listener at most, WebSockets included; more wait in the
    /// accept queue (1 to 1,000,000) [default: 20000].
    #[arg(long, env = "USHER_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Connections one client network (/32, /64) may hold at once; one more is reset unanswered.
    /// 0 for no cap. Loopback and `trusted_proxies` are not capped (they carry many clients);
    /// with --proxy-protocol, a proxy's connections count against the client each header names
    /// [default: 256].
    #[arg(long, env = "USHER_CONNECTIONS_PER_CLIENT", value_name = "N")]
    connections_per_client: Option<usize>,
    /// Cap loopback clients per network too (a local TLS proxy speaks for many; list it in
    /// `trusted_proxies` instead) [default: false].
    #[arg(long, env = "USHER_CAP_LOOPBACK", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true")]
    cap_loopback: Option<bool>,
    /// A request must be answered within this long, or its connection is closed; only answers
    /// count as progress, not bytes (100ms to 10m) [default: 10s].
    #[arg(long, env = "USHER_REQUEST_TIMEOUT", value_name = "DURATION")]
    request_timeout: Option<HumanDuration>,
    /// A connection with no request in flight is closed this long after its last answer (or
    /// after it opened); a proxy's PROXY header must come within it too (100ms to 10m)
    /// [default: 10s].
    #[arg(long, env = "USHER_CONNECTION_IDLE_TIMEOUT", value_name = "DURATION")]
    connection_idle_timeout: Option<HumanDuration>,
    /// A connection this old is asked to finish once its request in flight is answered (1s to
    /// 24h) [default: 10m].
    #[arg(long, env = "USHER_CONNECTION_LIFETIME", value_name = "DURATION")]
    connection_lifetime: Option<HumanDuration>,
    /// Largest request head (request line and headers) in bytes; a larger one is `431` (8192 to
    /// 1048576) [default: 16384].
    #[arg(long, env = "USHER_MAX_HEADER_SIZE", value_name = "BYTES")]
    max_header_size: Option<usize>,
    /// Connections from `trusted_proxies` begin with a PROXY protocol header (HAProxy's v1 or
    /// v2): its source address is the client, for tickets, caps and limits alike, and one
    /// without a valid header is closed; `LOCAL` and `UNKNOWN` headers are the proxy itself.
    /// Anyone else is served as its own address, and a header from it is refused. The header's
    /// source takes the socket peer's place: `X-Forwarded-For` is then believed only if that
    /// source is itself a trusted proxy [default: false].
    #[arg(long, env = "USHER_PROXY_PROTOCOL", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true")]
    proxy_protocol: Option<bool>,
}

impl ConnectionSettings {
    /// The listener's settings: each one given replaces [`Limits::default`]'s; ranges are
    /// checked when the server starts ([`Limits::validate`]).
    pub(crate) fn listener(&self) -> PublicListener {
        let mut limits = Limits::default();
        if let Some(n) = self.max_connections {
            limits.connections = n;
        }
        if let Some(n) = self.connections_per_client {
            limits.max_per_address = n;
        }
        if let Some(cap) = self.cap_loopback {
            limits.cap_loopback = cap;
        }
        if let Some(timeout) = self.request_timeout {
            limits.stall_timeout = timeout.into();
        }
        if let Some(timeout) = self.connection_idle_timeout {
            limits.idle_timeout = timeout.into();
        }
        if let Some(lifetime) = self.connection_lifetime {
            limits.max_lifetime = lifetime.into();
        }
        if let Some(bytes) = self.max_header_size {
            limits.max_head = bytes;
        }
        PublicListener {
            limits,
            proxy_protocol: self.proxy_protocol.unwrap_or(false),
        }
    }
}
