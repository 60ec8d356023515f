//! What a reception is told at start-up.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use usher_queue::{EstimatorConfig, LineConfig, PreQueueOrder};
use usher_ticket::{BindingPolicy, ItemId, ServerId};

/// A shop the reception may send buyers to: its id and the public URL buyers are sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopEntry {
    /// The shop's id (its key file is derived for it).
    pub id: ServerId,
    /// The shop's public base URL, no trailing slash (`http://127.0.0.1:8081`).
    pub url: String,
    /// The most places the shop may report: a report of more is taken as this (a shop may
    /// report less, never more). `None`: up to [`MAX_SHOP_CAPACITY`].
    pub capacity: Option<u32>,
}

/// The most places any shop's report is believed to hold (the gate's own limit).
pub const MAX_SHOP_CAPACITY: u32 = 10_000_000;

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
    /// Tickets one client prefix (as tickets are bound) may hold within a ticket's window, so
    /// one host cannot take every place; 0 for no cap. Default 4.
    pub admissions_per_client: u32,
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
    /// How long a buyer is expected to stay at a shop, from claim to order: with the live
    /// shops' places, the rate at which places free before any is measured (Little's law), so
    /// the first waiting answers carry an estimate. Replaced by what the sale measures, which
    /// is kept with the line's state. Default 60 s.
    pub expected_session: Duration,
    /// [`expected_session`](Self::expected_session) for particular items (item id → length),
    /// for a shop carrying items whose buyers take longer or shorter: a shop's expected
    /// session is the mean over the items it carries. At most [`MAX_EXPECTED_ITEMS`].
    pub expected_sessions: BTreeMap<String, Duration>,
    /// Longest a client near the front who checks in and is not let in yet is held, to be let
    /// in the moment room is made (0: answered at once). Default 500 ms.
    pub hold: Duration,
    /// Places one client network (/24, /48) may join per [`join_window`](Self::join_window),
    /// the wider networks around it (/16, /40, /32) a multiple; 0 for no limit.
    pub join_limit: u32,
    /// The period [`join_limit`](Self::join_limit) counts over.
    pub join_window: Duration,
    /// Places one client network (/24, /48) may hold waiting in the line at once (joined, not
    /// yet eligible), so one host cannot inflate everyone's position and estimate with fake
    /// places while under its join limit; 0 for no cap, at most [`MAX_WAITING_PER_CLIENT`].
    /// Default 500: an office, a campus or a carrier NAT puts many buyers behind one /24, and
    /// 500 leaves about two for each of its 254 addresses, while one host can stretch the line
    /// by 500 places at most rather than by its join limit every minute it waits.
    pub waiting_per_client: u32,
    /// A queue token older than this is refused as `expired`, however the line stands.
    pub token_max_age: Duration,
    /// Client-address prefix queue tokens are bound to (and join limits count by).
    pub binding: BindingPolicy,
    /// Where the line's counters are kept, so a restart keeps every place. `None`: in memory
    /// only (a restart starts a new sale epoch and every old token is `stale_epoch`).
    pub state_file: Option<PathBuf>,
    /// A scheduled opening with its pre-queue; `None`: the sale is open from the start.
    pub opening: Option<OpeningSettings>,
}

/// A sale that opens at a set time. Arrivals before it join a pre-queue, whose order is drawn
/// at the opening from a seed committed to before it and published after it; arrivals after
/// it join behind, in arrival order. Nobody is admitted before the opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpeningSettings {
    /// When the sale opens.
    pub opens_at: SystemTime,
    /// Arrivals before this are told when to come back instead of joining the pre-queue;
    /// `None`: the pre-queue takes arrivals at any time before the opening.
    pub pre_queue_from: Option<SystemTime>,
    /// How the pre-queue is put in order at the opening. Default: drawn at random.
    pub order: PreQueueOrder,
}

impl OpeningSettings {
    /// A sale opening at `opens_at`, its pre-queue open until then and drawn at random.
    pub fn new(opens_at: SystemTime) -> OpeningSettings {
        OpeningSettings {
            opens_at,
            pre_queue_from: None,
            order: PreQueueOrder::Random,
        }
    }
}

impl Default for QueueSettings {
    /// A 120 s grace period, check-ins at most 30 s apart, the head moved every 50 ms, clients
    /// near the front held up to 500 ms, 1,000
    /// places per /24 (IPv4) or /48 (IPv6) a minute and 500 of them waiting at once, tokens
    /// kept a day, nothing persisted.
    fn default() -> Self {
        QueueSettings {
            line: LineConfig::default(),
            estimator: EstimatorConfig::default(),
            tick: Duration::from_millis(50),
            expected_session: Duration::from_secs(60),
            expected_sessions: BTreeMap::new(),
            hold: Duration::from_millis(500),
            join_limit: 1_000,
            join_window: Duration::from_secs(60),
            waiting_per_client: 500,
            token_max_age: Duration::from_secs(24 * 60 * 60),
            binding: BindingPolicy::QUEUE,
            state_file: None,
            opening: None,
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
            admissions_per_client: 4,
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

    /// Checks the settings an operator may set, so that no way of starting a reception (the
    /// binary, the demo, a test) runs one with a ticket life, margin or hold out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.shops.len() > MAX_SHOPS {
            return Err(ConfigError::TooManyShops(self.shops.len()));
        }
        if let Some(shop) = self
            .shops
            .iter()
            .find(|s| !(s.url.starts_with("http://") || s.url.starts_with("https://")))
        {
            return Err(ConfigError::ShopUrl {
                id: shop.id,
                url: shop.url.clone(),
            });
        }
        if !(1..=3600).contains(&self.ticket_ttl.as_secs()) {
            return Err(ConfigError::TicketTtl(self.ticket_ttl));
        }
        if !(0.0..=1.0).contains(&self.tie_margin) {
            return Err(ConfigError::TieMargin(self.tie_margin));
        }
        if self.queue.hold > MAX_QUEUE_HOLD {
            return Err(ConfigError::QueueHold(self.queue.hold));
        }
        if self.queue.waiting_per_client > MAX_WAITING_PER_CLIENT {
            return Err(ConfigError::WaitingPerClient(self.queue.waiting_per_client));
        }
        if !EXPECTED_SESSION.contains(&self.queue.expected_session) {
            return Err(ConfigError::ExpectedSession(self.queue.expected_session));
        }
        if self.queue.expected_sessions.len() > MAX_EXPECTED_ITEMS {
            return Err(ConfigError::TooManyExpectedSessions(
                self.queue.expected_sessions.len(),
            ));
        }
        for (item, &session) in &self.queue.expected_sessions {
            if ItemId::new(item).is_err() || !EXPECTED_SESSION.contains(&session) {
                return Err(ConfigError::ItemExpectedSession {
                    item: item.clone(),
                    session,
                });
            }
        }
        if let Some(opening) = &self.queue.opening {
            let times = [Some(opening.opens_at), opening.pre_queue_from];
            let too_late = |t: SystemTime| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .is_ok_and(|d| d >= LATEST_OPENING)
            };
            if times.into_iter().flatten().any(too_late) {
                return Err(ConfigError::OpensAt);
            }
            if opening
                .pre_queue_from
                .is_some_and(|from| from >= opening.opens_at)
            {
                return Err(ConfigError::PreQueueFrom);
            }
        }
        Ok(())
    }
}

/// The opening may be set up to the year 3000 (the answers write it in RFC 3339), counted
/// from the Unix epoch.
pub(crate) const LATEST_OPENING: Duration = Duration::from_secs(32_503_680_000);

/// The expected session lengths an operator may set.
pub(crate) const EXPECTED_SESSION: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(24 * 60 * 60);

/// Most items [`QueueSettings::expected_sessions`] may name.
pub const MAX_EXPECTED_ITEMS: usize = 1_000;

/// The longest a client near the front may be held: a held request ties up a connection, and
/// the server cuts a silent one at 10 s.
pub const MAX_QUEUE_HOLD: Duration = Duration::from_secs(5);

/// The most places a client network may be let hold waiting: past this a cap holds nobody
/// back (no sale's line is that long per network), so 0, no cap, says it plainly.
pub const MAX_WAITING_PER_CLIENT: u32 = 1_000_000;

/// A [`ReceptionConfig`] setting out of range; the messages name the settings as operators write
/// them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// More shops than [`MAX_SHOPS`].
    #[error("{0} shops configured; one reception serves at most {MAX_SHOPS}")]
    TooManyShops(usize),
    /// A shop's URL is not http(s): buyers could not be sent there.
    #[error("shop {id}: {url:?} is not an http(s) URL")]
    ShopUrl {
        /// The shop.
        id: ServerId,
        /// Its URL as configured.
        url: String,
    },
    /// [`ReceptionConfig::ticket_ttl`] is under 1 s or over 1 h.
    #[error("ticket_ttl must be 1 s to 1 h")]
    TicketTtl(Duration),
    /// [`ReceptionConfig::tie_margin`] is outside 0 to 1.
    #[error("tie_margin must be within 0 to 1")]
    TieMargin(f64),
    /// [`QueueSettings::hold`] is over [`MAX_QUEUE_HOLD`].
    #[error("queue_hold must be at most 5s")]
    QueueHold(Duration),
    /// [`QueueSettings::expected_session`] is out of [`EXPECTED_SESSION`].
    #[error("expected_session is {0:?}; it must be 100ms to 24h")]
    ExpectedSession(Duration),
    /// An entry of [`QueueSettings::expected_sessions`] names no valid item id, or is out of
    /// [`EXPECTED_SESSION`].
    #[error(
        "expected_session_for {item:?} = {session:?}: the item must be an item id and the \
         length 100ms to 24h"
    )]
    ItemExpectedSession {
        /// The item as configured.
        item: String,
        /// Its length as configured.
        session: Duration,
    },
    /// [`QueueSettings::expected_sessions`] names more than [`MAX_EXPECTED_ITEMS`] items.
    #[error("expected_session_for names {0} items; at most {MAX_EXPECTED_ITEMS}")]
    TooManyExpectedSessions(usize),
    /// The opening, or the pre-queue's start, is past the year 3000.
    #[error("opens_at and pre_queue_from must be before the year 3000")]
    OpensAt,
    /// [`OpeningSettings::pre_queue_from`] is not before the opening.
    #[error("pre_queue_from must be before opens_at")]
    PreQueueFrom,
    /// [`QueueSettings::waiting_per_client`] is over [`MAX_WAITING_PER_CLIENT`].
    #[error("waiting_per_client must be at most {MAX_WAITING_PER_CLIENT} (0 for no cap)")]
    WaitingPerClient(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> ReceptionConfig {
        let shop = ShopEntry {
            id: ServerId::new("shop-a").unwrap(),
            url: url.into(),
            capacity: None,
        };
        ReceptionConfig::new(vec![shop], "http://127.0.0.1:8080")
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(config("http://127.0.0.1:8081").validate(), Ok(()));
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        let mut c = config("http://127.0.0.1:8081");
        c.ticket_ttl = Duration::from_millis(900);
        assert!(matches!(c.validate(), Err(ConfigError::TicketTtl(_))));
        c.ticket_ttl = Duration::from_secs(3601);
        assert!(matches!(c.validate(), Err(ConfigError::TicketTtl(_))));
        c.ticket_ttl = Duration::from_secs(3600);
        assert_eq!(c.validate(), Ok(()));

        c.tie_margin = 1.5;
        assert_eq!(c.validate(), Err(ConfigError::TieMargin(1.5)));
        c.tie_margin = 1.0;

        c.queue.hold = Duration::from_secs(6);
        let refused = c.validate().unwrap_err();
        assert_eq!(refused.to_string(), "queue_hold must be at most 5s");
        c.queue.hold = MAX_QUEUE_HOLD;
        assert_eq!(c.validate(), Ok(()));

        c.queue.waiting_per_client = MAX_WAITING_PER_CLIENT + 1;
        assert_eq!(
            c.validate(),
            Err(ConfigError::WaitingPerClient(MAX_WAITING_PER_CLIENT + 1))
        );
        c.queue.waiting_per_client = 0;
        assert_eq!(c.validate(), Ok(()), "0 is no cap");

        let mut opening = OpeningSettings::new(SystemTime::UNIX_EPOCH + LATEST_OPENING);
        c.queue.opening = Some(opening);
        assert_eq!(c.validate(), Err(ConfigError::OpensAt));
        opening.opens_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_798_135_200);
        opening.pre_queue_from = Some(opening.opens_at);
        c.queue.opening = Some(opening);
        assert_eq!(c.validate(), Err(ConfigError::PreQueueFrom));
        opening.pre_queue_from = None;
        c.queue.opening = Some(opening);
        assert_eq!(c.validate(), Ok(()));

        let sessions = &mut c.queue.expected_sessions;
        sessions.insert("concert".to_owned(), Duration::from_secs(90));
        assert_eq!(c.validate(), Ok(()));
        for (item, session) in [
            ("concert", Duration::from_millis(99)),
            ("a b", Duration::from_secs(9)),
        ] {
            c.queue.expected_sessions = [(item.to_owned(), session)].into();
            assert!(matches!(
                c.validate(),
                Err(ConfigError::ItemExpectedSession { .. })
            ));
        }
        c.queue.expected_sessions = (0..=MAX_EXPECTED_ITEMS)
            .map(|n| (format!("item{n}"), Duration::from_secs(60)))
            .collect();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooManyExpectedSessions(_))
        ));
    }

    #[test]
    fn a_shop_that_is_not_http_is_refused() {
        let refused = config("ftp://127.0.0.1").validate().unwrap_err();
        assert_eq!(
            refused.to_string(),
            r#"shop shop-a: "ftp://127.0.0.1" is not an http(s) URL"#
        );
    }
}
