//! `usher demo`: a reception and three shops in one process on loopback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use usher::demo::{DemoSetup, DemoShop, start_demo};
use usher::serve;

/// Settings of `usher demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The reception's public address; the shops and management listeners take free ports.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Keep the shops' data here instead of a fresh temporary directory.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Capacities of the shops, one shop each (at most 26) [default: 5,10,20; with --upstream,
    /// one gate of 10].
    #[arg(long, value_delimiter = ',')]
    capacities: Vec<u32>,
    /// Give every shop this capacity instead (a small N lets a few browser tabs fill them).
    #[arg(long, value_name = "N", conflicts_with = "capacities")]
    capacity: Option<u32>,
    /// How the reception chooses a shop: `least-loaded` (the default), `p2c`, `round-robin` or
    /// `random`.
    #[arg(long, default_value = "least-loaded", value_name = "POLICY")]
    policy: usher_reception::policy::PolicyKind,
    /// How long each shop takes per request when idle, in the order of the capacities
    /// (`0,0,40ms`): a slower machine beside faster ones; a busier shop takes longer (as a
    /// shared processor does: idle time ÷ (1 − load), at most 10×, more past capacity).
    /// Missing entries are 0.
    #[arg(long, value_delimiter = ',', value_name = "DURATIONS", value_parser = super::duration::parse)]
    paces: Vec<Duration>,
    /// Shops let anyone in without a ticket, as plain web servers would (the prior art, to
    /// measure against: `usher crowd --direct`). The reception still watches them.
    #[arg(long, conflicts_with = "upstream")]
    walk_ins: bool,
    /// Try usher in front of a shop of your own: `usher gate` (one per capacity) instead of the
    /// reference shops, all in front of this server (`http://host:port`). Needs --item.
    #[arg(long, value_name = "URL", requires = "items")]
    upstream: Option<String>,
    /// With --upstream: an item on sale and your shop's paths for it, `ID=/path[,/path…]`;
    /// repeat for each.
    #[arg(long = "item", value_name = "ID=PATHS", requires = "upstream")]
    items: Vec<super::gate::ItemSpec>,
    /// With --upstream: your shop's stock document (`{"concert": 12}`), polled on every
    /// report [default: every item unlimited].
    #[arg(long, value_name = "URL", requires = "upstream")]
    stock_url: Option<String>,
    /// How long a buyer is expected to stay at a shop, claim to order (100ms to 24h): the
    /// first waiting answers' estimate comes from it and the shops' places, until the shops
    /// measure their own sessions (kept with the line) [default: 1s, as `usher crowd` buyers
    /// stay; a person in a browser takes longer].
    #[arg(long, value_name = "DURATION", value_parser = super::duration::parse)]
    expected_session: Option<Duration>,
    /// --expected-session for one item, as ITEM=DURATION; repeat for each (a shop's expected
    /// session is the mean over its items) [default: --expected-session for every item].
    #[arg(long = "expected-session-for", value_name = "ITEM=DURATION")]
    expected_session_for: Vec<super::item_session::ItemSession>,
    /// Open the sale at this moment (`+30s` from now, or RFC 3339 in UTC): arrivals before it
    /// wait in a pre-queue with a countdown, drawn in random order at the opening from a seed
    /// published after it (`/api/v1/opening`) [default: open at once].
    #[arg(long, value_name = "WHEN")]
    opens_at: Option<super::when::When>,
    /// With --opens-at: `random` or `arrival` [default: random].
    #[arg(long, value_name = "ORDER", requires = "opens_at")]
    pre_queue_order: Option<usher_reception::PreQueueOrder>,
}

impl DemoArgs {
    /// The shop of one's own, checked, if one was named.
    fn upstream(&self) -> Result<Option<usher::demo::DemoUpstream>> {
        let Some(url) = &self.upstream else {
            return Ok(None);
        };
        let items = super::gate::checked_items(&self.items)?;
        Ok(Some(usher::demo::DemoUpstream {
            url: url.parse().with_context(|| format!("--upstream {url:?}"))?,
            items,
            stock_url: self
                .stock_url
                .as_deref()
                .map(|u| u.parse().with_context(|| format!("--stock-url {u:?}")))
                .transpose()?,
        }))
    }
}

pub(crate) async fn run(mut args: DemoArgs) -> Result<()> {
    let upstream = args.upstream()?;
    if args.capacities.is_empty() {
        args.capacities = if upstream.is_some() {
            vec![10]
        } else {
            vec![5, 10, 20]
        };
    }
    if let Some(n) = args.capacity {
        args.capacities = vec![n; args.capacities.len()];
    }
    let shops = DemoShop::list(&args.capacities, &args.paces)?;
    let temp = match &args.data {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("usher-demo").tempdir()?),
    };
    let data = args
        .data
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_owned()))
        .context("no data directory")?;
    let setup = DemoSetup {
        shops,
        policy: args.policy,
        walk_ins: args.walk_ins,
        upstream: upstream.clone(),
        expected_session: args.expected_session.or(Some(usher::demo::DEMO_SESSION)),
        expected_sessions: args
            .expected_session_for
            .iter()
            .map(|entry| (entry.item.clone(), entry.session))
            .collect(),
        opening: args.opens_at.map(|at| usher_reception::OpeningSettings {
            order: args.pre_queue_order.unwrap_or_default(),
            ..usher_reception::OpeningSettings::new(at.into())
        }),
        ..DemoSetup::new(args.listen, data.clone())
    };
    let shutdown = serve::shutdown_on_signals();
    let demo = start_demo(setup, shutdown.clone()).await?;
    let reception_url = &demo.reception_url;
    println!(
        "usher demo: reception {reception_url}  (status: {})",
        demo.status_url()
    );
    for (i, (id, url, shop)) in demo.shops.iter().enumerate() {
        let config = shop.gate.config();
        let pace = args
            .paces
            .get(i)
            .filter(|p| !p.is_zero())
            .map(|p| format!("  pace {}", humantime::format_duration(*p)))
            .unwrap_or_default();
        println!(
            "  {id}  {url}  capacity {}{pace}  (status: http://{}/status)",
            config.capacity, shop.management
        );
    }
    for (id, url, gate) in &demo.gates {
        println!(
            "  {id}  {url}  usher gate, capacity {}, in front of {}  (status: http://{}/status)",
            gate.gate.config().capacity,
            args.upstream.as_deref().unwrap_or_default(),
            gate.management
        );
    }
    if args.walk_ins {
        println!("shops let walk-ins in (no ticket needed): the prior art, for comparisons");
    }
    if let Some(at) = args.opens_at {
        let left =
            at.0.duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
        println!(
            "the sale opens at {} (in {}s): arrivals wait in a pre-queue, drawn in {} order at \
             the opening; the seed's hash, then the seed: {reception_url}/api/v1/opening",
            usher_wire::Rfc3339(at.0),
            left.as_secs(),
            args.pre_queue_order.unwrap_or_default().as_str(),
        );
    }
    println!("data: {}", data.display());
    println!();
    println!("Try it:");
    let item = upstream
        .as_ref()
        .and_then(|u| u.items.first())
        .map_or("concert", |i| i.id.as_str());
    println!("  curl -i {reception_url}/order/{item}");
    println!("  open {reception_url}/order/{item} in a browser, then buy");
    println!("  with --capacity 1, open it in a few tabs: the later ones wait in line");
    println!("Ctrl-C stops the demo.");
    serve::until(shutdown).await;
    drop(temp);
    Ok(())
}
