//! How close the estimated wait comes to the wait a client then has.
//!
//! A simulated sale: the shops are full when it opens and free about 50 places a second,
//! reported in uneven batches every 200 ms. Clients arrive at 100 a second for 20 s, then at 20
//! a second, so a line builds up and drains. Each client who joins is told an estimate; its
//! actual wait runs until its place becomes eligible. Every client claims as soon as it can.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use usher_queue::{Estimator, EstimatorConfig, Line, LineConfig, Place};

const STEP: Duration = Duration::from_millis(10);
/// Places freed per 200 ms report: 80 every 1.6 s, 50 a second.
const FREES: [u64; 8] = [10, 7, 13, 9, 11, 12, 8, 10];

struct Joined {
    at: Instant,
    estimate: Option<Duration>,
    turn: Option<Instant>,
}

/// An eligible client takes a free place; its wait goes to the estimator's fallback.
fn admit(
    place: Place,
    now: Instant,
    free: &mut u64,
    line: &mut Line,
    est: &mut Estimator,
    joined: &[Joined],
) {
    line.claim(place, now)
        .expect("an eligible place claims once");
    *free -= 1;
    est.waited(now - joined[place.0 as usize].at);
}

fn arrives(step: u32) -> bool {
    if step < 2_000 {
        true
    } else {
        step < 6_000 && step.is_multiple_of(5)
    }
}

#[test]
fn median_error_of_estimated_waits_is_within_15_percent() {
    let mut line = Line::new(LineConfig::default());
    let mut est = Estimator::new(EstimatorConfig::default());
    let t0 = Instant::now();
    let mut joined: Vec<Joined> = Vec::new();
    let mut front: VecDeque<Place> = VecDeque::new();
    let (mut free, mut direct) = (0u64, 0u32);

    for step in 0..12_000u32 {
        let now = t0 + step * STEP;
        if step.is_multiple_of(20) {
            free += FREES[(step / 20) as usize % FREES.len()];
            while free > 0 {
                let Some(place) = front.pop_front() else {
                    break;
                };
                admit(place, now, &mut free, &mut line, &mut est, &joined);
            }
            let head = line.snapshot().head;
            let moved = line.advance(now, free);
            est.freed(now, moved);
            for p in head..head + moved {
                joined[p as usize].turn = Some(now);
                if free > 0 {
                    admit(Place(p), now, &mut free, &mut line, &mut est, &joined);
                } else {
                    front.push_back(Place(p));
                }
            }
        }
        if !arrives(step) {
            continue;
        }
        if line.admits_newcomer(now, free) {
            free -= 1;
            direct += 1;
            continue;
        }
        let place = line.join();
        assert_eq!(place.0 as usize, joined.len());
        joined.push(Joined {
            at: now,
            estimate: est.estimate(line.ahead(place), now),
            turn: None,
        });
    }

    let mut errors: Vec<f64> = joined
        .iter()
        .filter_map(|j| {
            let actual = j.turn?.duration_since(j.at).as_secs_f64();
            let estimate = j.estimate?.as_secs_f64();
            (actual > 0.0).then(|| (estimate - actual).abs() / actual)
        })
        .collect();
    errors.sort_by(f64::total_cmp);
    let without = joined.iter().filter(|j| j.estimate.is_none()).count();
    let unserved = joined.iter().filter(|j| j.turn.is_none()).count();
    assert!(errors.len() > 2_000, "only {} waits measured", errors.len());
    assert_eq!(unserved, 0, "the line should drain");
    let median = errors[errors.len() / 2];
    let p90 = errors[errors.len() * 9 / 10];
    println!(
        "estimated vs actual wait: median error {:.1}%, 90th percentile {:.1}% \
         over {} waits ({} joined before any estimate, {} admitted directly)",
        median * 100.0,
        p90 * 100.0,
        errors.len(),
        without,
        direct,
    );
    assert!(
        median <= 0.15,
        "median relative error {:.1}%",
        median * 100.0
    );
}
