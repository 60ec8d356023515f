//! What a reception is told at start-up.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use usher_queue::{EstimatorConfig, LineConfig};
use usher_ticket::{BindingPolicy, ServerId};

/// A shop the reception may send buyers to: its id and the public URL buyers are sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopEntry {
    /// The shop's id (its key file is derived for it).
    pub id: ServerId,
    /// The shop's public base URL, no trailing slash (`http://127.0.0.1:8081`).
    pub url: String,
}

/// How the reception gets a place at a shop for each ticket (Sa34).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reservation {
    /// One reservation round trip per ticket, as the patent describes it.
    PerTicket,
    /// Tickets are issued from leases of places the shops granted in advance; notices follow in
    /// batches. Falls back to per-ticket reservations when no lease has a place.
    #[default]
    Lease,
}

impl std::str::FromStr for Reservation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "per-ticket" => Ok(Reservation::PerTicket),
            "lease" => Ok(Reservation::Lease),
            other => Err(format!("{other:?}: expected per-ticket or lease")),
        }
    }
}

/// Most shops one reception serves.
pub const MAX_SHOPS: usize = 64;

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
    /// Per-ticket reservations or leases.
    pub reservation: Reservation,
    /// How long a shop holds a lease's places.
    pub lease_ttl: Duration,
    /// Issuing from a lease stops this long (plus the round-trip time) before the shop takes
    /// its places back, so notices arrive in time.
    pub lease_margin: Duration,
    /// Notices are sent in batches at least this often.
    pub notice_every: Duration,
    /// A batch not acknowledged within this long is sent again.
    pub notice_resend: Duration,
    /// The waiting room.
    pub queue: QueueSettings,
    /// How a shop is chosen (Sa33); least-loaded unless compared against others.
    pub policy: crate::policy::PolicyKind,
}

/// How the waiting room behaves (Sa54-Sa56).
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Grace period, check-in interval, claim window, shortest return time.
    pub line: LineConfig,
    /// How the rate at which places free is measured.
    pub estimator: EstimatorConfig,
    /// How often the line's head is moved to match the places free at the shops.
    pub tick: Duration,
    /// Longest a client near the front who checks in and is not let in yet is held, to be let
    /// in the moment room is made (0: answered at once). Default 500 ms.
    pub hold: Duration,
    /// Places one client prefix may join per [`join_window`](Self::join_window); 0 for no limit.
    pub join_limit: u32,
    /// The period [`join_limit`](Self::join_limit) counts over.
    pub join_window: Duration,
    /// A queue token older than this is refused as `expired`, however the line stands.
    pub token_max_age: Duration,
    /// Client-address prefix queue tokens are bound to (and join limits count by).
    pub binding: BindingPolicy,
    /// Where the line's counters are kept, so a restart keeps every place. `None`: in memory
    /// only (a restart starts a new sale epoch and every old token is `stale_epoch`).
    pub state_file: Option<PathBuf>,
}

impl Default for QueueSettings {
    /// A 120 s grace period, check-ins at most 30 s apart, the head moved every 50 ms, clients
    /// near the front held up to 500 ms, 5,000
    /// places per /24 (IPv4) or /48 (IPv6) a minute, tokens kept a day, nothing persisted.
    fn default() -> Self {
        QueueSettings {
            line: LineConfig::default(),
            estimator: EstimatorConfig::default(),
            tick: Duration::from_millis(50),
            hold: Duration::from_millis(500),
            join_limit: 5_000,
            join_window: Duration::from_secs(60),
            token_max_age: Duration::from_secs(24 * 60 * 60),
            binding: BindingPolicy::QUEUE,
            state_file: None,
        }
    }
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
            reservation: Reservation::Lease,
            lease_ttl: Duration::from_secs(2),
            lease_margin: Duration::from_millis(250),
            notice_every: Duration::from_millis(5),
            notice_resend: Duration::from_millis(250),
            queue: QueueSettings::default(),
            policy: crate::policy::PolicyKind::LeastLoaded,
        }
    }
}
