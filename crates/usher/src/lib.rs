//! Wiring: starting a reception or a shop from settings and listeners the caller bound. The
//! `usher` binary's subcommands and the integration tests both start the parts through here, so
//! tests bind port 0, keep the listeners, and hand them in without a race.
//!
//! # Layout
//! - [`start_reception`]: a reception's public and management servers; [`start_reception_with`]
//!   sets how the public listener meets its clients ([`serve::PublicListener`]: limits, PROXY
//!   protocol).
//! - [`start_shop`]: a shop (the shop app behind its gate), its management link to the reception,
//!   its load reports and its management server; [`start_shop_with`], as above.
//! - [`start_gate`] (`gate.rs`): `usher gate`, the gate in front of any HTTP shop: the gate's
//!   layer over `usher-proxy`'s forwarding service, its links and its stock reports.
//! - [`serve`]: listening, graceful shutdown and key reload shared by every server.

pub mod demo;
mod gate;
pub mod serve;

pub use gate::{GateSetup, RunningGate, start_gate};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serve::Limits;
use tokio::net::TcpListener;
use tokio::sync::watch;
use usher_gate::{Gate, GateConfig};
use usher_reception::{Reception, ReceptionConfig};
use usher_shop::{Catalogue, Shop};
use usher_ticket::{Keyring, ServerKeys};
use usher_wire::Clock;

/// A running reception.
#[derive(Debug, Clone)]
pub struct RunningReception {
    /// Its state (for key reloads and status).
    pub reception: Arc<Reception>,
    /// Where buyers order.
    pub public: SocketAddr,
    /// Where shops connect.
    pub management: SocketAddr,
}

/// Starts a reception on the given listeners with the default [`serve::PublicListener`]; it
/// runs until `shutdown` turns true.
pub fn start_reception(
    config: ReceptionConfig,
    keyring: Keyring,
    clock: Arc<dyn Clock>,
    public: TcpListener,
    management: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningReception> {
    let listener = serve::PublicListener::default();
    start_reception_with(
        config, listener, keyring, clock, public, management, shutdown,
    )
}

/// How a reception's two listeners meet their clients.
#[derive(Clone, Default)]
pub struct ReceptionListeners {
    /// The public listener's limits and PROXY protocol.
    pub public: serve::PublicListener,
    /// TLS on the management listener (shops then dial `wss://`); `None` for plain `ws://`.
    pub management_tls: Option<tokio_rustls::TlsAcceptor>,
}

impl From<serve::PublicListener> for ReceptionListeners {
    fn from(public: serve::PublicListener) -> ReceptionListeners {
        ReceptionListeners {
            public,
            management_tls: None,
        }
    }
}

/// Starts a reception whose listeners meet their clients as `listeners` says; it runs until
/// `shutdown` turns true.
pub fn start_reception_with(
    config: ReceptionConfig,
    listeners: impl Into<ReceptionListeners>,
    keyring: Keyring,
    clock: Arc<dyn Clock>,
    public: TcpListener,
    management: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningReception> {
    let listeners = listeners.into();
    let listener = listeners.public;
    let proxies = reception_front(&config, &listener)?;
    let reception = Reception::new(config, keyring, clock).context("cannot start the reception")?;
    let public_addr = public.local_addr()?;
    let management_addr = management.local_addr()?;
    serve::spawn_server_behind(
        public,
        usher_reception::public::service(Arc::clone(&reception)),
        shutdown.clone(),
        listener.limits,
        proxies,
    );
    let router = usher_reception::mgmt::router(Arc::clone(&reception));
    match listeners.management_tls {
        Some(tls) => {
            serve::spawn_tls_server(management, router, shutdown.clone(), Limits::default(), tls)
        }
        None => serve::spawn_server(management, router, shutdown.clone()),
    };
    tokio::spawn(Arc::clone(&reception).run_waiting_room(shutdown.clone()));
    let closing = Arc::clone(&reception);
    tokio::spawn(async move {
        serve::until(shutdown).await;
        closing.close();
    });
    Ok(RunningReception {
        reception,
        public: public_addr,
        management: management_addr,
    })
}

/// What a shop needs besides its listeners.
#[derive(Debug, Clone)]
pub struct ShopSetup {
    /// The gate's settings (id, capacity, reception URL for links back, …).
    pub gate: GateConfig,
    /// The shop's own derived keys.
    pub keys: ServerKeys,
    /// What it sells.
    pub catalogue: Catalogue,
    /// Where its SQLite database lives.
    pub data_dir: PathBuf,
    /// The receptions' management addresses, `ws://host:port` or `wss://host:port`: one link
    /// each.
    pub receptions: Vec<String>,
    /// Whom a `wss://` link trusts (`usher_gate::link::client_config`); `None` trusts the
    /// system's roots.
    pub reception_tls: Option<Arc<rustls::ClientConfig>>,
    /// How often it reports its load.
    pub report_every: Duration,
    /// How long the shop takes per request when idle, to model a slower machine beside faster
    /// ones (`usher crowd compare`); busier, it takes longer ([`pace_factor`]). Zero (the
    /// default): as fast as it is.
    pub pace: Duration,
}

/// A running shop.
#[derive(Debug, Clone)]
pub struct RunningShop {
    /// Its gate (places, epoch, reports).
    pub gate: Arc<Gate>,
    /// The shop app's handle (store, catalogue).
    pub shop: Shop,
    /// Where buyers arrive.
    pub public: SocketAddr,
    /// Its operator side (`/status`, `/healthz`).
    pub management: SocketAddr,
}

/// The proxies in front of a reception's public listener, once `listener` is checked against
/// `config`. `usher reception` calls it before anything listens; starting calls it again.
pub fn reception_front(
    config: &ReceptionConfig,
    listener: &serve::PublicListener,
) -> Result<serve::Proxies> {
    // A held order must be answered before the request timeout cuts its connection.
    anyhow::ensure!(
        listener.limits.stall_timeout > config.queue.hold,
        "request_timeout ({:?}) must be longer than queue_hold ({:?})",
        listener.limits.stall_timeout,
        config.queue.hold
    );
    listener.front(&config.trusted_proxies)
}

/// The proxies in front of a shop's public listener, once `listener` is checked against `gate`.
/// `usher shop` calls it before anything listens; starting calls it again.
pub fn shop_front(gate: &GateConfig, listener: &serve::PublicListener) -> Result<serve::Proxies> {
    listener.front(&gate.trusted_proxies)
}

/// Starts a shop on the given listeners with the default [`serve::PublicListener`]; it runs
/// until `shutdown` turns true.
pub async fn start_shop(
    setup: ShopSetup,
    clock: Arc<dyn Clock>,
    public: TcpListener,
    management: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningShop> {
    let listener = serve::PublicListener::default();
    start_shop_with(setup, listener, clock, public, management, shutdown).await
}

/// Starts a shop whose public listener meets its clients as `listener` says; it runs until
/// `shutdown` turns true.
pub async fn start_shop_with(
    setup: ShopSetup,
    listener: serve::PublicListener,
    clock: Arc<dyn Clock>,
    public: TcpListener,
    management: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningShop> {
    setup.gate.validate()?;
    let proxies = shop_front(&setup.gate, &listener)?;
    anyhow::ensure!(
        setup.keys.server() == &setup.gate.server,
        "the key file is for {}, not for {}",
        setup.keys.server(),
        setup.gate.server
    );
    std::fs::create_dir_all(&setup.data_dir)
        .with_context(|| format!("cannot create {}", setup.data_dir.display()))?;
    let shop = Shop::open(&setup.data_dir, setup.catalogue)
        .await
        .with_context(|| {
            format!(
                "cannot open the shop's data in {}",
                setup.data_dir.display()
            )
        })?;
    let gate = Gate::new(setup.gate, setup.keys, clock).context("cannot start the shop's gate")?;
    gate.item_names().set(
        shop.catalogue()
            .items()
            .iter()
            .map(|item| (item.id.to_string(), item.name.clone())),
    );
    let public_addr = public.local_addr()?;
    let management_addr = management.local_addr()?;

    // The app's part of the load report, refreshed before the first report goes up.
    usher_shop::refresh_load(&gate, &shop).await;
    tokio::spawn(usher_shop::report_load(
        Arc::clone(&gate),
        shop.clone(),
        setup.report_every,
        shutdown.clone(),
    ));
    gate::spawn_links(
        &gate,
        setup.receptions,
        setup.reception_tls.as_ref(),
        setup.report_every,
        &shutdown,
    );

    let mut app = usher_shop::router(shop.clone());
    if !setup.pace.is_zero() {
        app = app.layer(axum::middleware::from_fn_with_state(
            (Arc::clone(&gate), setup.pace),
            pace_request,
        ));
    }
    let app = app.layer(gate.layer());
    serve::spawn_server_behind(public, app, shutdown.clone(), listener.limits, proxies);
    gate::spawn_status(&gate, management, shutdown);
    Ok(RunningShop {
        gate,
        shop,
        public: public_addr,
        management: management_addr,
    })
}

/// Makes an app request take the shop's pace stretched by its load (see [`pace_factor`]).
async fn pace_request(
    axum::extract::State((gate, pace)): axum::extract::State<(Arc<Gate>, Duration)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let stats = gate.stats();
    let load = f64::from(stats.sessions) / f64::from(stats.capacity.max(1));
    tokio::time::sleep(pace.mul_f64(pace_factor(load))).await;
    next.run(request).await
}

/// How much longer a request takes at `load` (sessions ÷ capacity) than on an idle shop: a
/// processor shared among its buyers answers in 1 ÷ (1 − load) times its idle time (the M/M/1
/// response time), capped at 10× from 90 % load; past capacity (only walk-ins get there) it
/// slows further in proportion to the overload.
pub fn pace_factor(load: f64) -> f64 {
    const CAP: f64 = 0.9;
    if load <= CAP {
        (1.0 / (1.0 - load.max(0.0))).min(10.0)
    } else {
        10.0 * load.max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::pace_factor;

    #[test]
    fn a_busier_shop_answers_slower_and_an_overrun_one_slower_still() {
        assert_eq!(pace_factor(0.0), 1.0);
        assert!((pace_factor(0.5) - 2.0).abs() < 1e-9);
        let steps: Vec<f64> = [0.0, 0.3, 0.6, 0.9, 0.95, 1.0, 2.0, 3.0]
            .into_iter()
            .map(pace_factor)
            .collect();
        assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
        assert_eq!(pace_factor(3.0), 30.0);
        assert_eq!(pace_factor(-1.0), 1.0);
    }
}
