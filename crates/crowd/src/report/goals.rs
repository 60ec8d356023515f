//! The headline figures against the goals usher is built to meet, so the page, the comparison
//! and a runner deciding its exit status all judge a run the same way.

use super::figures::Report;
use super::markup;

/// Places handed out beyond capacity: none, ever.
pub const GOAL_OVERRUNS: u64 = 0;
/// Utilisation while someone waits: at least this (idle places with a queue are waste).
pub const GOAL_UTILISATION: f64 = 0.95;
/// Kendall's τ of admission against arrival: at least this (first come, first served).
pub const GOAL_KENDALL_TAU: f64 = 0.99;
/// Median relative error of the first wait estimate: at most this.
pub const GOAL_ESTIMATE_ERROR: f64 = 0.15;
/// Share of actual waits within the first estimate's range: at least this, since the range
/// claims to be about p10..p90.
pub const GOAL_RANGE_COVERAGE: f64 = 0.80;

/// How a figure fared against its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The goal was met.
    Pass,
    /// The goal was missed.
    Fail,
    /// The run could not tell (nobody waited, no shop was sampled, …).
    NotMeasured,
}

/// One headline figure against its goal.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What is measured, for people.
    pub figure: &'static str,
    /// The figure; `None` when not measured.
    pub value: Option<f64>,
    /// The figure as shown (digits chosen per figure), or `n/a`.
    pub shown: String,
    /// The goal as shown, e.g. `≥ 0.95`.
    pub goal: String,
    /// Met, missed, or unknown.
    pub verdict: Verdict,
}

impl Check {
    fn new(
        figure: &'static str,
        value: Option<f64>,
        digits: usize,
        goal: String,
        met: impl Fn(f64) -> bool,
    ) -> Check {
        Check {
            figure,
            value,
            shown: markup::figure(value, digits),
            goal,
            verdict: match value {
                Some(value) if met(value) => Verdict::Pass,
                Some(_) => Verdict::Fail,
                None => Verdict::NotMeasured,
            },
        }
    }
}

/// The class that colours a cell judged against a goal.
pub(super) fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::NotMeasured => "na",
    }
}

/// The mark shown for a verdict: a symbol and a word, so it reads without colour.
pub(super) fn verdict_mark(verdict: Verdict) -> String {
    let text = match verdict {
        Verdict::Pass => "✔ pass",
        Verdict::Fail => "✘ fail",
        Verdict::NotMeasured => "– not measured",
    };
    format!(r#"<span class="{}">{text}</span>"#, verdict_class(verdict))
}

impl Report {
    /// The five headline figures against their goals: overruns, fairness, utilisation while
    /// queued, the wait estimates' error and their range's coverage.
    pub fn checks(&self) -> [Check; 5] {
        // With no shop ever sampled, "0 overruns" would be a claim the run cannot back.
        let overruns = (!self.shops.is_empty()).then_some(self.overruns as f64);
        [
            Check::new(
                "Overruns",
                overruns,
                0,
                format!("= {GOAL_OVERRUNS}"),
                |value| value <= GOAL_OVERRUNS as f64,
            ),
            Check::new(
                "Kendall's τ (obedient buyers)",
                self.kendall_tau,
                4,
                format!("≥ {GOAL_KENDALL_TAU}"),
                |value| value >= GOAL_KENDALL_TAU,
            ),
            Check::new(
                "Utilisation while queued",
                self.utilisation_while_queued,
                3,
                format!("≥ {GOAL_UTILISATION}"),
                |value| value >= GOAL_UTILISATION,
            ),
            Check::new(
                "Median wait estimate error",
                self.wait_estimate_median_abs_error,
                3,
                format!("≤ {GOAL_ESTIMATE_ERROR}"),
                |value| value <= GOAL_ESTIMATE_ERROR,
            ),
            Check::new(
                "Estimate range coverage",
                self.wait_estimate_range_coverage,
                3,
                format!("≥ {GOAL_RANGE_COVERAGE:.2}"),
                |value| value >= GOAL_RANGE_COVERAGE,
            ),
        ]
    }

    /// Whether no headline figure missed its goal (figures the run could not measure do not
    /// count against it).
    pub fn meets_goals(&self) -> bool {
        self.checks()
            .iter()
            .all(|check| check.verdict != Verdict::Fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::small_run;

    #[test]
    fn a_fair_full_run_passes_every_goal() {
        let report = small_run("a");
        let verdicts = report.checks().map(|check| check.verdict);
        assert_eq!(verdicts, [Verdict::Pass; 5]);
        assert!(report.meets_goals());
    }

    #[test]
    fn one_overrun_fails_the_run() {
        let report = Report {
            overruns: 1,
            ..small_run("a")
        };
        assert_eq!(report.checks()[0].verdict, Verdict::Fail);
        assert_eq!(report.checks()[0].shown, "1");
        assert!(!report.meets_goals());
    }

    #[test]
    fn goals_are_judged_at_their_edges() {
        let report = Report {
            kendall_tau: Some(0.99),
            utilisation_while_queued: Some(0.9499),
            wait_estimate_median_abs_error: Some(0.15),
            wait_estimate_range_coverage: Some(0.80),
            ..small_run("a")
        };
        let verdicts = report.checks().map(|check| check.verdict);
        assert_eq!(
            verdicts,
            [
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Fail,
                Verdict::Pass,
                Verdict::Pass
            ]
        );
        assert_eq!(report.checks()[4].goal, "≥ 0.80");
    }

    /// Ranges that hold too few waits fail the run even when the median estimate is right.
    #[test]
    fn a_range_that_holds_too_few_waits_fails() {
        let report = Report {
            wait_estimate_range_coverage: Some(0.79),
            ..small_run("a")
        };
        let check = &report.checks()[4];
        assert_eq!(
            (check.figure, check.shown.as_str(), check.verdict),
            ("Estimate range coverage", "0.790", Verdict::Fail)
        );
        assert_eq!(report.checks()[3].verdict, Verdict::Pass);
        assert!(!report.meets_goals());
    }

    #[test]
    fn figures_a_run_cannot_measure_are_not_failures() {
        let report = Report::default();
        let checks = report.checks();
        assert!(
            checks
                .iter()
                .all(|check| check.verdict == Verdict::NotMeasured)
        );
        assert_eq!(checks[1].shown, "n/a");
        assert!(report.meets_goals());
    }
}
