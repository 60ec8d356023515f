//! Sa34 in advance: leases of places a shop granted this reception, on the reception's side of
//! one management link.
//!
//! A shop grants a lease of places for a time to live that its own clock owns, counted from its
//! grant; the reception counts from when it sent the request (earlier), and stops issuing
//! `lease_margin` plus a round-trip time before that, so the last notice reaches the shop while
//! the lease still holds. If a notice is late anyway, the shop gives the ticket a place only if
//! one is free, and otherwise refuses it (`not_notified` at the gate): capacity is never
//! exceeded, whatever the timing (invariant 1).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use usher_ticket::ItemId;
use usher_wire::mgmt::{Down, Report};

use crate::config::ReceptionConfig;

/// After a lease request is answered with nothing, wait this long before asking again.
const QUIET_AFTER_REFUSAL: Duration = Duration::from_millis(100);
/// Smallest lease asked for.
const MIN_LEASE: u32 = 16;

/// One lease the reception holds at a shop.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// The lease's id (the request's id).
    pub(crate) id: u64,
    /// Places left in it.
    pub(crate) left: u32,
    /// Places it had when granted.
    pub(crate) size: u32,
    /// No ticket is issued from it from this instant on.
    pub(crate) usable_until: Instant,
    /// Units of stock it holds per item; `None` for a shop that does not hold stock.
    pub(crate) stock: Option<Vec<(ItemId, u32)>>,
}

/// A lease request on its way: its id, when it was sent, and its time to live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requested {
    pub(crate) id: u64,
    pub(crate) sent: Instant,
    pub(crate) ttl: Duration,
}

/// What the reception holds of one shop's leases: the current one and, while it runs out, the
/// next (so a refill never strands the places left in the old one).
#[derive(Debug, Default)]
pub(crate) struct LeaseState {
    /// Usable leases, soonest to end first.
    pub(crate) held: Vec<Held>,
    /// An outstanding request.
    pub(crate) requested: Option<Requested>,
    /// Tickets issued from leases, ever.
    issued: u64,
    /// The shop holds stock for admitted buyers, so leases carry units per item.
    tracks_stock: bool,
    /// The shop granted nothing last time: do not ask again before this.
    quiet_until: Option<Instant>,
    /// Where the issue rate was last measured: when, and `issued` then.
    rate_mark: Option<(Instant, u64)>,
    /// Tickets issued from leases per second, smoothed.
    rate: f64,
}

impl LeaseState {
    /// Takes one place (and one unit of `item`) from the lease that ends soonest and has both;
    /// returns that lease's id.
    pub(crate) fn take(&mut self, now: Instant, item: &ItemId) -> Option<u64> {
        self.held.retain(|h| now < h.usable_until && h.left > 0);
        let lease = self.held.iter_mut().find(|h| match &h.stock {
            None => true,
            Some(units) => units.iter().any(|(i, u)| i == item && *u > 0),
        })?;
        if let Some((_, u)) = lease
            .stock
            .as_mut()
            .and_then(|s| s.iter_mut().find(|(i, _)| i == item))
        {
            *u -= 1;
        }
        lease.left -= 1;
        self.issued += 1;
        Some(lease.id)
    }

    /// Places left in every usable lease.
    pub(crate) fn left(&self, now: Instant) -> u32 {
        self.held
            .iter()
            .filter(|h| now < h.usable_until)
            .map(|h| h.left)
            .sum()
    }

    /// A lease request, if the lease is running low or out of time and none is outstanding.
    /// `report` is the shop's last (its capacity and free stock size the request).
    pub(crate) fn refill(
        &mut self,
        config: &ReceptionConfig,
        report: Option<&Report>,
        next_id: impl FnOnce() -> u64,
        now: Instant,
    ) -> Option<Down> {
        let report = report?;
        let capacity = Some(report.capacity).filter(|&c| c > 0)?;
        if let Some(requested) = self.requested {
            if now.saturating_duration_since(requested.sent) < requested.ttl {
                return None;
            }
            // Never answered: ask again.
            self.requested = None;
        }
        if self.quiet_until.is_some_and(|until| now < until) {
            return None;
        }
        let ttl = config.lease_ttl;
        self.measure_rate(now);
        self.held.retain(|h| now < h.usable_until && h.left > 0);
        if self.held.len() >= 2 {
            return None;
        }
        let newest = self.held.last().map(|h| (h.left, h.size, h.usable_until));
        let ending = newest.is_none_or(|(_, _, until)| now + ttl / 2 >= until);
        let low = newest.is_none_or(|(left, size, _)| left <= size / 2);
        if !(ending || low) {
            return None;
        }
        // Sized from the measured rate so a lease lasts about half its time to live, doubling
        // while the rate is still being learnt, and never more than a quarter of the shop, so
        // other receptions get places too.
        let by_rate = (self.rate * ttl.as_secs_f64() / 2.0).min(f64::from(u32::MAX)) as u32;
        // Running low before halfway: the rate is higher than the lease was sized for.
        let doubled = newest
            .filter(|_| low && !ending)
            .map_or(0, |(_, size, _)| size.saturating_mul(2));
        let want = by_rate
            .max(doubled)
            .max(MIN_LEASE)
            .min((capacity / 4).max(1));
        // Units of every item with free stock, a quarter of what is free at most, so that other
        // receptions get units too.
        let stock: BTreeMap<String, u32> = report
            .stock_free
            .iter()
            .filter(|(_, free)| **free > 0)
            .map(|(item, free)| {
                let quarter = u32::try_from((free / 4).max(1)).unwrap_or(u32::MAX);
                (item.clone(), want.min(quarter))
            })
            .collect();
        let id = next_id();
        self.requested = Some(Requested { id, sent: now, ttl });
        // The shop is told, so that both sides agree on whether this lease counts units.
        self.tracks_stock = !report.stock_free.is_empty();
        let stock = self.tracks_stock.then_some(stock);
        Some(Down::Lease {
            id,
            places: want,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            stock,
        })
    }

    /// The rate at which this shop's leases are used, measured every 100 ms or more.
    fn measure_rate(&mut self, now: Instant) {
        match self.rate_mark {
            Some((at, issued))
                if now.saturating_duration_since(at) >= Duration::from_millis(100) =>
            {
                let secs = now.saturating_duration_since(at).as_secs_f64();
                let sample = (self.issued - issued) as f64 / secs;
                self.rate = if self.rate == 0.0 {
                    sample
                } else {
                    0.7 * self.rate + 0.3 * sample
                };
                self.rate_mark = Some((now, self.issued));
            }
            Some(_) => {}
            None => self.rate_mark = Some((now, self.issued)),
        }
    }

    /// The shop answered lease request `id` with `places` (and `stock` units per item), over a
    /// link whose round-trip time is `rtt`. `false` when `id` is not the request outstanding
    /// (the grant is ignored).
    pub(crate) fn granted(
        &mut self,
        config: &ReceptionConfig,
        id: u64,
        places: u32,
        stock: BTreeMap<String, u32>,
        rtt: Duration,
    ) -> bool {
        let Some(Requested {
            id: asked,
            sent,
            ttl,
        }) = self.requested
        else {
            return false;
        };
        if asked != id {
            return false;
        }
        self.requested = None;
        if places == 0 {
            // Full: ask again a little later rather than on every tick.
            self.quiet_until = sent.checked_add(QUIET_AFTER_REFUSAL);
            return true;
        }
        // The shop's clock started at its grant, after `sent`: stop early by the margin and a
        // round trip, so the last notice arrives in time.
        let stop = config.lease_margin + rtt;
        if stop + ttl / 4 >= ttl {
            // Round trips this slow leave a lease no useful life: per-ticket reservations until
            // the lease runs out at the shop, instead of leasing again at once.
            self.quiet_until = sent.checked_add(ttl);
            return true;
        }
        if let Some(usable_until) = sent.checked_add(ttl.saturating_sub(stop)) {
            let stock = self.tracks_stock.then(|| {
                stock
                    .into_iter()
                    .filter_map(|(item, units)| Some((ItemId::new(&item).ok()?, units)))
                    .collect()
            });
            self.held.push(Held {
                id,
                left: places,
                size: places,
                usable_until,
                stock,
            });
            self.held.sort_by_key(|h| h.usable_until);
        }
        true
    }
}
