//! What a reception is told at start-up.

use std::net::IpAddr;
use std::time::Duration;

use usher_ticket::{BindingPolicy, ServerId};

/// A shop the reception may send buyers to: its id and the public URL buyers are sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopEntry {
    /// The shop's id (its key file is derived for it).
    pub id: ServerId,
    /// The shop's public base URL, no trailing slash (`http://127.0.0.1:8081`).
    pub url: String,
}

/// A reception's settings. Build with [`ReceptionConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct ReceptionConfig {
    /// The shops, from config: reports from any other id are refused.
    pub shops: Vec<ShopEntry>,
    /// This reception's public base URL, for links back.
    pub public_url: String,
    /// How long a ticket's window stays open.
    pub ticket_ttl: Duration,
    /// A shop whose last report is older than this is out of rotation.
    pub shop_timeout: Duration,
    /// Loads within this margin of the lowest count as a near-tie, broken by round-trip time.
    pub tie_margin: f64,
    /// How long to wait for a shop to answer a reservation before trying the next.
    pub reserve_timeout: Duration,
    /// When every shop is full, the client is told to come back after this long.
    pub retry_after: Duration,
    /// Client-address prefix tickets are bound to.
    pub binding: BindingPolicy,
    /// Peers whose `X-Forwarded-For` is believed (a load balancer in front of the reception).
    pub trusted_proxies: Vec<IpAddr>,
    /// How often to ping each shop for its round-trip time.
    pub ping_every: Duration,
}

impl ReceptionConfig {
    /// Defaults: tickets valid 30 s, shops out of rotation 1 s after their last report, 5% tie
    /// margin, 1 s reservation timeout, retry after 1 s, /32 and /64 bindings.
    pub fn new(shops: Vec<ShopEntry>, public_url: impl Into<String>) -> ReceptionConfig {
        ReceptionConfig {
            shops,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            ticket_ttl: Duration::from_secs(30),
            shop_timeout: Duration::from_secs(1),
            tie_margin: 0.05,
            reserve_timeout: Duration::from_secs(1),
            retry_after: Duration::from_secs(1),
            binding: BindingPolicy::TICKET,
            trusted_proxies: Vec::new(),
            ping_every: Duration::from_secs(1),
        }
    }
}
