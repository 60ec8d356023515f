//! Units of stock held for admitted buyers, so that nobody admitted for an item finds it sold
//! out at the shop: every reservation, open session and unused lease unit holds one unit of its
//! item until the order completes (the unit is sold) or the hold ends (the unit comes back).

use std::collections::{BTreeMap, HashMap};

use usher_ticket::ItemId;

/// Stock as the shop's store last reported it, and what is held against it.
#[derive(Debug, Default)]
pub(crate) struct Stock {
    /// Units in the store per item; `None` until the app reports stock (then nothing is
    /// checked: a gate in front of an app without stock).
    units: Option<HashMap<ItemId, u64>>,
    held: HashMap<ItemId, u64>,
    /// Orders completed through this gate; a store reading taken before a completion is stale.
    completions: u64,
}

impl Stock {
    /// Units neither sold nor held.
    pub(crate) fn free(&self, item: &ItemId) -> Option<u64> {
        let units = self.units.as_ref()?;
        let have = units.get(item).copied().unwrap_or(0);
        Some(have.saturating_sub(self.held.get(item).copied().unwrap_or(0)))
    }

    /// Holds up to `want` units of `item`; how many were held. Holds are counted even before
    /// the app reports stock, so they are right once it does.
    pub(crate) fn hold(&mut self, item: &ItemId, want: u64) -> u64 {
        let got = self.free(item).map_or(want, |free| free.min(want));
        if got > 0 {
            *self.held.entry(*item).or_default() += got;
        }
        got
    }

    /// Gives back `n` held units.
    pub(crate) fn unhold(&mut self, item: &ItemId, n: u64) {
        if let Some(h) = self.held.get_mut(item) {
            *h = h.saturating_sub(n);
        }
    }

    /// A held unit was sold: the order completed.
    pub(crate) fn sold(&mut self, item: &ItemId) {
        self.completions += 1;
        self.unhold(item, 1);
        if let Some(u) = self.units.as_mut().and_then(|u| u.get_mut(item)) {
            *u = u.saturating_sub(1);
        }
    }

    /// The count of completions, to pass back with a store reading taken after it.
    pub(crate) fn completions(&self) -> u64 {
        self.completions
    }

    /// Takes a store reading made when [`completions`](Self::completions) was `seen`; ignored
    /// if an order completed meanwhile (the reading may predate its sale).
    ///
    /// A reading taken while no request was with the app (`quiet`) replaces the units. One
    /// taken while requests were may already count an order the gate has not yet seen
    /// complete, which would then be counted twice: so it only lowers an item's units (another
    /// channel sold some), never raises them; a raise waits for a quiet reading. Under steady
    /// load the units can then be under by at most the orders in flight, never over.
    pub(crate) fn set_units(&mut self, seen: u64, units: &BTreeMap<String, u64>, quiet: bool) {
        if seen != self.completions {
            return;
        }
        let parsed = units
            .iter()
            .filter_map(|(k, v)| ItemId::new(k).ok().map(|id| (id, *v)));
        match self.units.as_mut() {
            Some(known) if !quiet => {
                for (id, reading) in parsed {
                    let unit = known.entry(id).or_insert(reading);
                    *unit = (*unit).min(reading);
                }
            }
            _ => self.units = Some(parsed.collect()),
        }
    }

    /// Units per item in the store, and units free (neither sold nor held).
    pub(crate) fn report(&self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        let Some(units) = self.units.as_ref() else {
            return (BTreeMap::new(), BTreeMap::new());
        };
        let all = units.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let free = units
            .keys()
            .map(|k| (k.to_string(), self.free(k).unwrap_or(0)))
            .collect();
        (all, free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> ItemId {
        ItemId::new("concert").unwrap()
    }

    #[test]
    fn holds_never_exceed_the_units_and_sales_use_a_held_unit() {
        let mut s = Stock::default();
        assert_eq!(s.hold(&item(), 5), 5, "untracked stock holds anything");
        let mut s = Stock::default();
        s.set_units(0, &BTreeMap::from([("concert".to_owned(), 3)]), true);
        assert_eq!(s.hold(&item(), 2), 2);
        assert_eq!(s.hold(&item(), 2), 1);
        assert_eq!(s.free(&item()), Some(0));
        s.sold(&item());
        assert_eq!(s.report().0["concert"], 2);
        assert_eq!(s.free(&item()), Some(0));
        s.unhold(&item(), 1);
        assert_eq!(s.free(&item()), Some(1));
        // A store reading taken before that sale is stale and ignored.
        s.set_units(0, &BTreeMap::from([("concert".to_owned(), 3)]), true);
        assert_eq!(s.report().0["concert"], 2);
        s.set_units(1, &BTreeMap::from([("concert".to_owned(), 2)]), true);
        assert_eq!(s.free(&item()), Some(1));
    }

    /// Guards against a gate whose stock never followed the shop's under load: readings were
    /// dropped whenever a request was with the app, which under a sale is always.
    #[test]
    fn a_reading_under_load_lowers_the_units_and_only_a_quiet_one_raises_them() {
        let mut s = Stock::default();
        let reading = |n| BTreeMap::from([("concert".to_owned(), n)]);
        s.set_units(0, &reading(10), false);
        assert_eq!(
            s.report().0["concert"],
            10,
            "a first reading is taken under load"
        );
        s.set_units(0, &reading(7), false);
        assert_eq!(s.report().0["concert"], 7, "another channel sold 3");
        s.set_units(0, &reading(9), false);
        assert_eq!(s.report().0["concert"], 7, "a raise under load waits");
        s.set_units(0, &reading(9), true);
        assert_eq!(s.report().0["concert"], 9, "a quiet reading restocks");
    }
}
