//! Kendall's τ-b in O(n log n) (Knight's algorithm): a crowd of 10,000 buyers has 50 million
//! pairs, too many to compare one by one.

/// Kendall's τ-b between the two orders in `pairs` (e.g. arrival, admission): 1 when the second
/// order follows the first exactly, −1 when it reverses it, near 0 when it ignores it.
///
/// Why τ-b and not τ-a: admissions granted in the same millisecond tie, and a tie is no
/// unfairness. τ-a counts every tied pair as a shortfall from 1; τ-b takes tied pairs out of the
/// scale on their side, so they cost about half as much: an otherwise perfect run with 1 % of its
/// pairs tied scores √0.99 ≈ 0.995 (τ-a: 0.99). Without ties the two are equal.
///
/// `None` for fewer than two pairs, or when every pair ties on one side (the order is undefined).
pub fn kendall_tau(pairs: &[(u64, u64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let mut sorted = pairs.to_vec();
    sorted.sort_unstable();
    let n = sorted.len() as u64;
    let all = n * (n - 1) / 2;
    let tied_first = tied_pairs(sorted.iter().map(|pair| pair.0));
    let tied_both = tied_pairs(sorted.iter().copied());
    let mut seconds: Vec<u64> = sorted.iter().map(|pair| pair.1).collect();
    let mut scratch = Vec::with_capacity(seconds.len());
    let discordant = sort_counting_inversions(&mut seconds, &mut scratch);
    let tied_second = tied_pairs(seconds.iter().copied());

    let untied_first = all - tied_first;
    let untied_second = all - tied_second;
    if untied_first == 0 || untied_second == 0 {
        return None;
    }
    // Pairs tied on neither side are concordant or discordant: all − t₁ − t₂ + t₁₂ of them.
    let untied = (all + tied_both - tied_first - tied_second) as f64;
    let score = untied - 2.0 * discordant as f64;
    Some(score / (untied_first as f64 * untied_second as f64).sqrt())
}

/// Pairs of equal neighbours in a sorted sequence: Σ t(t−1)/2 over runs of length t.
fn tied_pairs<T: PartialEq>(sorted: impl Iterator<Item = T>) -> u64 {
    let mut total = 0;
    let mut run = 0u64;
    let mut previous = None;
    for item in sorted {
        if previous.as_ref() == Some(&item) {
            run += 1;
        } else {
            total += run * (run.saturating_sub(1)) / 2;
            run = 1;
            previous = Some(item);
        }
    }
    total + run * (run.saturating_sub(1)) / 2
}

/// Sorts `values` and returns how many pairs were strictly out of order (equal values are not).
fn sort_counting_inversions(values: &mut [u64], scratch: &mut Vec<u64>) -> u64 {
    if values.len() < 2 {
        return 0;
    }
    let middle = values.len() / 2;
    let (left, right) = values.split_at_mut(middle);
    let mut inversions =
        sort_counting_inversions(left, scratch) + sort_counting_inversions(right, scratch);
    scratch.clear();
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if right[j] < left[i] {
            inversions += (left.len() - i) as u64;
            scratch.push(right[j]);
            j += 1;
        } else {
            scratch.push(left[i]);
            i += 1;
        }
    }
    scratch.extend_from_slice(&left[i..]);
    scratch.extend_from_slice(&right[j..]);
    values.copy_from_slice(scratch);
    inversions
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// τ-b by definition, one pair at a time: the reference the fast version must match.
    fn naive_tau_b(pairs: &[(u64, u64)]) -> Option<f64> {
        let n = pairs.len() as i64;
        if n < 2 {
            return None;
        }
        let all = n * (n - 1) / 2;
        let (mut score, mut tied_first, mut tied_second) = (0i64, 0i64, 0i64);
        for (i, a) in pairs.iter().enumerate() {
            for b in &pairs[i + 1..] {
                let first = (a.0.cmp(&b.0)) as i64;
                let second = (a.1.cmp(&b.1)) as i64;
                score += first * second;
                tied_first += i64::from(first == 0);
                tied_second += i64::from(second == 0);
            }
        }
        let scale = ((all - tied_first) as f64 * (all - tied_second) as f64).sqrt();
        (scale > 0.0).then(|| score as f64 / scale)
    }

    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        }
    }

    #[test]
    fn tau_of_the_same_order_is_one() {
        let pairs: Vec<_> = (0..100).map(|i| (i, i * 10)).collect();
        assert_eq!(kendall_tau(&pairs), Some(1.0));
    }

    #[test]
    fn tau_of_reversed_order_is_minus_one() {
        let pairs: Vec<_> = (0..100).map(|i| (i, 1000 - i)).collect();
        assert_eq!(kendall_tau(&pairs), Some(-1.0));
    }

    #[test]
    fn one_swap_among_four_costs_a_third() {
        // 6 pairs, 1 discordant: (5 − 1) / 6.
        let pairs = [(0, 0), (1, 2), (2, 1), (3, 3)];
        assert!(close(kendall_tau(&pairs), Some(4.0 / 6.0)));
    }

    #[test]
    fn admissions_in_the_same_millisecond_cost_tau_b_only_their_share() {
        // 15 pairs, 4 tied in admission, none discordant: 11 / √(15 · 11) (τ-a would say 11/15).
        let pairs = [(0, 10), (1, 10), (2, 10), (3, 20), (4, 20), (5, 30)];
        assert!(close(kendall_tau(&pairs), Some((11.0f64 / 15.0).sqrt())));
    }

    #[test]
    fn tau_needs_two_pairs_and_some_order() {
        assert_eq!(kendall_tau(&[]), None);
        assert_eq!(kendall_tau(&[(0, 5)]), None);
        assert_eq!(kendall_tau(&[(0, 5), (1, 5), (2, 5)]), None);
    }

    #[test]
    fn tau_of_ten_thousand_buyers_is_quick_and_exact() {
        // Every tenth buyer swaps with the next: 1,000 discordant pairs of 49,995,000.
        let pairs: Vec<_> = (0..10_000u64)
            .map(|i| {
                (
                    i,
                    if i % 10 == 0 {
                        i + 1
                    } else if i % 10 == 1 {
                        i - 1
                    } else {
                        i
                    },
                )
            })
            .collect();
        let all = 10_000.0 * 9_999.0 / 2.0;
        assert!(close(kendall_tau(&pairs), Some((all - 2.0 * 1000.0) / all)));
    }

    proptest! {
        #[test]
        fn fast_tau_matches_the_pairwise_definition(
            pairs in proptest::collection::vec((0u64..12, 0u64..12), 0..120),
        ) {
            prop_assert!(close(kendall_tau(&pairs), naive_tau_b(&pairs)));
        }

        #[test]
        fn fast_tau_matches_the_definition_without_ties(
            order in Just((0u64..200).collect::<Vec<_>>()).prop_shuffle(),
        ) {
            let pairs: Vec<_> = order.iter().enumerate().map(|(i, &v)| (i as u64, v)).collect();
            prop_assert!(close(kendall_tau(&pairs), naive_tau_b(&pairs)));
        }
    }
}
