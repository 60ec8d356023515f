//! What a gate is told at start-up.

use std::time::Duration;

use usher_ticket::{BindingPolicy, ServerId};

/// A gate's settings. Build with [`GateConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// This shop's id, as the reception knows it.
    pub server: ServerId,
    /// Places in all: sessions plus reservations never exceed it (invariant 1).
    pub capacity: u32,
    /// Where refused clients are sent back to (the reception's public URL, no trailing slash).
    pub reception_url: String,
    /// Paths that need no session (prefix match): health checks, static files, webhooks, receipts.
    pub open_paths: Vec<String>,
    /// Session paths look like `{session_prefix}{item}` or `{session_prefix}{item}/…`.
    pub session_prefix: String,
    /// A session with no request for this long ends and frees its place.
    pub idle_timeout: Duration,
    /// Clock-skew allowance when verifying ticket windows.
    pub skew: Duration,
    /// How long a claim waits for a notice that has not arrived yet before `not_notified`.
    pub notice_wait: Duration,
    /// Mark cookies `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// The binding policy tickets are checked against is carried in each ticket; this is only
    /// used to describe the deployment.
    pub binding: BindingPolicy,
    /// Let anyone in without a ticket, as a plain web server would: a request for an item with
    /// no session opens one at once, whatever the load. Sessions are still counted and the
    /// high-water mark kept, but capacity is not enforced. This is the patent's failing prior
    /// art (DNS round robin, fig. 6), there so `usher crowd compare` can measure it; never for
    /// a real sale.
    pub walk_ins: bool,
}

impl GateConfig {
    /// Defaults: open paths `/healthz`, `/receipts/`, `/static/`; sessions under `/items/`; idle
    /// timeout 10 minutes; skew 2 s.
    pub fn new(server: ServerId, capacity: u32, reception_url: impl Into<String>) -> GateConfig {
        GateConfig {
            server,
            capacity,
            reception_url: reception_url.into().trim_end_matches('/').to_owned(),
            open_paths: vec!["/healthz".into(), "/receipts/".into(), "/static/".into()],
            session_prefix: "/items/".into(),
            idle_timeout: Duration::from_secs(600),
            skew: usher_ticket::DEFAULT_SKEW,
            notice_wait: Duration::from_millis(100),
            secure_cookies: false,
            binding: BindingPolicy::TICKET,
            walk_ins: false,
        }
    }

    /// The session cookie's name for `item`: per server and per item, so shops sharing a host
    /// never overwrite each other's cookies.
    pub fn cookie_name(&self, item: &str) -> String {
        format!("usher-{}-{}", self.server, item)
    }

    /// Checks the settings an operator may set, so that no way of starting a gate (the binary,
    /// the demo, a test) runs one without places or with an idle timeout out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(ConfigError::Capacity(self.capacity));
        }
        if self.idle_timeout < Duration::from_secs(1) || self.idle_timeout > MAX_IDLE_TIMEOUT {
            return Err(ConfigError::IdleTimeout(self.idle_timeout));
        }
        Ok(())
    }

    /// Where a refused client for `item` starts again.
    pub fn retry_url(&self, item: Option<&str>) -> String {
        match item {
            Some(item) => format!("{}/order/{item}", self.reception_url),
            None => format!("{}/", self.reception_url),
        }
    }
}

/// The most places one gate counts.
pub const MAX_CAPACITY: u32 = 10_000_000;

/// The longest [`GateConfig::idle_timeout`]: a day.
pub const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A [`GateConfig`] setting out of range; the messages name the settings as operators write
/// them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// [`GateConfig::capacity`] is 0 or over [`MAX_CAPACITY`].
    #[error("capacity must be 1 to 10,000,000")]
    Capacity(u32),
    /// [`GateConfig::idle_timeout`] is under 1 s or over [`MAX_IDLE_TIMEOUT`].
    #[error("idle_timeout must be 1 s to 24 h")]
    IdleTimeout(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(capacity: u32) -> GateConfig {
        GateConfig::new(ServerId::new("shop-a").unwrap(), capacity, "http://x")
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(config(10).validate(), Ok(()));
        assert_eq!(config(MAX_CAPACITY).validate(), Ok(()));
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        assert_eq!(config(0).validate(), Err(ConfigError::Capacity(0)));
        let refused = config(MAX_CAPACITY + 1).validate().unwrap_err();
        assert_eq!(refused.to_string(), "capacity must be 1 to 10,000,000");
        let mut c = config(10);
        c.idle_timeout = Duration::from_millis(999);
        assert!(matches!(c.validate(), Err(ConfigError::IdleTimeout(_))));
        c.idle_timeout = MAX_IDLE_TIMEOUT + Duration::from_millis(1);
        assert!(matches!(c.validate(), Err(ConfigError::IdleTimeout(_))));
        c.idle_timeout = MAX_IDLE_TIMEOUT;
        assert_eq!(c.validate(), Ok(()));
    }
}
