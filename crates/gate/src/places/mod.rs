//! The shop's places: reservations (notices), sessions, leases, and the count that must never
//! pass capacity (invariant 1). Pure state; the caller passes the time in.
//!
//! [`Places`] owns the count and the rules that cross the parts: a place moves from a lease to a
//! notice (Sa35), from a notice to a session (Sb32), and is freed when the session's order
//! completes (claim 7) or something runs out. Each part keeps its own records and tally:
//! - `leases.rs`: [`LeaseKey`] and the places granted to receptions in advance.
//! - `notices.rs`: each ticket's reservation and claim state, by expiry; [`ClaimRefusal`].
//! - `sessions.rs`: [`SessionId`] and the sessions claimed tickets and walk-ins become: the
//!   first-use deadline of a claimed session, and its count per client prefix.
//! - `clients.rs`: the client prefix sessions are counted by, and the cap on them.
//! - `time.rs`: deadlines that cannot overflow.
//! - `tests.rs`: the state machine's tests.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use usher_ticket::{IssuerId, ItemId, TicketId};
use usher_wire::status::places_in_use;

use crate::SessionInfo;
use crate::stock::Stock;

mod clients;
mod leases;
mod notices;
mod sessions;
#[cfg(test)]
mod tests;
mod time;

pub use leases::LeaseKey;
pub use notices::ClaimRefusal;
pub use sessions::SessionId;

use leases::Leases;
use notices::{Lookup, NoticeState, Notices};
pub(crate) use sessions::Visit;
use sessions::{Opener, Reclaimed, Sessions, Touched};
use time::later;

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
    /// How long sessions have held their place lately, opening to completion or expiry.
    pub session: Option<Duration>,
}

impl PlaceStats {
    /// Places in use now.
    pub fn in_use(&self) -> u32 {
        places_in_use(self.sessions, self.reserved, self.leased)
    }
}

/// All places of one shop.
#[derive(Debug)]
pub struct Places {
    capacity: u32,
    high_water: u32,
    notices: Notices,
    sessions: Sessions,
    leases: Leases,
    stock: Stock,
    last_sweep: Option<Instant>,
    /// Per-ticket reservations (Sa34's round trip) still unclaimed, by the management link that
    /// asked for them: they are released when that link ends.
    by_link: HashMap<u64, Vec<TicketId>>,
}

impl Places {
    /// Empty places. A claimed session has `idle_timeout` for its first use and prefixes hold
    /// any number of sessions until [`first_use_timeout`](Self::first_use_timeout) and
    /// [`sessions_per_client`](Self::sessions_per_client) say otherwise.
    pub fn new(capacity: u32, idle_timeout: Duration) -> Places {
        Places {
            capacity,
            high_water: 0,
            notices: Notices::default(),
            sessions: Sessions::new(idle_timeout),
            leases: Leases::default(),
            stock: Stock::default(),
            last_sweep: None,
            by_link: HashMap::new(),
        }
    }

    /// A claimed session that does not come back with its cookie within `timeout` of its claim
    /// ends and frees its place (a claim nobody follows holds nothing for long).
    pub fn first_use_timeout(mut self, timeout: Duration) -> Places {
        self.sessions.set_first_use_timeout(timeout);
        self
    }

    /// One client prefix (/32, /64) holds at most `cap` claimed sessions at once; 0 for no
    /// cap.
    pub fn sessions_per_client(mut self, cap: u32) -> Places {
        self.sessions.set_per_client(cap);
        self
    }

    fn in_use(&self) -> u32 {
        places_in_use(
            self.sessions.open_count(),
            self.notices.reserved(),
            self.leases.leased(),
        )
    }

    /// Raises the high-water mark to the places in use now.
    fn mark_high_water(&mut self) {
        self.high_water = self.high_water.max(self.in_use());
    }

    /// Grants up to `want` places to a reception for `ttl` from now (the shop's clock owns the
    /// lease's life), with units of `stock` (`None`: the reception counts no units for this
    /// lease, and its notices need none). Everything granted counts against capacity until
    /// used or expired.
    pub fn grant(
        &mut self,
        key: LeaseKey,
        want: u32,
        stock: Option<&[(ItemId, u32)]>,
        ttl: Duration,
        now: Instant,
    ) -> (u32, Vec<(ItemId, u32)>) {
        if self.in_use().saturating_add(want) > self.capacity {
            self.sweep(now);
        }
        let free = self.capacity.saturating_sub(self.in_use());
        let granted = want.min(free);
        if granted == 0 || self.leases.contains(&key) {
            return (0, Vec::new());
        }
        // Units of stock, at most one per place granted, per item asked for.
        let mut units = HashMap::new();
        for (item, n) in stock.unwrap_or_default() {
            let want = u64::from((*n).min(granted));
            let got = self.stock.hold(item, want) as u32;
            if got > 0 {
                *units.entry(*item).or_insert(0) += got;
            }
        }
        let answer = units.iter().map(|(k, v)| (*k, *v)).collect();
        self.leases
            .insert(key, granted, units, stock.is_some(), later(now, ttl));
        self.mark_high_water();
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
        if let Some(state) = self.notices.state(&ticket) {
            return state != NoticeState::Dead;
        }
        let stock = &mut self.stock;
        if expires > now
            && self
                .leases
                .draw(&key, &item, now, || stock.hold(&item, 1) == 1)
        {
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
        if let Some(state) = self.notices.state(&ticket) {
            // A resent notice: granted only while its place is still held.
            return state == NoticeState::Reserved;
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
        self.notices.reserve(ticket, item, expires);
        self.mark_high_water();
    }

    /// Sb32: turns a verified ticket's reservation into a session. The same client claiming again
    /// gets the same session (a lost redirect strands nobody). A client prefix already holding
    /// its share of sessions is refused, and the reservation stays for a later claim.
    pub fn claim(
        &mut self,
        ticket: TicketId,
        client: IpAddr,
        now: Instant,
    ) -> Result<(SessionId, bool), ClaimRefusal> {
        match self.notices.lookup(ticket, client, now)? {
            Lookup::Expired(item) => {
                self.stock.unhold(&item, 1);
                Err(ClaimRefusal::NotNotified)
            }
            Lookup::Reserved { item, expires } => {
                if self.sessions.client_full(client) {
                    return Err(ClaimRefusal::TooMany);
                }
                let id = SessionId::random().map_err(|_| ClaimRefusal::NotNotified)?;
                self.notices.claimed(ticket, id, client);
                self.sessions
                    .start(id, ticket, item, now, expires, Opener::Claim(client));
                Ok((id, true))
            }
            Lookup::Claimed(session) => match self.sessions.reclaim(session, now) {
                Reclaimed::Live => Ok((session, false)),
                Reclaimed::Ended(item) => {
                    // It never came back (or idled out) and ran out before a sweep saw it.
                    self.stock.unhold(&item, 1);
                    self.notices.kill(ticket);
                    Err(ClaimRefusal::Used)
                }
                Reclaimed::Over => Err(ClaimRefusal::Used),
            },
        }
    }

    /// A session opened without a ticket (`GateConfig::walk_ins`, the prior art): counted like
    /// any other and in the high-water mark, but never refused, so the count can pass capacity.
    /// Its order is keyed by a made-up ticket id (issuer 0, a random serial).
    pub fn walk_in(
        &mut self,
        item: ItemId,
        now: Instant,
    ) -> Result<(SessionId, SessionInfo), getrandom::Error> {
        let id = SessionId::random()?;
        let mut serial = [0u8; 8];
        getrandom::fill(&mut serial)?;
        let ticket = TicketId {
            issuer: IssuerId(0),
            serial: u64::from_le_bytes(serial),
        };
        self.stock.hold(&item, 1);
        let until = self.sessions.idle_end(now);
        self.sessions
            .start(id, ticket, item, now, until, Opener::WalkIn);
        self.mark_high_water();
        let info = SessionInfo {
            ticket,
            item,
            completed: false,
        };
        Ok((id, info))
    }

    /// The session behind a cookie, if it is alive and for `item`; marks it as seen (its first
    /// use, if it is the first).
    pub fn touch(&mut self, id: SessionId, item: &str, now: Instant) -> Option<SessionInfo> {
        self.visit(id, item, now, Visit::Use)
    }

    /// The session behind a cookie, as [`touch`](Self::touch), for a request that uses it or
    /// only looks ([`Visit::Look`]: neither its first use nor a sign of life).
    pub(crate) fn visit(
        &mut self,
        id: SessionId,
        item: &str,
        now: Instant,
        visit: Visit,
    ) -> Option<SessionInfo> {
        match self.sessions.touch(id, item, now, visit) {
            Touched::Unknown => None,
            Touched::Ended { ticket, freed } => {
                // This session ran out; end it now rather than at the next sweep.
                if let Some(item) = freed {
                    self.stock.unhold(&item, 1);
                }
                self.notices.kill(ticket);
                None
            }
            Touched::Live(info) => Some(info),
        }
    }

    /// Claim 7: the order completed. The session's place is free at once and the ticket is dead
    /// for good; the session is kept (not counted) so a retried buy finds its order.
    pub fn complete(&mut self, id: SessionId, now: Instant) {
        if let Some((ticket, item)) = self.sessions.complete(id, now) {
            // Its held unit is the one sold.
            self.stock.sold(&item);
            self.notices.kill(ticket);
        }
    }

    /// The reception gave up on a reservation (it timed out waiting for the grant): the place
    /// comes back at once, if the ticket was not claimed meanwhile.
    pub fn release(&mut self, ticket: TicketId) {
        if let Some(item) = self.notices.release(ticket) {
            self.stock.unhold(&item, 1);
        }
    }

    /// Frees what has run out: unclaimed reservations past their ticket's window, sessions idle
    /// past the timeout, completed sessions past their keeping time, dead notices past expiry.
    pub fn sweep(&mut self, now: Instant) {
        self.last_sweep = Some(now);
        let notices = &mut self.notices;
        let stock = &mut self.stock;
        self.sessions.expire(now, |ticket, item| {
            stock.unhold(&item, 1);
            notices.kill(ticket);
        });
        self.leases.expire(now, stock);
        let sessions = &self.sessions;
        notices.expire(now, stock, |session| sessions.contains(session));
        // Only unclaimed reservations stay tied to their link.
        self.by_link.retain(|_, tickets| {
            tickets.retain(|t| notices.state(t) == Some(NoticeState::Reserved));
            !tickets.is_empty()
        });
    }

    /// The management link `link` ended: its leases' notices can no longer arrive, so their
    /// unused places and units come back now.
    pub fn drop_link(&mut self, link: u64) {
        self.leases.drop_link(link, &mut self.stock);
        // A reservation asked for on a link that is gone can only be a reception's that is
        // gone, or one that relayed someone else's link: nobody may keep it (issue 14).
        for ticket in self.by_link.remove(&link).unwrap_or_default() {
            self.release(ticket);
        }
    }

    /// [`reserve`](Self::reserve) asked for over management link `link`: the place is released
    /// if the link ends before the ticket is claimed.
    pub fn reserve_for_link(
        &mut self,
        ticket: TicketId,
        item: ItemId,
        expires: Instant,
        now: Instant,
        link: u64,
    ) -> bool {
        let known = self.notices.state(&ticket).is_some();
        let granted = self.reserve(ticket, item, expires, now);
        if granted && !known {
            self.by_link.entry(link).or_default().push(ticket);
        }
        granted
    }

    /// Orders completed through this gate (pass it back with a store reading taken after).
    pub fn completions(&self) -> u64 {
        self.stock.completions()
    }

    /// A reading of the store's stock taken when [`completions`](Self::completions) was `seen`,
    /// `quiet` if no request was with the app meanwhile.
    pub fn set_stock(&mut self, seen: u64, units: &BTreeMap<String, u64>, quiet: bool) {
        self.stock.set_units(seen, units, quiet);
    }

    /// Units in the store per item, and units neither sold nor held for admitted buyers.
    pub fn stock(&self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        self.stock.report()
    }

    /// How long sessions have held their place lately per item, milliseconds, for the items
    /// a session has ended for (a report's `session_ms_by_item`, at most
    /// [`MAX_SESSION_ITEMS`](usher_wire::mgmt::MAX_SESSION_ITEMS) of them).
    pub fn sessions_by_item(&self) -> BTreeMap<String, u64> {
        self.sessions
            .mean_held_by_item()
            .take(usher_wire::mgmt::MAX_SESSION_ITEMS)
            .map(|(item, held)| (item.as_str().to_owned(), usher_wire::mgmt::millis(held)))
            .collect()
    }

    /// Counts for a report.
    pub fn stats(&self) -> PlaceStats {
        PlaceStats {
            capacity: self.capacity,
            sessions: self.sessions.open_count(),
            reserved: self.notices.reserved(),
            leased: self.leases.leased(),
            high_water: self.high_water,
            session: self.sessions.mean_held(),
        }
    }
}
