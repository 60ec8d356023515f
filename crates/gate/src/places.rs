//! The shop's places: reservations (notices), sessions, and the count that must never pass
//! capacity (invariant 1). Pure state; the caller passes the time in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use usher_ticket::{IssuerId, ItemId, TicketId};

use crate::stock::Stock;

/// A session's id: 128 random bits, written as 32 hex digits in the cookie.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 16]);

impl SessionId {
    /// A fresh random id.
    pub fn random() -> Result<SessionId, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(SessionId(bytes))
    }

    /// Parses the cookie spelling.
    pub fn from_hex(text: &str) -> Option<SessionId> {
        if text.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SessionId(bytes))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Session ids are bearer secrets: print only a prefix.
        write!(f, "SessionId({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// A lease's identity at the shop: the management link it came over and the reception's id for
/// it.
pub type LeaseKey = (u64, u64);

#[derive(Debug)]
struct Lease {
    left: u32,
    expires: Instant,
    /// Units of stock held for this lease's tickets, per item.
    stock: HashMap<ItemId, u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoticeState {
    /// A place is held; nobody has claimed the ticket yet.
    Reserved,
    /// Claimed by `client` into `session`.
    Claimed { session: SessionId, client: IpAddr },
    /// The ticket is dead: its order completed or its session ended.
    Dead,
}

#[derive(Debug)]
struct Notice {
    item: ItemId,
    expires: Instant,
    state: NoticeState,
}

#[derive(Debug)]
struct Session {
    ticket: TicketId,
    item: ItemId,
    last_seen: Instant,
    /// Kept after completion (place already free) so a retried buy finds its order.
    completed: bool,
    /// When a completed session is forgotten.
    until: Instant,
}

/// How often a claimed notice past its window is looked at again while its session lives.
const CLAIMED_RECHECK: Duration = Duration::from_secs(1);

/// `at + by`, or the far future if that would overflow (a very long configured timeout).
fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(at)
}

/// Why a claim was refused after the ticket itself verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// No notice for this ticket reached the shop (or it expired unclaimed).
    NotNotified,
    /// Claimed by someone else, or its order completed, or its session ended.
    Used,
}

/// The counts a report carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaceStats {
    /// Places in all.
    pub capacity: u32,
    /// Open sessions whose order has not completed.
    pub sessions: u32,
    /// Places held for unclaimed tickets.
    pub reserved: u32,
    /// Places granted to receptions in leases and not used yet.
    pub leased: u32,
    /// The most places ever in use at once.
    pub high_water: u32,
}

impl PlaceStats {
    /// Places in use now.
    pub fn in_use(&self) -> u32 {
        self.sessions + self.reserved + self.leased
    }
}

/// All places of one shop.
#[derive(Debug)]
pub struct Places {
    capacity: u32,
    idle_timeout: Duration,
    sessions_open: u32,
    reserved: u32,
    leased: u32,
    high_water: u32,
    notices: HashMap<TicketId, Notice>,
    /// Every notice by the instant its window ends (claimed ones again later while their
    /// session lives), so sweeping visits only what has run out.
    expiries: BinaryHeap<Reverse<(Instant, TicketId)>>,
    sessions: HashMap<SessionId, Session>,
    leases: HashMap<LeaseKey, Lease>,
    stock: Stock,
    last_sweep: Option<Instant>,
}

impl Places {
    /// Empty places.
    pub fn new(capacity: u32, idle_timeout: Duration) -> Places {
        Places {
            capacity,
            idle_timeout,
            sessions_open: 0,
            reserved: 0,
            high_water: 0,
            notices: HashMap::new(),
            expiries: BinaryHeap::new(),
            sessions: HashMap::new(),
            leases: HashMap::new(),
            leased: 0,
            stock: Stock::default(),
            last_sweep: None,
        }
    }

    fn in_use(&self) -> u32 {
        self.sessions_open + self.reserved + self.leased
    }

    /// Grants up to `want` places to a reception for `ttl` from now (the shop's clock owns the
    /// lease's life). Everything granted counts against capacity until used or expired.
    pub fn grant(
        &mut self,
        key: LeaseKey,
        want: u32,
        stock: &[(ItemId, u32)],
        ttl: Duration,
        now: Instant,
    ) -> (u32, Vec<(ItemId, u32)>) {
        if self.in_use().saturating_add(want) > self.capacity {
            self.sweep(now);
        }
        let free = self.capacity.saturating_sub(self.in_use());
        let granted = want.min(free);
        if granted == 0 || self.leases.contains_key(&key) {
            return (0, Vec::new());
        }
        // Units of stock, at most one per place granted, per item asked for.
        let mut units = HashMap::new();
        for (item, n) in stock {
            let want = u64::from((*n).min(granted));
            let got = self.stock.hold(item, want) as u32;
            if got > 0 {
                *units.entry(*item).or_insert(0) += got;
            }
        }
        let answer = units.iter().map(|(k, v)| (*k, *v)).collect();
        self.leased += granted;
        self.high_water = self.high_water.max(self.in_use());
        self.leases.insert(
            key,
            Lease {
                left: granted,
                expires: later(now, ttl),
                stock: units,
            },
        );
        (granted, answer)
    }

    /// Sa35 for a ticket issued from lease `key`: its place moves from the lease to a
    /// reservation. If the lease has run out (a late notice), the ticket gets a place only if one
    /// is free now, as a per-ticket reservation would; otherwise it holds none (and its claim will
    /// be refused `not_notified`).
    pub fn note(
        &mut self,
        key: LeaseKey,
        ticket: TicketId,
        item: ItemId,
        expires: Instant,
        now: Instant,
    ) -> bool {
        if let Some(notice) = self.notices.get(&ticket) {
            return notice.state != NoticeState::Dead;
        }
        if let Some(lease) = self.leases.get_mut(&key)
            && now < lease.expires
            && lease.left > 0
            && expires > now
            && (!self.stock.tracked() || lease.stock.get(&item).is_some_and(|&u| u > 0))
        {
            // The place and the unit move from the lease to the reservation.
            if let Some(u) = lease.stock.get_mut(&item) {
                *u = u.saturating_sub(1);
            }
            lease.left -= 1;
            self.leased -= 1;
            self.add_reservation(ticket, item, expires);
            return true;
        }
        self.reserve(ticket, item, expires, now)
    }

    /// Sa34: holds a place for `ticket` until `expires`, if one is free. Idempotent for a ticket
    /// already known (a resent notice).
    pub fn reserve(
        &mut self,
        ticket: TicketId,
        item: ItemId,
        expires: Instant,
        now: Instant,
    ) -> bool {
        if let Some(notice) = self.notices.get(&ticket) {
            // A resent notice: granted only while its place is still held.
            return notice.state == NoticeState::Reserved;
        }
        if self.in_use() >= self.capacity
            && self
                .last_sweep
                .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_millis(1))
        {
            // Full: free what has run out before refusing. Sweeping costs a pass over every
            // notice, so it is done only here (at most once a millisecond, so a batch of late
            // notices costs one pass) and on the periodic tick, never per request.
            self.sweep(now);
        }
        if self.in_use() >= self.capacity || expires <= now {
            return false;
        }
        if self.stock.hold(&item, 1) == 0 {
            // No unit left for this item: nobody is admitted to find it sold out.
            return false;
        }
        self.add_reservation(ticket, item, expires);
        true
    }

    /// Records a reservation for `ticket` whose place (and unit) the caller has already found.
    fn add_reservation(&mut self, ticket: TicketId, item: ItemId, expires: Instant) {
        self.reserved += 1;
        self.high_water = self.high_water.max(self.in_use());
        self.notices.insert(
            ticket,
            Notice {
                item,
                expires,
                state: NoticeState::Reserved,
            },
        );
        self.expiries.push(Reverse((expires, ticket)));
    }

    /// Sb32: turns a verified ticket's reservation into a session. The same client claiming again
    /// gets the same session (a lost redirect strands nobody).
    pub fn claim(
        &mut self,
        ticket: TicketId,
        client: IpAddr,
        now: Instant,
    ) -> Result<(SessionId, bool), ClaimRefusal> {
        let notice = self
            .notices
            .get_mut(&ticket)
            .ok_or(ClaimRefusal::NotNotified)?;
        if notice.state == NoticeState::Reserved && now >= notice.expires {
            // Its reservation ran out before the claim: the place is already due back.
            let item = notice.item;
            self.notices.remove(&ticket);
            self.reserved -= 1;
            self.stock.unhold(&item, 1);
            return Err(ClaimRefusal::NotNotified);
        }
        match notice.state {
            NoticeState::Reserved => {
                let id = SessionId::random().map_err(|_| ClaimRefusal::NotNotified)?;
                notice.state = NoticeState::Claimed {
                    session: id,
                    client,
                };
                self.reserved -= 1;
                self.sessions_open += 1;
                self.sessions.insert(
                    id,
                    Session {
                        ticket,
                        item: notice.item,
                        last_seen: now,
                        completed: false,
                        until: notice.expires,
                    },
                );
                Ok((id, true))
            }
            NoticeState::Claimed { session, client: c } if c == client => {
                match self.sessions.get_mut(&session) {
                    Some(s) if !s.completed => {
                        s.last_seen = now;
                        Ok((session, false))
                    }
                    _ => Err(ClaimRefusal::Used),
                }
            }
            NoticeState::Claimed { .. } | NoticeState::Dead => Err(ClaimRefusal::Used),
        }
    }

    /// A session opened without a ticket (`GateConfig::walk_ins`, the prior art): counted like
    /// any other and in the high-water mark, but never refused, so the count can pass capacity.
    /// Its order is keyed by a made-up ticket id (issuer 0, a random serial).
    pub fn walk_in(
        &mut self,
        item: ItemId,
        now: Instant,
    ) -> Result<(SessionId, crate::SessionInfo), getrandom::Error> {
        let id = SessionId::random()?;
        let mut serial = [0u8; 8];
        getrandom::fill(&mut serial)?;
        let ticket = TicketId {
            issuer: IssuerId(0),
            serial: u64::from_le_bytes(serial),
        };
        self.stock.hold(&item, 1);
        self.sessions_open += 1;
        self.high_water = self.high_water.max(self.in_use());
        self.sessions.insert(
            id,
            Session {
                ticket,
                item,
                last_seen: now,
                completed: false,
                until: later(now, self.idle_timeout),
            },
        );
        let info = crate::SessionInfo {
            ticket,
            item,
            completed: false,
        };
        Ok((id, info))
    }

    /// The session behind a cookie, if it is alive and for `item`; marks it as seen.
    pub fn touch(&mut self, id: SessionId, item: &str, now: Instant) -> Option<crate::SessionInfo> {
        let session = self.sessions.get_mut(&id)?;
        if session.item.as_str() != item {
            return None;
        }
        let ended = if session.completed {
            now >= session.until
        } else {
            now >= later(session.last_seen, self.idle_timeout)
        };
        if ended {
            // This session ran out; end it now rather than at the next sweep.
            let (ticket, completed, item) = (session.ticket, session.completed, session.item);
            self.sessions.remove(&id);
            if !completed {
                self.sessions_open -= 1;
                self.stock.unhold(&item, 1);
            }
            if let Some(n) = self.notices.get_mut(&ticket) {
                n.state = NoticeState::Dead;
            }
            return None;
        }
        session.last_seen = now;
        Some(crate::SessionInfo {
            ticket: session.ticket,
            item: session.item,
            completed: session.completed,
        })
    }

    /// Claim 7: the order completed. The session's place is free at once and the ticket is dead
    /// for good; the session is kept (not counted) so a retried buy finds its order.
    pub fn complete(&mut self, id: SessionId, now: Instant) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.completed {
            return;
        }
        session.completed = true;
        session.until = session.until.max(later(now, self.idle_timeout));
        self.sessions_open -= 1;
        // Its held unit is the one sold.
        self.stock.sold(&session.item);
        if let Some(notice) = self.notices.get_mut(&session.ticket) {
            notice.state = NoticeState::Dead;
        }
    }

    /// The reception gave up on a reservation (it timed out waiting for the grant): the place
    /// comes back at once, if the ticket was not claimed meanwhile.
    pub fn release(&mut self, ticket: TicketId) {
        if let Some(notice) = self
            .notices
            .get(&ticket)
            .filter(|n| n.state == NoticeState::Reserved)
        {
            let item = notice.item;
            self.notices.remove(&ticket);
            self.reserved -= 1;
            self.stock.unhold(&item, 1);
        }
    }

    /// Frees what has run out: unclaimed reservations past their ticket's window, sessions idle
    /// past the timeout, completed sessions past their keeping time, dead notices past expiry.
    pub fn sweep(&mut self, now: Instant) {
        self.last_sweep = Some(now);
        let idle = self.idle_timeout;
        let mut freed_sessions = 0;
        let notices = &mut self.notices;
        let stock = &mut self.stock;
        self.sessions.retain(|_, s| {
            let keep = if s.completed {
                now < s.until
            } else {
                now < later(s.last_seen, idle)
            };
            if !keep && !s.completed {
                freed_sessions += 1;
                stock.unhold(&s.item, 1);
                if let Some(n) = notices.get_mut(&s.ticket) {
                    n.state = NoticeState::Dead;
                }
            }
            keep
        });
        self.sessions_open -= freed_sessions;
        let mut freed_leased = 0;
        self.leases.retain(|_, l| {
            let keep = now < l.expires;
            if !keep {
                freed_leased += l.left;
                for (item, units) in &l.stock {
                    stock.unhold(item, u64::from(*units));
                }
            }
            keep
        });
        self.leased -= freed_leased;
        // Notices in order of expiry: only those past it are visited, so a sweep costs what
        // ran out, not a pass over every notice (a shop can hold hundreds of thousands).
        while let Some(Reverse((at, ticket))) = self.expiries.peek().copied() {
            if at > now {
                break;
            }
            self.expiries.pop();
            let Some(n) = self.notices.get_mut(&ticket) else {
                continue;
            };
            if now < n.expires {
                // An entry left by an earlier notice of the same ticket; this one has its own.
                continue;
            }
            match n.state {
                NoticeState::Reserved => {
                    self.reserved -= 1;
                    stock.unhold(&n.item, 1);
                    self.notices.remove(&ticket);
                }
                NoticeState::Dead => {
                    self.notices.remove(&ticket);
                }
                NoticeState::Claimed { session, .. } => {
                    if self.sessions.contains_key(&session) {
                        // It lives with its session: look again later.
                        self.expiries
                            .push(Reverse((later(now, CLAIMED_RECHECK), ticket)));
                    } else {
                        // Its session is gone and its window has passed.
                        self.notices.remove(&ticket);
                    }
                }
            }
        }
    }

    /// The management link `link` ended: its leases' notices can no longer arrive, so their
    /// unused places and units come back now.
    pub fn drop_link(&mut self, link: u64) {
        let stock = &mut self.stock;
        let mut freed = 0;
        self.leases.retain(|key, l| {
            if key.0 != link {
                return true;
            }
            freed += l.left;
            for (item, units) in &l.stock {
                stock.unhold(item, u64::from(*units));
            }
            false
        });
        self.leased -= freed;
    }

    /// Orders completed through this gate (pass it back with a store reading taken after).
    pub fn completions(&self) -> u64 {
        self.stock.completions()
    }

    /// A reading of the store's stock taken when [`completions`](Self::completions) was `seen`.
    pub fn set_stock(&mut self, seen: u64, units: &std::collections::BTreeMap<String, u64>) {
        self.stock.set_units(seen, units);
    }

    /// Units in the store per item, and units neither sold nor held for admitted buyers.
    pub fn stock(
        &self,
    ) -> (
        std::collections::BTreeMap<String, u64>,
        std::collections::BTreeMap<String, u64>,
    ) {
        self.stock.report()
    }

    /// Counts for a report.
    pub fn stats(&self) -> PlaceStats {
        PlaceStats {
            capacity: self.capacity,
            sessions: self.sessions_open,
            reserved: self.reserved,
            leased: self.leased,
            high_water: self.high_water,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(n: u64) -> TicketId {
        TicketId {
            issuer: usher_ticket::IssuerId(1),
            serial: n,
        }
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
        assert_eq!(p.grant((1, 1), 6, &[], Duration::from_secs(2), now).0, 6);
        assert_eq!(
            p.grant((2, 1), 6, &[], Duration::from_secs(2), now).0,
            3,
            "only what is free"
        );
        assert_eq!(p.stats().in_use(), 10);
        assert!(
            !p.reserve(tid(101), item(), exp, now),
            "leases hold their places"
        );
        // A notice moves a place from the lease to a reservation: in use does not change.
        assert!(p.note((1, 1), tid(1), item(), exp, now));
        assert_eq!(p.stats().leased, 8);
        assert_eq!(p.stats().reserved, 2);
        assert_eq!(p.stats().in_use(), 10);
        assert!(
            p.note((1, 1), tid(1), item(), exp, now),
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
        );
        // A lease asks for 5 units and gets the 3 there are.
        let (places, units) = p.grant((1, 1), 5, &[(item(), 5)], Duration::from_secs(2), now);
        assert_eq!((places, units), (5, vec![(item(), 3)]));
        assert_eq!(p.stock().1["concert"], 0);
        // Nobody else is admitted for it meanwhile.
        assert!(!p.reserve(tid(9), item(), exp, now));
        // Three notices use the lease's units; a fourth finds none.
        for n in 1..=3 {
            assert!(p.note((1, 1), tid(n), item(), exp, now));
        }
        assert!(!p.note((1, 1), tid(4), item(), exp, now));
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
        );
        assert_eq!(p.stock().0["concert"], 2);
    }

    #[test]
    fn a_late_notice_gets_a_place_only_if_one_is_free() {
        let now = Instant::now();
        let mut p = Places::new(2, Duration::from_secs(600));
        let exp = now + Duration::from_secs(30);
        assert_eq!(p.grant((1, 1), 2, &[], Duration::from_secs(1), now).0, 2);
        let later = now + Duration::from_secs(2);
        // The lease ran out before its notices arrived; someone else took the places meanwhile.
        assert!(p.reserve(tid(50), item(), exp, later));
        assert!(p.reserve(tid(51), item(), exp, later));
        assert!(
            !p.note((1, 1), tid(1), item(), exp, later),
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
}
