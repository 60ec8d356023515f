//! The settings every gate has, whatever is behind it: `usher shop` (the reference shop) and
//! `usher gate` (any HTTP shop) both flatten [`GateSide`] into their own, so the two read the
//! same flags, variables and file keys, and start their gate, links and listeners alike.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use usher::serve;
use usher_gate::{Gate, GateConfig};
use usher_ticket::{KeyFile, ServerId, ServerKeys};

use super::duration::HumanDuration;

/// A gate's settings. Not `deny_unknown_fields`: the settings that flatten it refuse unknown
/// keys for both. It flattens nothing itself (serde loses track of which keys a flattened
/// struct inside a flattened struct took, and refuses them), so each server flattens the
/// connection settings beside it.
#[derive(Debug, Default, Args, Deserialize)]
pub(crate) struct GateSide {
    /// This shop's id, as configured at the reception.
    #[arg(long, env = "USHER_ID", value_name = "ID")]
    pub(super) id: Option<String>,
    /// Public listener for buyers [default: 127.0.0.1:8081].
    #[arg(long, env = "USHER_PUBLIC", value_name = "ADDR")]
    pub(super) public: Option<SocketAddr>,
    /// Management listener for operators [default: 127.0.0.1:9081].
    #[arg(long, env = "USHER_MANAGEMENT", value_name = "ADDR")]
    pub(super) management: Option<SocketAddr>,
    /// This shop's public base URL as buyers see it; `https://` marks cookies `Secure`
    /// [default: http://PUBLIC].
    #[arg(long, env = "USHER_PUBLIC_URL", value_name = "URL")]
    pub(super) public_url: Option<String>,
    /// A reception's management address, `ws://` or `wss://` (TLS); repeat for several
    /// receptions [default: ws://127.0.0.1:9080].
    #[arg(long = "reception", value_name = "URL")]
    pub(super) receptions: Option<Vec<String>>,
    /// For `wss://` receptions: a PEM file of the certificates to trust (a private CA, or the
    /// reception's own self-signed certificate) [default: the system's roots].
    #[arg(long, env = "USHER_RECEPTION_CA", value_name = "FILE")]
    pub(super) reception_ca: Option<PathBuf>,
    /// The reception's public URL, for links back [default: the one the reception sends over
    /// the management link; http://127.0.0.1:8080 until it does].
    #[arg(long, env = "USHER_RECEPTION_URL", value_name = "URL")]
    pub(super) reception_url: Option<String>,
    /// This shop's key file (`usher keys derive --server ID`).
    #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
    pub(super) keys: Option<PathBuf>,
    /// Places: sessions plus reserved tickets never exceed it [default: 10].
    #[arg(long, env = "USHER_CAPACITY")]
    pub(super) capacity: Option<u32>,
    /// A session idle this long ends [default: 10m].
    #[arg(long, value_name = "DURATION")]
    pub(super) idle_timeout: Option<HumanDuration>,
    /// A claimed session whose cookie never comes back ends this long after its claim, 1 s to
    /// the idle timeout [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub(super) first_use_timeout: Option<HumanDuration>,
    /// Sessions one client address (IPv4) or /64 (IPv6) may hold at once; 0 for no cap
    /// [default: 4].
    #[arg(long, value_name = "N")]
    pub(super) sessions_per_client: Option<u32>,
    /// How often to report load [default: 200ms].
    #[arg(long, value_name = "DURATION")]
    pub(super) report_every: Option<HumanDuration>,
    /// Paths that need no session, prefix match (file only) [default: /healthz, /receipts/,
    /// /static/, /favicon.ico, /robots.txt].
    #[arg(skip)]
    pub(super) open_paths: Option<Vec<String>>,
    /// Peers whose `X-Forwarded-For` (or, with --proxy-protocol, PROXY header) is believed,
    /// and who are not held to --connections-per-client (file only) [default: none].
    #[arg(skip)]
    pub(super) trusted_proxies: Option<Vec<std::net::IpAddr>>,
}

/// The shortest and longest load-report period: often enough to steer by, rarely enough not to
/// flood the reception.
const REPORT_EVERY: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(10)..=Duration::from_secs(10);

impl GateSide {
    /// The shop's id (`--id`), checked.
    pub(super) fn id(&self) -> Result<ServerId> {
        let id = self.id.as_deref().context("--id is needed")?;
        ServerId::new(id).with_context(|| format!("--id {id:?}"))
    }

    /// Where the shop's key file is (`--keys`).
    pub(super) fn keys_path(&self) -> Result<PathBuf> {
        self.keys
            .clone()
            .context("the shop's key file is needed: --keys FILE (`usher keys derive --server ID`)")
    }

    /// The shop's keys, read from [`keys_path`](Self::keys_path).
    pub(super) fn keys(&self) -> Result<ServerKeys> {
        Ok(KeyFile::load(&self.keys_path()?)?.into_server()?)
    }

    /// The gate's settings: each one given replaces [`GateConfig::new`]'s default.
    pub(super) fn gate(&self, id: ServerId) -> GateConfig {
        let reception_url = self
            .reception_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let mut gate = GateConfig::new(id, self.capacity.unwrap_or(10), reception_url);
        gate.reception_url_fixed = self.reception_url.is_some();
        if let Some(timeout) = self.idle_timeout {
            gate.idle_timeout = timeout.into();
        }
        if let Some(timeout) = self.first_use_timeout {
            gate.first_use_timeout = timeout.into();
        }
        if let Some(n) = self.sessions_per_client {
            gate.sessions_per_client = n;
        }
        gate.secure_cookies = self
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        if let Some(proxies) = &self.trusted_proxies {
            // As peers are compared: an entry written IPv4-mapped is the IPv4 address.
            gate.trusted_proxies = proxies.iter().map(std::net::IpAddr::to_canonical).collect();
        }
        if let Some(paths) = &self.open_paths {
            gate.open_paths.clone_from(paths);
        }
        gate
    }

    /// The receptions to link to [default: `ws://127.0.0.1:9080`].
    pub(super) fn receptions(&self) -> Vec<String> {
        self.receptions
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| vec!["ws://127.0.0.1:9080".into()])
    }

    /// Whom `wss://` links trust: the certificates in `--reception-ca`, or the system's roots.
    pub(super) fn reception_tls(&self) -> Result<Option<Arc<rustls::ClientConfig>>> {
        let Some(path) = &self.reception_ca else {
            return Ok(None);
        };
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read --reception-ca {}", path.display()))?;
        let tls = usher_gate::link::client_config(&pem)
            .with_context(|| format!("--reception-ca {}", path.display()))?;
        Ok(Some(tls))
    }

    /// How often to report, checked [default: 200 ms].
    pub(super) fn report_every(&self) -> Result<Duration> {
        let every = self
            .report_every
            .map_or(Duration::from_millis(200), Duration::from);
        anyhow::ensure!(
            REPORT_EVERY.contains(&every),
            "report_every must be 10 ms to 10 s"
        );
        Ok(every)
    }

    /// The public and management listeners, bound [default: 127.0.0.1:8081, :9081].
    pub(super) async fn listeners(&self) -> Result<(TcpListener, TcpListener)> {
        let public = self
            .public
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081)));
        let management = self
            .management
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9081)));
        Ok((
            serve::bind(public, "public listener").await?,
            serve::bind(management, "management listener").await?,
        ))
    }

    /// Reloads `gate`'s keys from the key file on every SIGHUP until shutdown.
    pub(super) fn reload_keys_on_sighup(
        &self,
        gate: &Arc<Gate>,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<()> {
        let keys_path = self.keys_path()?;
        let gate = Arc::clone(gate);
        serve::reload_on_sighup(shutdown.clone(), move || {
            gate.reload_keys(KeyFile::load(&keys_path)?.into_server()?);
            Ok(())
        });
        Ok(())
    }
}
