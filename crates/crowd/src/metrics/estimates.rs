//! How well the reception's first wait estimate told each buyer what was coming: the median
//! error of the estimate, the share of real waits inside its range, and the points behind both
//! for a chart. All three judge the same buyers (see [`judged_wait`]).

use crate::BuyerRecord;

/// Waits shorter than this are left out of [`estimate_error`]: at that scale the polling
/// interval and network latency, not the estimate, decide when the buyer gets in, and dividing
/// by a few milliseconds turns a 20 ms miss into a 500 % error.
pub const ESTIMATE_FLOOR_MS: u64 = 100;

/// A buyer's first estimate and its actual wait, ms, if the buyer is one the estimate can be
/// judged by: it was told an estimate, was admitted, and waited at least [`ESTIMATE_FLOOR_MS`].
/// Actual wait = admission − the moment the estimate arrived (arrival, for records without that
/// moment), since the estimate predicts the wait from there.
fn judged_wait(record: &BuyerRecord) -> Option<(u64, u64)> {
    let estimate = record.first_estimate_ms?;
    let from = record.estimated_ms.unwrap_or(record.arrived_ms);
    let actual = record.admitted_ms?.checked_sub(from)?;
    (actual >= ESTIMATE_FLOOR_MS).then_some((estimate, actual))
}

/// The median of |estimated − actual| ÷ actual wait, a fraction (0.08 = 8 %): whether buyers
/// told "come back in 40 s" can plan on it. `None` if no buyer could be judged: none was
/// told an estimate, admitted, and kept waiting at least [`ESTIMATE_FLOOR_MS`].
pub fn estimate_error<'a>(records: impl IntoIterator<Item = &'a BuyerRecord>) -> Option<f64> {
    let mut errors: Vec<f64> = records
        .into_iter()
        .filter_map(judged_wait)
        .map(|(estimate, actual)| estimate.abs_diff(actual) as f64 / actual as f64)
        .collect();
    median(&mut errors)
}

/// The share of judged buyers whose actual wait fell within their first estimate's range (low
/// and high included): a range meant as p10..p90 should hold about 80 % of waits, and a median
/// error says nothing about how far the rest stray. Buyers whose record has no range (an older
/// run's, or the browser path's) are left out, not counted as misses. `None` if none is left.
pub fn range_coverage<'a>(records: impl IntoIterator<Item = &'a BuyerRecord>) -> Option<f64> {
    let (mut inside, mut judged) = (0u64, 0u64);
    for record in records {
        let Some((_, actual)) = judged_wait(record) else {
            continue;
        };
        let (Some(low), Some(high)) = (record.first_low_ms, record.first_high_ms) else {
            continue;
        };
        judged += 1;
        if (low..=high).contains(&actual) {
            inside += 1;
        }
    }
    (judged > 0).then(|| inside as f64 / judged as f64)
}

/// (first estimate, actual wait) of the judged buyers in the order given, at most `most` of
/// them, evenly spread over all when there are more: enough for a chart to show the shape,
/// few enough that a crowd of a million still makes a small report.
pub fn estimate_points<'a>(
    records: impl IntoIterator<Item = &'a BuyerRecord>,
    most: usize,
) -> Vec<(u64, u64)> {
    let all: Vec<(u64, u64)> = records.into_iter().filter_map(judged_wait).collect();
    if all.len() <= most {
        return all;
    }
    (0..most)
        .filter_map(|i| all.get(i * all.len() / most).copied())
        .collect()
}

/// The middle value (the mean of the two middle ones for an even count); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        len if len % 2 == 1 => values.get(middle).copied(),
        _ => Some((values.get(middle - 1)? + values.get(middle)?) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waited(arrived_ms: u64, estimate: u64, admitted_ms: u64) -> BuyerRecord {
        BuyerRecord {
            arrived_ms,
            first_estimate_ms: Some(estimate),
            admitted_ms: Some(admitted_ms),
            ..BuyerRecord::default()
        }
    }

    /// A buyer told `estimate` within `low..=high` at 0 who got in at `admitted_ms`.
    fn ranged(low: u64, estimate: u64, high: u64, admitted_ms: u64) -> BuyerRecord {
        BuyerRecord {
            first_low_ms: Some(low),
            first_high_ms: Some(high),
            ..waited(0, estimate, admitted_ms)
        }
    }

    #[test]
    fn estimate_error_is_the_median_relative_miss() {
        let records = [
            waited(0, 1100, 1000),    // 10 %
            waited(500, 2000, 2500),  // 0 %
            waited(1000, 3000, 5000), // 25 %
            waited(0, 50, 60),        // under the floor: skipped
            BuyerRecord {
                admitted_ms: Some(10),
                ..BuyerRecord::default()
            }, // never queued
        ];
        let error = estimate_error(&records).unwrap();
        assert!((error - 0.10).abs() < 1e-12, "{error}");
    }

    #[test]
    fn estimate_error_of_an_even_count_is_the_mean_of_the_middle_two() {
        let records = [waited(0, 1000, 1000), waited(0, 1200, 1000)];
        let error = estimate_error(&records).unwrap();
        assert!((error - 0.10).abs() < 1e-12, "{error}");
    }

    /// A buyer whose first answers carried no estimate (nothing measured yet, as in a flash
    /// crowd) is judged from the moment its estimate arrived, not from its arrival.
    #[test]
    fn estimate_error_counts_from_when_the_estimate_arrived() {
        let late = BuyerRecord {
            estimated_ms: Some(2000),
            ..waited(0, 3000, 5000)
        };
        assert_eq!(estimate_error(&[late]), Some(0.0));
    }

    #[test]
    fn estimate_error_is_unknown_without_waits() {
        assert_eq!(estimate_error(&[waited(0, 10, 20)]), None);
        assert_eq!(estimate_error(&[]), None);
    }

    #[test]
    fn range_coverage_is_the_share_of_waits_inside_their_range() {
        let records = [
            ranged(800, 1000, 1500, 1200), // inside
            ranged(800, 1000, 1500, 800),  // on the low edge: inside
            ranged(800, 1000, 1500, 1500), // on the high edge: inside
            ranged(800, 1000, 1500, 1501), // just above: outside
            ranged(800, 1000, 1500, 700),  // below: outside
        ];
        assert_eq!(range_coverage(&records), Some(0.6));
    }

    #[test]
    fn a_buyer_without_a_range_is_left_out_not_missed() {
        let records = [
            ranged(800, 1000, 1500, 1200),
            waited(0, 1000, 5000), // no range: not judged
            BuyerRecord {
                first_high_ms: None,
                ..ranged(800, 1000, 1500, 9000)
            }, // half a range: not judged
        ];
        assert_eq!(range_coverage(&records), Some(1.0));
        assert_eq!(range_coverage(&[waited(0, 1000, 5000)]), None);
    }

    /// The floor and the moment the estimate arrived apply as they do to the error.
    #[test]
    fn range_coverage_judges_the_same_buyers_as_the_error() {
        let short = ranged(500, 600, 700, 50); // under the floor
        let late = BuyerRecord {
            estimated_ms: Some(4000),
            ..ranged(800, 1000, 1500, 5000) // waited 1000 from the estimate, not 5000
        };
        assert_eq!(range_coverage(&[short, late]), Some(1.0));
    }

    #[test]
    fn estimate_points_are_sampled_evenly_up_to_the_cap() {
        let records: Vec<BuyerRecord> = (0..10).map(|n| waited(0, 1000, 1000 + n)).collect();
        let actual = |points: Vec<(u64, u64)>| points.into_iter().map(|p| p.1).collect::<Vec<_>>();
        assert_eq!(actual(estimate_points(&records, 20)).len(), 10);
        assert_eq!(
            actual(estimate_points(&records, 5)),
            [1000, 1002, 1004, 1006, 1008]
        );
        assert_eq!(estimate_points(&[waited(0, 10, 20)], 5), vec![]);
    }
}
