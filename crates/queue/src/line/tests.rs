use std::time::{Duration, Instant};

use super::{Counters, GROUPS, Group, Line, Place};
use crate::{ClaimError, CountersError, Estimator, LineConfig};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn line_with(n: u64) -> Line {
    let mut line = Line::new(LineConfig::default());
    for _ in 0..n {
        line.join();
    }
    line
}

#[test]
fn places_become_eligible_in_arrival_order() {
    let mut line = line_with(10);
    let t0 = Instant::now();
    // With the prior no-show share of 0.1, three free places call 3 ÷ 0.9 ≈ 3 places.
    assert_eq!(line.advance(t0, 3), 3);
    for p in 0..10 {
        assert_eq!(line.is_eligible(Place(p)), p < 3, "place {p}");
        assert_eq!(line.ahead(Place(p)), p.saturating_sub(2));
    }
    assert_eq!(line.waiting(), 7);
}

#[test]
fn places_expected_to_come_hold_the_head() {
    let mut line = line_with(100);
    let t0 = Instant::now();
    assert_eq!(line.advance(t0, 10), 11);
    // Nobody has claimed yet, but 11 fresh places are worth 9.9 claims: enough.
    assert_eq!(line.advance(t0 + MS, 10), 0);
    assert_eq!(line.advance(t0 + MS, 0), 0);
}

#[test]
fn newcomers_join_at_the_back_while_anyone_waits() {
    let mut line = line_with(3);
    let t0 = Instant::now();
    line.advance(t0, 1);
    let newcomer = line.join();
    assert_eq!(newcomer, Place(3));
    assert_eq!(line.ahead(newcomer), line.waiting());
    assert!(!line.is_eligible(newcomer));
}

#[test]
fn newcomers_never_take_the_place_of_eligible_clients() {
    let mut line = line_with(2);
    let t0 = Instant::now();
    assert!(!line.admits_newcomer(t0, 5), "two are waiting");
    assert_eq!(line.advance(t0, 5), 2);
    // Both are eligible and expected back: only the places beyond them are for newcomers.
    assert!(!line.admits_newcomer(t0, 1));
    assert!(line.admits_newcomer(t0, 2));
    line.claim(Place(0), t0).expect("eligible");
    assert!(line.admits_newcomer(t0, 1));
}

#[test]
fn head_never_passes_issued() {
    let mut line = line_with(5);
    let t0 = Instant::now();
    assert_eq!(line.advance(t0, 1000), 5);
    assert_eq!(line.waiting(), 0);
    assert_eq!(line.advance(t0 + SEC, 1000), 0);
    assert_eq!(line.snapshot().head, 5);
}

#[test]
fn a_place_admits_once() {
    let mut line = line_with(5);
    let t0 = Instant::now();
    line.advance(t0, 2);
    assert_eq!(line.claim(Place(0), t0), Ok(()));
    assert_eq!(
        line.claim(Place(0), t0 + MS),
        Err(ClaimError::AlreadyClaimed)
    );
    assert_eq!(line.claim(Place(4), t0), Err(ClaimError::NotYet));
    assert_eq!(line.claim(Place(5), t0), Err(ClaimError::Unknown));
}

#[test]
fn unclaim_hands_the_place_back() {
    let mut line = line_with(5);
    let t0 = Instant::now();
    line.advance(t0, 2);
    assert!(!line.unclaim(Place(1), t0));
    line.claim(Place(1), t0).expect("eligible");
    assert!(line.unclaim(Place(1), t0 + MS));
    assert_eq!(line.claim(Place(1), t0 + 2 * MS), Ok(()));
}

#[test]
fn a_place_not_claimed_within_grace_is_given_up() {
    let mut line = line_with(5);
    let t0 = Instant::now();
    line.advance(t0, 3);
    let grace = LineConfig::default().grace;
    assert_eq!(line.claim(Place(0), t0 + grace - MS), Ok(()));
    assert_eq!(line.claim(Place(1), t0 + grace), Err(ClaimError::GivenUp));
    // Settled places refuse everyone, including the one that claimed in time.
    assert_eq!(line.claim(Place(0), t0 + grace), Err(ClaimError::GivenUp));
    assert!(!line.unclaim(Place(0), t0 + grace));
    assert_eq!(line.snapshot().open_from, line.snapshot().head);
}

/// Half of the eligible clients never come. The shops free 10 places every 200 ms tick; the
/// others claim at once. The head has to run past the no-shows so that the freed places are
/// taken, and the no-show share has to be measured once the first places settle.
#[test]
fn no_shows_make_the_head_run_ahead() {
    let mut line = line_with(1_000_000);
    let t0 = Instant::now();
    let (mut free, mut freed, mut taken) = (0u64, 0u64, 0u64);
    let mut front: Vec<Place> = Vec::new();
    let mut idle_after_warmup = 0u64;
    for tick in 0..1000u32 {
        let now = t0 + tick * 200 * MS;
        free += 10;
        freed += 10;
        let mut still_waiting = Vec::new();
        for place in front.drain(..) {
            if free > 0 && line.claim(place, now).is_ok() {
                free -= 1;
                taken += 1;
            } else {
                still_waiting.push(place);
            }
        }
        front = still_waiting;
        let head = line.snapshot().head;
        let moved = line.advance(now, free);
        for p in head..head + moved {
            if !p.is_multiple_of(2) {
                continue;
            }
            if free > 0 && line.claim(Place(p), now).is_ok() {
                free -= 1;
                taken += 1;
            } else {
                front.push(Place(p));
            }
        }
        if tick >= 100 {
            idle_after_warmup += free;
        }
    }
    let share = line.no_show_share();
    assert!((share - 0.5).abs() < 0.05, "measured no-show share {share}");
    let used = taken as f64 / freed as f64;
    assert!(
        used > 0.97,
        "only {:.1}% of freed places were taken",
        used * 100.0
    );
    let idle = idle_after_warmup as f64 / 900.0;
    assert!(idle < 10.0, "{idle:.1} places idle per tick on average");
}

/// A line whose claim window holds 64 places, with `n` waiting.
fn small_window_line(n: u64) -> Line {
    let config = LineConfig {
        window_places: 64,
        ..LineConfig::default()
    };
    let mut line = Line::new(config);
    for _ in 0..n {
        line.join();
    }
    line
}

#[test]
fn a_full_window_gives_up_the_oldest_places_early() {
    let mut line = small_window_line(300);
    let t0 = Instant::now();
    line.claim(Place(0), t0).expect_err("not eligible yet");
    assert_eq!(
        line.advance(t0, 90),
        64,
        "one advance moves at most the window"
    );
    let mut t = t0;
    while line.snapshot().head < 300 {
        t += SEC;
        assert!(line.advance(t, 1000) <= 64);
    }
    let head = line.snapshot().head;
    assert_eq!(head, 300);
    assert_eq!(line.snapshot().open_from, head - 64);
    assert_eq!(line.claim(Place(head - 65), t), Err(ClaimError::GivenUp));
    assert_eq!(line.claim(Place(head - 64), t), Ok(()));
    assert_eq!(line.claim(Place(head - 1), t), Ok(()));
}

/// Guards against a shop reporting a huge capacity (issue 14, point 7): one advance makes at
/// most a window's worth of places eligible, so the earliest waiters keep their places.
#[test]
fn one_advance_never_moves_past_the_claim_window() {
    let mut line = small_window_line(300);
    let t0 = Instant::now();
    assert_eq!(line.advance(t0, u64::from(u32::MAX)), 64);
    assert_eq!(
        line.claim(Place(0), t0),
        Ok(()),
        "the first waiter keeps its place"
    );
    assert!(!line.is_eligible(Place(64)));
}

/// Guards against a state file whose counters sit near `u64::MAX` (issue 14, point 8): counting
/// on from them would wrap and hand out place 0 again.
#[test]
fn restore_refuses_counters_that_would_wrap() {
    let t0 = Instant::now();
    let near_the_end = Counters {
        issued: u64::MAX - 1,
        head: 0,
        open_from: 0,
    };
    assert!(Line::restore(near_the_end, LineConfig::default(), t0).is_err());
    let far_but_fine = Counters {
        issued: 1 << 40,
        head: 1 << 39,
        open_from: 1 << 39,
    };
    assert!(Line::restore(far_but_fine, LineConfig::default(), t0).is_ok());
}

#[test]
fn restore_keeps_every_place() {
    let mut line = line_with(100);
    let t0 = Instant::now();
    line.advance(t0, 9);
    line.claim(Place(0), t0).expect("eligible");
    let json = serde_json::to_string(&line.snapshot()).expect("serialize");
    let counters: Counters = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(
        counters,
        Counters {
            issued: 100,
            head: 10,
            open_from: 0
        }
    );

    let later = t0 + 5 * SEC;
    let mut restored = Line::restore(counters, LineConfig::default(), later).expect("valid");
    assert_eq!(restored.waiting(), line.waiting());
    for p in 0..100 {
        assert_eq!(restored.ahead(Place(p)), line.ahead(Place(p)));
    }
    assert_eq!(restored.join(), Place(100));
    assert_eq!(restored.claim(Place(9), later), Ok(()));
    assert_eq!(restored.claim(Place(10), later), Err(ClaimError::NotYet));
    // Open places get a fresh grace period from the restore.
    let grace = LineConfig::default().grace;
    assert_eq!(restored.claim(Place(5), later + grace - MS), Ok(()));
}

#[test]
fn restore_refuses_inconsistent_counters() {
    let t0 = Instant::now();
    let bad = Counters {
        issued: 5,
        head: 6,
        open_from: 0,
    };
    let err = Line::restore(bad, LineConfig::default(), t0).expect_err("head past issued");
    assert_eq!(
        err,
        CountersError {
            open_from: 0,
            head: 6,
            issued: 5
        }
    );
    let bad = Counters {
        issued: 9,
        head: 6,
        open_from: 7,
    };
    assert!(Line::restore(bad, LineConfig::default(), t0).is_err());
}

/// The line's heap is the claim window and the group ring, both allocated once: a million
/// waiting clients cost no more than none. Each client's place lives in its queue token.
#[test]
fn memory_is_constant_per_waiting_client() {
    let mut line = Line::new(LineConfig::default());
    let fixed = line.heap_bytes();
    assert!(fixed >= (1 << 15) + GROUPS * std::mem::size_of::<Group>());
    assert!(fixed < 256 * 1024, "{fixed} bytes");
    for _ in 0..1_000_000 {
        line.join();
    }
    assert_eq!(line.waiting(), 1_000_000);
    assert_eq!(line.heap_bytes(), fixed);
    let t0 = Instant::now();
    for tick in 0..2_000u32 {
        let now = t0 + tick * 100 * MS;
        let head = line.snapshot().head;
        line.advance(now, 50);
        if head > 0 {
            let _ = line.claim(Place(head - 1), now);
        }
    }
    assert_eq!(line.heap_bytes(), fixed);
}

#[test]
fn retry_times_follow_place_order_within_bounds() {
    let mut line = line_with(2_000);
    let mut est = Estimator::default();
    let t0 = Instant::now();
    let unknown: Vec<Duration> = [0, 1, 399]
        .iter()
        .map(|&p| line.retry_after(Place(p), t0, &est))
        .collect();
    assert_eq!(unknown, [25 * MS, 50 * MS, SEC]);

    for i in 0..200u32 {
        est.freed(t0 + i * 50 * MS, 1);
    }
    let now = t0 + 10 * SEC;
    line.advance(now, 1);
    let head = line.snapshot().head;
    let times: Vec<Duration> = (head..head + 1_500)
        .map(|p| line.retry_after(Place(p), now, &est))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in place order");
    assert_eq!(times[0], 25 * MS);
    // 100 ahead at 20 a second: due in 5 s, told to check in halfway.
    assert_eq!(times[99], 2500 * MS);
    assert_eq!(times[999], 25 * SEC);
    assert_eq!(times[1_499], 30 * SEC, "long waits are cut into check-ins");
    assert!(times.iter().all(|t| t.subsec_nanos() % 1_000_000 == 0));
    assert_eq!(line.retry_after(Place(0), now, &est), 25 * MS);
}

#[test]
fn a_place_lets_the_fresh_places_just_ahead_go_first() {
    let mut line = line_with(3);
    let t0 = Instant::now();
    assert_eq!(line.advance(t0, 3), 3);
    // All three became eligible at once: the third waits while the first two are fresh.
    assert!(line.is_behind(Place(2), t0));
    assert!(!line.is_behind(Place(0), t0), "the first goes at once");
    line.claim(Place(0), t0).expect("eligible");
    assert!(
        line.is_behind(Place(2), t0),
        "the second is still on its way"
    );
    line.claim(Place(1), t0).expect("eligible");
    assert!(!line.is_behind(Place(2), t0));
    // Someone who walked away holds the places behind for a moment only.
    let mut line = line_with(2);
    assert_eq!(line.advance(t0, 2), 2);
    assert!(line.is_behind(Place(1), t0));
    assert!(!line.is_behind(Place(1), t0 + 250 * MS));
}
