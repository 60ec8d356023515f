//! `usher crowd`: the patent's client by the thousand against a live usher, with a report.
//! `one.rs` is one crowd (its settings, its run, its summary); `compare.rs` runs it against
//! several systems.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use usher_crowd::run::Target;

use one::{OutputArgs, ScenarioArgs, crowd, summary};

mod compare;
mod one;

/// Settings of `usher crowd`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct CrowdArgs {
    #[command(subcommand)]
    command: Option<CrowdCommand>,
    /// The reception's public base URL (as `usher demo` prints it).
    #[arg(long, value_name = "URL", required = true)]
    reception: Option<String>,
    /// The reception's management status URL (`http://MANAGEMENT/status`, as `usher demo`
    /// prints it): the queue length and each shop's places and high-water mark.
    #[arg(long, value_name = "URL", required = true)]
    status: Option<String>,
    /// Bypass the reception: buyers walk straight into these shops' item pages in turn, as
    /// DNS round robin would send them (the prior art; the shops must let walk-ins in, e.g.
    /// `usher demo --walk-ins`), or into one balancer in front of them. Comma-separated base
    /// URLs.
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    direct: Vec<String>,
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// A name for this run in the report.
    #[arg(long, default_value = "usher", value_name = "TEXT")]
    label: String,
    /// Write every buyer's record here, one JSON object per line (arrival, first estimate,
    /// admission and purchase times, latencies, error).
    #[arg(long, value_name = "FILE")]
    records: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum CrowdCommand {
    /// Run the same crowd against an usher of its own per selection policy and against the
    /// prior art (DNS round robin straight to the shops, no reception), on shops of unequal
    /// capacity and speed; one table and one chart side by side.
    Compare(compare::CompareArgs),
}

pub(crate) async fn run(args: CrowdArgs) -> Result<()> {
    if let Some(CrowdCommand::Compare(compare)) = args.command {
        return compare::run(compare).await;
    }
    let scenario = args.scenario.scenario()?;
    let url = |text: Option<&str>, name: &str| -> Result<url::Url> {
        text.with_context(|| format!("{name} is missing"))?
            .parse()
            .with_context(|| format!("{name} is not a URL"))
    };
    let target = Target {
        reception: url(args.reception.as_deref(), "--reception")?,
        status: url(args.status.as_deref(), "--status")?,
        direct: args
            .direct
            .iter()
            .map(|u| url(Some(u), "--direct"))
            .collect::<Result<_>>()?,
    };
    let (report, outcome) = crowd(&target, &scenario, &args.label).await?;
    args.output
        .write(|| report.to_json(), || report.to_html())?;
    if let Some(path) = &args.records {
        std::fs::write(path, outcome.records_json_lines())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("{}", summary(&report));
    Ok(())
}
