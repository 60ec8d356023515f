//! Sa35 in batches: the notices of tickets issued from leases, queued per management link and
//! sent in binary frames (`usher_wire::notices`) every few milliseconds, each frame resent
//! until the shop acknowledges it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use usher_ticket::{ItemId, TicketId};
use usher_wire::mgmt::MAX_BATCH;
use usher_wire::notices::{self, Notice};

/// Most batches waiting for an acknowledgement; older ones are given up (their tickets will be
/// refused `not_notified`, which is safe).
const MAX_UNACKED: usize = 1024;

/// A notice waiting for its batch. Kept as plain values; written out only when the batch goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Queued {
    /// The lease the ticket's place came from.
    pub(crate) lease: u64,
    pub(crate) ticket: TicketId,
    pub(crate) item: ItemId,
    /// The end of the ticket's window, unix ms.
    pub(crate) expires_at_ms: u64,
}

/// Notices sent and not yet acknowledged, on one management link.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    next: u64,
    /// Encoded frames by batch id, with when they were last sent.
    unacked: HashMap<u64, (Instant, Bytes)>,
    /// The outbox is swapped with this (empty) vector at each flush, so neither reallocates.
    spare: Vec<Queued>,
}

impl Batches {
    /// Takes the notices queued in `outbox` and encodes them in binary frames, one per lease
    /// and [`MAX_BATCH`] notices.
    pub(crate) fn flush(&mut self, outbox: &Mutex<Vec<Queued>>, now: Instant) -> Vec<Bytes> {
        std::mem::swap(
            &mut *outbox.lock().unwrap_or_else(PoisonError::into_inner),
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
