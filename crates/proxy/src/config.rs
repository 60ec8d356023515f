//! What `usher gate` is told about the shop behind it.

use std::time::Duration;

use http::Uri;
use thiserror::Error;

use crate::rules::CompletionRule;

/// How the `Host` header reaches the upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostHeader {
    /// As the client sent it (the shop builds its links from it; `X-Forwarded-Host` says the
    /// same).
    #[default]
    Keep,
    /// The upstream's own authority (a shop that answers only to its own name).
    Upstream,
}

/// The shop behind the gate and how it is reached.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The shop's base URL, `http://host:port` (a path, if any, is put before every request's).
    pub upstream: Uri,
    /// What `Host` the upstream sees.
    pub host: HostHeader,
    /// The upstream must begin its answer (status and headers) within this long, or the client
    /// gets `504 upstream_timeout`.
    pub timeout: Duration,
    /// Connecting to the upstream must take no longer than this (`502 upstream_failed`).
    pub connect_timeout: Duration,
    /// Largest request body passed on, in bytes; a larger declared one is `413`, and a body that
    /// grows past it is cut off.
    pub max_request_body: u64,
    /// Idle keep-alive connections to the upstream kept open at most.
    pub pool_max_idle: usize,
    /// Requests the upstream is sent at once at most, each holding its connection until its
    /// answer's body ends (a WebSocket until it closes); more wait their turn, within
    /// [`timeout`](Self::timeout). So the gate never opens more than this many connections
    /// to the shop, plus the idle ones kept.
    pub max_connections: usize,
    /// An idle keep-alive connection to the upstream is closed after this long.
    pub pool_idle_timeout: Duration,
    /// Requests whose 2xx answer ends the session's order, for shops that cannot send
    /// `usher-order-complete` themselves.
    pub complete_on: Vec<CompletionRule>,
    /// What the gate asks on every report tick to see that the shop answers (any answer but a
    /// 5xx will do), unless it reads the shop's stock URL, which serves as the check.
    pub health_path: String,
}

impl ProxyConfig {
    /// Defaults for `upstream`: the client's `Host`, 8 s to answer (under the listener's 10 s
    /// request timeout, so a slow shop is a `504`, not a cut connection), 5 s to connect,
    /// bodies up to 1 GiB, 256 idle connections kept 4 s (under the keep-alive timeouts shops
    /// commonly use, 5 s for Node, so the shop is not the one to close them first), 1,024
    /// requests to the shop at once, no completion rules, health checks on `/`.
    pub fn new(upstream: Uri) -> ProxyConfig {
        ProxyConfig {
            upstream,
            host: HostHeader::Keep,
            timeout: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(5),
            max_request_body: 1 << 30,
            pool_max_idle: 256,
            max_connections: 1024,
            pool_idle_timeout: Duration::from_secs(4),
            complete_on: Vec::new(),
            health_path: "/".to_owned(),
        }
    }

    /// Checks what an operator may set.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.upstream.scheme_str() != Some("http") || self.upstream.authority().is_none() {
            return Err(ConfigError::Upstream(self.upstream.to_string()));
        }
        if self.upstream.query().is_some() {
            return Err(ConfigError::Upstream(self.upstream.to_string()));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&self.timeout) {
            return Err(ConfigError::Timeout(self.timeout));
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(600)).contains(&self.connect_timeout) {
            return Err(ConfigError::ConnectTimeout(self.connect_timeout));
        }
        if self.max_request_body > MAX_REQUEST_BODY {
            return Err(ConfigError::MaxRequestBody(self.max_request_body));
        }
        if !self.health_path.starts_with('/') || self.health_path.len() > 1024 {
            return Err(ConfigError::HealthPath(self.health_path.clone()));
        }
        if self.pool_max_idle > 100_000 {
            return Err(ConfigError::Pool(self.pool_max_idle));
        }
        if !(1..=100_000).contains(&self.max_connections) {
            return Err(ConfigError::MaxConnections(self.max_connections));
        }
        Ok(())
    }
}

/// The largest request body an operator may allow: 64 GiB.
pub const MAX_REQUEST_BODY: u64 = 64 << 30;

/// A setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Not an `http://host[:port][/path]` URL (TLS to the upstream is not built in: put the
    /// gate beside the shop).
    #[error("upstream must be an http://host:port URL without a query, not {0:?}")]
    Upstream(String),
    /// [`ProxyConfig::timeout`] out of 100 ms to 1 h.
    #[error("upstream_timeout must be 100 ms to 1 h")]
    Timeout(Duration),
    /// [`ProxyConfig::connect_timeout`] out of 10 ms to 10 min.
    #[error("upstream_connect_timeout must be 10 ms to 10 min")]
    ConnectTimeout(Duration),
    /// [`ProxyConfig::max_request_body`] over [`MAX_REQUEST_BODY`].
    #[error("max_request_body must be at most 64 GiB")]
    MaxRequestBody(u64),
    /// [`ProxyConfig::health_path`] is not a path.
    #[error("upstream_health_path must be a path such as /healthz, not {0:?}")]
    HealthPath(String),
    /// [`ProxyConfig::pool_max_idle`] over 100,000.
    #[error("upstream_pool must be at most 100000")]
    Pool(usize),
    /// [`ProxyConfig::max_connections`] out of 1 to 100,000.
    #[error("upstream_max_connections must be 1 to 100000, not {0}")]
    MaxConnections(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(upstream: &str) -> ProxyConfig {
        ProxyConfig::new(upstream.parse().unwrap())
    }

    #[test]
    fn only_a_plain_http_upstream_is_taken() {
        assert_eq!(config("http://127.0.0.1:3000").validate(), Ok(()));
        assert_eq!(config("http://shop.internal/base").validate(), Ok(()));
        for bad in [
            "https://shop",
            "/relative",
            "http://shop/?q=1",
            "ftp://shop",
        ] {
            assert!(config(bad).validate().is_err(), "{bad}");
        }
        let mut c = config("http://shop");
        c.timeout = Duration::from_millis(99);
        assert_eq!(c.validate(), Err(ConfigError::Timeout(c.timeout)));
        c.timeout = Duration::from_secs(1);
        c.max_request_body = MAX_REQUEST_BODY + 1;
        assert!(c.validate().is_err());
        c.max_request_body = 1;
        c.max_connections = 0;
        assert_eq!(c.validate(), Err(ConfigError::MaxConnections(0)));
    }
}
