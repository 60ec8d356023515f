use std::time::{Duration, Instant};

use super::{Estimator, MAX_ESTIMATE};

const MS: Duration = Duration::from_millis(1);

/// Frees `batch` places every `every`, `times` times from `start`; returns the last free's time.
fn feed(est: &mut Estimator, start: Instant, every: Duration, batch: u64, times: u32) -> Instant {
    let mut now = start;
    for i in 0..times {
        now = start + every * i;
        est.freed(now, batch);
    }
    now
}

fn secs(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64())
}

fn assert_near(got: Option<Duration>, want: f64, tolerance: f64) {
    let got = secs(got);
    assert!(
        (got - want).abs() <= want * tolerance,
        "estimate {got:.3} s, expected {want:.3} s ± {:.0}%",
        tolerance * 100.0
    );
}

#[test]
fn steady_20_per_second() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    let last = feed(&mut est, t0, 50 * MS, 1, 200);
    assert_near(est.estimate(100, last), 5.0, 0.01);
    assert_near(est.estimate(1, last + 20 * MS), 0.05, 0.01);
}

#[test]
fn steady_200_per_second() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    let last = feed(&mut est, t0, 5 * MS, 1, 2000);
    assert_near(est.estimate(1000, last), 5.0, 0.01);
    assert_near(est.estimate(20, last + 2 * MS), 0.1, 0.01);
}

#[test]
fn batched_reports_give_the_same_rate() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    let last = feed(&mut est, t0, 200 * MS, 4, 50);
    assert_near(est.estimate(100, last), 5.0, 0.01);
}

/// While service holds steady, a waiter moving forward never sees its estimate rise, whether
/// places free one by one or in report-sized batches, and between frees too.
#[test]
fn estimate_never_rises_while_a_waiter_moves_forward() {
    for (every, batch) in [(50 * MS, 1), (200 * MS, 4), (5 * MS, 1), (300 * MS, 60)] {
        let mut est = Estimator::default();
        let t0 = Instant::now();
        let mut ahead: u64 = 2000;
        let mut previous: Option<Duration> = None;
        let mut next_free = t0;
        for step in 0..4000u32 {
            let now = t0 + step * MS * 2;
            while next_free <= now {
                est.freed(next_free, batch);
                ahead = ahead.saturating_sub(batch);
                next_free += every;
            }
            let estimate = est.estimate(ahead, now);
            if let (Some(before), Some(now_seen)) = (previous, estimate) {
                assert!(
                    now_seen <= before,
                    "{batch} every {every:?}: estimate rose from {before:?} to {now_seen:?} at step {step}"
                );
            }
            previous = estimate.or(previous);
        }
        assert!(
            previous.is_some(),
            "no estimate for {batch} every {every:?}"
        );
    }
}

/// Many places at once and then quiet: each window spans whole bursts, so the rate holds.
#[test]
fn bursts_do_not_swing_the_estimate() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    feed(&mut est, t0, Duration::from_secs(5), 100, 13);
    for step in 0..400u32 {
        let now = t0 + Duration::from_secs(20) + step * 100 * MS;
        if step.is_multiple_of(50) {
            est.freed(now, 100);
        }
        assert_near(est.estimate(100, now), 5.0, 0.01);
    }
}

#[test]
fn irregular_bursts_stay_within_ten_percent() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    let mut now = t0;
    let mut worst: f64 = 0.0;
    for burst in 0..60u32 {
        now += Duration::from_secs(if burst.is_multiple_of(2) { 1 } else { 3 });
        est.freed(now, 40);
        if burst >= 20 {
            for quarter in 0..4u32 {
                let at = now + quarter * 250 * MS;
                let got = secs(est.estimate(100, at));
                worst = worst.max((got - 5.0).abs() / 5.0);
            }
        }
    }
    assert!(worst <= 0.10, "worst swing {:.1}%", worst * 100.0);
}

#[test]
fn a_stalled_shop_makes_the_estimate_grow() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    let stall = feed(&mut est, t0, 50 * MS, 1, 200);
    let at = |s: u64| secs(est.estimate(20, stall + Duration::from_secs(s)));
    let (start, two, five, ten) = (at(0), at(2), at(5), at(10));
    assert!((start - 1.0).abs() < 0.01, "{start}");
    assert!(
        start < two && two < five && five < ten,
        "{start} {two} {five} {ten}"
    );
    assert!(ten >= 5.0 * start, "after 10 s of stall: {ten} s");
}

#[test]
fn falls_back_to_the_average_of_past_waits() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    assert_eq!(est.estimate(5, t0), None);
    est.waited(Duration::from_secs(10));
    est.waited(Duration::from_secs(20));
    assert_near(est.estimate(5, t0), 15.0, 1e-9);
    // The first free only opens a window: still the average of past waits.
    est.freed(t0, 10);
    assert_near(est.estimate(5, t0 + 100 * MS), 15.0, 1e-9);
    // One window closed: 10 places in 500 ms.
    est.freed(t0 + 500 * MS, 10);
    assert_near(est.estimate(5, t0 + 500 * MS), 0.25, 0.01);
}

/// Guards against a rate measured from the moment the line formed: the shops had filled
/// long before (here 2 s of joins with nothing freed), and 10 places freed after that said 5 a
/// second where the shops free 20 (clients told to come back that late leave places idle,
/// which keeps the measured rate low). The first free opens the first window instead.
#[test]
fn the_wait_before_the_first_free_is_not_a_window() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    est.line_formed(t0);
    est.freed(t0 + 2000 * MS, 10);
    assert_eq!(est.rate(t0 + 2000 * MS), None);
    est.freed(t0 + 2500 * MS, 10);
    assert_near(est.estimate(20, t0 + 2500 * MS), 1.0, 0.01);
}

/// Guards against a queue that formed again after a quiet spell folding the quiet time into
/// one huge, slow window (nothing is freed into the line while nobody waits).
#[test]
fn time_with_nobody_waiting_is_not_a_slow_window() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    let last = feed(&mut est, t0, 50 * MS, 1, 200);
    assert_near(est.estimate(20, last), 1.0, 0.01);
    let again = last + Duration::from_secs(60);
    est.line_formed(again);
    let last = feed(&mut est, again + 50 * MS, 50 * MS, 1, 12);
    assert_near(est.estimate(20, last), 1.0, 0.02);
    // A line that empties and refills while places keep freeing keeps its window.
    est.line_formed(last + 10 * MS);
    let last = feed(&mut est, last + 50 * MS, 50 * MS, 1, 40);
    assert_near(est.estimate(20, last), 1.0, 0.02);
}

/// The first windows are averaged, not smoothed from the first one on: a first window twice as
/// fast as the rest is mostly forgotten after twenty (a moving average started from it would
/// still be 13% off).
#[test]
fn a_noisy_first_window_does_not_linger() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    est.freed(t0, 1);
    est.freed(t0 + 500 * MS, 20);
    let last = feed(&mut est, t0 + 1000 * MS, 500 * MS, 10, 20);
    assert_near(est.estimate(20, last), 1.0, 0.05);
}

#[test]
fn edge_values() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    assert_eq!(est.estimate(0, t0), Some(Duration::ZERO));
    let last = feed(&mut est, t0, 50 * MS, 1, 100);
    assert_eq!(est.estimate(0, last), Some(Duration::ZERO));
    assert_eq!(est.estimate(u64::MAX, last), Some(MAX_ESTIMATE));
    let year = last + Duration::from_secs(365 * 24 * 3600);
    assert_eq!(est.estimate(1, year), Some(MAX_ESTIMATE));
    est.freed(last, 0);
    assert!(est.rate(last).is_some());
}

/// Before any rate is measured (the first answers of a sale), the estimate comes from the
/// prior: places over the expected session length. Never "estimating…".
#[test]
fn the_first_estimate_comes_from_the_prior() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    assert_eq!(est.estimate(100, t0), None, "nothing to go on yet");
    // 50 places, sessions of about 5 s: 10 places a second.
    est.set_prior(Some(10.0), false);
    let first = est.estimate_range(100, t0).unwrap();
    assert_near(Some(first.wait), 10.0, 0.001);
    assert!(first.low < first.wait && first.wait < first.high);
    // A prior can be off by half: the range says so.
    assert!(
        first.high.as_secs_f64() / first.low.as_secs_f64() > 2.0,
        "{first:?}"
    );
}

/// The measured rate takes over from the prior window by window, so the estimate walks from
/// the prior's figure to the measured one with no jump.
#[test]
fn the_measured_rate_takes_over_from_the_prior_without_a_jump() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    est.set_prior(Some(10.0), false);
    let mut last = secs(est.estimate(100, t0));
    assert_near(Some(Duration::from_secs_f64(last)), 10.0, 0.001);
    // The shops really free 20 places a second: 100 places ahead wait 5 s.
    let mut now = t0;
    for i in 1..=400u32 {
        now = t0 + 50 * MS * i;
        est.freed(now, 1);
        let next = secs(est.estimate(100, now));
        assert!(
            next <= last + 1e-9,
            "the estimate rose from {last} to {next}"
        );
        // Each window moves it at most an eighth of the way, and a little for noise.
        assert!(last - next <= (10.0 - 5.0) / 8.0 + 0.6, "{last} → {next}");
        last = next;
    }
    assert_near(est.estimate(100, now), 5.0, 0.01);
}

/// The range is wide on the prior alone and narrows to the measured rate's own variation; a
/// steady rate's estimate always lies inside it.
#[test]
fn the_range_narrows_as_the_rate_is_measured() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    est.set_prior(Some(20.0), false);
    let prior = est.estimate_range(1000, t0).unwrap();
    let last = feed(&mut est, t0, 50 * MS, 1, 400);
    let measured = est.estimate_range(1000, last).unwrap();
    let width = |e: super::Estimate| e.high.as_secs_f64() / e.low.as_secs_f64();
    assert!(
        width(measured) < width(prior) / 2.0,
        "{prior:?} {measured:?}"
    );
    assert!(measured.low < measured.wait && measured.wait < measured.high);
    // Steady service: the range still allows for what no rate knows.
    assert!(width(measured) > 1.2, "{measured:?}");
}

/// A rate that jumps around from window to window gives a wider range than a steady one.
#[test]
fn an_unsteady_rate_gives_a_wider_range() {
    let t0 = Instant::now();
    let mut steady = Estimator::default();
    let last = feed(&mut steady, t0, 100 * MS, 2, 200);
    let mut bursty = Estimator::default();
    let mut now = t0;
    for i in 0..200u32 {
        now = t0 + 100 * MS * i;
        bursty.freed(now, if i % 10 < 5 { 1 } else { 3 });
    }
    let a = steady.estimate_range(40, last).unwrap();
    let b = bursty.estimate_range(40, now).unwrap();
    assert!(
        b.high.as_secs_f64() / b.low.as_secs_f64() > a.high.as_secs_f64() / a.low.as_secs_f64(),
        "steady {a:?}, bursty {b:?}"
    );
}

/// With only a prior, shops that free nothing at all (stuck) make the estimate grow, as a
/// measured rate's stall does.
#[test]
fn a_stall_before_any_free_grows_the_prior_estimate() {
    let mut est = Estimator::default();
    let t0 = Instant::now();
    est.set_prior(Some(10.0), false);
    est.line_formed(t0);
    let early = secs(est.estimate(100, t0 + 100 * MS));
    let stalled = secs(est.estimate(100, t0 + 10_000 * MS));
    assert_near(Some(Duration::from_secs_f64(early)), 10.0, 0.001);
    assert!(stalled > 2.0 * early, "{early} → {stalled}");
}

/// A prior from the session length the shops measured gives way more slowly than a guessed
/// one: a flash crowd's first seconds measure buyers still arriving, not the shops' pace.
#[test]
fn a_prior_from_measured_sessions_gives_way_more_slowly() {
    let t0 = Instant::now();
    let mut guessed = Estimator::default();
    guessed.set_prior(Some(20.0), false);
    let mut measured = Estimator::default();
    measured.set_prior(Some(20.0), true);
    // Early on, places free at a quarter of the shops' pace.
    let last = feed(&mut guessed, t0, 200 * MS, 1, 50);
    feed(&mut measured, t0, 200 * MS, 1, 50);
    let (g, m) = (
        secs(guessed.estimate(100, last)),
        secs(measured.estimate(100, last)),
    );
    assert_near(Some(Duration::from_secs_f64(g)), 20.0, 0.05);
    assert!(m < g * 0.75, "measured prior {m} s, guessed {g} s");
    // The schedule never runs slower than the prior either way.
    assert!(guessed.schedule_rate(last).unwrap() >= 20.0);
}
