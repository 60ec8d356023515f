//! `usher reception`: the front door.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;
use serde::Deserialize;
use usher::serve;
use usher_reception::policy::PolicyKind;
use usher_reception::{OpeningSettings, PreQueueOrder, ReceptionConfig, Reservation, ShopEntry};
use usher_ticket::KeyFile;
use usher_wire::SystemClock;

use super::connections::ConnectionSettings;
use super::duration::HumanDuration;
use super::item_session::{self, ItemSession};
use super::settings::{Flags, from_text};
use super::shop_entry::Shop;
use super::when::When;

/// `usher reception`: its settings file and the settings the command line gives.
#[derive(Debug, Args)]
pub(crate) struct ReceptionArgs {
    /// A TOML file with these settings (keys as the flags' long names, `[[shops]]` with id, url).
    #[arg(long, env = "USHER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Flags<ReceptionSettings>,
}

/// Settings of `usher reception`, each declared once for clap and the file. Flags and `USHER_*`
/// variables win over the file; what neither gives keeps [`ReceptionConfig::new`]'s default.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceptionSettings {
    /// Public listener for buyers [default: 127.0.0.1:8080].
    #[arg(long, env = "USHER_PUBLIC", value_name = "ADDR")]
    public: Option<SocketAddr>,
    /// Management listener for shops and operators [default: 127.0.0.1:9080].
    #[arg(long, env = "USHER_MANAGEMENT", value_name = "ADDR")]
    management: Option<SocketAddr>,
    /// Serve the management listener over TLS with this certificate chain (PEM, leaf first);
    /// shops then dial `wss://`. Needs --management-tls-key [default: plain].
    #[arg(
        long,
        env = "USHER_MANAGEMENT_TLS_CERT",
        value_name = "FILE",
        requires = "management_tls_key"
    )]
    management_tls_cert: Option<PathBuf>,
    /// The private key of --management-tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "USHER_MANAGEMENT_TLS_KEY",
        value_name = "FILE",
        requires = "management_tls_cert"
    )]
    management_tls_key: Option<PathBuf>,
    /// Public base URL, for links back [default: http://PUBLIC].
    #[arg(long, env = "USHER_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The master keyring (`usher keys generate`).
    #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
    keys: Option<PathBuf>,
    /// A shop, as ID=URL (its public base URL); repeat for each. Replaces the file's list.
    #[arg(long = "shop", value_name = "ID=URL")]
    shops: Option<Vec<Shop>>,
    /// How long a ticket stays valid [default: 30s].
    #[arg(long, value_name = "DURATION")]
    ticket_ttl: Option<HumanDuration>,
    /// How places are reserved: `lease` (granted in advance, notices batched) or `per-ticket`
    /// (one round trip per ticket) [default: lease].
    #[arg(long, env = "USHER_RESERVATION", value_name = "MODE")]
    #[serde(default, deserialize_with = "from_text")]
    reservation: Option<Reservation>,
    /// A shop silent this long is out of rotation [default: 1s].
    #[arg(long, value_name = "DURATION")]
    shop_timeout: Option<HumanDuration>,
    /// Tickets one client network (as tickets are bound: /32, /64) may hold within a ticket's
    /// window, so one host cannot take every place; 0 for no cap [default: 4].
    #[arg(long, env = "USHER_ADMISSIONS_PER_CLIENT", value_name = "N")]
    admissions_per_client: Option<u32>,
    /// How a shop is chosen: `least-loaded` (the default), `p2c`, `round-robin` or `random`
    /// (the others are there to compare against).
    #[arg(long, env = "USHER_POLICY", value_name = "POLICY")]
    #[serde(default, deserialize_with = "from_text")]
    policy: Option<PolicyKind>,
    /// Where the waiting room keeps its counters, so a restart keeps every place in line
    /// [default: in memory only; a restart starts a new line].
    #[arg(long, env = "USHER_QUEUE_STATE", value_name = "FILE")]
    queue_state: Option<PathBuf>,
    /// Places one client network (/24, /48) may join the line per minute; 0 for no limit
    /// [default: 1000; the /16, /40 around it 8 times that, an IPv6 /32 16 times].
    #[arg(long, value_name = "N")]
    queue_join_limit: Option<u32>,
    /// Places one client network (/24, /48) may hold waiting in the line at once; a place
    /// stops counting once it is eligible. 0 for no cap (at most 1000000) [default: 500].
    #[arg(long, env = "USHER_WAITING_PER_CLIENT", value_name = "N")]
    waiting_per_client: Option<u32>,
    /// How long a client near the front who asks before its turn is held, to be let in the
    /// moment a place frees; 0 answers at once (at most 5s) [default: 500ms].
    #[arg(long, value_name = "DURATION")]
    queue_hold: Option<HumanDuration>,
    /// How long a buyer is expected to stay at a shop, claim to order (100ms to 24h): the
    /// first waiting answers' estimate comes from it and the shops' places, until the sale
    /// measures its own, which is kept with --queue-state [default: 60s].
    #[arg(long, env = "USHER_EXPECTED_SESSION", value_name = "DURATION")]
    expected_session: Option<HumanDuration>,
    /// --expected-session for one item, as ITEM=DURATION; repeat for each (in the file, an
    /// `[expected_session_for]` table of `item = "duration"`; the flags replace the table).
    /// A shop's expected session is the mean over the items it carries [default:
    /// --expected-session for every item].
    #[arg(long = "expected-session-for", value_name = "ITEM=DURATION")]
    #[serde(default, deserialize_with = "item_session::from_table")]
    expected_session_for: Option<Vec<ItemSession>>,
    /// Open the sale at this moment (RFC 3339 in UTC, `2026-12-24T18:00:00Z`, or `+10m` from
    /// now): arrivals before it join a pre-queue whose order is drawn at the opening from a
    /// seed published after it (`GET /api/v1/opening`); nobody is admitted before it. Keep the
    /// line with --queue-state, so the pre-queue survives a restart [default: open at once].
    #[arg(long, env = "USHER_OPENS_AT", value_name = "WHEN")]
    #[serde(default, deserialize_with = "from_text")]
    opens_at: Option<When>,
    /// With --opens-at: arrivals before this moment are told to come back then instead of
    /// joining the pre-queue [default: the pre-queue takes anyone before the opening].
    #[arg(long, env = "USHER_PRE_QUEUE_FROM", value_name = "WHEN")]
    #[serde(default, deserialize_with = "from_text")]
    pre_queue_from: Option<When>,
    /// With --opens-at: `random` (drawn at the opening: arriving early buys nothing) or
    /// `arrival` [default: random].
    #[arg(long, env = "USHER_PRE_QUEUE_ORDER", value_name = "ORDER")]
    #[serde(default, deserialize_with = "from_text")]
    pre_queue_order: Option<PreQueueOrder>,
    /// Loads within this share of the lowest count as a near-tie (file only) [default: 0.05].
    #[arg(skip)]
    tie_margin: Option<f64>,
    /// Peers whose `X-Forwarded-For` (or, with --proxy-protocol, PROXY header) is believed,
    /// and who are not held to --connections-per-client (file only) [default: none].
    #[arg(skip)]
    trusted_proxies: Option<Vec<IpAddr>>,
    #[command(flatten)]
    #[serde(flatten)]
    connections: ConnectionSettings,
}

impl ReceptionSettings {
    /// The library's settings: each one given replaces [`ReceptionConfig::new`]'s default.
    fn config(&self, shops: Vec<ShopEntry>, public_url: String) -> ReceptionConfig {
        let mut config = ReceptionConfig::new(shops, public_url);
        if let Some(ttl) = self.ticket_ttl {
            config.ticket_ttl = ttl.into();
        }
        if let Some(timeout) = self.shop_timeout {
            config.shop_timeout = timeout.into();
        }
        if let Some(margin) = self.tie_margin {
            config.tie_margin = margin;
        }
        if let Some(proxies) = &self.trusted_proxies {
            // As peers are compared: an entry written IPv4-mapped is the IPv4 address.
            config.trusted_proxies = proxies.iter().map(IpAddr::to_canonical).collect();
        }
        if let Some(mode) = self.reservation {
            config.reservation = mode;
        }
        if let Some(n) = self.admissions_per_client {
            config.admissions_per_client = n;
        }
        if let Some(policy) = self.policy {
            config.policy = policy;
        }
        config.queue.state_file.clone_from(&self.queue_state);
        if let Some(n) = self.queue_join_limit {
            config.queue.join_limit = n;
        }
        if let Some(n) = self.waiting_per_client {
            config.queue.waiting_per_client = n;
        }
        if let Some(hold) = self.queue_hold {
            config.queue.hold = hold.into();
        }
        if let Some(session) = self.expected_session {
            config.queue.expected_session = session.into();
        }
        for entry in self.expected_session_for.iter().flatten() {
            config
                .queue
                .expected_sessions
                .insert(entry.item.clone(), entry.session);
        }
        if let Some(opens_at) = self.opens_at {
            config.queue.opening = Some(OpeningSettings {
                opens_at: opens_at.into(),
                pre_queue_from: self.pre_queue_from.map(Into::into),
                order: self.pre_queue_order.unwrap_or_default(),
            });
        }
        config
    }
}

pub(crate) async fn run(args: ReceptionArgs) -> Result<()> {
    let settings = args.settings.over_file(args.config.as_deref())?;
    let keys = settings
        .keys
        .clone()
        .context("a master keyring is needed: --keys FILE (make one with `usher keys generate`)")?;
    let shops: Vec<ShopEntry> = settings
        .shops
        .iter()
        .flatten()
        .map(|shop| shop.0.clone())
        .collect();
    anyhow::ensure!(
        !shops.is_empty(),
        "no shops configured: --shop ID=URL or [[shops]] in the config file"
    );
    let public = settings
        .public
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let management = settings
        .management
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9080)));
    // Checked before anything listens; the default public URL names the port bound below.
    // From the file or the command line alike, so checked here rather than by clap.
    if settings.opens_at.is_none()
        && (settings.pre_queue_from.is_some() || settings.pre_queue_order.is_some())
    {
        anyhow::bail!("pre_queue_from and pre_queue_order need opens_at (--opens-at)");
    }
    let mut config = settings.config(shops, settings.public_url.clone().unwrap_or_default());
    config.validate()?;
    let listener = settings.connections.listener();
    usher::reception_front(&config, &listener)?;
    let management_tls = match (&settings.management_tls_cert, &settings.management_tls_key) {
        (Some(cert), Some(key)) => Some(serve::tls_acceptor(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("management_tls_cert and management_tls_key go together"),
    };
    let keyring = KeyFile::load(&keys)?.into_master()?;
    let public_listener = serve::bind(public, "public listener").await?;
    let management_listener = serve::bind(management, "management listener").await?;
    if settings.public_url.is_none() {
        config.public_url = format!("http://{}", public_listener.local_addr()?);
    }

    let shutdown = serve::shutdown_on_signals();
    let listeners = usher::ReceptionListeners {
        public: listener,
        management_tls,
    };
    let tls = if listeners.management_tls.is_some() {
        "wss"
    } else {
        "ws"
    };
    let running = usher::start_reception_with(
        config,
        listeners,
        keyring,
        Arc::new(SystemClock),
        public_listener,
        management_listener,
        shutdown.clone(),
    )?;
    let reception = Arc::clone(&running.reception);
    serve::reload_on_sighup(shutdown.clone(), move || {
        reception.reload_keys(KeyFile::load(&keys)?.into_master()?);
        Ok(())
    });
    println!(
        "usher reception: public http://{} management {tls}://{}",
        running.public, running.management
    );
    serve::until(shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests;
