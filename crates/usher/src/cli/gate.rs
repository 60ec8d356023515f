//! `usher gate`: the gate in front of any HTTP shop, as a reverse proxy.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;
use serde::{Deserialize, Deserializer};
use usher::serve;
use usher::{GateSetup, start_gate};
use usher_gate::ItemPaths;
use usher_proxy::{CompletionRule, HostHeader, ProxyConfig, StockSource};
use usher_wire::SystemClock;

use super::connections::ConnectionSettings;
use super::duration::HumanDuration;
use super::gate_side::GateSide;
use super::settings::{Flags, from_text};

/// `usher gate`: its settings file and the settings the command line gives.
#[derive(Debug, Args)]
pub(crate) struct GateArgs {
    /// A TOML file with these settings (keys as the flags' long names; `[[items]]` with `id`,
    /// `paths`, and optionally `stock` and `name`, what buyers see at the reception).
    #[arg(long, env = "USHER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Flags<GateSettings>,
}

/// Settings of `usher gate`, each declared once for clap and the file.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
struct GateSettings {
    #[command(flatten)]
    #[serde(flatten)]
    gate: GateSide,
    #[command(flatten)]
    #[serde(flatten)]
    connections: ConnectionSettings,
    /// The shop behind the gate: `http://host:port`, optionally with a base path.
    #[arg(long, env = "USHER_UPSTREAM", value_name = "URL")]
    upstream: Option<String>,
    /// The `Host` the shop sees: `keep` (the buyer's, with X-Forwarded-Host the same) or
    /// `upstream` (the shop's own authority) [default: keep].
    #[arg(long, env = "USHER_UPSTREAM_HOST", value_name = "MODE")]
    #[serde(default, deserialize_with = "from_text")]
    upstream_host: Option<HostMode>,
    /// The shop must begin its answer within this long, or the buyer gets `504
    /// upstream_timeout` and keeps the session; shorter than --request-timeout (100ms to 1h)
    /// [default: 8s].
    #[arg(long, env = "USHER_UPSTREAM_TIMEOUT", value_name = "DURATION")]
    upstream_timeout: Option<HumanDuration>,
    /// Connecting to the shop must take no longer (10ms to 10m) [default: 5s].
    #[arg(long, value_name = "DURATION")]
    upstream_connect_timeout: Option<HumanDuration>,
    /// What the gate asks the shop on every report to see that it answers (anything but a 5xx
    /// will do), when there is no --stock-url to read instead; a shop that fails two checks in
    /// a row, or most requests of the last 5 s, is out of the reception's rotation until it
    /// answers again [default: /].
    #[arg(long, value_name = "PATH")]
    upstream_health_path: Option<String>,
    /// Idle keep-alive connections to the shop kept at most [default: 256].
    #[arg(long, value_name = "N")]
    upstream_pool: Option<usize>,
    /// Requests sent to the shop at once at most (1 to 100000), each holding its connection
    /// until its answer's body ends; more wait their turn within --upstream-timeout, then get
    /// `504` [default: 1024].
    #[arg(long, value_name = "N")]
    upstream_max_connections: Option<usize>,
    /// Largest request body passed to the shop, bytes (a larger one is `413`; at most 64 GiB)
    /// [default: 1073741824].
    #[arg(long, value_name = "BYTES")]
    max_request_body: Option<u64>,
    /// An item on sale and the shop's paths that belong to it, `ID=/path[,/path…]` (the first
    /// is where a buyer lands); repeat for each. Replaces the file's `[[items]]`.
    #[arg(long = "item", value_name = "ID=PATHS")]
    items: Option<Vec<ItemSpec>>,
    /// The shop's stock document, polled on every report (`{"concert": 12}`); without it the
    /// gate counts each item's `stock` (file) down by the orders it sees complete, and an item
    /// with none is unlimited.
    #[arg(long, env = "USHER_STOCK_URL", value_name = "URL")]
    stock_url: Option<String>,
    /// `METHOD /path` whose 2xx answer ends the buyer's order, for a shop that cannot send
    /// `usher-order-complete`; repeat for each.
    #[arg(long = "complete-on", value_name = "RULE")]
    #[serde(default, deserialize_with = "rules")]
    complete_on: Option<Vec<CompletionRule>>,
}

/// `--upstream-host`.
#[derive(Debug, Clone, Copy)]
struct HostMode(HostHeader);

impl FromStr for HostMode {
    type Err = String;

    fn from_str(text: &str) -> Result<HostMode, String> {
        match text {
            "keep" => Ok(HostMode(HostHeader::Keep)),
            "upstream" => Ok(HostMode(HostHeader::Upstream)),
            other => Err(format!(
                "upstream_host is `keep` or `upstream`, not {other:?}"
            )),
        }
    }
}

/// One item: `ID=/path,/path2` on the command line, `{ id, paths, stock, name }` in the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ItemSpec {
    id: String,
    paths: Vec<String>,
    #[serde(default)]
    stock: Option<u64>,
    /// What buyers see at the reception ("Concert, 31 December"); the id when absent.
    #[serde(default)]
    name: Option<String>,
}

impl FromStr for ItemSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<ItemSpec, String> {
        let (id, paths) = text
            .split_once('=')
            .ok_or_else(|| format!("an item is ID=/path[,/path…], not {text:?}"))?;
        Ok(ItemSpec {
            id: id.trim().to_owned(),
            paths: paths.split(',').map(|p| p.trim().to_owned()).collect(),
            stock: None,
            name: None,
        })
    }
}

/// Reads completion rules from the file as the flag reads them.
fn rules<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<CompletionRule>>, D::Error> {
    let texts = <Option<Vec<String>>>::deserialize(d)?;
    texts
        .map(|texts| {
            texts
                .iter()
                .map(|t| t.parse().map_err(serde::de::Error::custom))
                .collect()
        })
        .transpose()
}

/// The longest item name, bytes (what the reception takes from a shop).
const MAX_NAME_LEN: usize = usher_wire::mgmt::MAX_NAME_LEN;

/// Most items one gate sells, and most paths per item.
const MAX_ITEMS: usize = 1024;
const MAX_PATHS: usize = 64;

impl GateSettings {
    /// The items and their paths, checked (see [`checked_items`]).
    fn items(&self) -> Result<Vec<ItemSpec>> {
        let items = self.items.clone().unwrap_or_default();
        checked_items(&items)?;
        Ok(items)
    }

    /// The forwarding service's settings: each one given replaces [`ProxyConfig::new`]'s.
    fn proxy(&self) -> Result<ProxyConfig> {
        let upstream = self
            .upstream
            .as_deref()
            .context("--upstream URL is needed: the shop behind the gate")?;
        let upstream = upstream
            .parse()
            .with_context(|| format!("--upstream {upstream:?}"))?;
        let mut proxy = ProxyConfig::new(upstream);
        if let Some(HostMode(host)) = self.upstream_host {
            proxy.host = host;
        }
        if let Some(timeout) = self.upstream_timeout {
            proxy.timeout = timeout.into();
        }
        if let Some(timeout) = self.upstream_connect_timeout {
            proxy.connect_timeout = timeout.into();
        }
        if let Some(path) = &self.upstream_health_path {
            proxy.health_path.clone_from(path);
        }
        if let Some(n) = self.upstream_pool {
            proxy.pool_max_idle = n;
        }
        if let Some(n) = self.upstream_max_connections {
            proxy.max_connections = n;
        }
        if let Some(n) = self.max_request_body {
            proxy.max_request_body = n;
        }
        proxy.complete_on = self.complete_on.clone().unwrap_or_default();
        proxy.validate()?;
        Ok(proxy)
    }
}

/// Items and their paths, checked: at least one, ids as tickets name them, paths starting with
/// `/` and not under `/t/` (the claims'); as the gate takes them.
pub(super) fn checked_items(items: &[ItemSpec]) -> Result<Vec<ItemPaths>> {
    anyhow::ensure!(
        !items.is_empty(),
        "name at least one item and its paths: --item ID=/path (or [[items]] in the file)"
    );
    anyhow::ensure!(items.len() <= MAX_ITEMS, "at most {MAX_ITEMS} items");
    for item in items {
        usher_ticket::ItemId::new(&item.id).with_context(|| format!("item id {:?}", item.id))?;
        anyhow::ensure!(
            !item.paths.is_empty() && item.paths.len() <= MAX_PATHS,
            "item {} needs 1 to {MAX_PATHS} paths",
            item.id
        );
        for path in &item.paths {
            anyhow::ensure!(
                path.starts_with('/') && path.len() > 1 && !path.starts_with("/t/"),
                "item {}: {path:?} is not a path such as /concert (and not under /t/)",
                item.id
            );
        }
        if let Some(name) = &item.name {
            anyhow::ensure!(
                usher_wire::mgmt::is_item_name(name),
                "item {}: name must be 1 to {MAX_NAME_LEN} bytes without control characters",
                item.id
            );
        }
    }
    Ok(items
        .iter()
        .map(|i| ItemPaths {
            id: i.id.clone(),
            paths: i.paths.clone(),
            name: i.name.as_ref().map(|name| name.trim().to_owned()),
        })
        .collect())
}

pub(crate) async fn run(args: GateArgs) -> Result<()> {
    let settings = args.settings.over_file(args.config.as_deref())?;
    let side = &settings.gate;
    let id = side.id()?;
    let keys = side.keys()?;
    let items = settings.items()?;
    let mut gate = side.gate(id);
    gate.items = checked_items(&items)?;
    gate.validate()?;
    let proxy = settings.proxy()?;
    let listener = settings.connections.listener();
    usher::shop_front(&gate, &listener)?;
    let stock = StockSource {
        items: items
            .iter()
            .map(|i| (i.id.clone(), i.stock))
            .collect::<BTreeMap<_, _>>(),
        url: settings
            .stock_url
            .as_deref()
            .map(|u| u.parse().with_context(|| format!("--stock-url {u:?}")))
            .transpose()?,
        every: side.report_every()?,
    };
    let upstream = proxy.upstream.clone();
    let setup = GateSetup {
        gate,
        keys,
        proxy,
        stock,
        receptions: side.receptions(),
        reception_tls: side.reception_tls()?,
        report_every: side.report_every()?,
    };
    let (public, management) = side.listeners().await?;
    let shutdown = serve::shutdown_on_signals();
    let running = start_gate(
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
        "usher gate {id}: public http://{} management {} upstream {upstream} epoch {}",
        running.public,
        running.management,
        running.gate.epoch().0
    );
    serve::until(shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str], file: &str) -> Result<GateSettings> {
        crate::cli::settings::parsed(args, file)
    }

    #[test]
    fn the_file_names_items_paths_stock_and_completion_rules() {
        let file = r#"
            id = "shop-a"
            upstream = "http://127.0.0.1:3000"
            upstream_host = "upstream"
            upstream_timeout = "2s"
            capacity = 50
            open_paths = ["/static/", "/healthz"]
            complete_on = ["POST /checkout/done"]
            stock_url = "http://127.0.0.1:3000/usher/stock"

            [[items]]
            id = "concert"
            paths = ["/concert", "/checkout"]
            stock = 12
            name = " Concert, 31 December "
        "#;
        let s = settings(&[], file).unwrap();
        let items = s.items().unwrap();
        assert_eq!(items[0].paths, ["/concert", "/checkout"]);
        assert_eq!(items[0].stock, Some(12));
        let named = checked_items(&items).unwrap();
        assert_eq!(named[0].name.as_deref(), Some("Concert, 31 December"));
        let proxy = s.proxy().unwrap();
        assert_eq!(proxy.host, HostHeader::Upstream);
        assert_eq!(proxy.timeout, std::time::Duration::from_secs(2));
        assert!(proxy.complete_on[0].matches(&axum::http::Method::POST, "/checkout/done"));
        assert_eq!(s.gate.gate(s.gate.id().unwrap()).capacity, 50);
    }

    #[test]
    fn flags_name_items_and_win_over_the_file() {
        let file = "upstream = \"http://a:1\"\n[[items]]\nid = \"x\"\npaths = [\"/x\"]\n";
        let args = [
            "--upstream",
            "http://b:2",
            "--item",
            "concert=/concert,/checkout",
            "--complete-on",
            "POST /checkout/done",
        ];
        let s = settings(&args, file).unwrap();
        assert_eq!(s.proxy().unwrap().upstream, "http://b:2/");
        let items = s.items().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id, "concert");
        assert_eq!(items[0].paths, ["/concert", "/checkout"]);
    }

    #[test]
    fn a_gate_without_an_upstream_or_items_or_with_bad_ones_is_refused() {
        assert!(settings(&[], "").unwrap().proxy().is_err(), "no upstream");
        assert!(settings(&[], "").unwrap().items().is_err(), "no item");
        for bad in [
            "concert",
            "concert=",
            "concert=concert",
            "bad id=/x",
            "x=/t/a",
        ] {
            let s = settings(&["--item", bad], "");
            assert!(s.is_err() || s.unwrap().items().is_err(), "{bad:?}");
        }
        let s = settings(&["--upstream", "https://shop"], "").unwrap();
        assert!(s.proxy().is_err(), "TLS upstream");
        assert!(settings(&["--complete-on", "checkout"], "").is_err());
        assert!(settings(&[], "upstream_host = \"sideways\"").is_err());
        for name in [
            "\"\"",
            "\"  \"",
            "\"a\\nb\"",
            &format!("\"{}\"", "n".repeat(201)),
        ] {
            let file = format!("[[items]]\nid = \"x\"\npaths = [\"/x\"]\nname = {name}\n");
            assert!(settings(&[], &file).unwrap().items().is_err(), "{name}");
        }
        assert!(settings(&[], "unknown = 1").is_err());
    }
}
