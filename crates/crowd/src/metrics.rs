//! The measures of a run: pure functions over the [`BuyerRecord`]s and [`Sample`]s it recorded,
//! so each can be checked on a handful of known values.

mod estimates;
mod tau;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::{BuyerRecord, Sample};

pub use estimates::{ESTIMATE_FLOOR_MS, estimate_error, estimate_points, range_coverage};
pub use tau::kendall_tau;

/// Places handed out beyond capacity, summed over shops: the patent's first promise is that this
/// stays 0. Each shop counts its worst overrun (its high-water mark, which the shop keeps itself
/// so no peak between samples is missed, above its capacity).
pub fn overruns(samples: &[Sample]) -> u64 {
    let mut worst: BTreeMap<&str, u32> = BTreeMap::new();
    for sample in samples {
        for (id, shop) in &sample.shops {
            let peak = shop.high_water.max(shop.in_use);
            let over = peak.saturating_sub(shop.capacity);
            let entry = worst.entry(id.as_str()).or_default();
            *entry = (*entry).max(over);
        }
    }
    worst.values().map(|&over| u64::from(over)).sum()
}

/// From a scheduled opening to the first admission, ms (negative: someone was let in before
/// it): the opening placed by the samples that saw it ahead (each: its time plus how far
/// ahead it was; the median of them, since a sample taken while the reception was busy is off
/// by its round trip). `None` without an opening, or without an admission.
pub fn first_admission_after_opening(samples: &[&Sample], records: &[BuyerRecord]) -> Option<i64> {
    let mut placed: Vec<u64> = samples
        .iter()
        .filter_map(|sample| Some(sample.at_ms + sample.opens_in_ms?))
        .collect();
    placed.sort_unstable();
    let opening = *placed.get(placed.len() / 2)?;
    let first = records
        .iter()
        .filter_map(|record| record.admitted_ms)
        .min()?;
    let signed = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
    Some(signed(first) - signed(opening))
}

/// Places in use ÷ places in all, over the time the line was non-empty: a queue while places
/// stand idle is the waste the patent exists to avoid. Each sample stands for the time until the
/// next one (the last for as long as the gap before it). `None` if nobody ever waited, or no shop
/// had any place while they did.
pub fn utilisation_while_queued(samples: &[Sample]) -> Option<f64> {
    let mut ordered: Vec<&Sample> = samples.iter().collect();
    ordered.sort_by_key(|sample| sample.at_ms);
    let (mut used, mut offered) = (0.0, 0.0);
    for (i, sample) in ordered.iter().enumerate() {
        // Before a scheduled opening nobody may be let in: no place stands idle for want of one.
        if sample.queue_len == 0 || sample.opens_in_ms.is_some() {
            continue;
        }
        let weight = match (
            ordered.get(i + 1),
            i.checked_sub(1).and_then(|p| ordered.get(p)),
        ) {
            (Some(next), _) => next.at_ms - sample.at_ms,
            (None, Some(previous)) => sample.at_ms - previous.at_ms,
            (None, None) => 1,
        } as f64;
        let in_use: u64 = sample
            .shops
            .values()
            .map(|shop| u64::from(shop.in_use))
            .sum();
        let capacity: u64 = sample
            .shops
            .values()
            .map(|shop| u64::from(shop.capacity))
            .sum();
        used += weight * in_use as f64;
        offered += weight * capacity as f64;
    }
    (offered > 0.0).then(|| used / offered)
}

/// Latency percentiles in milliseconds: the tail (p99, p99.9) is what a crowd feels, and a mean
/// hides it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// The slowest call, exact (not rounded by the histogram).
    pub max: f64,
    /// Calls measured.
    pub count: u64,
}

/// The slowest latency the histogram tells apart, µs: an hour; slower calls count as an hour in
/// the percentiles (the exact `max` still shows them).
const HISTOGRAM_MAX_US: u64 = 3_600_000_000;

/// Percentiles of `values_ms` through an HDR histogram (microseconds, 3 significant figures, so
/// within 0.1 %), which keeps the tail exact enough at any crowd size. Negative and non-finite
/// values are skipped; all zeros when nothing is left.
pub fn percentiles(values_ms: &[f64]) -> Percentiles {
    let Ok(mut histogram) = Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_US, 3) else {
        return Percentiles::default();
    };
    let mut max: f64 = 0.0;
    for &value in values_ms
        .iter()
        .filter(|value| value.is_finite() && **value >= 0.0)
    {
        histogram.saturating_record((value * 1000.0).round() as u64);
        max = max.max(value);
    }
    if histogram.is_empty() {
        return Percentiles::default();
    }
    // A bucket's upper edge may pass the slowest call by the histogram's 0.1 %; cap at the truth.
    let at = |quantile: f64| (histogram.value_at_quantile(quantile) as f64 / 1000.0).min(max);
    Percentiles {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max,
        count: histogram.len(),
    }
}

/// Admissions per second in buckets of `bucket_ms` (start of bucket in ms, rate), from 0 to the
/// last admission, empty buckets included: a stall shows as a dip to 0, not as a gap the line
/// drawing would bridge. Empty when nobody was admitted; a `bucket_ms` of 0 counts as 1.
pub fn admissions_per_second<'a>(
    records: impl IntoIterator<Item = &'a BuyerRecord>,
    bucket_ms: u64,
) -> Vec<(u64, f64)> {
    let bucket_ms = bucket_ms.max(1);
    let buckets: Vec<usize> = records
        .into_iter()
        .filter_map(|record| record.admitted_ms)
        .map(|at| (at / bucket_ms) as usize)
        .collect();
    let Some(&last) = buckets.iter().max() else {
        return Vec::new();
    };
    let mut counts = vec![0u64; last + 1];
    for bucket in buckets {
        if let Some(count) = counts.get_mut(bucket) {
            *count += 1;
        }
    }
    let per_count = 1000.0 / bucket_ms as f64;
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| (i as u64 * bucket_ms, count as f64 * per_count))
        .collect()
}

/// How many buyers each refusal or failure code ended: which limit the crowd hit, and how often.
pub fn errors_by_code<'a>(
    records: impl IntoIterator<Item = &'a BuyerRecord>,
) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for code in records
        .into_iter()
        .filter_map(|record| record.error.as_ref())
    {
        *counts.entry(code.clone()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ShopSample;

    fn sample(at_ms: u64, queue_len: u64, shops: &[(&str, u32, u32, u32)]) -> Sample {
        let shops = shops
            .iter()
            .map(|&(id, in_use, capacity, high_water)| {
                (
                    id.to_owned(),
                    ShopSample {
                        in_use,
                        capacity,
                        high_water,
                    },
                )
            })
            .collect();
        Sample {
            at_ms,
            queue_len,
            shops,
            opens_in_ms: None,
        }
    }

    #[test]
    fn an_overrun_is_a_high_water_above_capacity() {
        let samples = [
            sample(0, 0, &[("a", 3, 10, 3), ("b", 5, 5, 5)]),
            sample(100, 0, &[("a", 10, 10, 12), ("b", 5, 5, 6)]),
        ];
        assert_eq!(overruns(&samples), 3);
    }

    #[test]
    fn a_full_shop_is_not_an_overrun() {
        let samples = [sample(0, 4, &[("a", 10, 10, 10)])];
        assert_eq!(overruns(&samples), 0);
        assert_eq!(overruns(&[]), 0);
    }

    #[test]
    fn a_shop_counts_its_worst_overrun_once() {
        let samples = [
            sample(0, 0, &[("a", 10, 10, 13)]),
            sample(100, 0, &[("a", 8, 10, 12)]),
            sample(200, 0, &[("a", 8, 10, 13)]),
        ];
        assert_eq!(overruns(&samples), 3);
    }

    #[test]
    fn utilisation_counts_only_time_with_a_queue() {
        let samples = [
            sample(0, 0, &[("a", 1, 10, 1)]),
            sample(1000, 5, &[("a", 10, 10, 10)]),
            sample(2000, 5, &[("a", 8, 10, 10)]),
            sample(3000, 0, &[("a", 2, 10, 10)]),
        ];
        let utilisation = utilisation_while_queued(&samples).unwrap();
        assert!((utilisation - 0.9).abs() < 1e-12, "{utilisation}");
    }

    #[test]
    fn the_first_admission_is_timed_from_the_opening_the_samples_saw() {
        let mut early = sample(0, 5, &[]);
        early.opens_in_ms = Some(9_000);
        let mut late = sample(8_000, 5, &[]);
        late.opens_in_ms = Some(1_020);
        let open = sample(9_500, 5, &[]);
        let samples = [&early, &late, &open];
        let admitted = |at| BuyerRecord {
            admitted_ms: Some(at),
            ..BuyerRecord::default()
        };
        let records = [admitted(9_300), admitted(9_070), BuyerRecord::default()];
        assert_eq!(first_admission_after_opening(&samples, &records), Some(50));
        let early = [admitted(9_000)];
        assert_eq!(first_admission_after_opening(&samples, &early), Some(-20));
        assert_eq!(first_admission_after_opening(&[&open], &records), None);
    }

    /// Before a scheduled opening everyone waits and nobody may be let in: those seconds say
    /// nothing of how well places are used.
    #[test]
    fn utilisation_leaves_out_the_time_before_an_opening() {
        let mut before = sample(0, 500, &[("a", 0, 10, 0)]);
        before.opens_in_ms = Some(1000);
        let samples = [
            before,
            sample(1000, 400, &[("a", 10, 10, 10)]),
            sample(2000, 0, &[("a", 10, 10, 10)]),
        ];
        let utilisation = utilisation_while_queued(&samples).unwrap();
        assert!((utilisation - 1.0).abs() < 1e-12, "{utilisation}");
    }

    #[test]
    fn utilisation_weighs_each_sample_by_the_time_it_stood_for() {
        // 9 s full, then 1 s empty: 90 %, not the 50 % of counting samples.
        let samples = [
            sample(0, 1, &[("a", 10, 10, 10)]),
            sample(9000, 1, &[("a", 0, 10, 10)]),
            sample(10_000, 0, &[("a", 0, 10, 10)]),
        ];
        let utilisation = utilisation_while_queued(&samples).unwrap();
        assert!((utilisation - 0.9).abs() < 1e-12, "{utilisation}");
    }

    #[test]
    fn utilisation_adds_up_every_shop() {
        let samples = [sample(0, 3, &[("a", 10, 10, 10), ("b", 0, 10, 0)])];
        assert_eq!(utilisation_while_queued(&samples), Some(0.5));
    }

    #[test]
    fn utilisation_is_unknown_when_nobody_waited() {
        let samples = [
            sample(0, 0, &[("a", 1, 10, 1)]),
            sample(1000, 0, &[("a", 2, 10, 2)]),
        ];
        assert_eq!(utilisation_while_queued(&samples), None);
    }

    #[test]
    fn percentiles_stay_within_a_thousandth() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        let p = percentiles(&values);
        assert_eq!(p.count, 1000);
        assert_eq!(p.max, 1000.0);
        for (got, want) in [(p.p50, 500.0), (p.p99, 990.0), (p.p999, 999.0)] {
            assert!((got - want).abs() <= want * 0.001, "{got} vs {want}");
        }
    }

    #[test]
    fn percentiles_keep_sub_millisecond_latencies() {
        let p = percentiles(&[0.25, 0.25, 0.25]);
        assert_eq!((p.p50, p.max, p.count), (0.25, 0.25, 3));
    }

    #[test]
    fn a_call_slower_than_the_histogram_keeps_its_exact_max() {
        let p = percentiles(&[1.0, 5_000_000.0]);
        assert_eq!((p.max, p.count), (5_000_000.0, 2));
        assert!(p.p999 >= 3_599_000.0, "{}", p.p999);
    }

    #[test]
    fn percentiles_of_nothing_are_zero() {
        assert_eq!(percentiles(&[]), Percentiles::default());
        assert_eq!(percentiles(&[f64::NAN, -1.0]), Percentiles::default());
    }

    #[test]
    fn admissions_per_second_fills_quiet_buckets_with_zero() {
        let admitted = |at| BuyerRecord {
            admitted_ms: Some(at),
            ..BuyerRecord::default()
        };
        let records = [
            admitted(100),
            admitted(400),
            admitted(2600),
            BuyerRecord::default(),
        ];
        assert_eq!(
            admissions_per_second(&records, 500),
            vec![
                (0, 4.0),
                (500, 0.0),
                (1000, 0.0),
                (1500, 0.0),
                (2000, 0.0),
                (2500, 2.0)
            ],
        );
        assert_eq!(admissions_per_second(&[], 1000), vec![]);
    }

    #[test]
    fn errors_are_counted_by_code() {
        let failed = |code: &str| BuyerRecord {
            error: Some(code.into()),
            ..BuyerRecord::default()
        };
        let records = [
            failed("sold_out"),
            failed("timeout"),
            failed("sold_out"),
            BuyerRecord::default(),
        ];
        let counts = errors_by_code(&records);
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            [("sold_out".to_owned(), 2), ("timeout".to_owned(), 1)]
        );
    }
}
