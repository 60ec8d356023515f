//! What a buyer needs to know before it starts.

use std::net::IpAddr;
use std::time::Duration;

use url::Url;

/// How one buyer behaves. Build with [`BuyerConfig::new`] and change the fields you need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerConfig {
    /// The reception's public base URL (`http://127.0.0.1:8080/`); orders go to `{reception}/order/{item}`
    /// or `{reception}/api/v1/admissions`.
    pub reception: Url,
    /// Bind the client's sockets to this address, so one host can act as many clients on loopback
    /// (`127.0.0.2`, `127.0.0.3`, ...) and tickets bound to the client's address still verify.
    pub local_address: Option<IpAddr>,
    /// Order through the JSON API (`POST /api/v1/admissions`) instead of the browser's `GET /order`.
    pub api: bool,
    /// Total time the buyer keeps waiting in the queue before it gives up.
    pub max_wait: Duration,
    /// How many times the buyer asks the reception before it gives up.
    pub max_attempts: u32,
    /// Limit on each single HTTP exchange, connect to last byte.
    pub request_timeout: Duration,
}

impl BuyerConfig {
    /// Default total time in the queue: five minutes.
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5 * 60);
    /// Default number of asks: enough for [`Self::DEFAULT_MAX_WAIT`] at one check-in a second.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 1000;
    /// Default per-request limit.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

    /// A browser-path buyer for `reception` with the default limits and the system's choice of
    /// local address.
    pub fn new(reception: Url) -> Self {
        Self {
            reception,
            local_address: None,
            api: false,
            max_wait: Self::DEFAULT_MAX_WAIT,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}
