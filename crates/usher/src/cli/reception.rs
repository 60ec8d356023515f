//! `usher reception`: the front door.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use serde::Deserialize;
use usher::serve::{self, duration};
use usher_reception::{ReceptionConfig, ShopEntry};
use usher_ticket::{KeyFile, ServerId};
use usher_wire::SystemClock;

use super::{file_duration, settings_file};

/// Settings of `usher reception`. Flags and `USHER_*` variables win over the file.
#[derive(Debug, Args)]
pub(crate) struct ReceptionArgs {
    /// A TOML file with these settings (keys as the flags' long names, `[[shops]]` with id, url).
    #[arg(long, env = "USHER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Public listener for buyers [default: 127.0.0.1:8080].
    #[arg(long, env = "USHER_PUBLIC", value_name = "ADDR")]
    public: Option<SocketAddr>,
    /// Management listener for shops and operators [default: 127.0.0.1:9080].
    #[arg(long, env = "USHER_MANAGEMENT", value_name = "ADDR")]
    management: Option<SocketAddr>,
    /// Public base URL, for links back [default: http://PUBLIC].
    #[arg(long, env = "USHER_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The master keyring (`usher keys generate`).
    #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
    keys: Option<PathBuf>,
    /// A shop, as ID=URL (its public base URL); repeat for each. Replaces the file's list.
    #[arg(long = "shop", value_name = "ID=URL")]
    shops: Vec<String>,
    /// How long a ticket stays valid [default: 30s].
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    ticket_ttl: Option<Duration>,
    /// How places are reserved: `lease` (granted in advance, notices batched) or `per-ticket`
    /// (one round trip per ticket) [default: lease].
    #[arg(long, env = "USHER_RESERVATION", value_name = "MODE")]
    reservation: Option<usher_reception::Reservation>,
    /// A shop silent this long is out of rotation [default: 1s].
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    shop_timeout: Option<Duration>,
    /// How a shop is chosen: `least-loaded` (the default), `p2c`, `round-robin` or `random`
    /// (the others are there to compare against).
    #[arg(long, env = "USHER_POLICY", value_name = "POLICY")]
    policy: Option<usher_reception::policy::PolicyKind>,
    /// Where the waiting room keeps its counters, so a restart keeps every place in line
    /// [default: in memory only; a restart starts a new line].
    #[arg(long, env = "USHER_QUEUE_STATE", value_name = "FILE")]
    queue_state: Option<PathBuf>,
    /// Places one client network (/24, /48) may join the line per minute; 0 for no limit
    /// [default: 5000].
    #[arg(long, value_name = "N")]
    queue_join_limit: Option<u32>,
    /// How long a client near the front who asks before its turn is held, to be let in the
    /// moment a place frees; 0 answers at once (at most 5s) [default: 500ms].
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    queue_hold: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceptionFile {
    public: Option<SocketAddr>,
    management: Option<SocketAddr>,
    public_url: Option<String>,
    keys: Option<PathBuf>,
    ticket_ttl: Option<String>,
    shop_timeout: Option<String>,
    tie_margin: Option<f64>,
    reservation: Option<String>,
    queue_state: Option<PathBuf>,
    queue_join_limit: Option<u32>,
    queue_hold: Option<String>,
    policy: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<IpAddr>,
    #[serde(default)]
    shops: Vec<FileShop>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShop {
    id: String,
    url: String,
}

fn shop_entry(id: &str, url: &str) -> Result<ShopEntry> {
    let id = ServerId::new(id).with_context(|| format!("shop id {id:?}"))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("shop {id}: {url:?} is not an http(s) URL");
    }
    Ok(ShopEntry {
        id,
        url: url.trim_end_matches('/').to_owned(),
    })
}

pub(crate) async fn run(args: ReceptionArgs) -> Result<()> {
    let file: ReceptionFile = settings_file(args.config.as_deref())?;
    let public = args
        .public
        .or(file.public)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let management = args
        .management
        .or(file.management)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9080)));
    let keys = args
        .keys
        .or(file.keys)
        .context("a master keyring is needed: --keys FILE (make one with `usher keys generate`)")?;
    let shops = if args.shops.is_empty() {
        file.shops
            .iter()
            .map(|s| shop_entry(&s.id, &s.url))
            .collect::<Result<Vec<_>>>()?
    } else {
        args.shops
            .iter()
            .map(|s| {
                let (id, url) = s.split_once('=').context("--shop takes ID=URL")?;
                shop_entry(id, url)
            })
            .collect::<Result<Vec<_>>>()?
    };
    if shops.is_empty() {
        bail!("no shops configured: --shop ID=URL or [[shops]] in the config file");
    }
    let keyring = KeyFile::load(&keys)?.into_master()?;
    let public_listener = serve::bind(public, "public listener").await?;
    let management_listener = serve::bind(management, "management listener").await?;
    let bound = public_listener.local_addr()?;
    let public_url = args
        .public_url
        .or(file.public_url)
        .unwrap_or_else(|| format!("http://{bound}"));
    let mut config = ReceptionConfig::new(shops, public_url);
    if let Some(ttl) = args
        .ticket_ttl
        .or(file_duration(file.ticket_ttl.as_deref(), "ticket_ttl")?)
    {
        anyhow::ensure!(
            (1..=3600).contains(&ttl.as_secs()),
            "ticket_ttl must be 1 s to 1 h"
        );
        config.ticket_ttl = ttl;
    }
    if let Some(t) = args
        .shop_timeout
        .or(file_duration(file.shop_timeout.as_deref(), "shop_timeout")?)
    {
        config.shop_timeout = t;
    }
    if let Some(m) = file.tie_margin {
        anyhow::ensure!((0.0..=1.0).contains(&m), "tie_margin must be within 0 to 1");
        config.tie_margin = m;
    }
    config.trusted_proxies = file.trusted_proxies;
    config.queue.state_file = args.queue_state.or(file.queue_state);
    if let Some(policy) = args.policy {
        config.policy = policy;
    } else if let Some(policy) = file.policy {
        config.policy = policy
            .parse()
            .map_err(|e: String| anyhow::anyhow!("policy: {e}"))?;
    }
    if let Some(n) = args.queue_join_limit.or(file.queue_join_limit) {
        config.queue.join_limit = n;
    }
    if let Some(hold) = args
        .queue_hold
        .or(file_duration(file.queue_hold.as_deref(), "queue_hold")?)
    {
        anyhow::ensure!(
            hold <= Duration::from_secs(5),
            "queue_hold must be at most 5s"
        );
        config.queue.hold = hold;
    }
    if let Some(mode) = args.reservation {
        config.reservation = mode;
    } else if let Some(mode) = file.reservation {
        config.reservation = mode
            .parse()
            .map_err(|e: String| anyhow::anyhow!("reservation: {e}"))?;
    }

    let shutdown = serve::shutdown_on_signals();
    let running = usher::start_reception(
        config,
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
        "usher reception: public http://{} management {}",
        running.public, running.management
    );
    serve::until(shutdown).await;
    Ok(())
}
