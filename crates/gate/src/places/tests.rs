//! The places state machine: capacity, claims, leases, stock, expiry.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use usher_ticket::{ItemId, TicketId};

use super::{ClaimRefusal, LeaseKey, Places, SessionId, Visit};

fn tid(n: u64) -> TicketId {
    TicketId {
        issuer: usher_ticket::IssuerId(1),
        serial: n,
    }
}

/// Lease `lease` of management link `link`.
fn lease(link: u64, lease: u64) -> LeaseKey {
    LeaseKey { link, lease }
}

fn item() -> ItemId {
    ItemId::new("concert").unwrap()
}

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

#[test]
fn reservations_stop_at_capacity_and_high_water_never_passes_it() {
    let now = Instant::now();
    let mut p = Places::new(3, Duration::from_secs(600));
    let exp = now + Duration::from_secs(30);
    assert!(p.reserve(tid(1), item(), exp, now));
    assert!(p.reserve(tid(2), item(), exp, now));
    assert!(p.reserve(tid(3), item(), exp, now));
    assert!(!p.reserve(tid(4), item(), exp, now));
    assert!(
        p.reserve(tid(3), item(), exp, now),
        "a resent notice is idempotent"
    );
    assert_eq!(p.stats().high_water, 3);
    assert_eq!(p.stats().in_use(), 3);
    // A released reservation gives its place back; a resent notice for it is not granted.
    p.release(tid(3));
    assert_eq!(p.stats().in_use(), 2);
    assert!(p.reserve(tid(4), item(), exp, now));
    assert!(!p.reserve(tid(5), item(), exp, now));
    // A claimed ticket is not released: its session keeps the place.
    let (_, _) = p.claim(tid(4), A, now).unwrap();
    p.release(tid(4));
    assert_eq!(p.stats().in_use(), 3);
    // A resent notice for a claimed ticket is not a new grant.
    assert!(!p.reserve(tid(4), item(), exp, now));
}

/// Guards the expiry queue that replaced a pass over every notice per sweep: what ran out
/// is freed, what did not is untouched (also when an older entry of the same ticket is
/// still queued), and a claimed notice lives as long as its session.
#[test]
fn sweeping_frees_exactly_what_ran_out() {
    let now = Instant::now();
    let mut p = Places::new(10, Duration::from_secs(600));
    let soon = now + Duration::from_secs(1);
    let late = now + Duration::from_secs(60);
    assert!(p.reserve(tid(1), item(), soon, now));
    assert!(p.reserve(tid(2), item(), late, now));
    assert!(p.reserve(tid(3), item(), soon, now));
    let (session, _) = p.claim(tid(3), A, now).unwrap();
    // Released, then noticed again with a later window: the early entry must not free it.
    p.release(tid(2));
    assert!(p.reserve(tid(2), item(), late, now));
    p.sweep(soon);
    assert_eq!(p.stats().reserved, 1, "tid 1 freed, tid 2 kept");
    assert_eq!(p.stats().sessions, 1);
    assert_eq!(p.claim(tid(1), A, soon), Err(ClaimRefusal::NotNotified));
    // The claimed ticket still answers with its session after its window.
    let after = soon + Duration::from_secs(5);
    p.sweep(after);
    assert_eq!(p.claim(tid(3), A, after), Ok((session, false)));
    p.sweep(late);
    assert_eq!(p.stats().reserved, 0);
}

#[test]
fn claim_turns_a_reservation_into_a_session_once() {
    let now = Instant::now();
    let mut p = Places::new(2, Duration::from_secs(600));
    assert_eq!(p.claim(tid(9), A, now), Err(ClaimRefusal::NotNotified));
    p.reserve(tid(1), item(), now + Duration::from_secs(30), now);
    let (s, fresh) = p.claim(tid(1), A, now).unwrap();
    assert!(fresh);
    assert_eq!(p.stats().sessions, 1);
    assert_eq!(p.stats().reserved, 0);
    // The same client again: the same session.
    assert_eq!(p.claim(tid(1), A, now), Ok((s, false)));
    // Anyone else: used.
    assert_eq!(p.claim(tid(1), B, now), Err(ClaimRefusal::Used));
    assert!(p.touch(s, "concert", now).is_some());
    assert!(p.touch(s, "opera", now).is_none());
}

#[test]
fn leases_count_against_capacity_until_used_or_expired() {
    let now = Instant::now();
    let mut p = Places::new(10, Duration::from_secs(600));
    let exp = now + Duration::from_secs(30);
    p.reserve(tid(100), item(), exp, now);
    assert_eq!(
        p.grant(lease(1, 1), 6, None, Duration::from_secs(2), now).0,
        6
    );
    assert_eq!(
        p.grant(lease(2, 1), 6, None, Duration::from_secs(2), now).0,
        3,
        "only what is free"
    );
    assert_eq!(p.stats().in_use(), 10);
    assert!(
        !p.reserve(tid(101), item(), exp, now),
        "leases hold their places"
    );
    // A notice moves a place from the lease to a reservation: in use does not change.
    assert!(p.note(lease(1, 1), tid(1), item(), exp, now));
    assert_eq!(p.stats().leased, 8);
    assert_eq!(p.stats().reserved, 2);
    assert_eq!(p.stats().in_use(), 10);
    assert!(
        p.note(lease(1, 1), tid(1), item(), exp, now),
        "a resent notice is idempotent"
    );
    assert_eq!(p.stats().in_use(), 10);
    // The leases expire: their unused places come back; the reservations stay.
    let later = now + Duration::from_secs(3);
    p.sweep(later);
    assert_eq!(p.stats().leased, 0);
    assert_eq!(p.stats().in_use(), 2);
    assert!(p.stats().high_water <= 10);
}

#[test]
fn units_of_stock_are_held_from_admission_to_order() {
    let now = Instant::now();
    let exp = now + Duration::from_secs(30);
    let mut p = Places::new(10, Duration::from_secs(600));
    p.set_stock(
        0,
        &std::collections::BTreeMap::from([("concert".to_owned(), 3)]),
        true,
    );
    // A lease asks for 5 units and gets the 3 there are.
    let (places, units) = p.grant(
        lease(1, 1),
        5,
        Some(&[(item(), 5)]),
        Duration::from_secs(2),
        now,
    );
    assert_eq!((places, units), (5, vec![(item(), 3)]));
    assert_eq!(p.stock().1["concert"], 0);
    // Nobody else is admitted for it meanwhile.
    assert!(!p.reserve(tid(9), item(), exp, now));
    // Three notices use the lease's units; a fourth finds none.
    for n in 1..=3 {
        assert!(p.note(lease(1, 1), tid(n), item(), exp, now));
    }
    assert!(!p.note(lease(1, 1), tid(4), item(), exp, now));
    // One order completes: its unit is sold; one buyer walks away: its unit comes back.
    let (s1, _) = p.claim(tid(1), A, now).unwrap();
    p.complete(s1, now);
    p.release(tid(2));
    assert_eq!(p.stock().0["concert"], 2);
    assert_eq!(p.stock().1["concert"], 1);
    // A store reading taken before that sale is ignored.
    p.set_stock(
        0,
        &std::collections::BTreeMap::from([("concert".to_owned(), 3)]),
        true,
    );
    assert_eq!(p.stock().0["concert"], 2);
}

/// Guards against buyers admitted from the first lease meeting `not_notified` (found by the
/// browser test through `usher gate`): a lease the reception asked for before it saw the shop's
/// stock counts no units and is issued for any item; once the shop knows its stock, that
/// lease's notices still draw on it.
#[test]
fn a_lease_granted_before_stock_was_known_honours_its_notices_after() {
    let now = Instant::now();
    let exp = now + Duration::from_secs(30);
    let mut p = Places::new(2, Duration::from_secs(600));
    // Seeing no stock in the shop's reports yet, the reception counts no units.
    let (places, units) = p.grant(lease(1, 1), 2, None, Duration::from_secs(2), now);
    assert_eq!((places, units), (2, vec![]));
    p.set_stock(
        0,
        &std::collections::BTreeMap::from([("concert".to_owned(), 5)]),
        true,
    );
    assert!(p.note(lease(1, 1), tid(1), item(), exp, now));
    // Its unit came from the free stock, and is held like any other.
    assert_eq!(p.stock().1["concert"], 4);
    assert!(p.claim(tid(1), A, now).is_ok());
    // A lease granted now that stock is known needs a unit per notice, as before.
    assert!(p.note(lease(1, 1), tid(2), item(), exp, now));
    let (s, _) = p.claim(tid(2), B, now).unwrap();
    p.complete(s, now);
    let (places, units) = p.grant(lease(1, 2), 1, Some(&[]), Duration::from_secs(2), now);
    assert_eq!((places, units), (1, vec![]));
    assert!(
        !p.note(lease(1, 2), tid(3), item(), exp, now),
        "a lease of no units admits nobody once stock is known"
    );
    // Selling out: an uncounted lease's notice finds no free unit and is not honoured.
    p.set_stock(
        1,
        &std::collections::BTreeMap::from([("concert".to_owned(), 0)]),
        true,
    );
    // (Once the last lease has run out, so there is a place to lease.)
    let later = now + Duration::from_secs(3);
    let (places, _) = p.grant(lease(1, 3), 1, None, Duration::from_secs(2), later);
    assert_eq!(places, 1);
    assert!(
        !p.note(
            lease(1, 3),
            tid(4),
            item(),
            later + exp.duration_since(now),
            later
        ),
        "sold out"
    );
}

#[test]
fn a_late_notice_gets_a_place_only_if_one_is_free() {
    let now = Instant::now();
    let mut p = Places::new(2, Duration::from_secs(600));
    let exp = now + Duration::from_secs(30);
    assert_eq!(
        p.grant(lease(1, 1), 2, None, Duration::from_secs(1), now).0,
        2
    );
    let later = now + Duration::from_secs(2);
    // The lease ran out before its notices arrived; someone else took the places meanwhile.
    assert!(p.reserve(tid(50), item(), exp, later));
    assert!(p.reserve(tid(51), item(), exp, later));
    assert!(
        !p.note(lease(1, 1), tid(1), item(), exp, later),
        "no place: refused"
    );
    assert_eq!(p.claim(tid(1), A, later), Err(ClaimRefusal::NotNotified));
    assert!(p.stats().high_water <= 2);
}

#[test]
fn completion_frees_the_place_and_kills_the_ticket() {
    let now = Instant::now();
    let mut p = Places::new(1, Duration::from_secs(600));
    p.reserve(tid(1), item(), now + Duration::from_secs(30), now);
    let (s, _) = p.claim(tid(1), A, now).unwrap();
    p.complete(s, now);
    assert_eq!(p.stats().in_use(), 0);
    assert_eq!(p.claim(tid(1), A, now), Err(ClaimRefusal::Used));
    assert!(p.touch(s, "concert", now).unwrap().completed);
    assert!(p.reserve(tid(2), item(), now + Duration::from_secs(30), now));
}

#[test]
fn unclaimed_reservations_expire_with_their_ticket() {
    let now = Instant::now();
    let mut p = Places::new(1, Duration::from_secs(600));
    p.reserve(tid(1), item(), now + Duration::from_secs(30), now);
    assert!(!p.reserve(tid(2), item(), now + Duration::from_secs(30), now));
    let later = now + Duration::from_secs(31);
    assert!(p.reserve(tid(2), item(), later + Duration::from_secs(30), later));
    assert_eq!(p.claim(tid(1), A, later), Err(ClaimRefusal::NotNotified));
}

/// Guards the per-request paths that no longer sweep every notice (a sweep per request made
/// admissions slow down as notices piled up): they must still expire what they touch.
#[test]
fn claim_and_touch_expire_what_they_touch_without_a_sweep() {
    let now = Instant::now();
    let mut p = Places::new(2, Duration::from_secs(5));
    p.reserve(tid(1), item(), now + Duration::from_secs(1), now);
    p.reserve(tid(2), item(), now + Duration::from_secs(30), now);
    let (s, _) = p.claim(tid(2), A, now).unwrap();
    let later = now + Duration::from_secs(6);
    assert_eq!(p.claim(tid(1), A, later), Err(ClaimRefusal::NotNotified));
    assert!(p.touch(s, "concert", later).is_none());
    assert_eq!(p.stats().in_use(), 0);
}

#[test]
fn idle_sessions_end_and_free_their_place() {
    let now = Instant::now();
    let mut p = Places::new(1, Duration::from_secs(5));
    p.reserve(tid(1), item(), now + Duration::from_secs(30), now);
    let (s, _) = p.claim(tid(1), A, now).unwrap();
    let later = now + Duration::from_secs(6);
    assert!(p.touch(s, "concert", later).is_none());
    assert_eq!(p.stats().in_use(), 0);
    // Within the ticket's window the ticket is dead, not re-usable.
    assert_eq!(p.claim(tid(1), A, later), Err(ClaimRefusal::Used));
}

#[test]
fn session_ids_round_trip_and_debug_hides_them() {
    let id = SessionId::random().unwrap();
    assert_eq!(SessionId::from_hex(&id.to_string()), Some(id));
    assert_eq!(SessionId::from_hex("zz"), None);
    assert_eq!(SessionId::from_hex(&"é".repeat(16)), None);
    assert!(format!("{id:?}").len() < 20);
}

/// Issue 14: a claim nobody follows (an `<img>`, a bot that drops the cookie) must not hold its
/// place for the idle timeout.
#[test]
fn a_session_never_used_ends_at_its_first_use_deadline() {
    let now = Instant::now();
    let mut p = Places::new(1, Duration::from_secs(600)).first_use_timeout(Duration::from_secs(5));
    p.reserve(tid(1), item(), now + Duration::from_secs(30), now);
    let (s, _) = p.claim(tid(1), A, now).unwrap();
    p.sweep(now + Duration::from_millis(4_999));
    assert_eq!(p.stats().sessions, 1, "still within its first-use time");
    p.sweep(now + Duration::from_secs(5));
    assert_eq!(p.stats().in_use(), 0, "freed at claim + first_use_timeout");
    assert!(
        p.touch(s, "concert", now + Duration::from_secs(5))
            .is_none()
    );
    // The ticket opened its one session: it is dead, within its window too.
    assert_eq!(
        p.claim(tid(1), A, now + Duration::from_secs(6)),
        Err(ClaimRefusal::Used)
    );
    assert!(p.reserve(tid(2), item(), now + Duration::from_secs(60), now));
}

#[test]
fn the_first_use_makes_the_idle_timeout_apply() {
    let now = Instant::now();
    let mut p = Places::new(1, Duration::from_secs(600)).first_use_timeout(Duration::from_secs(5));
    p.reserve(tid(1), item(), now + Duration::from_secs(30), now);
    let (s, _) = p.claim(tid(1), A, now).unwrap();
    assert!(
        p.touch(s, "concert", now + Duration::from_secs(1))
            .is_some()
    );
    p.sweep(now + Duration::from_secs(300));
    assert_eq!(
        p.stats().sessions,
        1,
        "a used session idles out, nothing sooner"
    );
    p.sweep(now + Duration::from_secs(601));
    assert_eq!(p.stats().sessions, 0);
}

#[test]
fn claiming_again_returns_the_same_session_but_never_extends_its_first_use() {
    let now = Instant::now();
    let mut p = Places::new(1, Duration::from_secs(600)).first_use_timeout(Duration::from_secs(5));
    p.reserve(tid(1), item(), now + Duration::from_secs(30), now);
    let (s, _) = p.claim(tid(1), A, now).unwrap();
    // A lost redirect: the same client claims again and finds its session.
    let again = now + Duration::from_secs(4);
    assert_eq!(p.claim(tid(1), A, again), Ok((s, false)));
    // Claiming again does not keep an unused session: it still ends 5 s after the claim,
    // found by the next claim even before a sweep.
    let late = now + Duration::from_secs(5);
    assert_eq!(p.claim(tid(1), A, late), Err(ClaimRefusal::Used));
    assert_eq!(p.stats().in_use(), 0);
}

#[test]
fn a_look_is_not_a_first_use() {
    let now = Instant::now();
    let mut p = Places::new(1, Duration::from_secs(600)).first_use_timeout(Duration::from_secs(5));
    p.reserve(tid(1), item(), now + Duration::from_secs(30), now);
    let (s, _) = p.claim(tid(1), A, now).unwrap();
    let look = now + Duration::from_secs(1);
    assert!(
        p.visit(s, "concert", look, Visit::Look).is_some(),
        "it lives"
    );
    p.sweep(now + Duration::from_secs(5));
    assert_eq!(p.stats().in_use(), 0, "looking kept nothing");
}

#[test]
fn one_client_prefix_holds_only_its_share_of_sessions() {
    let now = Instant::now();
    let exp = now + Duration::from_secs(30);
    let mut p = Places::new(10, Duration::from_secs(600)).sessions_per_client(2);
    for n in 1..=4 {
        assert!(p.reserve(tid(n), item(), exp, now));
    }
    let (first, _) = p.claim(tid(1), A, now).unwrap();
    assert!(p.claim(tid(2), A, now).is_ok());
    assert_eq!(p.claim(tid(3), A, now), Err(ClaimRefusal::TooMany));
    // Refused without taking the ticket: it is still reserved, for anyone in its binding.
    assert_eq!(p.stats().reserved, 2);
    assert_eq!(p.stats().sessions, 2);
    // Claiming an own ticket again is no new session and is not refused.
    assert_eq!(p.claim(tid(1), A, now), Ok((first, false)));
    // Another address has its own share; IPv4-mapped IPv6 is the same address as IPv4.
    assert!(p.claim(tid(4), B, now).is_ok());
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    assert_eq!(p.claim(tid(3), mapped, now), Err(ClaimRefusal::TooMany));
    // A session that completes or ends gives its share back.
    p.complete(first, now);
    assert!(p.claim(tid(3), A, now).is_ok());
}

#[test]
fn a_session_that_ends_gives_its_prefix_share_back() {
    let now = Instant::now();
    let exp = now + Duration::from_secs(60);
    let mut p = Places::new(10, Duration::from_secs(600))
        .first_use_timeout(Duration::from_secs(5))
        .sessions_per_client(1);
    p.reserve(tid(1), item(), exp, now);
    p.reserve(tid(2), item(), exp, now);
    p.claim(tid(1), A, now).unwrap();
    assert_eq!(p.claim(tid(2), A, now), Err(ClaimRefusal::TooMany));
    let later = now + Duration::from_secs(6);
    p.sweep(later);
    assert!(p.claim(tid(2), A, later).is_ok(), "the unused one ended");
}

#[test]
fn walk_ins_are_not_counted_per_client() {
    let now = Instant::now();
    let mut p = Places::new(10, Duration::from_secs(600))
        .first_use_timeout(Duration::from_secs(5))
        .sessions_per_client(1);
    for _ in 0..3 {
        p.walk_in(item(), now).unwrap();
    }
    // Walk-ins come in by their own request: no first use is awaited.
    p.sweep(now + Duration::from_secs(6));
    assert_eq!(p.stats().sessions, 3);
    p.reserve(tid(1), item(), now + Duration::from_secs(60), now);
    assert!(p.claim(tid(1), A, now).is_ok());
}

/// Guards against reservations outliving the management link that asked for them (issue 14,
/// point 2): a fake or relayed reception could otherwise hold places with made-up tickets for
/// as long as the ticket life it claims. A claimed one keeps its session.
#[test]
fn a_links_unclaimed_reservations_are_released_when_it_ends() {
    let now = Instant::now();
    let mut p = Places::new(3, Duration::from_secs(600));
    let exp = now + Duration::from_secs(3600);
    assert!(p.reserve_for_link(tid(1), item(), exp, now, 7));
    assert!(p.reserve_for_link(tid(2), item(), exp, now, 7));
    assert!(p.reserve_for_link(tid(3), item(), exp, now, 8));
    assert!(!p.reserve_for_link(tid(4), item(), exp, now, 8), "full");
    p.claim(tid(2), A, now).unwrap();
    p.drop_link(7);
    assert_eq!(
        p.stats().in_use(),
        2,
        "ticket 1's place is back; 2 is a session, 3 another link's"
    );
    assert!(p.reserve_for_link(tid(4), item(), exp, now, 8));
    assert_eq!(p.claim(tid(1), A, now), Err(ClaimRefusal::NotNotified));
}

/// The reception's first estimates start from how long sessions hold a place: the gate
/// measures it from opening to completion, or to expiry for a session that idled out.
#[test]
fn how_long_sessions_hold_a_place_is_measured_for_the_reports() {
    let now = Instant::now();
    let mut p = Places::new(2, Duration::from_secs(10)).first_use_timeout(Duration::from_secs(10));
    assert_eq!(p.stats().session, None, "nothing measured yet");
    let until = now + Duration::from_secs(30);
    p.reserve(tid(1), item(), until, now);
    p.reserve(tid(2), ItemId::new("poster").unwrap(), until, now);
    let (done, _) = p.claim(tid(1), A, now).unwrap();
    let (idle, _) = p.claim(tid(2), B, now).unwrap();
    assert!(p.touch(idle, "poster", now).is_some());
    p.complete(done, now + Duration::from_secs(4));
    assert_eq!(p.stats().session, Some(Duration::from_secs(4)));
    // The other idles out after its 10 s: 4 s and 10 s, 7 s on average.
    p.sweep(now + Duration::from_secs(10));
    assert_eq!(p.stats().session, Some(Duration::from_secs(7)));
    let by_item = [("concert".to_owned(), 4_000), ("poster".to_owned(), 10_000)];
    assert_eq!(p.sessions_by_item(), by_item.into(), "and per item");
}
