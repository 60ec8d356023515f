//! Leases of places and batched notices, on the reception's side of one management connection.
//!
//! A shop grants a lease of places for a time to live that its own clock owns, counted from its
//! grant; the reception counts from when it sent the request (earlier), and stops issuing
//! `lease_margin` plus a round-trip time before that, so the last notice reaches the shop while
//! the lease still holds. If a notice is late anyway, the shop gives the ticket a place only if
//! one is free, and otherwise refuses it (`not_notified` at the gate): capacity is never
//! exceeded, whatever the timing (invariant 1).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use usher_wire::mgmt::{Down, MAX_BATCH};
use usher_wire::notices::{self, Notice};

use crate::config::ReceptionConfig;
use crate::registry::{Conn, Held, Queued};

/// Most batches waiting for an acknowledgement; older ones are given up (their tickets will be
/// refused `not_notified`, which is safe).
const MAX_UNACKED: usize = 1024;
/// After a lease request is answered with nothing, wait this long before asking again.
const QUIET_AFTER_REFUSAL: Duration = Duration::from_millis(100);
/// Smallest lease asked for.
const MIN_LEASE: u32 = 16;

/// Notices sent and not yet acknowledged.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    next: u64,
    /// Encoded frames by batch id, with when they were last sent.
    unacked: HashMap<u64, (Instant, Bytes)>,
    /// The outbox is swapped with this (empty) vector at each flush, so neither reallocates.
    spare: Vec<Queued>,
}

impl Batches {
    /// Takes the connection's queued notices and encodes them in binary frames, one per lease
    /// and [`MAX_BATCH`] notices.
    pub(crate) fn flush(&mut self, conn: &Conn, now: Instant) -> Vec<Bytes> {
        std::mem::swap(
            &mut *conn.outbox.lock().unwrap_or_else(|e| e.into_inner()),
            &mut self.spare,
        );
        let mut queued = std::mem::take(&mut self.spare);
        queued.sort_unstable_by_key(|q| q.lease);
        let mut out = Vec::new();
        let mut frame = Vec::with_capacity(MAX_BATCH);
        for same_lease in queued.chunk_by(|a, b| a.lease == b.lease) {
            let lease = same_lease[0].lease;
            for chunk in same_lease.chunks(MAX_BATCH) {
                frame.clear();
                frame.extend(chunk.iter().map(|q| Notice {
                    issuer: q.ticket.issuer.0,
                    serial: q.ticket.serial,
                    expires_at_ms: q.expires_at_ms,
                    item: q.item.as_str(),
                }));
                self.next += 1;
                let mut bytes = Vec::new();
                notices::encode(&mut bytes, self.next, lease, &frame);
                let bytes = Bytes::from(bytes);
                if self.unacked.len() >= MAX_UNACKED
                    && let Some(oldest) = self
                        .unacked
                        .iter()
                        .min_by_key(|(_, (at, _))| *at)
                        .map(|(b, _)| *b)
                {
                    self.unacked.remove(&oldest);
                }
                self.unacked.insert(self.next, (now, bytes.clone()));
                out.push(bytes);
            }
        }
        queued.clear();
        self.spare = queued;
        out
    }

    /// Frames sent longer than `after` ago without an acknowledgement, to send again.
    pub(crate) fn overdue(&mut self, now: Instant, after: Duration) -> Vec<Bytes> {
        self.unacked
            .values_mut()
            .filter(|(at, _)| now.saturating_duration_since(*at) >= after)
            .map(|(at, bytes)| {
                *at = now;
                bytes.clone()
            })
            .collect()
    }

    /// The shop acknowledged `batch`.
    pub(crate) fn ack(&mut self, batch: u64) {
        self.unacked.remove(&batch);
    }
}

/// A lease request, if the connection's lease is running low or out of time and none is
/// outstanding. `capacity` is the shop's, from its last report.
pub(crate) fn refill(
    conn: &Conn,
    config: &ReceptionConfig,
    report: Option<&usher_wire::mgmt::Report>,
    next_id: impl FnOnce() -> u64,
    now: Instant,
) -> Option<Down> {
    let report = report?;
    let capacity = Some(report.capacity).filter(|&c| c > 0)?;
    let mut lease = conn.lease.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, sent, ttl)) = lease.requested {
        if now.saturating_duration_since(sent) < ttl {
            return None;
        }
        // Never answered: ask again.
        lease.requested = None;
    }
    if lease.quiet_until.is_some_and(|until| now < until) {
        return None;
    }
    let ttl = config.lease_ttl;
    // The rate at which this shop's leases are used, measured every 100 ms or more.
    match lease.rate_mark {
        Some((at, issued)) if now.saturating_duration_since(at) >= Duration::from_millis(100) => {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            let sample = (lease.issued - issued) as f64 / secs;
            lease.rate = if lease.rate == 0.0 {
                sample
            } else {
                0.7 * lease.rate + 0.3 * sample
            };
            lease.rate_mark = Some((now, lease.issued));
        }
        Some(_) => {}
        None => lease.rate_mark = Some((now, lease.issued)),
    }
    lease.held.retain(|h| now < h.usable_until && h.left > 0);
    if lease.held.len() >= 2 {
        return None;
    }
    let newest = lease.held.last().map(|h| (h.left, h.size, h.usable_until));
    let ending = newest.is_none_or(|(_, _, until)| now + ttl / 2 >= until);
    let low = newest.is_none_or(|(left, size, _)| left <= size / 2);
    if !(ending || low) {
        return None;
    }
    // Sized from the measured rate so a lease lasts about half its time to live, doubling
    // while the rate is still being learnt, and never more than a quarter of the shop, so other
    // receptions get places too.
    let by_rate = (lease.rate * ttl.as_secs_f64() / 2.0).min(f64::from(u32::MAX)) as u32;
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
    let stock = report
        .stock_free
        .iter()
        .filter(|(_, free)| **free > 0)
        .map(|(item, free)| {
            let quarter = u32::try_from((free / 4).max(1)).unwrap_or(u32::MAX);
            (item.clone(), want.min(quarter))
        })
        .collect();
    let id = next_id();
    lease.requested = Some((id, now, ttl));
    lease.tracks_stock = !report.stock_free.is_empty();
    Some(Down::Lease {
        id,
        places: want,
        ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        stock,
    })
}

/// The shop answered lease request `id` with `places`.
pub(crate) fn granted(
    conn: &Conn,
    config: &ReceptionConfig,
    id: u64,
    places: u32,
    stock: std::collections::BTreeMap<String, u32>,
    rtt: Duration,
) {
    let mut lease = conn.lease.lock().unwrap_or_else(|e| e.into_inner());
    let Some((requested, sent, ttl)) = lease.requested else {
        return;
    };
    if requested != id {
        return;
    }
    lease.requested = None;
    if places == 0 {
        // Full: ask again a little later rather than on every tick.
        lease.quiet_until = sent.checked_add(QUIET_AFTER_REFUSAL);
        return;
    }
    // The shop's clock started at its grant, after `sent`: stop early by the margin and a
    // round trip, so the last notice arrives in time.
    let stop = config.lease_margin + rtt;
    if stop + ttl / 4 >= ttl {
        // Round trips this slow leave a lease no useful life: per-ticket reservations until the
        // lease runs out at the shop, instead of leasing again at once.
        lease.quiet_until = sent.checked_add(ttl);
        return;
    }
    if let Some(usable_until) = sent.checked_add(ttl.saturating_sub(stop)) {
        let stock = lease.tracks_stock.then(|| {
            stock
                .into_iter()
                .filter_map(|(item, units)| Some((usher_ticket::ItemId::new(&item).ok()?, units)))
                .collect()
        });
        lease.held.push(Held {
            id,
            left: places,
            size: places,
            usable_until,
            stock,
        });
        lease.held.sort_by_key(|h| h.usable_until);
    }
}
