//! Notices: the reception's word that it issued a ticket (Sa34, Sa35), each holding a place for
//! that ticket until it is claimed, dies, or its window ends; and the claim that turns it into a
//! session (Sb32).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use usher_ticket::{ItemId, TicketId};

use super::sessions::SessionId;
use super::time::later;
use crate::stock::Stock;

/// How often a claimed notice past its window is looked at again while its session lives.
const CLAIMED_RECHECK: Duration = Duration::from_secs(1);

/// Where a ticket's notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoticeState {
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

/// What a claim found for its ticket ([`Notices::lookup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// A held place nobody has claimed: the caller may turn it into a session that lasts at
    /// least until `expires`.
    Reserved { item: ItemId, expires: Instant },
    /// Already claimed by this very client into `session` (a lost redirect strands nobody).
    Claimed(SessionId),
    /// Its reservation ran out before the claim and is gone now; the caller gives the unit of
    /// `item` back (the claim is refused `not_notified`).
    Expired(ItemId),
}

/// Why a claim was refused after the ticket itself verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// No notice for this ticket reached the shop (or it expired unclaimed).
    NotNotified,
    /// Claimed by someone else, or its order completed, or its session ended.
    Used,
    /// The claiming client's prefix already holds as many sessions as it may; the ticket is
    /// still unclaimed.
    TooMany,
}

/// Every notice, by ticket and by the instant its window ends, and the count of places held
/// for unclaimed tickets.
#[derive(Debug, Default)]
pub(super) struct Notices {
    by_ticket: HashMap<TicketId, Notice>,
    /// Every notice by the instant its window ends (claimed ones again later while their
    /// session lives), so sweeping visits only what has run out.
    expiries: BinaryHeap<Reverse<(Instant, TicketId)>>,
    /// Places held for unclaimed tickets: they count against capacity.
    reserved: u32,
}

impl Notices {
    /// Places held for unclaimed tickets now.
    pub(super) fn reserved(&self) -> u32 {
        self.reserved
    }

    /// Where `ticket`'s notice stands, if the shop has one.
    pub(super) fn state(&self, ticket: &TicketId) -> Option<NoticeState> {
        self.by_ticket.get(ticket).map(|n| n.state)
    }

    /// Records a reservation for `ticket` whose place (and unit) the caller has already found.
    pub(super) fn reserve(&mut self, ticket: TicketId, item: ItemId, expires: Instant) {
        self.reserved += 1;
        self.by_ticket.insert(
            ticket,
            Notice {
                item,
                expires,
                state: NoticeState::Reserved,
            },
        );
        self.expiries.push(Reverse((expires, ticket)));
    }

    /// The reception gave up on `ticket`: its reservation ends if it was not claimed. The item
    /// whose unit comes back, if it did.
    pub(super) fn release(&mut self, ticket: TicketId) -> Option<ItemId> {
        let notice = self
            .by_ticket
            .get(&ticket)
            .filter(|n| n.state == NoticeState::Reserved)?;
        let item = notice.item;
        self.by_ticket.remove(&ticket);
        self.reserved -= 1;
        Some(item)
    }

    /// Sb32's look at the notice: what `client`'s claim of `ticket` finds at `now`.
    pub(super) fn lookup(
        &mut self,
        ticket: TicketId,
        client: IpAddr,
        now: Instant,
    ) -> Result<Lookup, ClaimRefusal> {
        let notice = self
            .by_ticket
            .get(&ticket)
            .ok_or(ClaimRefusal::NotNotified)?;
        match notice.state {
            NoticeState::Reserved if now >= notice.expires => {
                // Its reservation ran out before the claim: the place is already due back.
                let item = notice.item;
                self.by_ticket.remove(&ticket);
                self.reserved -= 1;
                Ok(Lookup::Expired(item))
            }
            NoticeState::Reserved => Ok(Lookup::Reserved {
                item: notice.item,
                expires: notice.expires,
            }),
            NoticeState::Claimed { session, client: c } if c == client => {
                Ok(Lookup::Claimed(session))
            }
            NoticeState::Claimed { .. } | NoticeState::Dead => Err(ClaimRefusal::Used),
        }
    }

    /// `client` claimed `ticket`'s reservation into `session`: its place moves to the session.
    pub(super) fn claimed(&mut self, ticket: TicketId, session: SessionId, client: IpAddr) {
        if let Some(notice) = self.by_ticket.get_mut(&ticket) {
            notice.state = NoticeState::Claimed { session, client };
            self.reserved -= 1;
        }
    }

    /// `ticket` is dead for good: its order completed or its session ended.
    pub(super) fn kill(&mut self, ticket: TicketId) {
        if let Some(notice) = self.by_ticket.get_mut(&ticket) {
            notice.state = NoticeState::Dead;
        }
    }

    /// Frees the notices whose window ended by `now`: unclaimed reservations give their place
    /// and unit back, dead notices are forgotten, and a claimed one is kept while `lives` says
    /// its session does.
    pub(super) fn expire(
        &mut self,
        now: Instant,
        stock: &mut Stock,
        lives: impl Fn(&SessionId) -> bool,
    ) {
        // Notices in order of expiry: only those past it are visited, so a sweep costs what
        // ran out, not a pass over every notice (a shop can hold hundreds of thousands).
        while let Some(Reverse((at, ticket))) = self.expiries.peek().copied() {
            if at > now {
                break;
            }
            self.expiries.pop();
            let Some(n) = self.by_ticket.get_mut(&ticket) else {
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
                    self.by_ticket.remove(&ticket);
                }
                NoticeState::Dead => {
                    self.by_ticket.remove(&ticket);
                }
                NoticeState::Claimed { session, .. } => {
                    if lives(&session) {
                        // It lives with its session: look again later.
                        self.expiries
                            .push(Reverse((later(now, CLAIMED_RECHECK), ticket)));
                    } else {
                        // Its session is gone and its window has passed.
                        self.by_ticket.remove(&ticket);
                    }
                }
            }
        }
    }
}
