//! [`Report`]: the figures of one run, built from what it recorded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{self, Percentiles};
use crate::{BuyerRecord, Sample, Unfinished};

/// Width of the buckets in [`Report::admissions_per_second`]: a second, the unit operators
/// think in.
pub const RATE_BUCKET_MS: u64 = 1000;

/// Most buyers kept in [`Report::estimates`]: enough dots to show how estimates and waits
/// agree, few enough that the report of a 60,000-buyer crowd stays small.
pub const MAX_ESTIMATE_POINTS: usize = 2000;

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
    /// Share of those buyers whose actual wait fell within their first estimate's range, about
    /// p10..p90 (goal ≥ 0.80); null if no buyer's record holds a range.
    pub wait_estimate_range_coverage: Option<f64>,
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
    /// Buyers the run's deadline found still waiting, at the shop or buying: not errors, since
    /// nothing failed, but not served either.
    pub cut_short: u64,
    /// Buyers due at the deadline or later, who never asked: the scenario's arrivals outlast
    /// its deadline.
    pub not_arrived: u64,
    /// Length of the run.
    pub duration_ms: u64,
    /// With a scheduled opening: from the opening to the first admission, ms, as the samples
    /// place the opening (goal: 0 to 100 ms; negative, someone was let in before it); null
    /// without one.
    pub first_admission_after_opening_ms: Option<i64>,
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
    /// First estimate against actual wait of the buyers the estimate figures judge, in arrival
    /// order, evenly sampled down to [`MAX_ESTIMATE_POINTS`]: the page draws them.
    pub estimates: Vec<EstimatePoint>,
}

/// One buyer's first estimate beside the wait it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimatePoint {
    /// The wait the reception first estimated, ms.
    pub estimate_ms: u64,
    /// The wait from that estimate to admission, ms.
    pub actual_ms: u64,
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
        let unfinished = |how: Unfinished| {
            records
                .iter()
                .filter(|record| record.unfinished == Some(how))
                .count() as u64
        };

        Report {
            label: label.to_owned(),
            scenario,
            overruns: metrics::overruns(samples),
            kendall_tau: metrics::kendall_tau(fair_pairs),
            utilisation_while_queued: metrics::utilisation_while_queued(samples),
            wait_estimate_median_abs_error: metrics::estimate_error(obedient()),
            wait_estimate_range_coverage: metrics::range_coverage(obedient()),
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
            cut_short: unfinished(Unfinished::CutShort),
            not_arrived: unfinished(Unfinished::NotArrived),
            duration_ms,
            first_admission_after_opening_ms: metrics::first_admission_after_opening(
                &ordered, records,
            ),
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
            estimates: metrics::estimate_points(obedient(), MAX_ESTIMATE_POINTS)
                .into_iter()
                .map(|(estimate_ms, actual_ms)| EstimatePoint {
                    estimate_ms,
                    actual_ms,
                })
                .collect(),
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
