//! `usher gate`: the gate in front of any HTTP shop. The gate's own tower layer, unchanged,
//! over `usher-proxy`'s forwarding service; the same management links and status listener as
//! `usher shop`; the shop's stock read or counted by `usher-proxy`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer as _;
use usher_gate::link::LinkConfig;
use usher_gate::{Gate, GateConfig};
use usher_proxy::{Completions, Forward, Health, ProxyConfig, StockSource};
use usher_ticket::ServerKeys;
use usher_wire::Clock;

use crate::serve;

/// What `usher gate` needs besides its listeners.
#[derive(Debug, Clone)]
pub struct GateSetup {
    /// The gate's settings: id, capacity, items and their paths, open paths, …
    pub gate: GateConfig,
    /// The shop's own derived keys.
    pub keys: ServerKeys,
    /// The shop behind the gate.
    pub proxy: ProxyConfig,
    /// Where each item's stock comes from.
    pub stock: StockSource,
    /// The receptions' management addresses (`ws://` or `wss://`): one link each.
    pub receptions: Vec<String>,
    /// Whom a `wss://` link trusts; `None` trusts the system's roots.
    pub reception_tls: Option<Arc<rustls::ClientConfig>>,
    /// How often it reports its load.
    pub report_every: Duration,
}

/// A running `usher gate`.
#[derive(Debug, Clone)]
pub struct RunningGate {
    /// Its gate (places, epoch, reports).
    pub gate: Arc<Gate>,
    /// Where buyers arrive.
    pub public: SocketAddr,
    /// Its operator side (`/status`, `/healthz`).
    pub management: SocketAddr,
}

/// Starts `usher gate` on the given listeners; it runs until `shutdown` turns true.
pub async fn start_gate(
    setup: GateSetup,
    listener: serve::PublicListener,
    clock: Arc<dyn Clock>,
    public: TcpListener,
    management: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningGate> {
    setup.gate.validate()?;
    setup.proxy.validate()?;
    let proxies = listener.front(&setup.gate.trusted_proxies)?;
    // The shop's answer must be due before the connection's request timeout cuts it, so a slow
    // shop is a `504` the buyer can act on.
    anyhow::ensure!(
        setup.proxy.timeout < listener.limits.stall_timeout,
        "upstream_timeout ({:?}) must be shorter than request_timeout ({:?})",
        setup.proxy.timeout,
        listener.limits.stall_timeout
    );
    anyhow::ensure!(
        setup.keys.server() == &setup.gate.server,
        "the key file is for {}, not for {}",
        setup.keys.server(),
        setup.gate.server
    );
    let completions = Completions::default();
    let health = Health::default();
    let check = health_check(&setup.proxy)?;
    let gate = Gate::new(setup.gate, setup.keys, clock).context("cannot start the gate")?;
    let forward = Forward::new(
        setup.proxy,
        Arc::clone(&gate),
        completions.clone(),
        health.clone(),
    );
    let public_addr = public.local_addr()?;
    let management_addr = management.local_addr()?;
    tokio::spawn(usher_proxy::keep_load(
        Arc::clone(&gate),
        setup.stock,
        completions,
        health,
        check,
        shutdown.clone(),
    ));
    spawn_links(
        &gate,
        setup.receptions,
        setup.reception_tls.as_ref(),
        setup.report_every,
        &shutdown,
    );
    // Every request goes to the gate's layer over the forwarding service: no router between.
    let app = serve::Direct(gate.layer().layer(forward));
    serve::spawn_server_behind(public, app, shutdown.clone(), listener.limits, proxies);
    spawn_status(&gate, management, shutdown);
    Ok(RunningGate {
        gate,
        public: public_addr,
        management: management_addr,
    })
}

/// The URL of the shop's health path.
fn health_check(proxy: &ProxyConfig) -> Result<axum::http::Uri> {
    let base = proxy.upstream.to_string();
    let url = format!("{}{}", base.trim_end_matches('/'), proxy.health_path);
    url.parse()
        .with_context(|| format!("the health check URL {url:?}"))
}

/// One management link per reception, each reporting every `report_every`.
pub(crate) fn spawn_links(
    gate: &Arc<Gate>,
    receptions: Vec<String>,
    tls: Option<&Arc<rustls::ClientConfig>>,
    report_every: Duration,
    shutdown: &watch::Receiver<bool>,
) {
    for reception in receptions {
        let mut link = LinkConfig::new(reception);
        link.report_every = report_every;
        link.tls = tls.cloned();
        tokio::spawn(usher_gate::link::run(
            Arc::clone(gate),
            link,
            shutdown.clone(),
        ));
    }
}

/// The operator side: `/healthz` and `/status` (the gate's next report).
pub(crate) fn spawn_status(
    gate: &Arc<Gate>,
    management: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    let status_gate = Arc::clone(gate);
    let ops = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/status",
            get(move || {
                let gate = Arc::clone(&status_gate);
                async move { axum::Json(gate.report()) }
            }),
        );
    serve::spawn_server(management, ops, shutdown);
}
