//! `usher shop`: the reference shop behind its gate.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use serde::Deserialize;
use usher::serve;
use usher::{ShopSetup, start_shop_with};
use usher_shop::Catalogue;
use usher_wire::SystemClock;

use super::connections::ConnectionSettings;
use super::gate_side::GateSide;
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
    #[command(flatten)]
    #[serde(flatten)]
    gate: GateSide,
    #[command(flatten)]
    #[serde(flatten)]
    connections: ConnectionSettings,
    /// The catalogue (TOML) [default: the demo catalogue].
    #[arg(long, env = "USHER_CATALOGUE", value_name = "FILE")]
    catalogue: Option<PathBuf>,
    /// Where orders are kept [default: ./usher-data/ID].
    #[arg(long, env = "USHER_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
}

pub(crate) async fn run(args: ShopArgs) -> Result<()> {
    let settings = args.settings.over_file(args.config.as_deref())?;
    let side = &settings.gate;
    let id = side.id()?;
    let keys = side.keys()?;
    let gate = side.gate(id);
    gate.validate()?;
    let listener = settings.connections.listener();
    usher::shop_front(&gate, &listener)?;
    let catalogue = match &settings.catalogue {
        Some(path) => Catalogue::load(path).with_context(|| format!("{}", path.display()))?,
        None => Catalogue::demo(),
    };
    let setup = ShopSetup {
        gate,
        keys,
        catalogue,
        data_dir: settings
            .data
            .clone()
            .unwrap_or_else(|| PathBuf::from("usher-data").join(id.as_str())),
        receptions: side.receptions(),
        reception_tls: side.reception_tls()?,
        report_every: side.report_every()?,
        pace: Duration::ZERO,
    };
    let (public, management) = side.listeners().await?;
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
    side.reload_keys_on_sighup(&running.gate, &shutdown)?;
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
    use usher_ticket::ServerId;

    use super::*;

    fn settings(args: &[&str], file: &str) -> Result<ShopSettings> {
        crate::cli::settings::parsed(args, file)
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
        assert_eq!(s.gate.receptions.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            s.gate.report_every.map(Duration::from),
            Some(Duration::from_millis(50))
        );
        let gate = s.gate.gate(ServerId::new("shop-a").unwrap());
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
        assert_eq!(s.gate.reception_ca, Some(PathBuf::from("ca.pem")));
        let s = settings(&[], "reception_ca = \"ca.pem\"\n").unwrap();
        assert_eq!(s.gate.reception_ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(settings(&[], "").unwrap().gate.reception_ca, None);
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
        assert_eq!(s.gate.id.as_deref(), Some("shop-a"));
        assert_eq!(s.gate.receptions, Some(vec!["ws://b".to_owned()]));
        let gate = s.gate.gate(ServerId::new("shop-a").unwrap());
        assert_eq!(gate.capacity, 4);
        assert_eq!(gate.reception_url, "http://127.0.0.1:8080");
        assert_eq!(gate.idle_timeout, Duration::from_secs(600));
        assert_eq!(gate.sessions_per_client, 0, "0: no cap");
        assert!(!gate.secure_cookies);
        let defaults = settings(&[], "")
            .unwrap()
            .gate
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
        let gate = s.gate.gate(ServerId::new("shop-a").unwrap());
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
        let refused = s.gate.gate(ServerId::new("shop-a").unwrap()).validate();
        assert!(refused.is_err());
        // A first use allowed longer than the idle timeout is refused by the gate's check.
        let s = settings(&["--first-use-timeout", "11m"], "").unwrap();
        let refused = s.gate.gate(ServerId::new("shop-a").unwrap()).validate();
        assert!(refused.is_err());
        assert!(settings(&["--sessions-per-client", "-1"], "").is_err());
    }
}
