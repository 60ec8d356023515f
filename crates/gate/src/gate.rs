//! The gate's shared state: keys, places, the shop's epoch, and what goes into reports.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use usher_ticket::channel::{Opener, Sealer, Side};
use usher_ticket::hello::{Handshake, Nonce};
use usher_ticket::{
    Epoch, IssuerId, ItemId, KeyId, MAX_ISSUERS, Rejection, ServerKeys, Ticket, TicketId,
    TicketOpener, VerifyContext,
};
use usher_wire::Clock;
use usher_wire::clock::unix_ms;
use usher_wire::mgmt::Report;

use crate::back_links::BackLinks;
use crate::config::GateConfig;
use crate::issuers::{IssuerChange, IssuerTable};
use crate::names::ItemNames;
use crate::places::{ClaimRefusal, LeaseKey, PlaceStats, Places, SessionId, Visit};
use crate::{GateLayer, SessionInfo};

/// The longest a reservation is held, however late its ticket's window says it closes.
pub const MAX_TICKET_LIFE: Duration = Duration::from_secs(3600);

/// One end of a management link's channel: what it sends, and what it receives.
pub(crate) type Channel = (Sealer, Opener);

/// Why a ticket did not open a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimError {
    /// The ticket itself was refused.
    Ticket(Rejection),
    /// The ticket verified but the shop's places refused it.
    Place(ClaimRefusal),
}

/// What the gate knew when a reading of the app's store began: see [`Gate::stock_mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockMark {
    completions: u64,
    quiet: bool,
}

/// What the application behind the gate contributes to reports (Sa31).
#[derive(Debug, Clone, Default)]
pub struct AppLoad {
    /// Units left per item.
    pub stock: BTreeMap<String, u64>,
    /// Orders completed.
    pub orders_completed: u64,
    /// Resident memory of the process.
    pub memory_bytes: u64,
    /// How the shop behind `usher gate` answers (none for an app in this process).
    pub upstream: Option<usher_wire::mgmt::UpstreamHealth>,
}

/// One shop's gate. Cheap to share (`Arc<Gate>`): the tower layer, the management link and the
/// operator's reload all hold it.
#[derive(Debug)]
pub struct Gate {
    config: GateConfig,
    epoch: Epoch,
    clock: Arc<dyn Clock>,
    keys: RwLock<ServerKeys>,
    back_links: Arc<BackLinks>,
    item_names: ItemNames,
    opener: RwLock<TicketOpener>,
    /// Which link announced each admitted issuer, and when; locked before `opener`, which it
    /// keeps in step.
    issuers: Mutex<IssuerTable>,
    places: Mutex<Places>,
    app: Mutex<AppLoad>,
    seq: AtomicU64,
    links: AtomicU64,
    pub(crate) in_app: std::sync::atomic::AtomicU32,
    /// Woken whenever notices arrive, so a claim that came first can wait for its notice.
    noticed: tokio::sync::Notify,
    /// Bumped whenever an order completes and frees a place, so each management link can
    /// report it at once instead of at its next tick (the line waits on that report).
    freed: tokio::sync::watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the counts half-updated (every update is one
    // step), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The system gave no randomness for the gate's epoch.
#[derive(Debug, thiserror::Error)]
#[error("no randomness for the shop's epoch: {0}")]
pub struct NoRandomness(String);

impl Gate {
    /// A gate for `config.server` with its own key file's keys and a fresh random epoch.
    ///
    /// Without randomness from the system it does not start: an epoch read off the clock could
    /// repeat an earlier run's, and that run's tickets would count again.
    pub fn new(
        config: GateConfig,
        keys: ServerKeys,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Gate>, NoRandomness> {
        let epoch = Epoch(getrandom::u32().map_err(|e| NoRandomness(e.to_string()))?);
        let opener = keys.ticket_opener();
        let places = Places::new(config.capacity, config.idle_timeout)
            .first_use_timeout(config.first_use_timeout)
            .sessions_per_client(config.sessions_per_client);
        let back_links = Arc::new(BackLinks::new(&config));
        let item_names = ItemNames::configured(&config.items);
        Ok(Arc::new(Gate {
            config,
            epoch,
            clock,
            keys: RwLock::new(keys),
            back_links,
            item_names,
            opener: RwLock::new(opener),
            issuers: Mutex::new(IssuerTable::new(MAX_ISSUERS, MAX_TICKET_LIFE)),
            places: Mutex::new(places),
            app: Mutex::new(AppLoad::default()),
            seq: AtomicU64::new(0),
            links: AtomicU64::new(1),
            in_app: std::sync::atomic::AtomicU32::new(0),
            freed: tokio::sync::watch::Sender::new(0),
            noticed: tokio::sync::Notify::new(),
        }))
    }

    /// The tower layer that puts this gate in front of an app.
    pub fn layer(self: &Arc<Self>) -> GateLayer {
        GateLayer::new(Arc::clone(self))
    }

    /// Settings.
    pub fn config(&self) -> &GateConfig {
        &self.config
    }

    /// This run's epoch: tickets sealed for an earlier run are `stale_epoch`.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The gate's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Accepts tickets from these issuers, admitted by hand (an operator, a test): no link backs
    /// them, so they are the first to go when a link's issuer needs room.
    pub fn admit_issuers(&self, issuers: &[IssuerId]) {
        self.announce_issuers(None, issuers);
    }

    /// Accepts tickets from the issuers management link `link` announced in its welcome. They
    /// outlive the link by [`MAX_TICKET_LIFE`] unless room is needed (see `issuers.rs`).
    pub fn admit_link_issuers(&self, link: u64, issuers: &[IssuerId]) {
        self.announce_issuers(Some(link), issuers);
    }

    /// The names buyers know the app's items by (see [`ItemNames`]).
    pub fn item_names(&self) -> &ItemNames {
        &self.item_names
    }

    /// Where refused buyers are sent back (see [`BackLinks`]); also handed to the app with
    /// each request for an open path, as a request extension.
    pub fn back_links(&self) -> &Arc<BackLinks> {
        &self.back_links
    }

    fn announce_issuers(&self, link: Option<u64>, issuers: &[IssuerId]) {
        let mut table = lock(&self.issuers);
        let changes = table.announce(link, issuers, self.clock.instant());
        self.apply_issuers(&changes);
    }

    /// Brings the opener in step with the issuer table; called with the table locked, so two
    /// announcements cannot interleave their changes.
    fn apply_issuers(&self, changes: &[IssuerChange]) {
        if changes.is_empty() {
            return;
        }
        let mut opener = self.opener.write().unwrap_or_else(PoisonError::into_inner);
        for &change in changes {
            match change {
                IssuerChange::Retire(issuer) => {
                    tracing::info!(%issuer, "issuer retired");
                    opener.retire_issuer(issuer);
                }
                // The table retires before it admits, so the opener always has room.
                IssuerChange::Admit(issuer) => {
                    if let Err(e) = opener.admit_issuer(issuer) {
                        tracing::warn!(%issuer, error = %e, "issuer not admitted");
                    }
                }
            }
        }
    }

    /// Replaces the keys (SIGHUP), keeping the admitted issuers.
    pub fn reload_keys(&self, keys: ServerKeys) {
        let mut opener = keys.ticket_opener();
        // Held across the swap, so an issuer announced meanwhile is not lost.
        let table = lock(&self.issuers);
        for issuer in table.issuers() {
            if let Err(e) = opener.admit_issuer(issuer) {
                tracing::warn!(%issuer, error = %e, "issuer not admitted");
            }
        }
        *self.opener.write().unwrap_or_else(PoisonError::into_inner) = opener;
        drop(table);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// The shop's side of a management handshake: the key id and MAC its hello carries, over
    /// the reception's challenge and this gate's own nonce, and the link's channel keyed from
    /// the same management key and both nonces. `None` without a management key.
    pub fn hello(&self, reception: &Nonce, shop: &Nonce) -> Option<(KeyId, [u8; 32], Channel)> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let id = keys.active();
        let key = keys.management_key(id)?;
        let handshake = Handshake {
            server: &self.config.server,
            epoch: self.epoch,
            reception,
            shop,
        };
        Some((
            id,
            usher_ticket::hello::hello_mac(key, &handshake),
            usher_ticket::channel::channel(key, &handshake, Side::Shop),
        ))
    }

    /// Sa34 at the shop: holds a place for `ticket` until `expires_at_ms` (plus the skew
    /// allowance), if one is free, for as long as management link `link` lasts (a reservation
    /// outliving its link holds a place nobody can use). This is the notice (Sa35).
    pub fn reserve(
        &self,
        link: u64,
        ticket: TicketId,
        item: usher_ticket::ItemId,
        expires_at_ms: u64,
    ) -> bool {
        let now_ms = unix_ms(self.clock.wall());
        // No ticket lives longer than this, whatever a (possibly false) reception says.
        let left = Duration::from_millis(expires_at_ms.saturating_sub(now_ms)).min(MAX_TICKET_LIFE)
            + self.config.skew;
        let now = self.clock.instant();
        lock(&self.places).reserve_for_link(ticket, item, now + left, now, link)
    }

    /// A fresh id for a management link (leases are keyed by link and lease id).
    pub fn next_link(&self) -> u64 {
        self.links.fetch_add(1, Ordering::Relaxed)
    }

    /// Grants up to `places` to a reception's lease for `ttl_ms` (at most [`MAX_TICKET_LIFE`]).
    /// A shop that lets walk-ins in grants none: nobody comes through the reception, and places
    /// held for it would count against the walk-ins' capacity.
    pub fn grant(
        &self,
        link: u64,
        lease: u64,
        places: u32,
        stock: Option<&BTreeMap<String, u32>>,
        ttl_ms: u64,
    ) -> (u32, BTreeMap<String, u32>) {
        if self.config.walk_ins {
            return (0, BTreeMap::new());
        }
        let ttl = Duration::from_millis(ttl_ms).min(MAX_TICKET_LIFE);
        let wanted: Option<Vec<_>> = stock.map(|stock| {
            stock
                .iter()
                .filter_map(|(k, v)| usher_ticket::ItemId::new(k).ok().map(|id| (id, *v)))
                .collect()
        });
        let (granted, units) = lock(&self.places).grant(
            LeaseKey { link, lease },
            places,
            wanted.as_deref(),
            ttl,
            self.clock.instant(),
        );
        (
            granted,
            units.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        )
    }

    /// What the gate knows as a store reading begins, to pass back with the reading: the orders
    /// completed through it, and whether a session's request is with the app (it may be
    /// committing an order the gate has not seen complete yet, which the reading may count).
    pub fn stock_mark(&self) -> StockMark {
        StockMark {
            completions: lock(&self.places).completions(),
            quiet: self.in_app.load(Ordering::SeqCst) == 0,
        }
    }

    /// A session's request went to the app / came back (see [`completions`](Self::completions)).
    pub(crate) fn app_call(&self, started: bool) {
        if started {
            self.in_app.fetch_add(1, Ordering::SeqCst);
        } else {
            self.in_app.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The management link `link` ended: its leases' places and units come back, and its
    /// issuers start their grace (their tickets are still in buyers' hands).
    pub fn drop_link(&self, link: u64) {
        lock(&self.places).drop_link(link);
        let mut table = lock(&self.issuers);
        let changes = table.end_link(link, self.clock.instant());
        self.apply_issuers(&changes);
    }

    /// Sa35 in a batch: the notices of tickets issued from lease `lease` on link `link`. Returns
    /// the tickets that hold no place (their claim will be refused `not_notified`).
    pub fn note<'a>(
        &self,
        link: u64,
        lease: u64,
        notices: impl IntoIterator<Item = usher_wire::notices::Notice<'a>>,
    ) -> Vec<TicketId> {
        let now_ms = unix_ms(self.clock.wall());
        let now = self.clock.instant();
        let mut refused = Vec::new();
        {
            let mut places = lock(&self.places);
            for n in notices {
                let ticket = TicketId {
                    issuer: usher_ticket::IssuerId(n.issuer),
                    serial: n.serial,
                };
                let Ok(item) = usher_ticket::ItemId::new(n.item) else {
                    refused.push(ticket);
                    continue;
                };
                let left = Duration::from_millis(n.expires_at_ms.saturating_sub(now_ms))
                    .min(MAX_TICKET_LIFE)
                    + self.config.skew;
                if !places.note(LeaseKey { link, lease }, ticket, item, now + left, now) {
                    refused.push(ticket);
                }
            }
        }
        self.noticed.notify_waiters();
        refused
    }

    /// [`claim`](Self::claim), but a ticket whose notice has not arrived yet is held for up to
    /// `wait` (notices from leases come in batches, and may trail the buyer by a little).
    pub async fn claim_waiting(
        &self,
        token: &str,
        item: &str,
        client: IpAddr,
        wait: Duration,
    ) -> Result<(SessionId, Ticket), ClaimError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.noticed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.claim(token, item, client) {
                Err(ClaimError::Place(ClaimRefusal::NotNotified))
                    if tokio::time::Instant::now() < deadline =>
                {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        return self.claim(token, item, client);
                    }
                }
                other => return other,
            }
        }
    }

    /// The reception gave up on a reservation: its place comes back unless it was claimed.
    pub fn release(&self, ticket: TicketId) {
        lock(&self.places).release(ticket);
    }

    /// Sb32: verifies a ticket locally and opens (or finds again) its session.
    pub fn claim(
        &self,
        token: &str,
        item: &str,
        client: IpAddr,
    ) -> Result<(SessionId, Ticket), ClaimError> {
        let mut ctx = VerifyContext::new(self.clock.wall(), client, self.epoch, item);
        ctx.skew = self.config.skew;
        let ticket = self
            .opener
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .verify(token, &ctx)
            .map_err(ClaimError::Ticket)?;
        let (session, _) = lock(&self.places)
            .claim(ticket.id, client, self.clock.instant())
            .map_err(ClaimError::Place)?;
        Ok((session, ticket))
    }

    /// The live session behind a cookie, for `item`; the request uses it (the first such
    /// request after a claim is the session's first use).
    pub fn session(&self, id: SessionId, item: &str) -> Option<SessionInfo> {
        lock(&self.places).touch(id, item, self.clock.instant())
    }

    /// The live session behind a cookie, for `item`, for a request that only looks (`HEAD`):
    /// neither the session's first use nor a sign of life.
    pub fn look(&self, id: SessionId, item: &str) -> Option<SessionInfo> {
        lock(&self.places).visit(id, item, self.clock.instant(), Visit::Look)
    }

    /// A session without a ticket, when the gate lets walk-ins in (`GateConfig::walk_ins`);
    /// `None` otherwise or for an item id that is not one.
    pub fn walk_in(&self, item: &str) -> Option<(SessionId, SessionInfo)> {
        if !self.config.walk_ins {
            return None;
        }
        let item = ItemId::new(item).ok()?;
        lock(&self.places).walk_in(item, self.clock.instant()).ok()
    }

    /// Claim 7: the session's order completed.
    pub fn complete(&self, id: SessionId) {
        lock(&self.places).complete(id, self.clock.instant());
        self.freed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever an order completes and frees a place.
    pub fn freed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.freed.subscribe()
    }

    /// Frees expired reservations and idle sessions now.
    pub fn sweep(&self) {
        lock(&self.places).sweep(self.clock.instant());
    }

    /// Current counts (after freeing what has run out).
    pub fn stats(&self) -> PlaceStats {
        let mut places = lock(&self.places);
        places.sweep(self.clock.instant());
        places.stats()
    }

    /// The application's contribution to reports, read from its store after
    /// [`stock_mark`](Self::stock_mark) returned `mark` (`None`: not a fresh reading, not used
    /// for stock). A reading older than a completion is not used; one taken while requests
    /// were with the app only lowers the stock (see `Stock::set_units`).
    pub fn set_app_load(&self, mark: Option<StockMark>, load: AppLoad) {
        if let Some(mark) = mark {
            let quiet = mark.quiet && self.in_app.load(Ordering::SeqCst) == 0;
            lock(&self.places).set_stock(mark.completions, &load.stock, quiet);
        }
        *lock(&self.app) = load;
    }

    /// Sa31: the next load report.
    pub fn report(&self) -> Report {
        let stats = self.stats();
        let (stock, stock_free, session_ms_by_item) = {
            let places = lock(&self.places);
            let (stock, free) = places.stock();
            (stock, free, places.sessions_by_item())
        };
        let app = lock(&self.app).clone();
        Report {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            epoch: self.epoch.0,
            sessions: stats.sessions,
            capacity: stats.capacity,
            reserved: stats.reserved,
            leased: stats.leased,
            memory_bytes: app.memory_bytes,
            orders_completed: app.orders_completed,
            stock,
            stock_free,
            high_water: stats.high_water,
            wall_clock_ms: unix_ms(self.clock.wall()),
            upstream: app.upstream,
            session_ms: stats.session.map(usher_wire::mgmt::millis),
            session_ms_by_item,
        }
    }
}
