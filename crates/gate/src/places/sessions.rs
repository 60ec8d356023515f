//! Sessions: what a claimed ticket (or a walk-in) turns into, kept alive by its requests and
//! ended by its order (claim 7) or by idling out.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use usher_ticket::{ItemId, TicketId};

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

impl Session {
    /// Whether the session has run out by `now`: idle past `idle`, or, once completed, past
    /// its keeping time.
    fn ended(&self, now: Instant, idle: Duration) -> bool {
        if self.completed {
            now >= self.until
        } else {
            now >= later(self.last_seen, idle)
        }
    }
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
    /// A live session, now marked as seen.
    Live(SessionInfo),
}

/// Every session, and the count of those that hold a place (not completed).
#[derive(Debug)]
pub(super) struct Sessions {
    by_id: HashMap<SessionId, Session>,
    /// Open sessions whose order has not completed: they count against capacity.
    open: u32,
    idle_timeout: Duration,
}

impl Sessions {
    /// No sessions; each idles out after `idle_timeout` without a request.
    pub(super) fn new(idle_timeout: Duration) -> Sessions {
        Sessions {
            by_id: HashMap::new(),
            open: 0,
            idle_timeout,
        }
    }

    /// Sessions holding a place now.
    pub(super) fn open_count(&self) -> u32 {
        self.open
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
    ) {
        self.open += 1;
        self.by_id.insert(
            id,
            Session {
                ticket,
                item,
                last_seen: now,
                completed: false,
                until,
            },
        );
    }

    /// Whether session `id` lives (completed or not).
    pub(super) fn contains(&self, id: &SessionId) -> bool {
        self.by_id.contains_key(id)
    }

    /// Marks session `id` as seen if it lives and its order has not completed; whether it did.
    pub(super) fn seen(&mut self, id: SessionId, now: Instant) -> bool {
        match self.by_id.get_mut(&id) {
            Some(s) if !s.completed => {
                s.last_seen = now;
                true
            }
            _ => false,
        }
    }

    /// The session behind a cookie, if it is alive and for `item`; marks it as seen, or ends it
    /// now if it ran out (rather than at the next sweep).
    pub(super) fn touch(&mut self, id: SessionId, item: &str, now: Instant) -> Touched {
        let Some(session) = self.by_id.get_mut(&id) else {
            return Touched::Unknown;
        };
        if session.item.as_str() != item {
            return Touched::Unknown;
        }
        if session.ended(now, self.idle_timeout) {
            let (ticket, completed, item) = (session.ticket, session.completed, session.item);
            self.by_id.remove(&id);
            if !completed {
                self.open -= 1;
            }
            return Touched::Ended {
                ticket,
                freed: (!completed).then_some(item),
            };
        }
        session.last_seen = now;
        Touched::Live(SessionInfo {
            ticket: session.ticket,
            item: session.item,
            completed: session.completed,
        })
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
        session.until = session.until.max(later(now, self.idle_timeout));
        self.open -= 1;
        Some((session.ticket, session.item))
    }

    /// Forgets the sessions that ran out by `now`; `freed` is told the ticket and item of each
    /// that still held a place.
    pub(super) fn expire(&mut self, now: Instant, mut freed: impl FnMut(TicketId, ItemId)) {
        let idle = self.idle_timeout;
        let mut closed = 0;
        self.by_id.retain(|_, s| {
            let keep = !s.ended(now, idle);
            if !keep && !s.completed {
                closed += 1;
                freed(s.ticket, s.item);
            }
            keep
        });
        self.open -= closed;
    }
}
