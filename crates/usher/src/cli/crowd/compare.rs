//! `usher crowd compare`: one crowd, run against a fresh usher per selection policy and against
//! the prior art (buyers straight to the shops in turn, no reception), shops of unequal
//! capacity and speed; the reports side by side.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use usher::demo::{DemoSetup, DemoShop, start_demo};
use usher_crowd::Report;
use usher_crowd::report::Comparison;
use usher_crowd::run::{Target, wait_for_shops};
use usher_reception::policy::PolicyKind;

use super::one::{OutputArgs, ScenarioArgs, crowd, summary};

/// How long a fresh system may take before every shop has reported.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Settings of `usher crowd compare`.
#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Capacities of the shops, one shop each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,20,30",
        value_name = "N,N,…"
    )]
    capacities: Vec<u32>,
    /// How long each shop takes per request when idle, in the order of the capacities: a
    /// slower machine beside faster ones (busier, a shop takes longer: idle time ÷ (1 − load),
    /// at most 10×, more past capacity).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5ms,5ms,60ms",
        value_parser = crate::cli::duration::parse,
        value_name = "DURATIONS"
    )]
    paces: Vec<Duration>,
    /// The reception's selection policies to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "least-loaded,p2c,round-robin,random",
        value_name = "POLICIES"
    )]
    policies: Vec<PolicyKind>,
    /// Leave out the prior-art run (DNS round robin straight to the shops).
    #[arg(long)]
    no_baseline: bool,
}

/// One run of the comparison.
#[derive(Debug, Clone, Copy)]
enum Contender {
    /// usher with this policy.
    Usher(PolicyKind),
    /// Buyers straight to the shops in turn; the shops let anyone in.
    DnsRoundRobin,
}

impl Contender {
    fn label(self) -> String {
        match self {
            Contender::Usher(policy) => format!("usher {}", policy_name(policy)),
            Contender::DnsRoundRobin => "DNS round robin, no reception (prior art)".to_owned(),
        }
    }
}

fn policy_name(policy: PolicyKind) -> &'static str {
    match policy {
        PolicyKind::LeastLoaded => "least-loaded",
        PolicyKind::PowerOfTwo => "p2c",
        PolicyKind::RoundRobin => "round-robin",
        PolicyKind::Random => "random",
    }
}

pub(crate) async fn run(args: CompareArgs) -> Result<()> {
    let mut scenario = args.scenario.scenario()?;
    // A crowd comes from many networks: each buyer gets its own loopback address, so that the
    // reception's cap on tickets per client network judges buyers, not the one machine.
    scenario.spread_sources = true;
    let shops = DemoShop::list(&args.capacities, &args.paces)?;
    let mut contenders: Vec<Contender> =
        args.policies.iter().map(|&p| Contender::Usher(p)).collect();
    if !args.no_baseline {
        contenders.push(Contender::DnsRoundRobin);
    }
    anyhow::ensure!(!contenders.is_empty(), "nothing to compare");
    let mut reports = Vec::new();
    for contender in contenders {
        let report = one_run(contender, &shops, &scenario).await?;
        println!("{}", summary(&report));
        reports.push(report);
    }
    let comparison = Comparison::new(reports);
    args.output
        .write(|| comparison_json(&comparison), || comparison.to_html())?;
    println!("\n{}", table(&comparison));
    Ok(())
}

/// Starts a fresh system for `contender`, runs the crowd against it, and stops it.
async fn one_run(
    contender: Contender,
    shops: &[DemoShop],
    scenario: &usher_crowd::run::Scenario,
) -> Result<Report> {
    let data = tempfile::Builder::new().prefix("usher-compare").tempdir()?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let setup = DemoSetup {
        shops: shops.to_vec(),
        policy: match contender {
            Contender::Usher(policy) => policy,
            Contender::DnsRoundRobin => PolicyKind::default(),
        },
        walk_ins: matches!(contender, Contender::DnsRoundRobin),
        ..DemoSetup::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            data.path().to_owned(),
        )
    };
    let demo = start_demo(setup, shutdown).await?;
    let status: url::Url = demo.status_url().parse()?;
    let direct = match contender {
        Contender::Usher(_) => Vec::new(),
        Contender::DnsRoundRobin => demo
            .shops
            .iter()
            .map(|(_, url, _)| url.parse())
            .collect::<Result<_, _>>()?,
    };
    let target = Target {
        reception: demo.reception_url.parse()?,
        status,
        direct,
    };
    anyhow::ensure!(
        wait_for_shops(&target.status, shops.len(), READY_WITHIN).await,
        "the shops did not report to the reception within {READY_WITHIN:?}"
    );
    let mut report = crowd(&target, scenario, &contender.label())
        .await
        .map(|(report, _)| report);
    if let Ok(report) = &mut report {
        report.scenario["shops"] = serde_json::json!(
            shops
                .iter()
                .map(|s| serde_json::json!({
                    "capacity": s.capacity,
                    "pace_ms": s.pace.as_secs_f64() * 1000.0,
                }))
                .collect::<Vec<_>>()
        );
    }
    let _ = stop.send(true);
    report.context("the crowd could not run")
}

fn comparison_json(comparison: &Comparison) -> String {
    // Reports hold only strings, numbers and maps: serialising cannot fail.
    serde_json::to_string_pretty(comparison).unwrap_or_default()
}

/// The comparison as a plain-text table for the terminal.
fn table(comparison: &Comparison) -> String {
    let figure =
        |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    let mut out = format!(
        "{:<44} {:>8} {:>8} {:>7} {:>7} {:>10} {:>10} {:>7}\n",
        "run", "overruns", "tau", "util", "served", "p50 buy", "p99 buy", "errors"
    );
    for report in &comparison.rows {
        out.push_str(&format!(
            "{:<44} {:>8} {:>8} {:>7} {:>7} {:>8.0}ms {:>8.0}ms {:>7}\n",
            report.label,
            report.overruns,
            figure(report.kendall_tau, 4),
            figure(report.utilisation_while_queued, 2),
            figure(report.share_served(), 3),
            report.latency_ms.to_buy.p50,
            report.latency_ms.to_buy.p99,
            report.errors.values().sum::<u64>(),
        ));
    }
    out
}
