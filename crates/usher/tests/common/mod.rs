//! A reception and shops started in-process on listeners the test bound (port 0), a buyer per
//! client, and a TCP proxy that can delay or freeze a shop's management link.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use usher::serve::PublicListener;
use usher::{RunningReception, RunningShop, ShopSetup, start_reception_with, start_shop_with};
use usher_buyer::{Admitted, Buyer, BuyerConfig};
use usher_gate::GateConfig;
use usher_reception::{ReceptionConfig, ShopEntry};
use usher_shop::Catalogue;
use usher_ticket::{Keyring, ServerId};
use usher_wire::{Clock, OffsetClock};

mod process;
#[allow(unused_imports)]
pub use process::*;
mod browser;
#[allow(unused_imports)]
pub use browser::*;
mod gate;
#[allow(unused_imports)]
pub use gate::*;
mod python;
#[allow(unused_imports)]
pub use python::*;

pub const DEADLINE: Duration = Duration::from_secs(20);

pub async fn local() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Polls `check` every 20 ms until it holds or the deadline passes.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How one shop in a cluster is set up.
#[derive(Clone)]
pub struct ShopSpec {
    pub capacity: u32,
    pub catalogue: Catalogue,
    /// Route its management link through a [`Proxy`].
    pub proxied: bool,
    /// How often it reports on its own (besides at once when an order frees a place).
    pub report_every: Duration,
}

/// A catalogue of one ticket item, `id`, with `stock` units.
pub fn one_item(id: &str, stock: u32) -> Catalogue {
    Catalogue::from_toml(&format!(
        "[[items]]\nid = \"{id}\"\nname = \"{id}\"\nprice_cents = 100\nstock = {stock}\nkind = \"ticket\"\n"
    ))
    .unwrap()
}

impl ShopSpec {
    pub fn new(capacity: u32) -> ShopSpec {
        ShopSpec {
            capacity,
            catalogue: Catalogue::demo(),
            proxied: false,
            report_every: Duration::from_millis(50),
        }
    }
}

pub struct Cluster {
    pub reception: RunningReception,
    pub shops: Vec<RunningShop>,
    pub urls: Vec<String>,
    pub proxies: Vec<Option<Proxy>>,
    pub keyring: Keyring,
    pub clock: Arc<OffsetClock>,
    pub stops: Vec<watch::Sender<bool>>,
    pub config: ReceptionConfig,
    /// How every public listener (the reception's and the shops') meets its clients.
    pub listener: PublicListener,
    stop_reception: watch::Sender<bool>,
    pub data: tempfile::TempDir,
}

pub fn shop_id(i: usize) -> ServerId {
    ServerId::new(&format!("shop-{}", char::from(b'a' + i as u8))).unwrap()
}

impl Cluster {
    pub async fn start(specs: &[ShopSpec]) -> Cluster {
        Cluster::start_with(specs, |_| {}).await
    }

    pub async fn start_with(
        specs: &[ShopSpec],
        tune: impl FnOnce(&mut ReceptionConfig),
    ) -> Cluster {
        Cluster::start_behind(specs, tune, PublicListener::default()).await
    }

    /// [`start_with`](Self::start_with), every public listener meeting its clients as
    /// `listener` says (the shops trust the reception's `trusted_proxies`).
    pub async fn start_behind(
        specs: &[ShopSpec],
        tune: impl FnOnce(&mut ReceptionConfig),
        listener: PublicListener,
    ) -> Cluster {
        let keyring = Keyring::generate().unwrap();
        let clock = Arc::new(OffsetClock::new());
        let data = tempfile::tempdir().unwrap();
        let reception_public = local().await;
        let reception_mgmt = local().await;
        let reception_url = format!("http://{}", reception_public.local_addr().unwrap());
        let mut publics = Vec::new();
        let mut urls = Vec::new();
        for _ in specs {
            let l = local().await;
            urls.push(format!("http://{}", l.local_addr().unwrap()));
            publics.push(l);
        }
        let entries = urls
            .iter()
            .enumerate()
            .map(|(i, url)| ShopEntry {
                id: shop_id(i),
                url: url.clone(),
                capacity: None,
            })
            .collect();
        let mut config = ReceptionConfig::new(entries, reception_url.clone());
        config.ping_every = Duration::from_millis(100);
        // Tests send many buyers from one address; the caps on live tickets and on places
        // waiting per client network have tests of their own, which set them.
        config.admissions_per_client = 0;
        config.queue.waiting_per_client = 0;
        tune(&mut config);
        let (stop_reception, rx) = watch::channel(false);
        let reception = start_reception_with(
            config.clone(),
            listener,
            keyring.clone(),
            clock.clone() as Arc<dyn Clock>,
            reception_public,
            reception_mgmt,
            rx,
        )
        .unwrap();
        let mut shops = Vec::new();
        let mut proxies = Vec::new();
        let mut stops = Vec::new();
        for (i, (spec, public)) in specs.iter().zip(publics).enumerate() {
            let id = shop_id(i);
            let proxy = if spec.proxied {
                Some(Proxy::start(reception.management).await)
            } else {
                None
            };
            let target = proxy.as_ref().map_or(reception.management, |p| p.addr);
            let mut gate = GateConfig::new(id, spec.capacity, reception_url.clone());
            // Many buyers from one address, as for the reception's cap above.
            gate.sessions_per_client = 0;
            // One front proxy for the whole system, as a deployment behind a CDN has.
            gate.trusted_proxies.clone_from(&config.trusted_proxies);
            let setup = ShopSetup {
                gate,
                keys: keyring.derive_server(&id),
                catalogue: spec.catalogue.clone(),
                data_dir: data.path().join(id.as_str()),
                receptions: vec![format!("ws://{target}")],
                reception_tls: None,
                report_every: spec.report_every,
                pace: Duration::ZERO,
            };
            let (stop, rx) = watch::channel(false);
            let shop = start_shop_with(
                setup,
                listener,
                clock.clone() as Arc<dyn Clock>,
                public,
                local().await,
                rx,
            )
            .await
            .unwrap();
            shops.push(shop);
            proxies.push(proxy);
            stops.push(stop);
        }
        let cluster = Cluster {
            reception,
            shops,
            urls,
            proxies,
            keyring,
            clock,
            stops,
            config,
            listener,
            stop_reception,
            data,
        };
        let n = specs.len();
        eventually("every shop live", || cluster.live_shops() == n).await;
        cluster
    }

    /// Stops the reception and starts a new one (a new process, as far as it can tell: a new
    /// issuer) with the same settings on the same addresses, so the shops reconnect.
    pub async fn restart_reception(&mut self) {
        self.restart_reception_with(|| {}).await;
    }

    /// [`restart_reception`](Self::restart_reception), calling `between` once the old one has
    /// stopped and before the new one starts (to make the disk look as a crash would leave it).
    pub async fn restart_reception_with(&mut self, between: impl FnOnce()) {
        self.stop_reception.send_replace(true);
        let (public, management) = (self.reception.public, self.reception.management);
        let start = Instant::now();
        let (public, management) = loop {
            match (
                TcpListener::bind(public).await,
                TcpListener::bind(management).await,
            ) {
                (Ok(p), Ok(m)) => break (p, m),
                _ => {
                    assert!(
                        start.elapsed() < DEADLINE,
                        "the old reception kept its ports"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        // The old reception lets its state file go after its last write.
        let lock = self.config.queue.state_file.as_ref().map(|f| {
            let mut name = f.as_os_str().to_owned();
            name.push(".lock");
            std::fs::File::create(std::path::PathBuf::from(name)).unwrap()
        });
        if let Some(lock) = lock {
            eventually("the old reception to let the state go", || {
                lock.try_lock().is_ok()
            })
            .await;
        }
        between();
        let (stop, rx) = watch::channel(false);
        self.stop_reception = stop;
        let (mut public, mut management) = (Some(public), Some(management));
        self.reception = loop {
            match start_reception_with(
                self.config.clone(),
                self.listener,
                self.keyring.clone(),
                self.clock.clone() as Arc<dyn Clock>,
                public.take().unwrap(),
                management.take().unwrap(),
                rx.clone(),
            ) {
                Ok(running) => break running,
                Err(e) => {
                    assert!(start.elapsed() < DEADLINE, "no restart: {e:#}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    public = Some(TcpListener::bind(self.reception.public).await.unwrap());
                    management = Some(TcpListener::bind(self.reception.management).await.unwrap());
                }
            }
        };
        let n = self.shops.len();
        eventually("every shop back", || self.live_shops() == n).await;
    }

    /// The reception's status document, as `GET /status` would show it.
    pub fn status(&self) -> serde_json::Value {
        serde_json::to_value(self.reception.reception.status()).unwrap()
    }

    /// Where a crowd finds this cluster: its reception and the reception's `/status`.
    pub fn crowd_target(&self) -> usher_crowd::run::Target {
        usher_crowd::run::Target {
            reception: self.reception_url(),
            status: format!("http://{}/status", self.reception.management)
                .parse()
                .unwrap(),
            direct: Vec::new(),
        }
    }

    pub fn live_shops(&self) -> usize {
        self.reception
            .reception
            .status()
            .shops
            .iter()
            .filter(|s| s.live)
            .count()
    }

    /// The in-use count the reception last heard from shop `i`.
    pub fn reported_in_use(&self, i: usize) -> Option<u64> {
        let status = self.reception.reception.status();
        let report = status.shops.get(i)?.report.as_ref()?;
        Some(u64::from(report.sessions) + u64::from(report.reserved))
    }

    pub fn reception_url(&self) -> url::Url {
        format!("http://{}", self.reception.public).parse().unwrap()
    }

    pub fn buyer(&self) -> Buyer {
        self.buyer_from("127.0.0.1")
    }

    pub fn buyer_from(&self, ip: &str) -> Buyer {
        let mut config = BuyerConfig::new(self.reception_url());
        config.local_address = Some(ip.parse::<IpAddr>().unwrap());
        config.max_wait = Duration::from_secs(30);
        config.request_timeout = Duration::from_secs(10);
        Buyer::new(config).unwrap()
    }

    /// Which shop a ticket URL points at.
    pub fn shop_of(&self, url: &str) -> usize {
        self.urls
            .iter()
            .position(|u| url.starts_with(&format!("{u}/")))
            .unwrap()
    }

    /// Holds `n` places at shop `i` as if tickets had been issued for them.
    pub fn occupy(&self, i: usize, n: u32) {
        let gate = &self.shops[i].gate;
        let expires = usher_wire::clock::unix_ms(self.clock.wall()) + 600_000;
        for serial in 0..n {
            let ticket = usher_ticket::TicketId {
                issuer: usher_ticket::IssuerId(0xfeed_0000 + i as u64),
                serial: u64::from(serial) + OCCUPIED.fetch_add(1, Ordering::Relaxed),
            };
            // Link 0: no management link has that id, so these places are never released.
            assert!(gate.reserve(
                0,
                ticket,
                usher_ticket::ItemId::new("concert").unwrap(),
                expires
            ));
        }
    }
}

static OCCUPIED: AtomicU64 = AtomicU64::new(1 << 32);

/// A TCP proxy in front of the reception's management listener that can add delay to every
/// chunk it forwards, or freeze (stop forwarding while keeping the connection open).
pub struct Proxy {
    pub addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = local().await;
        let addr = listener.local_addr().unwrap();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let frozen = Arc::new(AtomicBool::new(false));
        let (d, f) = (delay_ms.clone(), frozen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                client.set_nodelay(true).unwrap();
                server.set_nodelay(true).unwrap();
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, d.clone(), f.clone()));
                tokio::spawn(pump(sr, cw, d.clone(), f.clone()));
            }
        });
        Proxy {
            addr,
            delay_ms,
            frozen,
        }
    }

    pub fn delay(&self, by: Duration) {
        self.delay_ms.store(by.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay_ms: Arc<AtomicU64>,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            // Swallow everything from now on, keeping the connection open.
            continue;
        }
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// An API client of the reception (`POST /api/v1/admissions`), from one source address.
pub struct Api {
    pub http: reqwest::Client,
    pub url: String,
}

impl Api {
    pub fn new(cluster: &Cluster, from: &str) -> Api {
        let http = reqwest::Client::builder()
            .local_address(from.parse::<IpAddr>().unwrap())
            // Under the reception's 10 s idle limit, so no ask goes out on a closing connection.
            .pool_idle_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Api {
            http,
            url: format!("http://{}/api/v1/admissions", cluster.reception.public),
        }
    }

    pub async fn ask(&self, item: &str, token: Option<&str>) -> (u16, Value) {
        let mut body = serde_json::json!({ "item": item });
        if let Some(t) = token {
            body["queue_token"] = Value::from(t);
        }
        let response = self.http.post(&self.url).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Joins the line (every shop must be full): the token and the position.
    pub async fn join(&self, item: &str) -> (String, u64) {
        let (status, body) = self.ask(item, None).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "waiting", "{body}");
        let token = body["queue_token"].as_str().unwrap().to_owned();
        (token, body["position"].as_u64().unwrap())
    }
}

/// Buyers admitted and holding their session at a shop, until they buy.
pub async fn fill(cluster: &Cluster, n: usize) -> Vec<(Buyer, url::Url)> {
    let mut held = Vec::new();
    for _ in 0..n {
        let buyer = cluster.buyer();
        let admitted = buyer.order("concert").await.unwrap();
        assert_eq!(admitted.attempts, 1, "the shop should have had room");
        let page = buyer.claim(&admitted).await.unwrap();
        held.push((buyer, page));
    }
    held
}

pub fn admitted_of(body: &Value) -> Admitted {
    Admitted {
        url: body["url"].as_str().unwrap().parse().unwrap(),
        server: body["server"].as_str().map(str::to_owned),
        attempts: 1,
        waited: Duration::ZERO,
        first_estimate: None,
        first_range: None,
        first_estimate_after: Duration::ZERO,
        place: None,
        asks: Vec::new(),
    }
}

/// Kendall's τ between arrival order and admission order (1 = the same order).
pub fn kendall_tau(pairs: &[(usize, u64)]) -> f64 {
    let (mut concordant, mut discordant) = (0i64, 0i64);
    for (i, a) in pairs.iter().enumerate() {
        for b in &pairs[i + 1..] {
            let s = (a.0 as i64 - b.0 as i64).signum() * (a.1 as i64 - b.1 as i64).signum();
            concordant += i64::from(s > 0);
            discordant += i64::from(s < 0);
        }
    }
    (concordant - discordant) as f64 / (concordant + discordant).max(1) as f64
}
