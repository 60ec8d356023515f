//! A whole usher on loopback: one reception and its shops in this process, with embedded
//! defaults. `usher demo` runs one until stopped; `usher crowd compare` starts one per run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::sync::watch;
use usher_gate::{GateConfig, ItemPaths};
use usher_proxy::{ProxyConfig, StockSource};
use usher_reception::policy::PolicyKind;
use usher_reception::{OpeningSettings, ReceptionConfig, ShopEntry};
use usher_shop::Catalogue;
use usher_ticket::{KeyFile, Keyring, ServerId};
use usher_wire::{Clock, SystemClock};

use crate::{
    GateSetup, RunningGate, RunningReception, RunningShop, ShopSetup, serve, start_gate,
    start_reception, start_shop,
};

/// The most shops a demo runs (their ids are `shop-a` to `shop-z`).
pub const MAX_SHOPS: usize = 26;

/// One shop of a demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoShop {
    /// Places in all.
    pub capacity: u32,
    /// How long it takes per request (see [`ShopSetup::pace`]).
    pub pace: Duration,
}

/// The most a demo shop's [`DemoShop::pace`] may be.
pub const MAX_PACE: Duration = Duration::from_secs(10);

impl DemoShop {
    /// Shops of these capacities, paced in the same order (missing paces are 0).
    pub fn list(capacities: &[u32], paces: &[Duration]) -> Result<Vec<DemoShop>> {
        anyhow::ensure!(
            (1..=MAX_SHOPS).contains(&capacities.len()),
            "a demo has 1 to {MAX_SHOPS} shops"
        );
        anyhow::ensure!(
            paces.len() <= capacities.len(),
            "there are more paces than shops"
        );
        anyhow::ensure!(
            paces.iter().all(|p| *p <= MAX_PACE),
            "each pace must be at most {MAX_PACE:?}"
        );
        Ok(capacities
            .iter()
            .enumerate()
            .map(|(i, &capacity)| DemoShop {
                capacity,
                pace: paces.get(i).copied().unwrap_or_default(),
            })
            .collect())
    }
}

/// How long a buyer is expected to stay at a demo shop: the demo's shops mostly serve
/// `usher crowd` buyers, who stay about a second (`--hold`) before they buy. A sale learns its
/// own from the first sessions that end, whatever this says.
pub const DEMO_SESSION: Duration = Duration::from_secs(1);

/// What a demo is made of.
#[derive(Debug, Clone)]
pub struct DemoSetup {
    /// The reception's public address; everything else takes a free loopback port.
    pub listen: SocketAddr,
    /// Where the shops' databases and the queue's state file go.
    pub data: PathBuf,
    /// The shops, `shop-a` first.
    pub shops: Vec<DemoShop>,
    /// How the reception chooses a shop.
    pub policy: PolicyKind,
    /// Shops let buyers in without a ticket ([`GateConfig::walk_ins`]): the prior art, for
    /// comparisons. The reception still watches them.
    pub walk_ins: bool,
    /// Instead of the reference shops, `usher gate` in front of a shop of one's own: one gate
    /// per entry of [`shops`](Self::shops), all in front of this one server.
    pub upstream: Option<DemoUpstream>,
    /// How long a buyer is expected to stay at a shop, for the first estimates
    /// ([`QueueSettings::expected_session`](usher_reception::QueueSettings)); `None`: the
    /// reception's default (60 s).
    pub expected_session: Option<Duration>,
    /// The same for particular items, item id → length
    /// ([`QueueSettings::expected_sessions`](usher_reception::QueueSettings)).
    pub expected_sessions: BTreeMap<String, Duration>,
    /// A scheduled opening with its pre-queue; `None`: open at once.
    pub opening: Option<OpeningSettings>,
}

/// A shop of one's own (any HTTP server), put behind `usher gate` by the demo.
#[derive(Debug, Clone)]
pub struct DemoUpstream {
    /// Its base URL, `http://host:port`.
    pub url: axum::http::Uri,
    /// The items on sale and the shop's paths for each.
    pub items: Vec<ItemPaths>,
    /// The shop's stock document (`{"item": units}`), if it has one; without it every item is
    /// unlimited.
    pub stock_url: Option<axum::http::Uri>,
}

impl DemoSetup {
    /// Three shops of capacity 5, 10 and 20 at full speed, least-loaded, on `listen`.
    pub fn new(listen: SocketAddr, data: PathBuf) -> DemoSetup {
        let shop = |capacity| DemoShop {
            capacity,
            pace: Duration::ZERO,
        };
        DemoSetup {
            listen,
            data,
            shops: vec![shop(5), shop(10), shop(20)],
            policy: PolicyKind::default(),
            walk_ins: false,
            upstream: None,
            expected_session: Some(DEMO_SESSION),
            expected_sessions: BTreeMap::new(),
            opening: None,
        }
    }
}

/// A running demo.
#[derive(Debug, Clone)]
pub struct RunningDemo {
    /// The reception.
    pub reception: RunningReception,
    /// Its public base URL.
    pub reception_url: String,
    /// The shops with their ids and public base URLs, in order.
    pub shops: Vec<(ServerId, String, RunningShop)>,
    /// With an upstream of one's own: the gates in front of it, with their ids and public base
    /// URLs, in order (and no reference shops).
    pub gates: Vec<(ServerId, String, RunningGate)>,
}

impl RunningDemo {
    /// The reception's management `/status` URL.
    pub fn status_url(&self) -> String {
        format!("http://{}/status", self.reception.management)
    }
}

/// The demo's master keyring, kept beside its data (mode 0600) so that a restart on the same
/// data honours the queue tokens of the line it keeps; made on the first start.
fn demo_keyring(path: &std::path::Path) -> anyhow::Result<Keyring> {
    if !path.exists() {
        KeyFile::Master(Keyring::generate()?).save(path, false)?;
    }
    Ok(KeyFile::load(path)?.into_master()?)
}

/// Starts a demo; it runs until `shutdown` turns true.
pub async fn start_demo(setup: DemoSetup, shutdown: watch::Receiver<bool>) -> Result<RunningDemo> {
    anyhow::ensure!(
        !setup.shops.is_empty() && setup.shops.len() <= MAX_SHOPS,
        "a demo has 1 to {MAX_SHOPS} shops"
    );
    anyhow::ensure!(
        setup
            .shops
            .iter()
            .all(|s| (1..=1_000_000).contains(&s.capacity)),
        "each capacity must be 1 to 1,000,000"
    );
    std::fs::create_dir_all(&setup.data)
        .with_context(|| format!("cannot create the data directory {}", setup.data.display()))?;
    let keyring = demo_keyring(&setup.data.join("keys.toml"))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));

    let reception_public = serve::bind(setup.listen, "reception's public listener").await?;
    let reception_mgmt = serve::bind(loopback, "reception's management listener").await?;
    let reception_url = format!("http://{}", reception_public.local_addr()?);
    let mut listeners = Vec::new();
    for (i, shop) in setup.shops.iter().enumerate() {
        let letter = char::from(b'a' + u8::try_from(i).unwrap_or(25));
        let id = ServerId::new(&format!("shop-{letter}"))?;
        let public = serve::bind(loopback, "shop's public listener").await?;
        let url = format!("http://{}", public.local_addr()?);
        listeners.push((id, *shop, public, url));
    }
    let entries = listeners
        .iter()
        .map(|(id, shop, _, url)| ShopEntry {
            id: *id,
            url: url.clone(),
            capacity: Some(shop.capacity),
        })
        .collect();
    let mut config = ReceptionConfig::new(entries, reception_url.clone());
    config.ping_every = Duration::from_millis(500);
    config.queue.state_file = Some(setup.data.join("queue.json"));
    config.policy = setup.policy;
    if let Some(session) = setup.expected_session {
        config.queue.expected_session = session;
    }
    config.queue.expected_sessions = setup.expected_sessions;
    config.queue.opening = setup.opening;
    config.validate()?;
    let reception = start_reception(
        config,
        keyring.clone(),
        Arc::clone(&clock),
        reception_public,
        reception_mgmt,
        shutdown.clone(),
    )?;
    let mut shops = Vec::new();
    let mut gates = Vec::new();
    for (id, shop, public, url) in listeners {
        let management = serve::bind(loopback, "shop's management listener").await?;
        if let Some(upstream) = &setup.upstream {
            let mut gate = GateConfig::new(id, shop.capacity, reception_url.clone());
            gate.items.clone_from(&upstream.items);
            let gate_setup = GateSetup {
                gate,
                keys: keyring.derive_server(&id),
                proxy: ProxyConfig::new(upstream.url.clone()),
                stock: StockSource {
                    items: upstream
                        .items
                        .iter()
                        .map(|i| (i.id.clone(), None))
                        .collect(),
                    url: upstream.stock_url.clone(),
                    every: Duration::from_millis(200),
                },
                receptions: vec![format!("ws://{}", reception.management)],
                reception_tls: None,
                report_every: Duration::from_millis(200),
            };
            let running = start_gate(
                gate_setup,
                serve::PublicListener::default(),
                Arc::clone(&clock),
                public,
                management,
                shutdown.clone(),
            )
            .await?;
            gates.push((id, url, running));
            continue;
        }
        let mut gate = GateConfig::new(id, shop.capacity, reception_url.clone());
        gate.walk_ins = setup.walk_ins;
        gate.validate()?;
        let shop_setup = ShopSetup {
            gate,
            keys: keyring.derive_server(&id),
            catalogue: Catalogue::demo(),
            data_dir: setup.data.join(id.as_str()),
            receptions: vec![format!("ws://{}", reception.management)],
            reception_tls: None,
            report_every: Duration::from_millis(200),
            pace: shop.pace,
        };
        let running = start_shop(
            shop_setup,
            Arc::clone(&clock),
            public,
            management,
            shutdown.clone(),
        )
        .await?;
        shops.push((id, url, running));
    }
    Ok(RunningDemo {
        reception,
        reception_url,
        shops,
        gates,
    })
}
