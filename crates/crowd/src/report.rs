//! [`Report`]: what a run showed, as figures a script can read (JSON) and a page a person can
//! (one self-contained HTML file), and [`Comparison`] of several runs side by side.
//!
//! - `goals.rs`: the headline figures against their goals ([`Report::checks`]).
//! - `page.rs`: [`Report::to_html`]; `compare.rs`: [`Comparison`].
//! - `markup.rs`: escaping, number formats and the page shell they share; `svg.rs`: the charts.

mod compare;
mod goals;
mod markup;
mod page;
mod svg;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{self, Percentiles};
use crate::{BuyerRecord, Sample};

pub use compare::Comparison;
pub use goals::{
    Check, GOAL_ESTIMATE_ERROR, GOAL_KENDALL_TAU, GOAL_OVERRUNS, GOAL_UTILISATION, Verdict,
};

/// Width of the buckets in [`Report::admissions_per_second`]: a second, the unit operators
/// think in.
pub const RATE_BUCKET_MS: u64 = 1000;

/// Everything one run showed. Fields missing from an older report's JSON read as empty, so
/// `compare` can still put it beside newer ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// The runner's name for this run (shown as the title, and as the row in a comparison).
    pub label: String,
    /// The scenario as the runner describes it (buyers, shops, arrival rate, misbehaviour …).
    pub scenario: serde_json::Value,
    /// Places handed out beyond capacity, summed over shops (goal: 0).
    pub overruns: u64,
    /// Kendall's τ-b of admission order against arrival order (places in line) among obedient
    /// buyers who waited (goal ≥ 0.99); null when fewer than two were admitted.
    pub kendall_tau: Option<f64>,
    /// Places in use ÷ places in all while someone waited (goal ≥ 0.95); null if nobody waited.
    pub utilisation_while_queued: Option<f64>,
    /// Median |estimate − actual| ÷ actual wait of obedient buyers, a fraction (goal ≤ 0.15).
    pub wait_estimate_median_abs_error: Option<f64>,
    /// Buyers in the crowd.
    pub buyers: u64,
    /// Buyers who obeyed every return time.
    pub obedient: u64,
    /// Buyers the reception admitted.
    pub admitted: u64,
    /// Obedient buyers the reception admitted.
    pub obedient_served: u64,
    /// Buyers whose order completed.
    pub bought: u64,
    /// Length of the run.
    pub duration_ms: u64,
    /// Admissions per second over the run, in buckets of [`RATE_BUCKET_MS`].
    pub admissions_per_second: Vec<RatePoint>,
    /// Latency of each kind of call.
    pub latency_ms: Latencies,
    /// The reception's line over time.
    pub queue: Vec<QueuePoint>,
    /// Each shop's capacity, peak and places in use over time, by shop id.
    pub shops: BTreeMap<String, ShopSeries>,
    /// Buyers ended by each refusal or failure code.
    pub errors: BTreeMap<String, u64>,
}

/// Admissions per second in the bucket starting at `at_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RatePoint {
    /// Start of the bucket, ms since the run began.
    pub at_ms: u64,
    /// Admissions in the bucket, per second.
    pub per_second: f64,
}

/// The length of the line at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePoint {
    /// Ms since the run began.
    pub at_ms: u64,
    /// Clients waiting.
    pub len: u64,
}

/// Places in use at one shop at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InUsePoint {
    /// Ms since the run began.
    pub at_ms: u64,
    /// Places in use.
    pub in_use: u32,
}

/// One shop over the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShopSeries {
    /// Capacity at the last sample.
    pub capacity: u32,
    /// The most places in use at once (the shop's own high-water mark).
    pub high_water: u32,
    /// Places in use at each sample.
    pub in_use: Vec<InUsePoint>,
}

/// Latency percentiles of each kind of call, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latencies {
    /// Each ask of the reception (a waiting buyer asks several times).
    pub admission: Percentiles,
    /// The claim at the shop: ticket in, session out.
    pub claim: Percentiles,
    /// The buy.
    pub order: Percentiles,
    /// A buyer's whole visit: from its first ask to its completed order (what the buyer feels;
    /// the figure policies differ on when shops differ in speed).
    pub to_buy: Percentiles,
}

impl Report {
    /// Turns what a run recorded into its figures. Fairness (τ) and the estimate error look only
    /// at obedient buyers: one who came back early or late chose its own place, and the reception
    /// promised nothing about it. τ pairs each place in line (the order the reception took the
    /// buyers in) with its admission time, among buyers who waited; when fewer than two waited,
    /// the time the reception first answered each buyer stands for its place. τ depends only
    /// on order.
    pub fn build(
        label: &str,
        scenario: serde_json::Value,
        records: &[BuyerRecord],
        samples: &[Sample],
        duration_ms: u64,
    ) -> Report {
        let obedient = || records.iter().filter(|record| record.obedient);
        let served: Vec<(u64, u64)> = obedient()
            .filter_map(|record| {
                let arrived = record.answered_ms.unwrap_or(record.arrived_ms);
                Some((arrived, record.admitted_ms?))
            })
            .collect();
        let in_line: Vec<(u64, u64)> = obedient()
            .filter_map(|record| Some((record.place?, record.admitted_ms?)))
            .collect();
        let fair_pairs = if in_line.len() >= 2 {
            &in_line
        } else {
            &served
        };
        let admission: Vec<f64> = records
            .iter()
            .flat_map(|record| record.admission_latency_ms.iter().copied())
            .collect();
        let claim: Vec<f64> = records
            .iter()
            .filter_map(|record| record.claim_latency_ms)
            .collect();
        let order: Vec<f64> = records
            .iter()
            .filter_map(|record| record.order_latency_ms)
            .collect();
        let to_buy: Vec<f64> = records
            .iter()
            .filter_map(|record| Some(record.bought_ms?.saturating_sub(record.arrived_ms) as f64))
            .collect();

        let mut ordered: Vec<&Sample> = samples.iter().collect();
        ordered.sort_by_key(|sample| sample.at_ms);

        Report {
            label: label.to_owned(),
            scenario,
            overruns: metrics::overruns(samples),
            kendall_tau: metrics::kendall_tau(fair_pairs),
            utilisation_while_queued: metrics::utilisation_while_queued(samples),
            wait_estimate_median_abs_error: metrics::estimate_error(obedient()),
            buyers: records.len() as u64,
            obedient: obedient().count() as u64,
            admitted: records
                .iter()
                .filter(|record| record.admitted_ms.is_some())
                .count() as u64,
            obedient_served: served.len() as u64,
            bought: records
                .iter()
                .filter(|record| record.bought_ms.is_some())
                .count() as u64,
            duration_ms,
            admissions_per_second: metrics::admissions_per_second(records, RATE_BUCKET_MS)
                .into_iter()
                .map(|(at_ms, per_second)| RatePoint { at_ms, per_second })
                .collect(),
            latency_ms: Latencies {
                admission: metrics::percentiles(&admission),
                claim: metrics::percentiles(&claim),
                order: metrics::percentiles(&order),
                to_buy: metrics::percentiles(&to_buy),
            },
            queue: ordered
                .iter()
                .map(|sample| QueuePoint {
                    at_ms: sample.at_ms,
                    len: sample.queue_len,
                })
                .collect(),
            shops: shop_series(&ordered),
            errors: metrics::errors_by_code(records),
        }
    }

    /// The report as pretty JSON, for scripts and for `compare`.
    pub fn to_json(&self) -> String {
        // A map with string keys and numbers that are never NaN cannot fail to serialise.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Bought ÷ buyers: how much of the crowd left with an order (being let in is not enough:
    /// behind a plain balancer a buyer can get in and then be turned away at the till).
    /// `None` for an empty crowd.
    pub fn share_served(&self) -> Option<f64> {
        (self.buyers > 0).then(|| self.bought as f64 / self.buyers as f64)
    }
}

/// Each shop's series from the samples in time order; a shop missing from some samples (not yet
/// registered, or gone) simply has fewer points.
fn shop_series(ordered: &[&Sample]) -> BTreeMap<String, ShopSeries> {
    let mut shops: BTreeMap<String, ShopSeries> = BTreeMap::new();
    for sample in ordered {
        for (id, shop) in &sample.shops {
            let series = shops.entry(id.clone()).or_default();
            series.capacity = shop.capacity;
            series.high_water = series.high_water.max(shop.high_water).max(shop.in_use);
            series.in_use.push(InUsePoint {
                at_ms: sample.at_ms,
                in_use: shop.in_use,
            });
        }
    }
    shops
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::ShopSample;

    /// Six buyers, one shop of two places, samples every second; buyer 5 disobeyed and jumped
    /// ahead, buyer 4 gave up.
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
            place: None,
            admitted_ms: admitted,
            bought_ms: admitted.map(|at| at + 50),
            admission_latency_ms: vec![2.0, 4.0],
            claim_latency_ms: admitted.map(|_| 10.0),
            order_latency_ms: admitted.map(|_| 20.0),
            error: admitted.is_none().then(|| "timeout".to_owned()),
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
            "buyers",
            "admitted",
            "bought",
            "obedient_served",
            "obedient",
            "duration_ms",
            "admissions_per_second",
            "latency_ms",
            "queue",
            "shops",
            "errors",
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
        assert_eq!(json["scenario"], json!({ "buyers": 6 }));
        assert_eq!(json["label"], json!("small"));
    }

    #[test]
    fn unknown_figures_are_null_in_the_json() {
        let report = Report::build("empty", serde_json::Value::Null, &[], &[], 0);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["kendall_tau"], serde_json::Value::Null);
        assert_eq!(json["utilisation_while_queued"], serde_json::Value::Null);
        assert_eq!(
            json["wait_estimate_median_abs_error"],
            serde_json::Value::Null
        );
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
