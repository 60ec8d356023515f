//! [`Comparison`]: several runs side by side (say usher against a plain 503, or one scenario at
//! three crowd sizes), one row each.

use serde::{Deserialize, Serialize};

use super::figures::Report;
use super::goals::{self, Check};
use super::markup::{self, PALETTE, escape};
use super::svg::{self, BarChart, BarGroup};

/// Reports put side by side, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// One report per run; its label names the row.
    pub rows: Vec<Report>,
}

impl Comparison {
    /// A comparison of these reports, in this order.
    pub fn new(rows: Vec<Report>) -> Comparison {
        Comparison { rows }
    }

    /// One self-contained HTML page: a table of the headline figures per run, marked against
    /// the goals, and bars of the share served and utilisation per run.
    pub fn to_html(&self) -> String {
        let mut body = format!(
            "<h1>usher crowd · comparison</h1>\n<p class=\"meta\">{} runs</p>\n<h2>Runs</h2>\n\
             <table>\n<thead><tr><th>Run</th><th>Buyers</th><th>Overruns</th><th>τ</th>\
             <th>Utilisation while queued</th><th>p99 admission (ms)</th>\
             <th>p50 / p99 to buy (ms)</th><th>Served</th><th>Errors</th></tr></thead>\n<tbody>\n",
            self.rows.len()
        );
        for report in &self.rows {
            body.push_str(&row(report));
        }
        body.push_str("</tbody>\n</table>\n<h2>Share served and utilisation</h2>\n<figure>\n");
        body.push_str(&svg::bar_chart(&BarChart {
            title: "Share of buyers served and utilisation while queued, per run",
            y_label: "fraction",
            y_max: 1.0,
            series: vec![
                ("share served", PALETTE[0]),
                ("utilisation while queued", PALETTE[1]),
            ],
            groups: self
                .rows
                .iter()
                .map(|report| BarGroup {
                    label: &report.label,
                    values: vec![report.share_served(), report.utilisation_while_queued],
                })
                .collect(),
        }));
        body.push_str(
            "</figure>\n<p class=\"note\">Served is bought ÷ buyers. Marks compare overruns, τ \
             and utilisation with their goals (0, ≥ 0.99, ≥ 0.95).</p>\n",
        );
        markup::page("usher crowd: comparison", &body)
    }
}

/// One run's row; the judged figures are coloured by their verdict.
fn row(report: &Report) -> String {
    let [overruns, tau, utilisation, ..] = report.checks();
    let judged = |check: &Check| {
        format!(
            "<td class=\"{}\">{}</td>",
            goals::verdict_class(check.verdict),
            escape(&check.shown)
        )
    };
    let total: u64 = report.errors.values().sum();
    let detail: Vec<String> = report
        .errors
        .iter()
        .map(|(code, count)| format!("{} {count}", escape(code)))
        .collect();
    let errors = match total {
        0 => "0".to_owned(),
        _ => format!("{total} ({})", detail.join(", ")),
    };
    format!(
        "<tr><td>{}</td><td>{}</td>{}{}{}<td>{}</td><td>{} / {}</td><td>{}</td><td>{errors}</td></tr>\n",
        escape(&report.label),
        report.buyers,
        judged(&overruns),
        judged(&tau),
        judged(&utilisation),
        markup::latency(report.latency_ms.admission.p99),
        markup::latency(report.latency_ms.to_buy.p50),
        markup::latency(report.latency_ms.to_buy.p99),
        markup::percent(report.share_served()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::small_run;

    fn two_runs() -> Comparison {
        let usher = Report {
            label: "usher".to_owned(),
            ..small_run("a")
        };
        let plain = Report {
            label: "plain <503>".to_owned(),
            overruns: 4,
            kendall_tau: Some(0.31),
            ..small_run("a")
        };
        Comparison::new(vec![usher, plain])
    }

    #[test]
    fn a_comparison_has_one_row_per_run_and_one_chart() {
        let html = two_runs().to_html();
        assert_eq!(html.matches("<tr><td>").count(), 2);
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(html.contains("<td class=\"fail\">4</td>") && html.contains("0.3100"));
        assert!(html.contains("83.3 %"), "served = 5 of 6");
        assert!(html.contains("1 (timeout 1)"));
    }

    #[test]
    fn comparison_labels_are_escaped_and_nothing_is_fetched() {
        let html = two_runs().to_html();
        assert!(html.contains("plain &lt;503&gt;") && !html.contains("<503>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn an_empty_comparison_still_renders() {
        let html = Comparison::default().to_html();
        assert!(html.contains("0 runs") && html.contains("no data"));
    }
}
