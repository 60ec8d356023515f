//! Random sequences of joins, advances, claims and waits against a plain model of the line.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{GROUP_SPANS, Line, Place};
use crate::{ClaimError, LineConfig};

#[derive(Debug, Clone)]
enum Op {
    Join(u8),
    Advance(u8),
    Claim(u16),
    Unclaim(u16),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..8).prop_map(Op::Join),
        (0u8..12).prop_map(Op::Advance),
        any::<u16>().prop_map(Op::Claim),
        any::<u16>().prop_map(Op::Unclaim),
        (0u16..1500).prop_map(Op::Wait),
    ]
}

/// What the test knows of each place: when it became eligible, and whether it is claimed.
#[derive(Debug, Clone, Default)]
struct Known {
    eligible_at: Option<Instant>,
    claimed: bool,
}

/// The line's private bookkeeping agrees with its claim bits.
fn check_internals(line: &Line) {
    let Line {
        issued,
        head,
        open_from,
        ..
    } = *line;
    assert!(open_from <= head && head <= issued);
    let mut start = open_from;
    let mut unclaimed = 0;
    for group in &line.groups {
        assert!(group.end > start, "empty or backward group");
        start = group.end;
        unclaimed += group.unclaimed;
    }
    assert_eq!(start, head, "groups must cover the open places exactly");
    let claimed = line.window.count_range(open_from, head);
    assert_eq!(unclaimed + claimed, head - open_from);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_line_keeps_its_promises(ops in proptest::collection::vec(op(), 1..300)) {
        let grace = Duration::from_secs(2);
        let span = grace / GROUP_SPANS;
        let config = LineConfig { grace, window_places: 4096, ..LineConfig::default() };
        let mut line = Line::new(config);
        let mut now = Instant::now();
        let mut known: Vec<Known> = Vec::new();
        let mut last_head = 0;
        for op in ops {
            match op {
                Op::Join(n) => {
                    for _ in 0..n {
                        let place = line.join();
                        prop_assert_eq!(place.0, known.len() as u64, "places are handed out in order");
                        known.push(Known::default());
                    }
                }
                Op::Advance(free) => {
                    let moved = line.advance(now, u64::from(free));
                    let head = line.snapshot().head;
                    prop_assert_eq!(head, last_head + moved);
                    for k in &mut known[last_head as usize..head as usize] {
                        k.eligible_at = Some(now);
                    }
                }
                Op::Claim(pick) | Op::Unclaim(pick) if known.is_empty() => {
                    let _ = pick;
                }
                Op::Claim(pick) => {
                    let p = u64::from(pick) % known.len() as u64;
                    let got = line.claim(Place(p), now);
                    let k = &mut known[p as usize];
                    match k.eligible_at {
                        None => prop_assert_eq!(got, Err(ClaimError::NotYet)),
                        Some(at) => {
                            let age = now.duration_since(at);
                            if age < grace {
                                let want = if k.claimed { Err(ClaimError::AlreadyClaimed) } else { Ok(()) };
                                prop_assert_eq!(got, want);
                            } else if age >= grace + span {
                                prop_assert_eq!(got, Err(ClaimError::GivenUp));
                            } else if k.claimed {
                                prop_assert!(got.is_err(), "claimed twice");
                            }
                            if got.is_ok() {
                                prop_assert!(!k.claimed, "a place admitted twice");
                                k.claimed = true;
                            }
                        }
                    }
                }
                Op::Unclaim(pick) => {
                    let p = u64::from(pick) % known.len() as u64;
                    let back = line.unclaim(Place(p), now);
                    let k = &mut known[p as usize];
                    if back {
                        prop_assert!(k.claimed);
                        let age = k.eligible_at.map(|at| now.duration_since(at));
                        prop_assert!(age.is_some_and(|age| age < grace + span));
                        k.claimed = false;
                    } else if let Some(at) = k.eligible_at {
                        prop_assert!(!k.claimed || now.duration_since(at) >= grace);
                    }
                }
                Op::Wait(ms) => now += Duration::from_millis(u64::from(ms)),
            }
            let head = line.snapshot().head;
            prop_assert!(head >= last_head, "the head moved back");
            prop_assert!(head <= known.len() as u64, "the head passed issued");
            last_head = head;
            for (p, k) in known.iter().enumerate() {
                let p = p as u64;
                prop_assert_eq!(line.is_eligible(Place(p)), k.eligible_at.is_some());
                prop_assert_eq!(line.ahead(Place(p)), if p < head { 0 } else { p - head + 1 });
            }
            check_internals(&line);
        }
    }
}
