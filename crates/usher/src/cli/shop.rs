//! `usher shop`: the reference shop behind its gate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use serde::Deserialize;
use usher::serve;
use usher::{ShopSetup, start_shop_with};
use usher_gate::GateConfig;
use usher_shop::Catalogue;
use usher_ticket::{KeyFile, ServerId};
use usher_wire::SystemClock;

use super::connections::ConnectionSettings;
use super::duration::HumanDuration;
use super::settings::Flags;

/// `usher shop`: its settings file and the settings the command line gives.
#[derive(Debug, Args)]
pub(crate) struct ShopArgs {
    /// A TOML file with these settings (keys as the flags' long names).
    #[arg(long, env = "USHER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Flags<ShopSettings>,
}

/// Settings of `usher shop`, each declared once for clap and the file. Flags and `USHER_*`
/// variables win over the file; what neither gives keeps its default.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopSettings {
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
    /// A reception's management address, `ws://` or `wss://` (TLS); repeat for several
    /// receptions [default: ws://127.0.0.1:9080].
    #[arg(long = "reception", value_name = "URL")]
    receptions: Option<Vec<String>>,
    /// For `wss://` receptions: a PEM file of the certificates to trust (a private CA, or the
    /// reception's own self-signed certificate) [default: the system's roots].
    #[arg(long, env = "USHER_RECEPTION_CA", value_name = "FILE")]
    reception_ca: Option<PathBuf>,
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
    #[arg(long, value_name = "DURATION")]
    idle_timeout: Option<HumanDuration>,
    /// A claimed session whose cookie never comes back ends this long after its claim, 1 s to
    /// the idle timeout [default: 30s].
    #[arg(long, value_name = "DURATION")]
    first_use_timeout: Option<HumanDuration>,
    /// Sessions one client address (IPv4) or /64 (IPv6) may hold at once; 0 for no cap
    /// [default: 4].
    #[arg(long, value_name = "N")]
    sessions_per_client: Option<u32>,
    /// How often to report load [default: 200ms].
    #[arg(long, value_name = "DURATION")]
    report_every: Option<HumanDuration>,
    /// Paths that need no session, prefix match (file only) [default: /healthz, /receipts/,
    /// /static/].
    #[arg(skip)]
    open_paths: Option<Vec<String>>,
    /// Peers whose `X-Forwarded-For` (or, with --proxy-protocol, PROXY header) is believed,
    /// and who are not held to --connections-per-client (file only) [default: none].
    #[arg(skip)]
    trusted_proxies: Option<Vec<std::net::IpAddr>>,
    #[command(flatten)]
    #[serde(flatten)]
    connections: ConnectionSettings,
}

/// The shortest and longest load-report period: often enough to steer by, rarely enough not to
/// flood the reception.
const REPORT_EVERY: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(10)..=Duration::from_secs(10);

impl ShopSettings {
    /// The gate's settings: each one given replaces [`GateConfig::new`]'s default.
    fn gate(&self, id: ServerId) -> GateConfig {
        let reception_url = self
            .reception_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let mut gate = GateConfig::new(id, self.capacity.unwrap_or(10), reception_url);
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
            gate.trusted_proxies.clone_from(proxies);
        }
        if let Some(paths) = &self.open_paths {
            gate.open_paths.clone_from(paths);
        }
        gate
    }
}

pub(crate) async fn run(args: ShopArgs) -> Result<()> {
    let settings = args.settings.over_file(args.config.as_deref())?;
    let id = settings.id.as_deref().context("--id is needed")?;
    let id = ServerId::new(id).with_context(|| format!("--id {id:?}"))?;
    let keys_path = settings
        .keys
        .clone()
        .context("the shop's key file is needed: --keys FILE (`usher keys derive --server ID`)")?;
    let keys = KeyFile::load(&keys_path)?.into_server()?;
    let gate = settings.gate(id);
    gate.validate()?;
    let listener = settings.connections.listener();
    usher::shop_front(&gate, &listener)?;
    let catalogue = match &settings.catalogue {
        Some(path) => Catalogue::load(path).with_context(|| format!("{}", path.display()))?,
        None => Catalogue::demo(),
    };
    let report_every = settings
        .report_every
        .map_or(Duration::from_millis(200), Duration::from);
    anyhow::ensure!(
        REPORT_EVERY.contains(&report_every),
        "report_every must be 10 ms to 10 s"
    );
    let reception_tls = match &settings.reception_ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --reception-ca {}", path.display()))?;
            let tls = usher_gate::link::client_config(&pem)
                .with_context(|| format!("--reception-ca {}", path.display()))?;
            Some(tls)
        }
        None => None,
    };
    let setup = ShopSetup {
        gate,
        keys,
        catalogue,
        data_dir: settings
            .data
            .clone()
            .unwrap_or_else(|| PathBuf::from("usher-data").join(id.as_str())),
        receptions: settings
            .receptions
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| vec!["ws://127.0.0.1:9080".into()]),
        reception_tls,
        report_every,
        pace: Duration::ZERO,
    };
    let public = settings
        .public
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081)));
    let management = settings
        .management
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9081)));
    let public = serve::bind(public, "public listener").await?;
    let management = serve::bind(management, "management listener").await?;
    let shutdown = serve::shutdown_on_signals();
    let running = start_shop_with(
        setup,
        listener,
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ShopArgs,
    }

    fn settings(args: &[&str], file: &str) -> Result<ShopSettings> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("shop.toml");
        std::fs::write(&path, file)?;
        let cli = Cli::try_parse_from(std::iter::once("shop").chain(args.iter().copied()))?;
        cli.args.settings.over_file(Some(&path))
    }

    #[test]
    fn the_file_reads_every_setting_as_before() {
        let file = r#"
            id = "shop-a"
            public = "127.0.0.1:1"
            management = "127.0.0.1:2"
            receptions = ["ws://127.0.0.1:3", "ws://127.0.0.1:4"]
            reception_url = "http://127.0.0.1:5/"
            public_url = "https://shop.example"
            keys = "shop-a.toml"
            capacity = 3
            catalogue = "catalogue.toml"
            data = "data"
            idle_timeout = "1m"
            first_use_timeout = "10s"
            sessions_per_client = 2
            report_every = "50ms"
            open_paths = ["/healthz"]
        "#;
        let s = settings(&[], file).unwrap();
        assert_eq!(s.receptions.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            s.report_every.map(Duration::from),
            Some(Duration::from_millis(50))
        );
        let gate = s.gate(ServerId::new("shop-a").unwrap());
        assert_eq!(gate.capacity, 3);
        assert_eq!(gate.reception_url, "http://127.0.0.1:5");
        assert_eq!(gate.idle_timeout, Duration::from_secs(60));
        assert_eq!(gate.first_use_timeout, Duration::from_secs(10));
        assert_eq!(gate.sessions_per_client, 2);
        assert!(gate.secure_cookies);
        assert_eq!(gate.open_paths, ["/healthz"]);
        assert_eq!(gate.validate(), Ok(()));
    }

    #[test]
    fn a_wss_reception_is_trusted_through_the_ca_file_given() {
        let s = settings(
            &["--reception", "wss://r:9", "--reception-ca", "ca.pem"],
            "",
        )
        .unwrap();
        assert_eq!(s.reception_ca, Some(PathBuf::from("ca.pem")));
        let s = settings(&[], "reception_ca = \"ca.pem\"\n").unwrap();
        assert_eq!(s.reception_ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(settings(&[], "").unwrap().reception_ca, None);
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file = "id = \"shop-a\"\ncapacity = 3\nreceptions = [\"ws://a\"]\n";
        let s = settings(
            &[
                "--capacity",
                "4",
                "--reception",
                "ws://b",
                "--sessions-per-client",
                "0",
            ],
            file,
        )
        .unwrap();
        assert_eq!(s.id.as_deref(), Some("shop-a"));
        assert_eq!(s.receptions, Some(vec!["ws://b".to_owned()]));
        let gate = s.gate(ServerId::new("shop-a").unwrap());
        assert_eq!(gate.capacity, 4);
        assert_eq!(gate.reception_url, "http://127.0.0.1:8080");
        assert_eq!(gate.idle_timeout, Duration::from_secs(600));
        assert_eq!(gate.sessions_per_client, 0, "0: no cap");
        assert!(!gate.secure_cookies);
        let defaults = settings(&[], "")
            .unwrap()
            .gate(ServerId::new("shop-a").unwrap());
        assert_eq!(defaults.capacity, 10);
        assert_eq!(defaults.first_use_timeout, Duration::from_secs(30));
        assert_eq!(defaults.sessions_per_client, 4);
    }

    #[test]
    fn connection_settings_parse_and_reach_the_public_listener() {
        let file = "id = \"shop-a\"\nidle_timeout = \"1m\"\nconnections_per_client = 0\n";
        let args = [
            "--connection-idle-timeout",
            "2s",
            "--request-timeout",
            "4s",
            "--proxy-protocol",
        ];
        let s = settings(&args, file).unwrap();
        let listener = s.connections.listener();
        // The session's idle timeout and the connection's are two settings.
        assert_eq!(listener.limits.idle_timeout, Duration::from_secs(2));
        let gate = s.gate(ServerId::new("shop-a").unwrap());
        assert_eq!(gate.idle_timeout, Duration::from_secs(60));
        assert_eq!(listener.limits.stall_timeout, Duration::from_secs(4));
        assert_eq!(listener.limits.max_per_address, 0, "0: no cap");
        assert!(listener.proxy_protocol);
        let defaults = settings(&[], "").unwrap().connections.listener();
        assert!(!defaults.proxy_protocol);
        assert_eq!(defaults.limits.connections, 20_000);
        assert_eq!(defaults.limits.max_per_address, 256);
        assert_eq!(defaults.limits.max_lifetime, Duration::from_secs(600));
        assert!(settings(&["--max-header-size", "-1"], "").is_err());
        assert!(settings(&[], "connection_lifetime = 5").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(settings(&[], "idle-timeout = \"1m\"").is_err());
        assert!(settings(&[], "idle_timeout = \"soon\"").is_err());
        assert!(settings(&["--report-every", "soon"], "").is_err());
        let s = settings(&["--capacity", "0"], "").unwrap();
        let refused = s.gate(ServerId::new("shop-a").unwrap()).validate();
        assert!(refused.is_err());
        // A first use allowed longer than the idle timeout is refused by the gate's check.
        let s = settings(&["--first-use-timeout", "11m"], "").unwrap();
        let refused = s.gate(ServerId::new("shop-a").unwrap()).validate();
        assert!(refused.is_err());
        assert!(settings(&["--sessions-per-client", "-1"], "").is_err());
    }
}
