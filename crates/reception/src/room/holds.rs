//! Clients near the front who check in before their turn are held rather than answered at
//! once: the moment a place frees they are let in, instead of at their next check-in, so no
//! place stands idle between one buyer and the next.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::wait::Wait;

/// Clients this near the front (position) are held.
const HOLD_POSITIONS: u64 = 64;

/// Most requests held at once (one client can send several).
const MAX_HELD: usize = 1024;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Holds {
    /// Longest a request is held (0: never).
    hold: Duration,
    /// Bounds how many requests are held at once.
    permits: Arc<Semaphore>,
    /// Wakes the held clients: the head moved, or places are free.
    room_made: Notify,
}

impl Holds {
    pub(super) fn new(hold: Duration) -> Holds {
        Holds {
            hold,
            permits: Arc::new(Semaphore::new(MAX_HELD)),
            room_made: Notify::new(),
        }
    }

    /// How long a request near the front is held at most.
    pub(crate) fn hold_for(&self) -> Duration {
        self.hold
    }

    /// A permit to hold the request that was told `wait`: only near the front (position at
    /// most [`HOLD_POSITIONS`]) or in a pre-queue whose opening comes within the hold, with
    /// holding on, and while fewer than [`MAX_HELD`] are held. (At the opening the draw makes
    /// room, and the held clients whose places it drew first are let in at once, whatever
    /// their connections' delay.)
    pub(crate) fn hold(&self, wait: &Wait) -> Option<OwnedSemaphorePermit> {
        let near = wait.position.is_some_and(|p| p <= HOLD_POSITIONS);
        let opening = wait.opens_at.is_some()
            && wait.pre_queue.is_some()
            && u128::from(wait.retry_after_ms) <= self.hold.as_millis();
        if !(near || opening) || self.hold.is_zero() {
            return None;
        }
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// Resolves when the head next moves or places free (create it before checking, so a wake
    /// in between is not missed).
    pub(crate) fn made(&self) -> tokio::sync::futures::Notified<'_> {
        self.room_made.notified()
    }

    /// Room was made: wakes every held client.
    pub(super) fn room_made(&self) {
        self.room_made.notify_waiters();
    }

    /// Requests held now.
    pub(super) fn held(&self) -> u64 {
        (MAX_HELD - self.permits.available_permits()) as u64
    }
}
