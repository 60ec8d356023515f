//! What the accept loop, one connection and its requests share: requests begun and answered
//! (the connection's progress), and the order to finish.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use futures_util::task::AtomicWaker;

/// One connection's shared state. Requests touch only their own connection's counters: per
/// request, an addition when it begins, one when it is answered, and a reference count, on memory
/// no other connection shares; no lock and no clock read.
#[derive(Debug, Default)]
pub(super) struct ConnWatch {
    /// Its key among the open connections.
    pub(super) id: u64,
    begun: AtomicU64,
    answered: AtomicU64,
    abandoned: AtomicU64,
    /// Set when the connection should finish (shutdown).
    pub(super) stop: AtomicBool,
    /// Wakes the connection's task to see `stop`.
    pub(super) waker: AtomicWaker,
}

/// A snapshot of a connection's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    /// Requests handed to the service.
    pub(super) begun: u64,
    /// Requests whose answer (its head) the service gave back.
    pub(super) answered: u64,
    /// Requests dropped before an answer (a reset HTTP/2 stream); these are not progress.
    pub(super) abandoned: u64,
}

impl Counts {
    /// Whether a request is waiting for its answer.
    pub(super) fn in_flight(&self) -> bool {
        self.begun > self.answered.saturating_add(self.abandoned)
    }
}

impl ConnWatch {
    /// A watch with the key `id`.
    pub(super) fn new(id: u64) -> ConnWatch {
        ConnWatch {
            id,
            ..ConnWatch::default()
        }
    }

    /// The counts now. Answers are read before the begun count, so a request never seems
    /// answered before it began.
    pub(super) fn counts(&self) -> Counts {
        let answered = self.answered.load(Ordering::Acquire);
        let abandoned = self.abandoned.load(Ordering::Acquire);
        Counts {
            begun: self.begun.load(Ordering::Acquire),
            answered,
            abandoned,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer on its way: counted as begun when made, as answered when the service
    /// gives its response back, as abandoned if dropped before. The response's body is not
    /// waited for: once the head is out the connection counts as idle, so an answer read too
    /// slowly meets the idle timeout.
    pub(super) struct Counted<F> {
        #[pin]
        future: F,
        watch: Option<Arc<ConnWatch>>,
    }

    impl<F> PinnedDrop for Counted<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(watch) = this.project().watch.take() {
                watch.abandoned.fetch_add(1, Ordering::Release);
            }
        }
    }
}

impl<F> Counted<F> {
    /// Counts a request begun on `watch`'s connection, whose answer `future` makes.
    pub(super) fn new(watch: &Arc<ConnWatch>, future: F) -> Counted<F> {
        watch.begun.fetch_add(1, Ordering::Release);
        Counted {
            future,
            watch: Some(Arc::clone(watch)),
        }
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let answer = ready!(this.future.poll(cx));
        if let Some(watch) = this.watch.take() {
            watch.answered.fetch_add(1, Ordering::Release);
        }
        Poll::Ready(answer)
    }
}
