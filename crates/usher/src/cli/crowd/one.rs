//! One crowd, as `usher crowd` and `usher crowd compare` both run it: what it does, where its
//! report goes, the run itself with a progress bar, and its one-line summary.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use usher_crowd::Report;
use usher_crowd::run::{Arrival, Live, Run, Scenario, Target};

use crate::cli::duration;

/// Most buyers one crowd runs.
const MAX_CLIENTS: u64 = 1_000_000;

/// What the crowd does, shared by `usher crowd` and `usher crowd compare`.
#[derive(Debug, Args)]
pub(super) struct ScenarioArgs {
    /// How many buyers (at most 1,000,000).
    #[arg(long, default_value_t = 100, value_name = "N")]
    clients: u64,
    /// When they arrive: `flash` (all at once), `steady:RATE` (per second), or
    /// `ramp:FROM:TO:SECONDS`.
    #[arg(long, default_value = "flash", value_name = "PATTERN")]
    arrival: String,
    /// What they buy (the demo's `app` has a million in stock; its `concert` only 50 a shop).
    #[arg(long, default_value = "app", value_name = "ITEM")]
    item: String,
    /// Share of buyers who walk away after their first wait answer (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    abandon: f64,
    /// Share of admitted buyers who never open their ticket (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    abandon_admitted: f64,
    /// How long an admitted buyer stays at the shop before buying.
    #[arg(long, default_value = "1s", value_parser = duration::parse, value_name = "DURATION")]
    hold: Duration,
    /// Give every buyer its own source address in 127.0.0.0/8 (loopback targets only).
    #[arg(long)]
    spread: bool,
    /// Stop the whole run after this long, finished or not: buyers still waiting, at the shop
    /// or buying are cut short, and buyers due later never arrive (the report counts both,
    /// apart from errors).
    #[arg(long, default_value = "5m", value_parser = duration::parse, value_name = "DURATION")]
    deadline: Duration,
}

impl ScenarioArgs {
    /// The scenario, checked.
    pub(super) fn scenario(&self) -> Result<Scenario> {
        anyhow::ensure!(
            (1..=MAX_CLIENTS).contains(&self.clients),
            "--clients must be 1 to {MAX_CLIENTS}"
        );
        for (name, share) in [
            ("--abandon", self.abandon),
            ("--abandon-admitted", self.abandon_admitted),
        ] {
            anyhow::ensure!((0.0..=1.0).contains(&share), "{name} must be within 0 to 1");
        }
        anyhow::ensure!(!self.deadline.is_zero(), "--deadline must be above 0");
        Ok(Scenario {
            clients: self.clients,
            arrival: arrival(&self.arrival)?,
            item: self.item.clone(),
            abandon_waiting: self.abandon,
            abandon_admitted: self.abandon_admitted,
            hold_ms: u64::try_from(self.hold.as_millis()).unwrap_or(u64::MAX),
            spread_sources: self.spread,
            deadline_ms: u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Where the report goes.
#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    report_json: Option<PathBuf>,
    /// Write the report as one self-contained HTML file here.
    #[arg(long, value_name = "FILE")]
    report_html: Option<PathBuf>,
}

impl OutputArgs {
    /// Writes `json` and `html` where asked.
    pub(super) fn write(
        &self,
        json: impl FnOnce() -> String,
        html: impl FnOnce() -> String,
    ) -> Result<()> {
        if let Some(path) = &self.report_json {
            std::fs::write(path, json())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(path) = &self.report_html {
            std::fs::write(path, html())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// Parses `flash`, `steady:RATE` or `ramp:FROM:TO:SECONDS`.
fn arrival(text: &str) -> Result<Arrival> {
    let parts: Vec<&str> = text.split(':').collect();
    let number = |s: &str| -> Result<f64> {
        let v: f64 = s
            .parse()
            .with_context(|| format!("{s:?} is not a number"))?;
        anyhow::ensure!(v.is_finite() && v > 0.0, "{s:?} must be above 0");
        Ok(v)
    };
    Ok(match parts.as_slice() {
        ["flash"] => Arrival::Flash,
        ["steady", rate] => Arrival::Steady {
            per_second: number(rate)?,
        },
        ["ramp", from, to, over] => Arrival::Ramp {
            from: number(from)?,
            to: number(to)?,
            over_ms: (number(over)? * 1000.0) as u64,
        },
        _ => bail!("--arrival {text:?}: expected flash, steady:RATE or ramp:FROM:TO:SECONDS"),
    })
}

/// Raises this process's open-files limit to its hard maximum: each buyer holds a connection
/// or two.
fn raise_open_files() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let Some(max) = limit.maximum
        && limit.current < Some(max)
    {
        let raised = Rlimit {
            current: Some(max),
            maximum: Some(max),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return max;
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// Runs one crowd with a progress bar and builds its report.
pub(super) async fn crowd(
    target: &Target,
    scenario: &Scenario,
    label: &str,
) -> Result<(Report, Run)> {
    let files = raise_open_files();
    if files < scenario.clients.saturating_mul(2) {
        eprintln!(
            "usher crowd: only {files} open files allowed; {} buyers may run out",
            scenario.clients
        );
    }
    eprintln!("{}", plan(scenario, label));
    let live = Arc::new(Live::default());
    let bar = progress_bar(scenario.clients, label);
    let ticker = {
        let (live, bar) = (Arc::clone(&live), bar.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let admitted = live.admitted.load(Ordering::Relaxed);
                bar.set_position(admitted);
                let rate = admitted as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "waiting {} · bought {} · errors {} · {rate:.0}/s",
                    live.waiting.load(Ordering::Relaxed),
                    live.bought.load(Ordering::Relaxed),
                    live.errors.load(Ordering::Relaxed),
                ));
            }
        })
    };
    let outcome = usher_crowd::run::run(target, scenario, Arc::clone(&live)).await;
    ticker.abort();
    bar.finish_and_clear();
    Ok((outcome.report(label, scenario), outcome))
}

fn progress_bar(clients: u64, label: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(clients).with_prefix(label.to_owned());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} {elapsed_precise} [{bar:30}] admitted {pos}/{len} · {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// How long the run will take at most, said before it starts, so that a runner whose crowd
/// arrives over longer than the deadline learns it now rather than from the report.
fn plan(scenario: &Scenario, label: &str) -> String {
    let span = scenario.arrivals_span().as_secs_f64();
    let deadline = scenario.deadline().as_secs_f64();
    let mut line = format!(
        "{label}: {} buyers arrive over {span:.1} s; the run ends by its deadline, {deadline:.1} s, \
         at the latest",
        scenario.clients
    );
    let late = scenario.clients - scenario.arriving();
    if late > 0 {
        line.push_str(&format!(
            " (the last {late} are due after it and will not arrive; --deadline sets it)"
        ));
    }
    line
}

/// One line a person can read at a glance.
pub(super) fn summary(report: &Report) -> String {
    let figure = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
    format!(
        "{}: {} buyers, {} admitted, {} bought in {:.1} s; overruns {}, kendall tau {}, \
         utilisation while queued {}, median estimate error {}, estimate range coverage {}, \
         errors {}, cut short {}, not arrived {}",
        report.label,
        report.buyers,
        report.admitted,
        report.bought,
        report.duration_ms as f64 / 1000.0,
        report.overruns,
        figure(report.kendall_tau),
        figure(report.utilisation_while_queued),
        figure(report.wait_estimate_median_abs_error),
        figure(report.wait_estimate_range_coverage),
        report.errors.values().sum::<u64>(),
        report.cut_short,
        report.not_arrived,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_patterns_parse_and_bad_ones_are_refused() {
        assert_eq!(arrival("flash").unwrap(), Arrival::Flash);
        assert_eq!(
            arrival("steady:50").unwrap(),
            Arrival::Steady { per_second: 50.0 }
        );
        assert_eq!(
            arrival("ramp:10:100:30").unwrap(),
            Arrival::Ramp {
                from: 10.0,
                to: 100.0,
                over_ms: 30_000
            }
        );
        for bad in ["", "steady", "steady:-1", "steady:nan", "ramp:1:2", "burst"] {
            assert!(arrival(bad).is_err(), "{bad}");
        }
    }

    fn scenario(args: &[&str]) -> Result<Scenario> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            scenario: ScenarioArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from(["crowd"].iter().chain(args))?;
        cli.scenario.scenario()
    }

    /// The reported run: 60,000 buyers at 100/s, five minutes by default.
    #[test]
    fn the_plan_says_how_long_at_most_and_who_will_not_arrive() {
        let long = scenario(&["--clients", "60000", "--arrival", "steady:100"]).unwrap();
        assert_eq!(long.deadline_ms, 300_000, "five minutes by default");
        assert_eq!(
            plan(&long, "usher"),
            "usher: 60000 buyers arrive over 600.0 s; the run ends by its deadline, 300.0 s, at \
             the latest (the last 30000 are due after it and will not arrive; --deadline sets it)"
        );
        let short = scenario(&["--clients", "100", "--arrival", "steady:100"]).unwrap();
        assert!(plan(&short, "usher").ends_with("300.0 s, at the latest"));
        assert!(scenario(&["--deadline", "0s"]).is_err());
    }
}
