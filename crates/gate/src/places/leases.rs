//! Leases: places (and units of stock) a shop has granted a reception in advance, which its
//! tickets' notices then draw on one by one (Sa35 in a batch).

use std::collections::HashMap;
use std::time::Instant;

use usher_ticket::ItemId;

use crate::stock::Stock;

/// A lease's identity at the shop: the management link it came over, and the reception's id for
/// it on that link (a reception numbers its leases per link, so the id alone is not unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseKey {
    /// The management link the lease was granted over ([`crate::Gate::next_link`]).
    pub link: u64,
    /// The reception's id for the lease on that link.
    pub lease: u64,
}

#[derive(Debug)]
struct Lease {
    /// Places granted and not yet drawn by a notice.
    left: u32,
    expires: Instant,
    /// Units of stock held for this lease's tickets, per item.
    stock: HashMap<ItemId, u32>,
    /// The reception counts units for this lease, so its tickets need a unit each. One that
    /// does not (it had not seen the shop's stock when it asked) issues the lease for any item:
    /// its notices are honoured as granted, or buyers admitted then would meet `not_notified`.
    tracks_stock: bool,
}

/// Every lease granted and not yet used up or expired, and the places they hold between them.
#[derive(Debug, Default)]
pub(super) struct Leases {
    by_key: HashMap<LeaseKey, Lease>,
    /// Places granted in leases and not drawn yet: they count against capacity.
    leased: u32,
}

impl Leases {
    /// Places held in leases now.
    pub(super) fn leased(&self) -> u32 {
        self.leased
    }

    /// Whether `key` was granted already (a repeated lease request gets nothing more).
    pub(super) fn contains(&self, key: &LeaseKey) -> bool {
        self.by_key.contains_key(key)
    }

    /// Records a lease of `places` places and the `units` of stock held for it (`tracks_stock`:
    /// the reception counts units for it).
    pub(super) fn insert(
        &mut self,
        key: LeaseKey,
        places: u32,
        units: HashMap<ItemId, u32>,
        tracks_stock: bool,
        expires: Instant,
    ) {
        self.leased += places;
        self.by_key.insert(
            key,
            Lease {
                left: places,
                expires,
                stock: units,
                tracks_stock,
            },
        );
    }

    /// Draws one place (and one unit of `item`) from lease `key` for a notice, if the lease is
    /// still running and has them; whether it did. A lease that counts no units takes the unit
    /// from the shop's free stock (`hold`, which holds one if it can), so every reservation
    /// holds the unit its end gives back or sells, and nothing sold out is admitted.
    pub(super) fn draw(
        &mut self,
        key: &LeaseKey,
        item: &ItemId,
        now: Instant,
        hold: impl FnOnce() -> bool,
    ) -> bool {
        let Some(lease) = self.by_key.get_mut(key) else {
            return false;
        };
        if !(now < lease.expires && lease.left > 0) {
            return false;
        }
        let unit = if lease.tracks_stock {
            lease.stock.get(item).is_some_and(|&u| u > 0)
        } else {
            hold()
        };
        if !unit {
            return false;
        }
        // The place and the unit move from the lease to the reservation.
        if let Some(u) = lease.stock.get_mut(item) {
            *u = u.saturating_sub(1);
        }
        lease.left -= 1;
        self.leased -= 1;
        true
    }

    /// Ends the leases that ran out by `now`: their unused places and units come back.
    pub(super) fn expire(&mut self, now: Instant, stock: &mut Stock) {
        self.end_where(stock, |_, lease| now >= lease.expires);
    }

    /// The management link `link` ended: its leases' notices can no longer arrive, so their
    /// unused places and units come back now.
    pub(super) fn drop_link(&mut self, link: u64, stock: &mut Stock) {
        self.end_where(stock, |key, _| key.link == link);
    }

    fn end_where(&mut self, stock: &mut Stock, ends: impl Fn(&LeaseKey, &Lease) -> bool) {
        let mut freed = 0;
        self.by_key.retain(|key, l| {
            if !ends(key, l) {
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
}
