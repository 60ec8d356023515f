//! Sa31: what the reception knows of each configured shop, updated from its management link.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use usher_ticket::{ItemId, ServerId};
use usher_wire::mgmt::Report;
use usher_wire::status::ShopView;

use super::conn::Conn;
use crate::config::{MAX_SHOP_CAPACITY, ShopEntry};
use crate::room::{LiveShop, MAX_PRIOR_ITEMS};

/// The latest view of one shop.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    /// The last report as the shop sent it.
    pub(crate) report: Option<Report>,
    pub(crate) reported_at: Option<Instant>,
    pub(crate) rtt: Duration,
    /// The capacity believed: the report's, never more than the configured one.
    capacity: u32,
    /// The report claims more places in use than its capacity: believed full.
    overfull: bool,
}

impl View {
    /// The last report with the capacity believed (what admissions use and operators see).
    fn believed(&self) -> Option<Report> {
        let mut report = self.report.clone()?;
        report.capacity = self.capacity;
        Some(report)
    }
}

/// One configured shop.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) entry: ShopEntry,
    pub(crate) view: RwLock<View>,
    pub(crate) conn: RwLock<Option<Arc<Conn>>>,
    /// Tickets handed out since the last report, so stale reports do not herd every order onto
    /// one shop.
    pub(crate) handed_out: AtomicU32,
    /// Places granted since the last report (per-ticket reservations and leases). Counted as
    /// the grants arrive on the management link, where the reports arrive too, so a report
    /// reflects exactly the grants before it.
    pub(crate) granted_since_report: AtomicU32,
    /// The names buyers know the shop's items by, as its link said (`Up::Names`).
    pub(crate) names: RwLock<BTreeMap<String, String>>,
}

/// A snapshot of one shop for one admission decision.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) live: bool,
    pub(crate) stock: Option<u64>,
    /// Units not held for admitted buyers (`None` when the shop does not track holds).
    pub(crate) free: Option<u64>,
    pub(crate) load: f64,
    pub(crate) rtt: Duration,
}

impl Slot {
    /// Live: connected, and its last report (in `view`) younger than `timeout`.
    fn is_live(&self, view: &View, now: Instant, timeout: Duration) -> bool {
        let connected = self
            .conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        // A shop behind `usher gate` whose own server fails is out too, until it answers.
        let answering = view
            .report
            .as_ref()
            .and_then(|r| r.upstream)
            .is_none_or(|u| u.ok);
        connected
            && answering
            && view
                .reported_at
                .is_some_and(|at| now.saturating_duration_since(at) <= timeout)
    }

    pub(crate) fn snapshot(&self, item: &str, now: Instant, timeout: Duration) -> Snapshot {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let live = self.is_live(&view, now, timeout);
        let Some(report) = view.report.as_ref() else {
            return Snapshot {
                live: false,
                stock: None,
                free: None,
                load: f64::INFINITY,
                rtt: view.rtt,
            };
        };
        // Places leased to receptions are free capacity held for them, not load.
        let used = f64::from(report.in_use() - report.leased.min(report.in_use()))
            + f64::from(self.handed_out.load(Ordering::Relaxed));
        let load = if view.capacity == 0 || view.overfull {
            f64::INFINITY
        } else {
            used / f64::from(view.capacity)
        };
        Snapshot {
            live,
            stock: report.stock.get(item).copied(),
            free: report.stock_free.get(item).copied(),
            load,
            rtt: view.rtt,
        }
    }

    /// Places free at this shop for this reception as far as it knows (0 when the shop is not
    /// live): its capacity, less what it reported in use (leases included), plus the places
    /// left in this reception's own leases (free for it to fill; a ticket issued from them
    /// since the report is still counted in the report's leases, so nothing counts twice),
    /// less places granted since the report. What the waiting room's head follows.
    pub(crate) fn spare(&self, now: Instant, timeout: Duration, leasing: bool) -> u64 {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let live = self.is_live(&view, now, timeout);
        let Some(report) = view.report.as_ref().filter(|_| live && !view.overfull) else {
            return 0;
        };
        let capacity = u64::from(view.capacity);
        let in_use = u64::from(report.in_use())
            + u64::from(self.granted_since_report.load(Ordering::Relaxed));
        if !leasing {
            return capacity.saturating_sub(in_use);
        }
        let ours = self
            .conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, |c| u64::from(c.lease().left(now)));
        (capacity + ours).saturating_sub(in_use).min(capacity)
    }

    /// This shop as the waiting room's prior counts it (Sa56 before any rate is measured):
    /// its places (its capacity as believed), the session length it measured, all items
    /// together and per item; `None` when it is not live.
    pub(crate) fn live_shop(&self, now: Instant, timeout: Duration) -> Option<LiveShop> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let report = view.report.as_ref()?;
        if view.overfull || !self.is_live(&view, now, timeout) {
            return None;
        }
        let session = |ms: Option<&u64>| ms.map(|&ms| Duration::from_millis(ms));
        Some(LiveShop {
            places: u64::from(view.capacity),
            session: session(report.session_ms.as_ref()),
            items: report
                .stock
                .keys()
                // Only item ids: nothing else could be ordered, and a shop's report is not
                // trusted to name what the line keeps.
                .filter_map(|item| {
                    let id = ItemId::new(item).ok()?;
                    Some((id, session(report.session_ms_by_item.get(item))))
                })
                .take(MAX_PRIOR_ITEMS)
                .collect(),
        })
    }

    /// The shop granted `places` (a reservation or a lease), after its last report.
    pub(crate) fn granted(&self, places: u32) {
        let _ = self
            .granted_since_report
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(places))
            });
    }

    /// Sa31: records a report from connection `generation`, unless a newer connection replaced
    /// it. Not believed as sent: a capacity above the configured one counts as the configured
    /// one (a shop may report less, never more), and a report of more places in use than its
    /// capacity makes the shop count as full. Returns whether the report was believed whole.
    pub(crate) fn record_report(&self, generation: u64, report: Report, now: Instant) -> bool {
        if !self.is_current(generation) {
            return true;
        }
        let ceiling = self
            .entry
            .capacity
            .unwrap_or(MAX_SHOP_CAPACITY)
            .min(MAX_SHOP_CAPACITY);
        let overfull = report.in_use() > report.capacity;
        let believed = report.capacity <= ceiling && !overfull;
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        view.capacity = report.capacity.min(ceiling);
        view.overfull = overfull;
        view.report = Some(report);
        view.reported_at = Some(now);
        self.handed_out.store(0, Ordering::Relaxed);
        self.granted_since_report.store(0, Ordering::Relaxed);
        believed
    }

    pub(crate) fn record_rtt(&self, generation: u64, rtt: Duration) {
        if !self.is_current(generation) {
            return;
        }
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        // Smoothed like TCP's SRTT (1/8 new sample) once there is a first sample.
        view.rtt = if view.rtt.is_zero() {
            rtt
        } else {
            (view.rtt * 7 + rtt) / 8
        };
    }

    /// The last report on the current link as believed (its capacity at most the configured
    /// one), if any.
    pub(crate) fn report(&self) -> Option<Report> {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .believed()
    }

    /// Adds the ids of the items this shop last reported to `into`, until it holds `max`
    /// (read in place: a report may be large).
    pub(crate) fn item_ids(&self, into: &mut std::collections::BTreeSet<String>, max: usize) {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let Some(report) = view.report.as_ref() else {
            return;
        };
        for id in report.stock.keys() {
            if into.len() >= max {
                return;
            }
            if !into.contains(id) {
                into.insert(id.clone());
            }
        }
    }

    /// Keeps the item names a shop sent, those a page can show: at most
    /// [`MAX_NAMES`](usher_wire::mgmt::MAX_NAMES) of at most
    /// [`MAX_NAME_LEN`](usher_wire::mgmt::MAX_NAME_LEN) bytes, without control characters.
    pub(crate) fn set_names(&self, names: BTreeMap<String, String>) {
        let names = names
            .into_iter()
            .filter(|(id, name)| {
                usher_ticket::ItemId::new(id).is_ok() && usher_wire::mgmt::is_item_name(name)
            })
            .take(usher_wire::mgmt::MAX_NAMES)
            .collect();
        *self.names.write().unwrap_or_else(PoisonError::into_inner) = names;
    }

    /// The name buyers know `item` by at this shop, if it said one.
    pub(crate) fn name_of(&self, item: &str) -> Option<String> {
        self.names
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(item)
            .cloned()
    }

    /// The smoothed round-trip time on the management link.
    pub(crate) fn rtt(&self) -> Duration {
        self.view.read().unwrap_or_else(PoisonError::into_inner).rtt
    }

    /// What operators see of this shop.
    pub(crate) fn status(&self, now: Instant, timeout: Duration) -> ShopView {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        ShopView {
            id: self.entry.id.to_string(),
            url: self.entry.url.clone(),
            live: self.is_live(&view, now, timeout),
            rtt_us: u64::try_from(view.rtt.as_micros()).unwrap_or(u64::MAX),
            // As believed: a capacity over the configured one is shown clamped, as it is used.
            report: view.believed(),
            handed_out_since_report: self.handed_out.load(Ordering::Relaxed),
            lease_places_left: self.connection().map_or(0, |c| c.lease().left(now)),
        }
    }

    fn is_current(&self, generation: u64) -> bool {
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|c| c.generation == generation)
    }

    pub(crate) fn connection(&self) -> Option<Arc<Conn>> {
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Installs a new connection, replacing (and so dropping) any older one.
    pub(crate) fn connect(&self, conn: Arc<Conn>) {
        *self.conn.write().unwrap_or_else(PoisonError::into_inner) = Some(conn);
        // A new connection starts a new run of reports: the old view may be another epoch.
        *self.view.write().unwrap_or_else(PoisonError::into_inner) = View::default();
        self.handed_out.store(0, Ordering::Relaxed);
        self.granted_since_report.store(0, Ordering::Relaxed);
    }

    /// Removes the connection if it is still generation `generation`.
    pub(crate) fn disconnect(&self, generation: u64) {
        let mut conn = self.conn.write().unwrap_or_else(PoisonError::into_inner);
        if conn.as_ref().is_some_and(|c| c.generation == generation) {
            *conn = None;
        }
    }
}

/// Every configured shop.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) slots: Vec<Slot>,
    by_id: HashMap<ServerId, usize>,
    generations: AtomicU64,
    request_ids: AtomicU64,
}

impl Registry {
    pub(crate) fn new(shops: &[ShopEntry]) -> Registry {
        let slots: Vec<Slot> = shops
            .iter()
            .map(|entry| Slot {
                entry: entry.clone(),
                view: RwLock::new(View::default()),
                conn: RwLock::new(None),
                handed_out: AtomicU32::new(0),
                granted_since_report: AtomicU32::new(0),
                names: RwLock::new(BTreeMap::new()),
            })
            .collect();
        let by_id = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.entry.id, i))
            .collect();
        Registry {
            slots,
            by_id,
            generations: AtomicU64::new(1),
            request_ids: AtomicU64::new(1),
        }
    }

    pub(crate) fn index(&self, id: &ServerId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_request(&self) -> u64 {
        self.request_ids.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use usher_ticket::Epoch;

    use super::*;

    fn registry(capacity: Option<u32>) -> Registry {
        let entry = ShopEntry {
            id: ServerId::new("shop-a").unwrap(),
            url: "http://127.0.0.1:1".to_owned(),
            capacity,
        };
        let registry = Registry::new(&[entry]);
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        registry.slots[0].connect(Arc::new(Conn::new(1, Epoch(1), tx)));
        registry
    }

    fn report(capacity: u32, sessions: u32) -> Report {
        Report {
            capacity,
            sessions,
            ..Report::default()
        }
    }

    const TIMEOUT: Duration = Duration::from_secs(1);

    /// Guards against a shop claiming a huge capacity (issue 14, point 7): a shop may report
    /// less than its configured capacity, never more.
    #[test]
    fn a_report_over_the_configured_capacity_counts_as_the_configured_capacity() {
        let registry = registry(Some(5));
        let slot = &registry.slots[0];
        let now = Instant::now();
        assert!(!slot.record_report(1, report(u32::MAX, 1), now));
        assert_eq!(slot.spare(now, TIMEOUT, false), 4);
        assert_eq!(slot.report().unwrap().capacity, 5);
        assert!((slot.snapshot("", now, TIMEOUT).load - 0.2).abs() < 1e-9);
        // Less is believed as sent.
        assert!(slot.record_report(1, report(3, 1), now));
        assert_eq!(slot.spare(now, TIMEOUT, false), 2);
        // Without a configured capacity, the gate's own limit is the ceiling.
        let registry = self::registry(None);
        let slot = &registry.slots[0];
        slot.record_report(1, report(u32::MAX, 0), now);
        assert_eq!(
            slot.spare(now, TIMEOUT, false),
            u64::from(MAX_SHOP_CAPACITY)
        );
    }

    /// A report of more places in use than its capacity is not believed: the shop counts as
    /// full, and nobody is sent there or let into the line for it.
    #[test]
    fn a_report_with_more_in_use_than_capacity_counts_as_full() {
        let registry = registry(None);
        let slot = &registry.slots[0];
        let now = Instant::now();
        assert!(!slot.record_report(1, report(5, 9), now));
        assert_eq!(slot.spare(now, TIMEOUT, true), 0);
        assert!(slot.snapshot("", now, TIMEOUT).load.is_infinite());
        // The report itself is kept as sent, for operators.
        assert_eq!(
            slot.view.read().unwrap().report.as_ref().unwrap().sessions,
            9
        );
    }

    /// Guards the state file (which keeps what the prior learns per item, in a slot of fixed
    /// size): a name in a shop's report that is no item id, too long or full of quotes, never
    /// reaches the prior or what the line learns.
    #[test]
    fn only_item_ids_of_a_report_reach_the_prior() {
        let registry = registry(None);
        let slot = &registry.slots[0];
        let now = Instant::now();
        let names = [
            "concert".to_owned(),
            "a \"b\"".to_owned(),
            "x".repeat(5_000),
        ];
        let report = Report {
            stock: names.iter().map(|n| (n.clone(), 1)).collect(),
            session_ms_by_item: names.iter().map(|n| (n.clone(), 1_000)).collect(),
            ..report(4, 0)
        };
        slot.record_report(1, report, now);
        let live = slot.live_shop(now, TIMEOUT).unwrap();
        let concert = ItemId::new("concert").unwrap();
        assert_eq!(live.items, [(concert, Some(Duration::from_secs(1)))]);
    }
}
