//! What a gate is told at start-up.

use std::net::IpAddr;
use std::time::Duration;

use usher_ticket::{BindingPolicy, ServerId};

/// A gate's settings. Build with [`GateConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// This shop's id, as the reception knows it.
    pub server: ServerId,
    /// Places in all: sessions plus reservations never exceed it (invariant 1).
    pub capacity: u32,
    /// Where refused clients are sent back to (the reception's public URL, no trailing slash)
    /// until a reception says its own over the management link.
    pub reception_url: String,
    /// The operator set [`reception_url`](Self::reception_url): links keep it, whatever a
    /// reception says.
    pub reception_url_fixed: bool,
    /// Paths that need no session (prefix match): health checks, static files, webhooks, receipts.
    pub open_paths: Vec<String>,
    /// Session paths look like `{session_prefix}{item}` or `{session_prefix}{item}/…`, unless
    /// [`items`](Self::items) names each item's paths.
    pub session_prefix: String,
    /// Each item's own paths at the shop (a shop behind `usher gate` has its own URLs, such as
    /// `/concert` and `/checkout`). Empty: every item lives under
    /// [`session_prefix`](Self::session_prefix).
    pub items: Vec<ItemPaths>,
    /// A session with no request for this long ends and frees its place.
    pub idle_timeout: Duration,
    /// A claimed session whose cookie never comes back (nobody follows the claim's redirect:
    /// an `<img>`, a script, a bot) ends this long after its claim and frees its place; its
    /// first request with the cookie makes [`idle_timeout`](Self::idle_timeout) apply instead.
    /// 1 s to `idle_timeout`.
    pub first_use_timeout: Duration,
    /// The most claimed sessions one client prefix (the address for IPv4, its /64 for IPv6)
    /// holds at once; a claim past it is refused `too_many` and its ticket stays unclaimed.
    /// 0 for no cap. Walk-ins are not counted.
    pub sessions_per_client: u32,
    /// Peers whose `X-Forwarded-For` is believed (a TLS terminator or CDN in front of the
    /// gate): behind them the client, whose address tickets are bound to, is the rightmost hop
    /// they did not add. Default: none.
    pub trusted_proxies: Vec<IpAddr>,
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
    /// Defaults: open paths `/healthz`, `/receipts/`, `/static/`, `/favicon.ico` (every browser
    /// asks for it) and `/robots.txt`; sessions under `/items/`; idle
    /// timeout 10 minutes, first use within 30 s, 4 sessions per client prefix; skew 2 s.
    pub fn new(server: ServerId, capacity: u32, reception_url: impl Into<String>) -> GateConfig {
        GateConfig {
            server,
            capacity,
            reception_url: reception_url.into().trim_end_matches('/').to_owned(),
            reception_url_fixed: false,
            open_paths: [
                "/healthz",
                "/receipts/",
                "/static/",
                "/favicon.ico",
                "/robots.txt",
            ]
            .map(String::from)
            .to_vec(),
            session_prefix: "/items/".into(),
            items: Vec::new(),
            idle_timeout: Duration::from_secs(600),
            first_use_timeout: DEFAULT_FIRST_USE_TIMEOUT,
            sessions_per_client: DEFAULT_SESSIONS_PER_CLIENT,
            trusted_proxies: Vec::new(),
            skew: usher_ticket::DEFAULT_SKEW,
            notice_wait: Duration::from_millis(100),
            secure_cookies: false,
            binding: BindingPolicy::TICKET,
            walk_ins: false,
        }
    }

    /// The session cookie's name for `item`: per server and per item, so shops sharing a host
    /// never overwrite each other's cookies. `~` stands between the two because no id may hold
    /// one: with `-`, server `a` and item `b-c` would share a name with server `a-b`, item `c`.
    pub fn cookie_name(&self, item: &str) -> String {
        format!("usher-{}~{}", self.server, item)
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
        if self.first_use_timeout < Duration::from_secs(1)
            || self.first_use_timeout > self.idle_timeout
        {
            return Err(ConfigError::FirstUseTimeout(self.first_use_timeout));
        }
        Ok(())
    }

    /// The item a request for `path` belongs to, if it needs a session: the item whose path is
    /// the longest prefix of `path` (at a `/`), or `{session_prefix}{item}…`.
    pub fn item_of<'p>(&'p self, path: &'p str) -> Option<&'p str> {
        if self.items.is_empty() {
            let rest = path.strip_prefix(self.session_prefix.as_str())?;
            return rest.split('/').next().filter(|item| !item.is_empty());
        }
        self.items
            .iter()
            .flat_map(|item| item.paths.iter().map(move |p| (item, p.as_str())))
            .filter(|(_, prefix)| covers(prefix, path))
            .max_by_key(|(_, prefix)| prefix.len())
            .map(|(item, _)| item.id.as_str())
    }

    /// Where a claim for `item` sends the buyer: the item's first path, or
    /// `{session_prefix}{item}`.
    pub fn landing(&self, item: &str) -> String {
        self.items
            .iter()
            .find(|i| i.id == item)
            .and_then(|i| i.paths.first())
            .cloned()
            .unwrap_or_else(|| format!("{}{item}", self.session_prefix))
    }
}

/// One item's paths at the shop: a request whose path starts with one of them (at a `/`)
/// needs a session for the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPaths {
    /// The item, as the reception and the tickets name it.
    pub id: String,
    /// Path prefixes, each starting with `/`; the first is where a claim lands.
    pub paths: Vec<String>,
    /// The name buyers know it by ("Concert, 31 December"), for the reception's pages; `None`
    /// leaves the app to say it ([`ItemNames`](crate::ItemNames)) or the id to stand for it.
    pub name: Option<String>,
}

/// Whether the path prefix `prefix` covers `path`: equal, or followed by a `/` (so `/concert`
/// covers `/concert/buy` but not `/concerts`), or `prefix` itself ends with `/`.
pub(crate) fn covers(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
}

/// The most places one gate counts.
pub const MAX_CAPACITY: u32 = 10_000_000;

/// The longest [`GateConfig::idle_timeout`]: a day.
pub const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The default [`GateConfig::first_use_timeout`]: as long as a ticket's window, so a session
/// nobody follows frees its place about when an unclaimed ticket would have.
pub const DEFAULT_FIRST_USE_TIMEOUT: Duration = Duration::from_secs(30);

/// The default [`GateConfig::sessions_per_client`]: a household or a small office buying a few
/// tickets, not a bot holding the shop.
pub const DEFAULT_SESSIONS_PER_CLIENT: u32 = 4;

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
    /// [`GateConfig::first_use_timeout`] is under 1 s or over the idle timeout.
    #[error("first_use_timeout must be 1 s to idle_timeout")]
    FirstUseTimeout(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(capacity: u32) -> GateConfig {
        GateConfig::new(ServerId::new("shop-a").unwrap(), capacity, "http://x")
    }

    #[test]
    fn a_request_belongs_to_the_item_whose_path_covers_it_longest() {
        let mut c = config(10);
        assert_eq!(c.item_of("/items/concert/buy"), Some("concert"));
        assert_eq!(c.item_of("/items/"), None);
        assert_eq!(c.landing("concert"), "/items/concert");
        c.items = vec![
            ItemPaths {
                id: "concert".into(),
                paths: vec!["/concert".into(), "/checkout".into()],
                name: None,
            },
            ItemPaths {
                id: "vip".into(),
                paths: vec!["/concert/vip".into()],
                name: None,
            },
        ];
        assert_eq!(c.item_of("/concert"), Some("concert"));
        assert_eq!(c.item_of("/concert/buy"), Some("concert"));
        assert_eq!(c.item_of("/checkout/done"), Some("concert"));
        assert_eq!(c.item_of("/concert/vip/seat"), Some("vip"));
        assert_eq!(c.item_of("/concerts"), None, "a prefix ends at a /");
        assert_eq!(
            c.item_of("/items/concert"),
            None,
            "named paths replace the prefix"
        );
        assert_eq!(c.landing("concert"), "/concert");
        assert_eq!(c.landing("vip"), "/concert/vip");
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

    #[test]
    fn the_first_use_timeout_is_one_second_to_the_idle_timeout() {
        let mut c = config(10);
        assert_eq!(c.first_use_timeout, Duration::from_secs(30));
        assert_eq!(c.sessions_per_client, 4);
        c.first_use_timeout = Duration::from_millis(999);
        let refused = c.validate().unwrap_err();
        assert_eq!(refused, ConfigError::FirstUseTimeout(c.first_use_timeout));
        assert_eq!(
            refused.to_string(),
            "first_use_timeout must be 1 s to idle_timeout"
        );
        c.first_use_timeout = Duration::from_secs(61);
        c.idle_timeout = Duration::from_secs(60);
        assert!(matches!(c.validate(), Err(ConfigError::FirstUseTimeout(_))));
        c.first_use_timeout = Duration::from_secs(60);
        assert_eq!(c.validate(), Ok(()));
        c.sessions_per_client = 0;
        assert_eq!(c.validate(), Ok(()), "0: no cap");
    }
}
