//! The admission (Sa33-Sa35): the shops as the reception knows them, the choice among them,
//! the place each ticket is issued against, and the sealed ticket.
//!
//! [`TicketDesk`] settles an order synchronously when it can ([`TicketDesk::try_admit`]:
//! selection, a place from a lease, the sealed ticket, its notice queued, with no await and one
//! heap allocation, the `Location` value); an order that needs a round trip (per-ticket
//! reservations, a lease in flight) goes on to the async [`TicketDesk::admit_waiting`].
//!
//! # Layout
//! - `registry.rs`: [`Registry`](registry::Registry), each configured shop's view (last
//!   report, round-trip time, tickets handed out since the report) and its link.
//! - `conn.rs`: one shop's open management link (requests, leases, queued notices).
//! - `lease.rs`: leases of places on the reception's side; `notices.rs`: their batched notices.
//! - `seal.rs`: sealing a ticket and writing its URL; `limit.rs`: live tickets per client
//!   prefix.
//! - [`policy`]: how candidates are ranked (Sa33).

pub(crate) mod conn;
pub(crate) mod lease;
mod limit;
pub(crate) mod notices;
pub mod policy;
pub(crate) mod registry;
mod seal;

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use usher_ticket::{Binding, Issuer, IssuerId, ItemId, Keyring, TicketId};
use usher_wire::mgmt::Down;
use usher_wire::status::ShopView;
use usher_wire::{Clock, Code};

use crate::config::{MAX_SHOPS, ReceptionConfig, Reservation};
use crate::outcome::Outcome;
use crate::room::{LiveShop, Wait};
use conn::Conn;
use limit::{LiveAdmissions, LiveKey};
use notices::Queued;
use policy::{Candidate, SelectionPolicy};
use registry::{Registry, Slot};
use seal::{Sealed, Sealers};

/// The shops that could take an order, best first (at most [`MAX_SHOPS`]).
pub(crate) type Candidates = arrayvec::ArrayVec<Candidate, MAX_SHOPS>;

/// An admission the synchronous path could not settle: it needs a round trip to a shop
/// (per-ticket reservations) or a short wait for a lease in flight. See
/// [`TicketDesk::admit_waiting`].
#[derive(Debug)]
pub(crate) struct Admit {
    pub(crate) item: ItemId,
    pub(crate) client: IpAddr,
    who: Who,
    candidates: Candidates,
}

/// The client of one order as the admission needs it: the network its ticket is bound to, and
/// where that network counts its live tickets. Worked out once per order.
#[derive(Debug, Clone, Copy)]
struct Who {
    binding: Binding,
    live: LiveKey,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct TicketDesk {
    config: ReceptionConfig,
    pub(crate) registry: Registry,
    sealers: RwLock<Arc<Sealers>>,
    issuer: Arc<Issuer>,
    policy: Box<dyn SelectionPolicy>,
    /// Tickets live per client prefix.
    live: LiveAdmissions,
    clock: Arc<dyn Clock>,
}

impl TicketDesk {
    /// A desk for the shops in `config`, sealing with `keyring`'s active key under `issuer`.
    pub(crate) fn new(
        config: ReceptionConfig,
        keyring: &Keyring,
        issuer: Arc<Issuer>,
        clock: Arc<dyn Clock>,
    ) -> TicketDesk {
        let sealers = Sealers::new(keyring, &config, &issuer);
        TicketDesk {
            policy: config.policy.build(config.tie_margin),
            live: LiveAdmissions::new(
                config.admissions_per_client,
                config.ticket_ttl,
                clock.instant(),
            ),
            registry: Registry::new(&config.shops),
            sealers: RwLock::new(Arc::new(sealers)),
            config,
            issuer,
            clock,
        }
    }

    /// Settings.
    pub(crate) fn config(&self) -> &ReceptionConfig {
        &self.config
    }

    /// The issuer id shops must accept.
    pub(crate) fn issuer(&self) -> IssuerId {
        self.issuer.id()
    }

    /// New tickets are sealed with `keyring`'s active key.
    pub(crate) fn reload_keys(&self, keyring: &Keyring) {
        let sealers = Sealers::new(keyring, &self.config, &self.issuer);
        *self.sealers.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(sealers);
    }

    /// Places free at every live shop, as far as the reception knows (what the line's head
    /// follows).
    pub(crate) fn spare_places(&self, now: Instant) -> u64 {
        let leasing = self.config.reservation == Reservation::Lease;
        self.registry
            .slots
            .iter()
            .map(|slot| slot.spare(now, self.config.shop_timeout, leasing))
            .sum()
    }

    /// Every live shop as the waiting room's prior counts it.
    pub(crate) fn live_shops(&self, now: Instant) -> Vec<LiveShop> {
        self.registry
            .slots
            .iter()
            .filter_map(|slot| slot.live_shop(now, self.config.shop_timeout))
            .collect()
    }

    /// The items the shops have reported (live or not), by id, at most `max`.
    pub(crate) fn items(&self, max: usize) -> std::collections::BTreeSet<String> {
        let mut items = std::collections::BTreeSet::new();
        for slot in &self.registry.slots {
            slot.item_ids(&mut items, max);
        }
        items
    }

    /// The name buyers know `item` by, as the first shop that said one has it.
    pub(crate) fn name_of(&self, item: &str) -> Option<String> {
        self.registry
            .slots
            .iter()
            .find_map(|slot| slot.name_of(item))
    }

    /// Every configured shop, for operators.
    pub(crate) fn shops_status(&self, now: Instant) -> Vec<ShopView> {
        self.registry
            .slots
            .iter()
            .map(|slot| slot.status(now, self.config.shop_timeout))
            .collect()
    }

    /// Sa33 and Sa34-Sa35 from a lease, with no round trip and no await. `Err` when the
    /// admission needs one ([`admit_waiting`](Self::admit_waiting)). The line is not looked at
    /// here (see `reception.rs`).
    pub(crate) fn try_admit(&self, item: &str, client: IpAddr) -> Result<Outcome, Box<Admit>> {
        let Ok(item) = ItemId::new(item) else {
            return Ok(Outcome::UnknownItem);
        };
        let now = self.clock.instant();
        let candidates = match self.survey(&item, now) {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        };
        if candidates.is_empty() {
            // Sa54: every shop that carries the item is busy.
            return Ok(Outcome::Waiting(self.busy()));
        }
        let binding = self.config.binding.bind(client);
        let who = Who {
            binding,
            live: self.live.key(&binding),
        };
        if !self.live.allows(who.live, now) {
            // This client's network already holds its share of live tickets.
            return Ok(Outcome::Refused(Code::TooMany));
        }
        if self.config.reservation == Reservation::Lease {
            let sealers = self.sealers.read().unwrap_or_else(PoisonError::into_inner);
            for candidate in &candidates {
                if let Some(outcome) =
                    self.issue_from_lease(&sealers, candidate.index, &item, who, now)
                {
                    return Ok(outcome);
                }
            }
        }
        Err(Box::new(Admit {
            item,
            client,
            who,
            candidates,
        }))
    }

    /// Sa33: the live shops that could take an order for `item`, best first; or why none can
    /// (no live shop, unknown item, sold out everywhere).
    pub(crate) fn survey(&self, item: &ItemId, now: Instant) -> Result<Candidates, Outcome> {
        let mut candidates = Candidates::new();
        self.scan(item, now, |candidate| {
            // At most MAX_SHOPS slots exist (the config is checked).
            let _ = candidates.try_push(candidate);
        })?;
        self.policy.order(&mut candidates);
        Ok(candidates)
    }

    /// Why no shop could take an order for `item` (no live shop, unknown item, sold out
    /// everywhere), if so: [`survey`](Self::survey) without ranking anyone, for a client who
    /// waits (its poll builds no list of candidates it would not use).
    pub(crate) fn availability(&self, item: &ItemId, now: Instant) -> Result<(), Outcome> {
        self.scan(item, now, |_| {})
    }

    /// Every live shop with `item` in stock and room (`load < 1`) goes to `each`; `Err` says
    /// why none carries it in stock.
    fn scan(
        &self,
        item: &ItemId,
        now: Instant,
        mut each: impl FnMut(Candidate),
    ) -> Result<(), Outcome> {
        let mut any_live = false;
        let mut carried = false;
        let mut in_stock = false;
        for (index, slot) in self.registry.slots.iter().enumerate() {
            let snap = slot.snapshot(item.as_str(), now, self.config.shop_timeout);
            if !snap.live {
                continue;
            }
            any_live = true;
            let Some(stock) = snap.stock else { continue };
            carried = true;
            if stock == 0 {
                continue;
            }
            in_stock = true;
            if snap.load < 1.0 {
                each(Candidate {
                    index,
                    load: snap.load,
                    rtt: snap.rtt,
                    free: snap.free,
                });
            }
        }
        if !any_live {
            return Err(Outcome::Unavailable);
        }
        if !carried {
            return Err(Outcome::UnknownItem);
        }
        if !in_stock {
            return Err(Outcome::SoldOut);
        }
        Ok(())
    }

    /// [`try_admit`](Self::try_admit)'s part that waits: per-ticket reservations (the patent's
    /// Sa34, one round trip each), or a short wait for a lease on its way.
    pub(crate) async fn admit_waiting(&self, admit: Box<Admit>) -> Outcome {
        let Admit {
            item,
            client: _,
            who,
            candidates,
        } = *admit;
        let sealers = Arc::clone(&self.sealers.read().unwrap_or_else(PoisonError::into_inner));
        // A shop with no free unit of the item would refuse, so it is not asked.
        for candidate in &candidates {
            if candidate.free == Some(0) {
                continue;
            }
            if let Some(outcome) = self.try_shop(&sealers, candidate.index, &item, who).await {
                return outcome;
            }
        }
        // A shop may be holding its last places for a lease that is on its way to us: wait for
        // it (briefly) rather than turn the buyer away.
        if self.config.reservation == Reservation::Lease {
            for candidate in &candidates {
                if let Some(outcome) = self
                    .wait_for_lease(&sealers, candidate.index, &item, who)
                    .await
                {
                    return outcome;
                }
            }
        }
        Outcome::Waiting(self.busy())
    }

    /// A ticket from the lease at slot `index`, waiting (up to the reservation timeout) for a
    /// lease that is on its way.
    async fn wait_for_lease(
        &self,
        sealers: &Sealers,
        index: usize,
        item: &ItemId,
        who: Who,
    ) -> Option<Outcome> {
        let conn = self.registry.slots[index].connection()?;
        let granted = conn.lease_granted.notified();
        tokio::pin!(granted);
        granted.as_mut().enable();
        // A grant may have arrived while the per-ticket request was out.
        let now = self.clock.instant();
        if let Some(outcome) = self.issue_from_lease(sealers, index, item, who, now) {
            return Some(outcome);
        }
        let in_flight = conn.lease().requested.is_some();
        if in_flight
            && tokio::time::timeout(self.config.reserve_timeout, granted)
                .await
                .is_ok()
        {
            let now = self.clock.instant();
            return self.issue_from_lease(sealers, index, item, who, now);
        }
        None
    }

    /// Every shop is busy: the plain Sa36 answer, before the line is consulted (the
    /// reception then joins the client to the line, whose answer it gets instead). Its
    /// estimate is its retry time: the client learns more then.
    pub(crate) fn busy(&self) -> Wait {
        let retry = u64::try_from(self.config.retry_after.as_millis()).unwrap_or(1000);
        Wait {
            queue_token: None,
            position: None,
            place: None,
            estimated_wait_ms: retry,
            estimate_low_ms: 0,
            estimate_high_ms: retry,
            retry_after_ms: retry,
            fresh: false,
            opens_at: None,
            pre_queue: None,
        }
    }

    /// Sa34 from a lease: take a place the shop in slot `index` granted in advance, seal the
    /// ticket, and queue its notice for the next batch. No round trip.
    fn issue_from_lease(
        &self,
        sealers: &Sealers,
        index: usize,
        item: &ItemId,
        who: Who,
        now: Instant,
    ) -> Option<Outcome> {
        let slot = &self.registry.slots[index];
        let conn = slot.conn.read().unwrap_or_else(PoisonError::into_inner);
        let conn = conn.as_deref()?;
        let lease = conn.lease().take(now, item)?;
        let sealed = sealers.seal(index, slot, conn, item, who.binding, &*self.clock)?;
        conn.queue_notice(Queued {
            lease,
            ticket: sealed.ticket,
            item: *item,
            expires_at_ms: sealed.expires_at_ms,
        });
        slot.handed_out.fetch_add(1, Ordering::Relaxed);
        self.live.count(who.live, now);
        Some(admitted(sealed, slot))
    }

    /// Sa34 + Sa35 for one shop: seal a ticket, ask the shop to hold a place for it (the
    /// notice), and hand it out only if the shop granted the place.
    async fn try_shop(
        &self,
        sealers: &Sealers,
        index: usize,
        item: &ItemId,
        who: Who,
    ) -> Option<Outcome> {
        let slot = &self.registry.slots[index];
        let conn = slot.connection()?;
        let sealed = sealers.seal(index, slot, &conn, item, who.binding, &*self.clock)?;
        slot.handed_out.fetch_add(1, Ordering::Relaxed);
        let id = self.registry.next_request();
        let down = Down::Reserve {
            id,
            ticket: sealed.ticket.to_string(),
            item: item.to_string(),
            expires_at_ms: sealed.expires_at_ms,
        };
        // If no grant is handed out (no answer in time, or the client went away and this
        // future was dropped while the request was out), the shop is told to free the place.
        let mut release = Release {
            conn: &conn,
            ticket: sealed.ticket,
            armed: true,
        };
        let granted = conn.ask(id, down, self.config.reserve_timeout).await;
        release.armed = granted.is_none();
        if granted == Some(true) {
            self.live.count(who.live, self.clock.instant());
            Some(admitted(sealed, slot))
        } else {
            let _ = slot
                .handed_out
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            None
        }
    }
}

/// The answer for a ticket handed out at `slot`.
fn admitted(sealed: Sealed, slot: &Slot) -> Outcome {
    Outcome::Admitted {
        url: sealed.url,
        server: slot.entry.id,
        expires_at: SystemTime::UNIX_EPOCH + Duration::from_millis(sealed.expires_at_ms),
    }
}

/// Sends `release` for a reserved ticket that is not handed out, when dropped armed.
struct Release<'a> {
    conn: &'a Conn,
    ticket: TicketId,
    armed: bool,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.conn.try_send(Down::Release {
                ticket: self.ticket.to_string(),
            });
        }
    }
}
