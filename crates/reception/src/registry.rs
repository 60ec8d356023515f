//! Sa31: what the reception knows of each configured shop, updated from its management link.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use usher_ticket::{Epoch, ServerId};
use usher_wire::mgmt::{Down, Report};

use crate::config::ShopEntry;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The open management connection of one shop.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Increases per connection, so a stale connection's cleanup cannot undo a newer one.
    pub(crate) generation: u64,
    /// The shop's run, from its hello: tickets for this connection are sealed for it.
    pub(crate) epoch: Epoch,
    pub(crate) tx: mpsc::Sender<Down>,
    pub(crate) pending: Mutex<HashMap<u64, oneshot::Sender<bool>>>,
    /// The current lease of places at this shop.
    pub(crate) lease: Mutex<LeaseState>,
    /// Notices of tickets issued from leases, waiting for the next batch: lease, ticket, item,
    /// window end (unix ms). Kept as plain values; written as text only when the batch goes.
    pub(crate) outbox: Mutex<Vec<Queued>>,
    /// Woken when a lease is granted: a place held for a lease in flight is usable only then.
    pub(crate) lease_granted: tokio::sync::Notify,
}

/// A notice waiting for its batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Queued {
    pub(crate) lease: u64,
    pub(crate) ticket: usher_ticket::TicketId,
    pub(crate) item: usher_ticket::ItemId,
    pub(crate) expires_at_ms: u64,
}

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
    pub(crate) stock: Option<Vec<(usher_ticket::ItemId, u32)>>,
}

/// What the reception holds of one shop's leases: the current one and, while it runs out, the
/// next (so a refill never strands the places left in the old one).
#[derive(Debug, Default)]
pub(crate) struct LeaseState {
    /// Usable leases, soonest to end first.
    pub(crate) held: Vec<Held>,
    /// An outstanding request: its id, when it was sent, and its time to live.
    pub(crate) requested: Option<(u64, Instant, Duration)>,
    /// Tickets issued from leases, ever.
    pub(crate) issued: u64,
    /// The shop holds stock for admitted buyers, so leases carry units per item.
    pub(crate) tracks_stock: bool,
    /// The shop granted nothing last time: do not ask again before this.
    pub(crate) quiet_until: Option<Instant>,
    /// Where the issue rate was last measured: when, and `issued` then.
    pub(crate) rate_mark: Option<(Instant, u64)>,
    /// Tickets issued from leases per second, smoothed.
    pub(crate) rate: f64,
}

impl LeaseState {
    /// Takes one place (and one unit of `item`) from the lease that ends soonest and has both.
    pub(crate) fn take(&mut self, now: Instant, item: &usher_ticket::ItemId) -> Option<u64> {
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
}

/// The latest view of one shop.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub(crate) report: Option<Report>,
    pub(crate) reported_at: Option<Instant>,
    pub(crate) rtt: Duration,
}

/// One configured shop.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) entry: ShopEntry,
    pub(crate) view: RwLock<View>,
    pub(crate) conn: RwLock<Option<std::sync::Arc<Conn>>>,
    /// Tickets handed out since the last report, so stale reports do not herd every order onto
    /// one shop.
    pub(crate) handed_out: AtomicU32,
    /// Places granted since the last report (per-ticket reservations and leases). Counted as
    /// the grants arrive on the management link, where the reports arrive too, so a report
    /// reflects exactly the grants before it.
    pub(crate) granted_since_report: AtomicU32,
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
        connected
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
        let load = if report.capacity == 0 {
            f64::INFINITY
        } else {
            used / f64::from(report.capacity)
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
        let Some(report) = view.report.as_ref().filter(|_| live) else {
            return 0;
        };
        let capacity = u64::from(report.capacity);
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
            .map_or(0, |c| u64::from(lock(&c.lease).left(now)));
        (capacity + ours).saturating_sub(in_use).min(capacity)
    }

    /// The shop granted `places` (a reservation or a lease), after its last report.
    pub(crate) fn granted(&self, places: u32) {
        let _ = self
            .granted_since_report
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(places))
            });
    }

    /// Records a report from connection `generation`, unless a newer connection replaced it.
    pub(crate) fn record_report(&self, generation: u64, report: Report, now: Instant) {
        if !self.is_current(generation) {
            return;
        }
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        view.report = Some(report);
        view.reported_at = Some(now);
        self.handed_out.store(0, Ordering::Relaxed);
        self.granted_since_report.store(0, Ordering::Relaxed);
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

    fn is_current(&self, generation: u64) -> bool {
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|c| c.generation == generation)
    }

    pub(crate) fn connection(&self) -> Option<std::sync::Arc<Conn>> {
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Installs a new connection, replacing (and so dropping) any older one.
    pub(crate) fn connect(&self, conn: std::sync::Arc<Conn>) {
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

impl Conn {
    /// Sends a request and waits for its answer, all within `timeout`; `None` on timeout or a
    /// dropped connection.
    pub(crate) async fn ask(&self, id: u64, down: Down, timeout: Duration) -> Option<bool> {
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let asked = async {
            self.tx.send(down).await.ok()?;
            rx.await.ok()
        };
        let answer = tokio::time::timeout(timeout, asked).await;
        lock(&self.pending).remove(&id);
        answer.ok().flatten()
    }

    /// Fails every request still waiting (the connection ended).
    pub(crate) fn fail_pending(&self) {
        lock(&self.pending).clear();
    }

    pub(crate) fn answer(&self, id: u64, granted: bool) {
        if let Some(tx) = lock(&self.pending).remove(&id) {
            let _ = tx.send(granted);
        }
    }
}
