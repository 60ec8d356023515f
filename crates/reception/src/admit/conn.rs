//! The open management link of one shop, as the admission path sees it: a sender for requests
//! down the link, the requests waiting for an answer, and the leases and notices that travel
//! on it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use usher_ticket::Epoch;
use usher_wire::mgmt::Down;

use super::lease::LeaseState;
use super::notices::Queued;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Increases per connection, so a stale connection's cleanup cannot undo a newer one.
    pub(crate) generation: u64,
    /// The shop's run, from its hello: tickets for this connection are sealed for it.
    pub(crate) epoch: Epoch,
    tx: mpsc::Sender<Down>,
    pending: Mutex<HashMap<u64, oneshot::Sender<bool>>>,
    /// The leases of places at this shop.
    pub(crate) lease: Mutex<LeaseState>,
    /// Notices of tickets issued from leases, waiting for the next batch.
    pub(crate) outbox: Mutex<Vec<Queued>>,
    /// Woken when a lease is granted: a place held for a lease in flight is usable only then.
    pub(crate) lease_granted: Notify,
}

impl Conn {
    /// A link of generation `generation` to the shop's run `epoch`; messages for the shop go
    /// to `tx`.
    pub(crate) fn new(generation: u64, epoch: Epoch, tx: mpsc::Sender<Down>) -> Conn {
        Conn {
            generation,
            epoch,
            tx,
            pending: Mutex::new(HashMap::new()),
            lease: Mutex::new(LeaseState::default()),
            outbox: Mutex::new(Vec::new()),
            lease_granted: Notify::new(),
        }
    }

    /// The lease state, locked.
    pub(crate) fn lease(&self) -> MutexGuard<'_, LeaseState> {
        lock(&self.lease)
    }

    /// Queues `notice` for the next batch.
    pub(crate) fn queue_notice(&self, notice: Queued) {
        lock(&self.outbox).push(notice);
    }

    /// Sends `down` without waiting; dropped if the link's queue is full or closed.
    pub(crate) fn try_send(&self, down: Down) {
        let _ = self.tx.try_send(down);
    }

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

    /// The shop answered request `id`; `false` when no such request was waiting (an answer
    /// nobody asked for, or one that came after its timeout).
    pub(crate) fn answer(&self, id: u64, granted: bool) -> bool {
        match lock(&self.pending).remove(&id) {
            Some(tx) => {
                let _ = tx.send(granted);
                true
            }
            None => false,
        }
    }
}
