//! Sessions: what a claimed ticket (or a walk-in) turns into, kept alive by its requests and
//! ended by its order (claim 7) or by idling out. A claimed session must first come back with
//! its cookie within the first-use timeout, and one client prefix holds only so many at once
//! (issue 14: nobody hoards the places).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use usher_ticket::{ItemId, TicketId};

use super::clients::{ClientCounts, ClientPrefix};
use super::time::later;
use crate::SessionInfo;

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
        usher_wire::hex::decode(text).map(SessionId)
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

#[derive(Debug)]
struct Session {
    ticket: TicketId,
    item: ItemId,
    /// When it was opened: how long it held its place is measured from here.
    started: Instant,
    last_seen: Instant,
    /// Set from the claim until the first request with the session's cookie: an unused
    /// session ends at this instant instead of idling out.
    first_use_by: Option<Instant>,
    /// The prefix the session is counted against; `None` for a walk-in (not counted).
    client: Option<ClientPrefix>,
    /// Kept after completion (place already free) so a retried buy finds its order.
    completed: bool,
    /// When a completed session is forgotten.
    until: Instant,
}

impl Session {
    /// Whether the session has run out by `now`: never used by its first-use deadline, idle
    /// past `idle`, or, once completed, past its keeping time.
    fn ended(&self, now: Instant, idle: Duration) -> bool {
        if self.completed {
            now >= self.until
        } else if let Some(by) = self.first_use_by {
            now >= by
        } else {
            now >= later(self.last_seen, idle)
        }
    }
}

/// Who opened a session ([`Sessions::start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opener {
    /// A claim (Sb32) from this address: counted against its prefix, and it must come back
    /// with its cookie within the first-use timeout.
    Claim(IpAddr),
    /// A walk-in (the prior art): its own request was its first use, and it is not counted
    /// per client (the prior art is measured as it is).
    WalkIn,
}

/// How a request meets a session ([`Sessions::touch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    /// A request that uses the session (`GET`, `POST`, …): its first use, and it keeps the
    /// session from idling out.
    Use,
    /// A look that takes nothing (`HEAD`): the session must live, but it is neither used nor
    /// kept alive by it.
    Look,
}

/// What [`Sessions::touch`] found behind a cookie.
#[derive(Debug)]
pub(super) enum Touched {
    /// No session by that id, or one for another item.
    Unknown,
    /// The session had run out and is gone now. `freed` is its item when it still held a place
    /// (it had not completed): the caller gives that unit back. Its ticket is dead either way.
    Ended {
        ticket: TicketId,
        freed: Option<ItemId>,
    },
    /// A live session (marked as seen when the visit was a use).
    Live(SessionInfo),
}

/// What the same client claiming a ticket again found of its session ([`Sessions::reclaim`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reclaimed {
    /// It lives: the claim answers with it again.
    Live,
    /// It had run out and is gone now; it held a place for `item` (the caller gives the unit
    /// back and kills the ticket).
    Ended(ItemId),
    /// Its order completed, or it is gone.
    Over,
}

/// Every session, the count of those that hold a place (not completed), and their count per
/// client prefix.
#[derive(Debug)]
pub(super) struct Sessions {
    by_id: HashMap<SessionId, Session>,
    /// Open sessions whose order has not completed: they count against capacity.
    open: u32,
    idle_timeout: Duration,
    first_use_timeout: Duration,
    /// Open claimed sessions per client prefix, and the cap on them.
    clients: ClientCounts,
    /// How long sessions held their place, from opening to completion or expiry.
    held: HeldTime,
    /// The same, per item (items differ: a ticket is bought faster than a holiday).
    held_by_item: HashMap<ItemId, HeldTime>,
}

/// Sessions' recent mean time holding a place, seconds: each of the first 64 weighs equally,
/// then older ones fade, so it follows the sale.
#[derive(Debug, Default)]
struct HeldTime {
    mean: f64,
    count: u32,
}

impl HeldTime {
    fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_secs_f64(self.mean))
    }

    fn add(&mut self, held: Duration) {
        self.count = self.count.saturating_add(1);
        let weight = 1.0 / f64::from(self.count.min(64));
        self.mean += weight * (held.as_secs_f64() - self.mean);
    }
}

impl Sessions {
    /// No sessions; each idles out after `idle_timeout` without a request. Until told
    /// otherwise, a claimed session has as long for its first use and prefixes are not capped.
    pub(super) fn new(idle_timeout: Duration) -> Sessions {
        Sessions {
            by_id: HashMap::new(),
            open: 0,
            idle_timeout,
            first_use_timeout: idle_timeout,
            clients: ClientCounts::new(0),
            held: HeldTime::default(),
            held_by_item: HashMap::new(),
        }
    }

    /// How long sessions have held their place lately, opening to completion or expiry (the
    /// reception's estimates start from it); `None` before the first ended.
    pub(super) fn mean_held(&self) -> Option<Duration> {
        self.held.mean()
    }

    /// [`mean_held`](Self::mean_held) per item, for the items a session has ended for.
    pub(super) fn mean_held_by_item(&self) -> impl Iterator<Item = (&ItemId, Duration)> {
        self.held_by_item
            .iter()
            .filter_map(|(item, held)| Some((item, held.mean()?)))
    }

    /// A claimed session not used within `timeout` of its claim ends.
    pub(super) fn set_first_use_timeout(&mut self, timeout: Duration) {
        self.first_use_timeout = timeout;
    }

    /// One client prefix holds at most `cap` claimed sessions at once (0: no cap).
    pub(super) fn set_per_client(&mut self, cap: u32) {
        self.clients = ClientCounts::new(cap);
    }

    /// Sessions holding a place now.
    pub(super) fn open_count(&self) -> u32 {
        self.open
    }

    /// Whether `client`'s prefix holds as many sessions as it may: a new claim from it is
    /// refused.
    pub(super) fn client_full(&self, client: IpAddr) -> bool {
        self.clients.full(ClientPrefix::of(client))
    }

    /// When a session started now with nothing else to outlive should be forgotten.
    pub(super) fn idle_end(&self, now: Instant) -> Instant {
        later(now, self.idle_timeout)
    }

    /// Opens session `id` for `ticket`; it holds a place from now on. A completed one is kept
    /// at least `until`.
    pub(super) fn start(
        &mut self,
        id: SessionId,
        ticket: TicketId,
        item: ItemId,
        now: Instant,
        until: Instant,
        opener: Opener,
    ) {
        let (client, first_use_by) = match opener {
            Opener::Claim(address) => {
                let prefix = ClientPrefix::of(address);
                self.clients.opened(prefix);
                (Some(prefix), Some(later(now, self.first_use_timeout)))
            }
            Opener::WalkIn => (None, None),
        };
        self.open += 1;
        self.by_id.insert(
            id,
            Session {
                ticket,
                item,
                started: now,
                last_seen: now,
                first_use_by,
                client,
                completed: false,
                until,
            },
        );
    }

    /// Whether session `id` lives (completed or not).
    pub(super) fn contains(&self, id: &SessionId) -> bool {
        self.by_id.contains_key(id)
    }

    /// The same client claimed session `id`'s ticket again (a lost redirect). A live session is
    /// kept alive by it once used; an unused one keeps its first-use deadline, so claiming
    /// again and again never holds a place longer.
    pub(super) fn reclaim(&mut self, id: SessionId, now: Instant) -> Reclaimed {
        let Some(session) = self.by_id.get_mut(&id) else {
            return Reclaimed::Over;
        };
        if session.completed {
            return Reclaimed::Over;
        }
        if session.ended(now, self.idle_timeout) {
            let item = session.item;
            self.end(id);
            return Reclaimed::Ended(item);
        }
        if session.first_use_by.is_none() {
            session.last_seen = now;
        }
        Reclaimed::Live
    }

    /// The session behind a cookie, if it is alive and for `item`; ends it now if it ran out
    /// (rather than at the next sweep). A [`Visit::Use`] marks it used and seen.
    pub(super) fn touch(
        &mut self,
        id: SessionId,
        item: &str,
        now: Instant,
        visit: Visit,
    ) -> Touched {
        let Some(session) = self.by_id.get_mut(&id) else {
            return Touched::Unknown;
        };
        if session.item.as_str() != item {
            return Touched::Unknown;
        }
        if session.ended(now, self.idle_timeout) {
            let (ticket, completed, item) = (session.ticket, session.completed, session.item);
            self.end(id);
            return Touched::Ended {
                ticket,
                freed: (!completed).then_some(item),
            };
        }
        if visit == Visit::Use {
            session.first_use_by = None;
            session.last_seen = now;
        }
        Touched::Live(SessionInfo {
            ticket: session.ticket,
            item: session.item,
            completed: session.completed,
        })
    }

    /// Forgets session `id`; if it still held a place, the place (and its prefix's count) is
    /// free.
    fn end(&mut self, id: SessionId) {
        if let Some(session) = self.by_id.remove(&id)
            && !session.completed
        {
            self.open -= 1;
            if let Some(prefix) = session.client {
                self.clients.closed(prefix);
            }
        }
    }

    /// Claim 7: session `id`'s order completed. Its place is free at once; the session is kept
    /// (not counted) so a retried buy finds its order. The ticket and the item sold, the first
    /// time only.
    pub(super) fn complete(&mut self, id: SessionId, now: Instant) -> Option<(TicketId, ItemId)> {
        let session = self.by_id.get_mut(&id)?;
        if session.completed {
            return None;
        }
        session.completed = true;
        session.first_use_by = None;
        let held = now.saturating_duration_since(session.started);
        self.held.add(held);
        held_for(&mut self.held_by_item, &session.item, held);
        session.until = session.until.max(later(now, self.idle_timeout));
        self.open -= 1;
        if let Some(prefix) = session.client {
            self.clients.closed(prefix);
        }
        Some((session.ticket, session.item))
    }

    /// Forgets the sessions that ran out by `now`; `freed` is told the ticket and item of each
    /// that still held a place.
    pub(super) fn expire(&mut self, now: Instant, mut freed: impl FnMut(TicketId, ItemId)) {
        let idle = self.idle_timeout;
        let clients = &mut self.clients;
        let held = &mut self.held;
        let held_by_item = &mut self.held_by_item;
        let mut closed = 0;
        self.by_id.retain(|_, s| {
            let keep = !s.ended(now, idle);
            if !keep && !s.completed {
                closed += 1;
                let span = now.saturating_duration_since(s.started);
                held.add(span);
                held_for(held_by_item, &s.item, span);
                if let Some(prefix) = s.client {
                    clients.closed(prefix);
                }
                freed(s.ticket, s.item);
            }
            keep
        });
        self.open -= closed;
    }
}

/// Adds one session's time holding its place to its item's mean (the items are the shop's
/// own, from its configuration, so the map stays as small as its catalogue).
fn held_for(by_item: &mut HashMap<ItemId, HeldTime>, item: &ItemId, held: Duration) {
    by_item.entry(*item).or_default().add(held);
}
