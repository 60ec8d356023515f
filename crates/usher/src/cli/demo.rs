//! `usher demo`: a reception and three shops in one process on loopback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use usher::serve;
use usher::{ShopSetup, start_reception, start_shop};
use usher_gate::GateConfig;
use usher_reception::{ReceptionConfig, ShopEntry};
use usher_shop::Catalogue;
use usher_ticket::{Keyring, ServerId};
use usher_wire::{Clock, SystemClock};

/// Settings of `usher demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The reception's public address; the shops and management listeners take free ports.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Keep the shops' data here instead of a fresh temporary directory.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Capacities of the shops, one shop each (at most 26).
    #[arg(long, value_delimiter = ',', default_value = "5,10,20")]
    capacities: Vec<u32>,
    /// Give every shop this capacity instead (a small N lets a few browser tabs fill them).
    #[arg(long, value_name = "N", conflicts_with = "capacities")]
    capacity: Option<u32>,
    /// How the reception chooses a shop: `least-loaded` (the default), `p2c`, `round-robin` or
    /// `random`.
    #[arg(long, default_value = "least-loaded", value_name = "POLICY")]
    policy: usher_reception::policy::PolicyKind,
}

pub(crate) async fn run(mut args: DemoArgs) -> Result<()> {
    if let Some(n) = args.capacity {
        args.capacities = vec![n; args.capacities.len()];
    }
    anyhow::ensure!(
        !args.capacities.is_empty() && args.capacities.len() <= 26,
        "--capacities takes 1 to 26 shops"
    );
    anyhow::ensure!(
        args.capacities
            .iter()
            .all(|&c| (1..=1_000_000).contains(&c)),
        "each capacity must be 1 to 1,000,000"
    );
    let temp = match &args.data {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("usher-demo").tempdir()?),
    };
    let data = args
        .data
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_owned()))
        .context("no data directory")?;
    let keyring = Keyring::generate()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let shutdown = serve::shutdown_on_signals();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));

    let reception_public = serve::bind(args.listen, "reception's public listener").await?;
    let reception_mgmt = serve::bind(loopback, "reception's management listener").await?;
    let reception_url = format!("http://{}", reception_public.local_addr()?);
    let mut shops = Vec::new();
    for (i, &capacity) in args.capacities.iter().enumerate() {
        let id = ServerId::new(&format!("shop-{}", char::from(b'a' + i as u8)))?;
        let public = serve::bind(loopback, "shop's public listener").await?;
        let url = format!("http://{}", public.local_addr()?);
        shops.push((id, capacity, public, url));
    }
    let entries = shops
        .iter()
        .map(|(id, _, _, url)| ShopEntry {
            id: *id,
            url: url.clone(),
        })
        .collect();
    let mut config = ReceptionConfig::new(entries, reception_url.clone());
    config.ping_every = Duration::from_millis(500);
    config.queue.state_file = Some(data.join("queue.json"));
    config.policy = args.policy;
    let reception = start_reception(
        config,
        keyring.clone(),
        Arc::clone(&clock),
        reception_public,
        reception_mgmt,
        shutdown.clone(),
    )?;
    let mut lines = Vec::new();
    for (id, capacity, public, url) in shops {
        let setup = ShopSetup {
            gate: GateConfig::new(id, capacity, reception_url.clone()),
            keys: keyring.derive_server(&id),
            catalogue: Catalogue::demo(),
            data_dir: data.join(id.as_str()),
            receptions: vec![format!("ws://{}", reception.management)],
            report_every: Duration::from_millis(200),
        };
        let management = serve::bind(loopback, "shop's management listener").await?;
        let running = start_shop(
            setup,
            Arc::clone(&clock),
            public,
            management,
            shutdown.clone(),
        )
        .await?;
        lines.push(format!(
            "  {id}  {url}  capacity {capacity}  (status: http://{}/status)",
            running.management
        ));
    }
    println!(
        "usher demo: reception {reception_url}  (status: http://{}/status)",
        reception.management
    );
    for line in lines {
        println!("{line}");
    }
    println!("data: {}", data.display());
    println!();
    println!("Try it:");
    println!("  curl -i {reception_url}/order/concert");
    println!("  open {reception_url}/order/concert in a browser, then buy");
    println!("  with --capacity 1, open it in a few tabs: the later ones wait in line");
    println!("Ctrl-C stops the demo.");
    serve::until(shutdown).await;
    drop(temp);
    Ok(())
}
