//! [`Report`]: what a run showed, as figures a script can read (JSON) and a page a person can
//! (one self-contained HTML file), and [`Comparison`] of several runs side by side.
//!
//! - `figures.rs`: [`Report`] and [`Report::build`], the figures from what a run recorded.
//! - `goals.rs`: the headline figures against their goals ([`Report::checks`]).
//! - `page.rs`: [`Report::to_html`]; `compare.rs`: [`Comparison`].
//! - `markup.rs`: escaping, number formats and the page shell they share; `svg.rs`: the charts,
//!   drawn on `plot.rs`'s frame, scales, axes and legend.

mod compare;
mod figures;
mod goals;
mod markup;
mod page;
mod plot;
mod svg;

pub use compare::Comparison;
pub use figures::{
    EstimatePoint, InUsePoint, Latencies, MAX_ESTIMATE_POINTS, QueuePoint, RATE_BUCKET_MS,
    RatePoint, Report, ShopSeries,
};
pub use goals::{
    Check, GOAL_ESTIMATE_ERROR, GOAL_KENDALL_TAU, GOAL_OVERRUNS, GOAL_RANGE_COVERAGE,
    GOAL_UTILISATION, Verdict,
};

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use std::collections::BTreeMap;

    use crate::{BuyerRecord, Sample, ShopSample, Unfinished};

    /// Six buyers, one shop of two places, samples every second; buyer 5 disobeyed and jumped
    /// ahead, buyer 4 gave up. Buyers 2 and 3 were told their wait exactly, within a range of
    /// −20 % to +25 %.
    pub(crate) fn small_run(shop_id: &str) -> Report {
        let buyer = |arrival: u64, admitted: Option<u64>| BuyerRecord {
            arrival,
            arrived_ms: arrival * 100,
            answered_ms: None,
            obedient: arrival != 5,
            first_estimate_ms: admitted
                .filter(|_| arrival >= 2)
                .map(|_| 1000 * (arrival - 1)),
            estimated_ms: None,
            first_low_ms: admitted
                .filter(|_| arrival >= 2)
                .map(|_| 800 * (arrival - 1)),
            first_high_ms: admitted
                .filter(|_| arrival >= 2)
                .map(|_| 1250 * (arrival - 1)),
            place: None,
            admitted_ms: admitted,
            bought_ms: admitted.map(|at| at + 50),
            admission_latency_ms: vec![2.0, 4.0],
            claim_latency_ms: admitted.map(|_| 10.0),
            order_latency_ms: admitted.map(|_| 20.0),
            error: admitted.is_none().then(|| "timeout".to_owned()),
            unfinished: None,
        };
        let records = [
            buyer(0, Some(0)),
            buyer(1, Some(100)),
            buyer(2, Some(1200)),
            buyer(3, Some(2300)),
            buyer(4, None),
            buyer(5, Some(1100)),
        ];
        let samples: Vec<Sample> = [(0, 0, 1), (1000, 3, 2), (2000, 2, 2), (3000, 0, 1)]
            .into_iter()
            .map(|(at_ms, queue_len, in_use)| Sample {
                at_ms,
                queue_len,
                shops: [(
                    shop_id.to_owned(),
                    ShopSample {
                        in_use,
                        capacity: 2,
                        high_water: 2,
                    },
                )]
                .into(),
                opens_in_ms: None,
            })
            .collect();
        Report::build("small", json!({ "buyers": 6 }), &records, &samples, 3500)
    }

    /// Guards against ranking a flash crowd by when answers reached the buyers: a crowd on a
    /// busy machine reads its answers in no useful order, so τ ranks by place in line.
    #[test]
    fn tau_ranks_those_who_waited_by_their_place_in_line() {
        let records: Vec<BuyerRecord> = (0..6u64)
            .map(|n| BuyerRecord {
                arrival: n,
                answered_ms: Some(100 - n * 10),
                obedient: true,
                place: Some(n + 1),
                admitted_ms: Some(1000 + n * 100),
                ..BuyerRecord::default()
            })
            .collect();
        let report = Report::build("flash", json!({}), &records, &[], 2000);
        assert_eq!(report.kendall_tau, Some(1.0));
        assert_eq!(report.obedient_served, 6);
        let unplaced: Vec<BuyerRecord> = records
            .into_iter()
            .map(|r| BuyerRecord { place: None, ..r })
            .collect();
        let report = Report::build("flash", json!({}), &unplaced, &[], 2000);
        assert_eq!(
            report.kendall_tau,
            Some(-1.0),
            "no places: answer order stands in"
        );
    }

    #[test]
    fn a_small_run_gives_the_expected_figures() {
        let report = small_run("shop-a");
        assert_eq!(report.overruns, 0);
        assert_eq!(report.kendall_tau, Some(1.0));
        assert_eq!(report.utilisation_while_queued, Some(1.0));
        // Buyers 2 and 3 waited 1000 and 2000 ms, told 1000 and 2000: no error.
        assert_eq!(report.wait_estimate_median_abs_error, Some(0.0));
        assert_eq!(report.wait_estimate_range_coverage, Some(1.0));
        assert_eq!((report.buyers, report.obedient, report.admitted), (6, 5, 5));
        assert_eq!((report.obedient_served, report.bought), (4, 5));
        assert_eq!(report.errors, BTreeMap::from([("timeout".to_owned(), 1)]));
        assert_eq!(report.latency_ms.admission.count, 12);
        assert_eq!(report.latency_ms.claim.count, 5);
        assert_eq!(report.share_served(), Some(5.0 / 6.0));
        let rates: Vec<f64> = report
            .admissions_per_second
            .iter()
            .map(|p| p.per_second)
            .collect();
        assert_eq!(rates, [2.0, 2.0, 1.0]);
    }

    #[test]
    fn the_json_has_the_agreed_field_names() {
        let json: serde_json::Value = serde_json::from_str(&small_run("a").to_json()).unwrap();
        for field in [
            "overruns",
            "kendall_tau",
            "utilisation_while_queued",
            "wait_estimate_median_abs_error",
            "wait_estimate_range_coverage",
            "buyers",
            "admitted",
            "bought",
            "cut_short",
            "not_arrived",
            "obedient_served",
            "obedient",
            "duration_ms",
            "first_admission_after_opening_ms",
            "admissions_per_second",
            "latency_ms",
            "queue",
            "shops",
            "errors",
            "estimates",
            "scenario",
            "label",
        ] {
            assert!(json.get(field).is_some(), "{field} missing");
        }
        assert_eq!(
            json["admissions_per_second"][2],
            json!({ "at_ms": 2000, "per_second": 1.0 })
        );
        assert_eq!(json["latency_ms"]["claim"]["p50"], json!(10.0));
        for name in ["admission", "claim", "order"] {
            let mut keys: Vec<&String> = json["latency_ms"][name]
                .as_object()
                .unwrap()
                .keys()
                .collect();
            keys.sort();
            assert_eq!(keys, ["count", "max", "p50", "p99", "p999"]);
        }
        assert_eq!(json["queue"][1], json!({ "at_ms": 1000, "len": 3 }));
        assert_eq!(json["shops"]["a"]["capacity"], json!(2));
        assert_eq!(json["shops"]["a"]["high_water"], json!(2));
        assert_eq!(
            json["shops"]["a"]["in_use"][3],
            json!({ "at_ms": 3000, "in_use": 1 })
        );
        assert_eq!(json["errors"], json!({ "timeout": 1 }));
        assert_eq!(
            json["estimates"],
            json!([
                { "estimate_ms": 1000, "actual_ms": 1000 },
                { "estimate_ms": 2000, "actual_ms": 2000 }
            ])
        );
        assert_eq!(json["scenario"], json!({ "buyers": 6 }));
        assert_eq!(json["label"], json!("small"));
    }

    /// Guards against the reported run whose buyers, due after the deadline, were counted as
    /// 30,000 errors: the deadline's buyers are counted apart, and only failures are errors.
    #[test]
    fn buyers_the_deadline_stopped_are_counted_apart_from_errors() {
        let buyer =
            |arrival: u64, unfinished: Option<Unfinished>, error: Option<&str>| BuyerRecord {
                arrival,
                obedient: true,
                unfinished,
                error: error.map(str::to_owned),
                ..BuyerRecord::default()
            };
        let records = [
            buyer(0, None, Some("sold_out")),
            buyer(1, Some(Unfinished::CutShort), None),
            buyer(2, Some(Unfinished::CutShort), None),
            buyer(3, Some(Unfinished::NotArrived), None),
        ];
        let report = Report::build("cut", json!({}), &records, &[], 1000);
        assert_eq!((report.cut_short, report.not_arrived), (2, 1));
        assert_eq!(report.errors, BTreeMap::from([("sold_out".to_owned(), 1)]));
        assert_eq!(report.buyers, 4);
    }

    /// A crowd of thousands keeps a small report: the estimate chart's dots are sampled.
    #[test]
    fn a_large_crowd_keeps_at_most_the_cap_of_estimate_points() {
        let records: Vec<BuyerRecord> = (0..5000u64)
            .map(|n| BuyerRecord {
                arrival: n,
                obedient: true,
                first_estimate_ms: Some(1000),
                admitted_ms: Some(1000 + n),
                ..BuyerRecord::default()
            })
            .collect();
        let report = Report::build("big", json!({}), &records, &[], 10_000);
        assert_eq!(report.estimates.len(), MAX_ESTIMATE_POINTS);
        let actual: Vec<u64> = report.estimates.iter().map(|p| p.actual_ms).collect();
        assert_eq!((actual[0], actual[1], actual[1999]), (1000, 1002, 5997));
    }

    #[test]
    fn unknown_figures_are_null_in_the_json() {
        let report = Report::build("empty", serde_json::Value::Null, &[], &[], 0);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["kendall_tau"], serde_json::Value::Null);
        assert_eq!(json["utilisation_while_queued"], serde_json::Value::Null);
        for figure in [
            "wait_estimate_median_abs_error",
            "wait_estimate_range_coverage",
        ] {
            assert_eq!(json[figure], serde_json::Value::Null, "{figure}");
        }
        assert_eq!(report.share_served(), None);
    }

    #[test]
    fn a_report_reads_back_from_its_json() {
        let report = small_run("a");
        let back: Report = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn an_older_report_missing_fields_still_reads() {
        let back: Report = serde_json::from_str(r#"{ "label": "old", "overruns": 2 }"#).unwrap();
        assert_eq!(
            (back.label.as_str(), back.overruns, back.kendall_tau),
            ("old", 2, None)
        );
    }
}
