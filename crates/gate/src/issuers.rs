//! The issuers whose tickets the gate accepts, each scoped to the management link that announced
//! it. Every reception restart brings a new issuer, so the table is bounded and makes room by
//! evicting the issuer least likely to still have tickets in buyers' hands. Pure: time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use usher_ticket::IssuerId;

/// One step to apply to the ticket opener, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IssuerChange {
    /// Accept this issuer's tickets from now on.
    Admit(IssuerId),
    /// Refuse them from now on.
    Retire(IssuerId),
}

/// Where an admitted issuer stands.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The link that announced it last; `None` when admitted by hand (operator, tests), which
    /// no link backs, so it is never retired by time, only evicted for room.
    link: Option<u64>,
    /// When its link ended (for one admitted by hand: when it was admitted).
    ended: Option<Instant>,
    /// Ticks at its last change of state (announced, or its link ended): orders eviction
    /// without relying on two `Instant`s differing.
    since: u64,
}

impl Entry {
    fn live(&self) -> bool {
        self.ended.is_none()
    }
}

/// The admitted issuers, at most `capacity`.
///
/// Eviction rule: when a new issuer needs room, the issuer that has gone longest without a
/// live link goes first (issuers admitted by hand count as linkless since their admission);
/// if every issuer's link is still live, the one announced longest ago goes anyway, since a
/// live reception announces its issuer again whenever its link reconnects. Without pressure,
/// an issuer outlives its link by `grace` (the longest ticket life), then is retired.
#[derive(Debug)]
pub(crate) struct IssuerTable {
    entries: HashMap<IssuerId, Entry>,
    capacity: usize,
    grace: Duration,
    ticks: u64,
}

impl IssuerTable {
    /// An empty table holding at most `capacity` issuers, keeping each for `grace` after its
    /// link ends.
    pub(crate) fn new(capacity: usize, grace: Duration) -> IssuerTable {
        IssuerTable {
            entries: HashMap::new(),
            capacity,
            grace,
            ticks: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.ticks += 1;
        self.ticks
    }

    /// `issuers` were announced by `link` (or admitted by hand, `None`) at `now`: what to
    /// admit, and what to retire first to make room or because it outlived its grace.
    pub(crate) fn announce(
        &mut self,
        link: Option<u64>,
        issuers: &[IssuerId],
        now: Instant,
    ) -> Vec<IssuerChange> {
        let mut changes = self.expire(now);
        for &issuer in issuers {
            let fresh = Entry {
                link,
                ended: link.is_none().then_some(now),
                since: self.tick(),
            };
            match self.entries.get_mut(&issuer) {
                // A hand admission does not take an issuer away from its live link.
                Some(entry) if link.is_none() && entry.live() => {}
                Some(entry) => *entry = fresh,
                None => {
                    if self.entries.len() >= self.capacity
                        && let Some(victim) = self.victim()
                    {
                        self.entries.remove(&victim);
                        changes.push(IssuerChange::Retire(victim));
                    }
                    self.entries.insert(issuer, fresh);
                    changes.push(IssuerChange::Admit(issuer));
                }
            }
        }
        changes
    }

    /// `link` ended at `now`: its issuers start their grace; returns those retired by time.
    pub(crate) fn end_link(&mut self, link: u64, now: Instant) -> Vec<IssuerChange> {
        let since = self.tick();
        for entry in self.entries.values_mut() {
            if entry.link == Some(link) && entry.live() {
                entry.ended = Some(now);
                entry.since = since;
            }
        }
        self.expire(now)
    }

    /// The issuers admitted now, in no particular order.
    pub(crate) fn issuers(&self) -> impl Iterator<Item = IssuerId> + '_ {
        self.entries.keys().copied()
    }

    /// Retires link-announced issuers whose link ended more than `grace` ago.
    fn expire(&mut self, now: Instant) -> Vec<IssuerChange> {
        let grace = self.grace;
        let mut retired = Vec::new();
        self.entries.retain(|&issuer, entry| {
            let keep = match (entry.link, entry.ended) {
                (Some(_), Some(ended)) => now.saturating_duration_since(ended) < grace,
                _ => true,
            };
            if !keep {
                retired.push(IssuerChange::Retire(issuer));
            }
            keep
        });
        retired
    }

    /// The issuer to evict for room: linkless longest first, then the oldest live one.
    fn victim(&self) -> Option<IssuerId> {
        self.entries
            .iter()
            .min_by_key(|(_, entry)| (entry.live(), entry.since))
            .map(|(&issuer, _)| issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IssuerChange::{Admit, Retire};

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn an_issuer_whose_link_ended_goes_before_an_older_live_one() {
        let now = Instant::now();
        let mut table = IssuerTable::new(2, HOUR);
        table.announce(Some(1), &[IssuerId(1)], now);
        table.announce(Some(2), &[IssuerId(2)], now);
        assert!(table.end_link(2, now).is_empty());
        let changes = table.announce(Some(3), &[IssuerId(3)], now);
        assert_eq!(changes, [Retire(IssuerId(2)), Admit(IssuerId(3))]);
    }

    #[test]
    fn when_every_link_is_live_the_oldest_goes() {
        let now = Instant::now();
        let mut table = IssuerTable::new(2, HOUR);
        table.announce(Some(1), &[IssuerId(1)], now);
        table.announce(Some(2), &[IssuerId(2)], now);
        let changes = table.announce(Some(3), &[IssuerId(3)], now);
        assert_eq!(changes, [Retire(IssuerId(1)), Admit(IssuerId(3))]);
    }

    #[test]
    fn an_ended_links_issuer_stays_for_the_grace_then_goes() {
        let now = Instant::now();
        let mut table = IssuerTable::new(8, HOUR);
        table.announce(Some(1), &[IssuerId(1)], now);
        table.announce(None, &[IssuerId(9)], now);
        assert!(table.end_link(1, now).is_empty());
        assert!(table.end_link(2, now + HOUR / 2).is_empty());
        assert_eq!(table.end_link(2, now + HOUR), [Retire(IssuerId(1))]);
        assert_eq!(table.issuers().collect::<Vec<_>>(), [IssuerId(9)]);
    }

    #[test]
    fn a_reconnecting_reception_keeps_its_issuer_live() {
        let now = Instant::now();
        let mut table = IssuerTable::new(8, HOUR);
        table.announce(Some(1), &[IssuerId(1)], now);
        table.end_link(1, now);
        assert!(table.announce(Some(2), &[IssuerId(1)], now).is_empty());
        assert!(table.end_link(1, now + HOUR).is_empty());
        assert_eq!(table.issuers().count(), 1);
    }
}
