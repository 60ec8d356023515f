//! Every open connection, so that shutdown can reach them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::requests::ConnWatch;

/// The open connections of one listener; touched once per connection, never per request.
#[derive(Debug, Default)]
pub(super) struct OpenConnections {
    next: AtomicU64,
    all: Mutex<HashMap<u64, Arc<ConnWatch>>>,
    stopping: AtomicBool,
    /// Woken whenever a connection closes (shutdown waits for the last).
    idle: tokio::sync::Notify,
}

impl OpenConnections {
    /// A new connection's watch.
    pub(super) fn add(&self) -> Arc<ConnWatch> {
        let watch = Arc::new(ConnWatch::new(self.next.fetch_add(1, Ordering::Relaxed)));
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        all.insert(watch.id, Arc::clone(&watch));
        // A connection accepted as shutdown began finishes at once too.
        if self.stopping.load(Ordering::Acquire) {
            watch.stop.store(true, Ordering::Release);
        }
        watch
    }

    /// Forgets a closed connection.
    pub(super) fn remove(&self, watch: &ConnWatch) {
        self.all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&watch.id);
        self.idle.notify_waiters();
    }

    /// Resolves once every connection has closed.
    pub(super) async fn all_closed(&self) {
        loop {
            let closed = self.idle.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self
                .all
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return;
            }
            closed.await;
        }
    }

    /// Asks every connection, and every one accepted from now on, to finish.
    pub(super) fn stop_all(&self) {
        let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        self.stopping.store(true, Ordering::Release);
        for watch in all.values() {
            watch.stop.store(true, Ordering::Release);
            watch.waker.wake();
        }
    }
}
