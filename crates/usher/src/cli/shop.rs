//! `usher shop`: the reference shop behind its gate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use serde::Deserialize;
use usher::serve::{self, duration};
use usher::{ShopSetup, start_shop};
use usher_gate::GateConfig;
use usher_shop::Catalogue;
use usher_ticket::{KeyFile, ServerId};
use usher_wire::SystemClock;

use super::{file_duration, settings_file};

/// Settings of `usher shop`. Flags and `USHER_*` variables win over the file.
#[derive(Debug, Args)]
pub(crate) struct ShopArgs {
    /// A TOML file with these settings (keys as the flags' long names).
    #[arg(long, env = "USHER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// This shop's id, as configured at the reception.
    #[arg(long, env = "USHER_ID", value_name = "ID")]
    id: Option<String>,
    /// Public listener for buyers [default: 127.0.0.1:8081].
    #[arg(long, env = "USHER_PUBLIC", value_name = "ADDR")]
    public: Option<SocketAddr>,
    /// Management listener for operators [default: 127.0.0.1:9081].
    #[arg(long, env = "USHER_MANAGEMENT", value_name = "ADDR")]
    management: Option<SocketAddr>,
    /// This shop's public base URL as buyers see it; `https://` marks cookies `Secure`
    /// [default: http://PUBLIC].
    #[arg(long, env = "USHER_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// A reception's management address; repeat for several receptions
    /// [default: ws://127.0.0.1:9080].
    #[arg(long = "reception", value_name = "URL")]
    receptions: Vec<String>,
    /// The reception's public URL, for links back [default: http://127.0.0.1:8080].
    #[arg(long, env = "USHER_RECEPTION_URL", value_name = "URL")]
    reception_url: Option<String>,
    /// This shop's key file (`usher keys derive --server ID`).
    #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
    keys: Option<PathBuf>,
    /// Places: sessions plus reserved tickets never exceed it [default: 10].
    #[arg(long, env = "USHER_CAPACITY")]
    capacity: Option<u32>,
    /// The catalogue (TOML) [default: the demo catalogue].
    #[arg(long, env = "USHER_CATALOGUE", value_name = "FILE")]
    catalogue: Option<PathBuf>,
    /// Where orders are kept [default: ./usher-data/ID].
    #[arg(long, env = "USHER_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// A session idle this long ends [default: 10m].
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    idle_timeout: Option<Duration>,
    /// How often to report load [default: 200ms].
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    report_every: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopFile {
    id: Option<String>,
    public: Option<SocketAddr>,
    management: Option<SocketAddr>,
    #[serde(default)]
    receptions: Vec<String>,
    reception_url: Option<String>,
    public_url: Option<String>,
    keys: Option<PathBuf>,
    capacity: Option<u32>,
    catalogue: Option<PathBuf>,
    data: Option<PathBuf>,
    idle_timeout: Option<String>,
    report_every: Option<String>,
    open_paths: Option<Vec<String>>,
}

pub(crate) async fn run(args: ShopArgs) -> Result<()> {
    let file: ShopFile = settings_file(args.config.as_deref())?;
    let id = args.id.or(file.id).context("--id is needed")?;
    let id = ServerId::new(&id).with_context(|| format!("--id {id:?}"))?;
    let keys_path = args
        .keys
        .or(file.keys)
        .context("the shop's key file is needed: --keys FILE (`usher keys derive --server ID`)")?;
    let keys = KeyFile::load(&keys_path)?.into_server()?;
    let capacity = args.capacity.or(file.capacity).unwrap_or(10);
    anyhow::ensure!(
        (1..=10_000_000).contains(&capacity),
        "capacity must be 1 to 10,000,000"
    );
    let catalogue = match args.catalogue.or(file.catalogue) {
        Some(path) => Catalogue::load(&path).with_context(|| format!("{}", path.display()))?,
        None => Catalogue::demo(),
    };
    let reception_url = args
        .reception_url
        .or(file.reception_url)
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let mut gate = GateConfig::new(id, capacity, reception_url);
    if let Some(t) = args
        .idle_timeout
        .or(file_duration(file.idle_timeout.as_deref(), "idle_timeout")?)
    {
        anyhow::ensure!(
            t >= Duration::from_secs(1) && t <= Duration::from_secs(24 * 3600),
            "idle_timeout must be 1 s to 24 h"
        );
        gate.idle_timeout = t;
    }
    gate.secure_cookies = args
        .public_url
        .or(file.public_url)
        .is_some_and(|u| u.starts_with("https://"));
    if let Some(paths) = file.open_paths {
        gate.open_paths = paths;
    }
    let report_every = args
        .report_every
        .or(file_duration(file.report_every.as_deref(), "report_every")?)
        .unwrap_or(Duration::from_millis(200));
    anyhow::ensure!(
        report_every >= Duration::from_millis(10) && report_every <= Duration::from_secs(10),
        "report_every must be 10 ms to 10 s"
    );
    let setup = ShopSetup {
        gate,
        keys,
        catalogue,
        data_dir: args
            .data
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from("usher-data").join(id.as_str())),
        receptions: if !args.receptions.is_empty() {
            args.receptions
        } else if !file.receptions.is_empty() {
            file.receptions
        } else {
            vec!["ws://127.0.0.1:9080".into()]
        },
        report_every,
        pace: Duration::ZERO,
    };
    let public = args
        .public
        .or(file.public)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081)));
    let management = args
        .management
        .or(file.management)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9081)));
    let public = serve::bind(public, "public listener").await?;
    let management = serve::bind(management, "management listener").await?;
    let shutdown = serve::shutdown_on_signals();
    let running = start_shop(
        setup,
        Arc::new(SystemClock),
        public,
        management,
        shutdown.clone(),
    )
    .await?;
    let gate = Arc::clone(&running.gate);
    serve::reload_on_sighup(shutdown.clone(), move || {
        gate.reload_keys(KeyFile::load(&keys_path)?.into_server()?);
        Ok(())
    });
    println!(
        "usher shop {id}: public http://{} management {} epoch {}",
        running.public,
        running.management,
        running.gate.epoch().0
    );
    serve::until(shutdown).await;
    Ok(())
}
