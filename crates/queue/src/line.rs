//! The line: places in arrival order, the head that makes them eligible, and claims.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::shows::Shows;
use crate::window::ClaimWindow;
use crate::{ClaimError, CountersError, Estimator, LineConfig};

/// Most places a restored line may have handed out: far beyond any sale, and far enough from
/// `u64::MAX` that counting on from it never wraps.
const MAX_PLACES: u64 = 1 << 62;

/// Groups of eligible places kept at once (see [`Group`]); allocated once, never more.
const GROUPS: usize = 4096;

/// A group covers at most grace ÷ this much time, so the groups alive within one grace period
/// (each lives a grace period after it closes) always fit in [`GROUPS`].
const GROUP_SPANS: u32 = 4000;

/// Share of the expected wait a client is told to stay away. A client back before its turn
/// costs one more short answer; a client back after it leaves its place idle, and the rate
/// measured from a slowed line would schedule everyone later still. Halving the rest of the
/// wait at each check-in brings each client back just before its turn even when the rate
/// grows after it was told (a sale speeding up), for about log2(wait ÷ 100 ms) answers each;
/// it also absorbs the jitter of report ticks and of the client's own timers.
const EARLY: f64 = 0.5;

/// How many places just ahead of a claim are checked for clients on their way (see
/// [`Line::is_behind`]).
const PRECEDENCE: u64 = 16;

/// Longest wait handed out while the rate is unknown (the start of a sale): the line learns
/// the rate from its first window (about half a second of frees), and clients told a guess
/// should hear the real time soon after, not sit out places that became theirs meanwhile.
const UNSURE_CHECK_IN: Duration = Duration::from_secs(1);

/// A place in line: its number, counted from 0 in arrival order. The queue token carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Place(pub u64);

/// The line's counters, all a restarted reception needs to keep every place. Persisting them is
/// the caller's job; `issued` must be stored before any place at or above it is handed out,
/// or a restart would hand the same number out twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// The next place number to hand out.
    pub issued: u64,
    /// Places below the head are eligible.
    pub head: u64,
    /// Places below this one are settled (claimed or given up); from here to the head they are
    /// open: eligible and still claimable.
    pub open_from: u64,
}

/// Places that became eligible together (within one group span), in place order. The claim
/// window says which are claimed; the group keeps when they became eligible, for the grace
/// period and the show model, and how many are still unclaimed.
#[derive(Debug, Clone, Copy)]
struct Group {
    /// One past the group's last place; it starts where the previous group ends.
    end: u64,
    /// When the group was opened; later places join it until one span has passed.
    opened: Instant,
    /// When its last place became eligible: the grace period runs from here, which gives every
    /// place in the group at least its full grace.
    until: Instant,
    unclaimed: u64,
}

/// One line for the whole sale, with O(1) state per waiting client.
///
/// Clients who find every shop busy (Sa54), or others already waiting, [`join`](Line::join) at
/// the back and get the next place number; nothing is stored per client. Places below the
/// `head` are eligible; the head only moves forward ([`advance`](Line::advance)), so places
/// become eligible strictly in arrival order. An eligible place is claimed once, within the
/// grace period ([`claim`](Line::claim)); afterwards it is given up.
///
/// Memory is fixed at construction: a ring of claim bits for the open places just behind the
/// head ([`LineConfig::window_places`]), and at most 4,096 groups recording when they
/// became eligible.
#[derive(Debug, Clone)]
pub struct Line {
    config: LineConfig,
    issued: u64,
    head: u64,
    open_from: u64,
    window: ClaimWindow,
    /// Cover `open_from..head` exactly, oldest first.
    groups: VecDeque<Group>,
    /// How many groups from the front have been counted in the no-show share already (see
    /// [`Line::presume`]).
    presumed: usize,
    shows: Shows,
}

impl Line {
    /// An empty line.
    pub fn new(config: LineConfig) -> Self {
        Self::with_counters(config, 0, 0)
    }

    /// The line a snapshot describes (see [`Counters`]). Waiting places keep their numbers and
    /// order. The claim bits are not persisted, so places that were open get a fresh grace
    /// period from `now` and count as unclaimed: a client who claimed just before the restart
    /// could be admitted once more. That trade keeps every eligible client's place; each shop
    /// still enforces its capacity.
    pub fn restore(
        counters: Counters,
        config: LineConfig,
        now: Instant,
    ) -> Result<Self, CountersError> {
        let Counters {
            issued,
            head,
            open_from,
        } = counters;
        if open_from > head || head > issued || issued > MAX_PLACES {
            return Err(CountersError {
                open_from,
                head,
                issued,
            });
        }
        let mut line = Self::with_counters(config, issued, head);
        line.open_from = open_from.max(head.saturating_sub(line.window.places()));
        if line.open_from < head {
            line.groups.push_back(Group {
                end: head,
                opened: now,
                until: now,
                unclaimed: head - line.open_from,
            });
        }
        Ok(line)
    }

    fn with_counters(config: LineConfig, issued: u64, head: u64) -> Self {
        let config = config.normalized();
        Self {
            window: ClaimWindow::new(config.window_places),
            config,
            issued,
            head,
            open_from: head,
            groups: VecDeque::with_capacity(GROUPS),
            presumed: 0,
            shows: Shows::new(),
        }
    }

    /// The counters to persist.
    pub fn snapshot(&self) -> Counters {
        Counters {
            issued: self.issued,
            head: self.head,
            open_from: self.open_from,
        }
    }

    /// Hands out the next place at the back of the line. Newcomers join here whenever anyone
    /// is waiting, even if places are free, so nobody overtakes.
    pub fn join(&mut self) -> Place {
        let place = Place(self.issued);
        self.issued += 1;
        place
    }

    /// Places handed out and not yet eligible.
    pub fn waiting(&self) -> u64 {
        self.issued - self.head
    }

    /// Whether the head has reached `place` (it may since have been claimed or given up).
    pub fn is_eligible(&self, place: Place) -> bool {
        place.0 < self.head
    }

    /// The place's position: 1 for the next to become eligible, 0 once eligible.
    pub fn ahead(&self, place: Place) -> u64 {
        if place.0 < self.head {
            0
        } else {
            place.0 - self.head + 1
        }
    }

    /// Measured share of eligible places never claimed within the grace period.
    pub fn no_show_share(&self) -> f64 {
        self.shows.share()
    }

    /// Heap bytes the line holds: fixed at construction, however many clients join.
    pub fn heap_bytes(&self) -> usize {
        self.window.heap_bytes() + self.groups.capacity() * std::mem::size_of::<Group>()
    }

    /// The shops have `free_places` places free: makes more places eligible so that the places
    /// expected to be claimed match them, and returns how many became eligible (feed it to
    /// [`Estimator::freed`]).
    ///
    /// Counting every open place against the free ones would let the places of people who
    /// walked away hold the head back for a whole grace period, leaving capacity idle. So each
    /// unclaimed place counts by the chance it will still be claimed, which falls with its age
    /// (see `shows.rs`), and each new place by 1 − the no-show share: the head runs ahead of
    /// the free places by the measured share of no-shows. It never moves back and never passes
    /// `issued`. An eligible client who then finds no free place waits at the front.
    pub fn advance(&mut self, now: Instant, free_places: u64) -> u64 {
        self.settle(now);
        let share = self.shows.share();
        let missing = free_places as f64 - self.expected_claims(now);
        if missing <= 0.0 {
            return 0;
        }
        // Rounded, not ceiled: one free place with a 10% no-show share is 1.1 places, and
        // ceiling that would make two eligible for one place. `as` saturates; the `min`
        // bounds it by the waiting places anyway.
        let moved = ((missing / (1.0 - share)).round() as u64).min(self.waiting());
        // One advance moves at most the claim window: a report claiming a huge capacity must
        // not make everyone eligible at once and give up the earliest waiters with it.
        let moved = moved.min(self.window.places());
        if moved > 0 {
            self.make_eligible(now, self.head + moved);
        }
        moved
    }

    /// Whether a newcomer may skip the line and be admitted at once: only when nobody waits
    /// and the shops' `free_places` exceed what the eligible clients are expected to claim,
    /// so a newcomer never takes the place of someone whose turn has come.
    pub fn admits_newcomer(&self, now: Instant, free_places: u64) -> bool {
        self.waiting() == 0 && free_places as f64 > self.expected_claims(now)
    }

    /// Claims an eligible place: succeeds at most once per place, and only within its grace
    /// period. The caller admits the client on success; if it then cannot (no shop has a
    /// place), it hands the place back with [`unclaim`](Line::unclaim).
    pub fn claim(&mut self, place: Place, now: Instant) -> Result<(), ClaimError> {
        self.settle(now);
        let p = place.0;
        if p >= self.issued {
            return Err(ClaimError::Unknown);
        }
        if p >= self.head {
            return Err(ClaimError::NotYet);
        }
        if p < self.open_from {
            return Err(ClaimError::GivenUp);
        }
        if self.window.get(p) {
            return Err(ClaimError::AlreadyClaimed);
        }
        self.window.set(p, true);
        if let Some(group) = self.group_mut(p) {
            group.unclaimed = group.unclaimed.saturating_sub(1);
            let age = now.saturating_duration_since(group.until);
            self.shows.claimed(age);
        }
        Ok(())
    }

    /// Whether an eligible `place` should let the places just ahead of it go first: one of
    /// the [`PRECEDENCE`] places before it is unclaimed and became eligible less than a
    /// precedence hold ago (about twice the usual claim delay), so its client is most likely on
    /// its way. Asking before claiming keeps admissions in arrival order when several places
    /// become eligible at once; places of people who walked away hold nobody back for longer
    /// than that short hold.
    pub fn is_behind(&self, place: Place, now: Instant) -> bool {
        let p = place.0;
        let hold = self.shows.precedence_hold();
        let from = p.saturating_sub(PRECEDENCE).max(self.open_from);
        (from..p).any(|q| {
            !self.window.get(q)
                && self
                    .group(q)
                    .is_some_and(|g| now.saturating_duration_since(g.until) < hold)
        })
    }

    /// Hands back a claimed place whose client could not be admitted after all, so it can
    /// claim again within what is left of its grace period (the caller keeps clients waiting at
    /// the front past it). Returns whether it was claimed.
    pub fn unclaim(&mut self, place: Place, now: Instant) -> bool {
        self.settle(now);
        let p = place.0;
        if p < self.open_from || p >= self.head || !self.window.get(p) {
            return false;
        }
        self.window.set(p, false);
        if let Some(group) = self.group_mut(p) {
            group.unclaimed += 1;
        }
        true
    }

    /// When the client holding `place` should come back (Sc55-Sc56): a little before its turn
    /// is expected (half the position ÷ [`Estimator::schedule_rate`]), in whole milliseconds, so it asks
    /// again by itself (Sc51) just in time. Places further back get later times, so clients
    /// return in place order and spread out without random jitter. At most
    /// [`LineConfig::check_in`], at least [`LineConfig::retry_floor`] (also for eligible places
    /// whose client found no free place).
    ///
    /// With no rate measured yet, each position adds one floor, so the front still comes back
    /// first and soon, and nobody is told to stay away longer than 1 s.
    pub fn retry_after(&self, place: Place, now: Instant, estimator: &Estimator) -> Duration {
        let floor = self.config.retry_floor;
        let ahead = self.ahead(place);
        let (wait, check_in) = match estimator.schedule_rate(now) {
            _ if ahead == 0 => (floor, self.config.check_in),
            Some(rate) if rate > 0.0 => {
                let turn = ahead as f64 / rate * EARLY;
                let wait = Duration::try_from_secs_f64(turn).unwrap_or(self.config.check_in);
                (wait, self.config.check_in)
            }
            // Nothing measured yet: the front comes back soon, one floor per position, and
            // everyone checks in again shortly to learn a real time once the rate is known.
            _ => (
                floor.saturating_mul(u32::try_from(ahead).unwrap_or(u32::MAX)),
                UNSURE_CHECK_IN.min(self.config.check_in),
            ),
        };
        let millis = wait.as_nanos().div_ceil(1_000_000);
        let wait = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
        wait.max(floor).min(check_in)
    }

    /// How many open places are expected to be claimed yet: each unclaimed place weighted by
    /// the chance its client still comes, which falls with its age. While it is above zero,
    /// someone whose turn came may still arrive, so newcomers should not take their places.
    pub fn expected_claims(&self, now: Instant) -> f64 {
        let share = self.shows.share();
        self.groups
            .iter()
            .map(|g| {
                let age = now.saturating_duration_since(g.until);
                g.unclaimed as f64 * self.shows.chance(age, share)
            })
            .sum()
    }

    /// Moves the head to `new_head`, recording the new places as open and unclaimed.
    fn make_eligible(&mut self, now: Instant, new_head: u64) {
        // Open places must stay within one ring of the head; older ones are given up early.
        let floor = new_head.saturating_sub(self.window.places());
        if floor > self.open_from {
            self.close_below(floor);
        }
        let from = self.head.max(floor);
        self.window.clear_range(from, new_head);
        let fresh = new_head - from;
        let span = self.config.grace / GROUP_SPANS;
        let full = self.groups.len() >= GROUPS;
        match self.groups.back_mut() {
            Some(last) if full || now.saturating_duration_since(last.opened) < span => {
                last.end = new_head;
                last.until = now;
                last.unclaimed += fresh;
            }
            _ => self.groups.push_back(Group {
                end: new_head,
                opened: now,
                until: now,
                unclaimed: fresh,
            }),
        }
        self.head = new_head;
    }

    /// Settles the groups whose grace period has ended: their unclaimed places are given up
    /// and counted as no-shows.
    fn settle(&mut self, now: Instant) {
        self.presume(now);
        while let Some(group) = self.groups.front() {
            if now.saturating_duration_since(group.until) < self.config.grace {
                break;
            }
            if self.presumed == 0 {
                self.shows
                    .settled(group.end - self.open_from, group.unclaimed);
            }
            self.presumed = self.presumed.saturating_sub(1);
            self.open_from = group.end;
            self.groups.pop_front();
        }
    }

    /// Counts groups in the no-show share once their places are old enough that almost every
    /// client who was coming has come (many times the usual claim delay), long before the grace
    /// period gives them up. The share then follows the sale within seconds: waiting a whole
    /// grace period to learn it would let the walked-away hold the head back meanwhile. The
    /// places stay claimable; a rare late claim only nudges the share.
    fn presume(&mut self, now: Instant) {
        let after = self.shows.presume_after();
        while let Some(group) = self.groups.get(self.presumed) {
            if now.saturating_duration_since(group.until) < after {
                break;
            }
            let start = match self.presumed {
                0 => self.open_from,
                i => self.groups[i - 1].end,
            };
            self.shows.settled(group.end - start, group.unclaimed);
            self.presumed += 1;
        }
    }

    /// Gives up the open places below `floor` before their grace period ends, because the
    /// claim window is full. They are not counted as no-shows: nobody had the time to come.
    fn close_below(&mut self, floor: u64) {
        while let Some(group) = self.groups.front_mut() {
            if group.end <= floor {
                self.open_from = group.end;
                self.groups.pop_front();
                self.presumed = self.presumed.saturating_sub(1);
                continue;
            }
            if floor > self.open_from {
                let claimed = self.window.count_range(self.open_from, floor);
                let dropped = (floor - self.open_from).saturating_sub(claimed);
                group.unclaimed = group.unclaimed.saturating_sub(dropped);
            }
            break;
        }
        self.open_from = self.open_from.max(floor);
    }

    /// The group holding open place `place`.
    fn group(&self, place: u64) -> Option<&Group> {
        let index = self.groups.partition_point(|g| g.end <= place);
        self.groups.get(index)
    }

    /// The group holding open place `place`.
    fn group_mut(&mut self, place: u64) -> Option<&mut Group> {
        let index = self.groups.partition_point(|g| g.end <= place);
        self.groups.get_mut(index)
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
