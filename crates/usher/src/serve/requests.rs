//! What the accept loop, one connection and its requests share: requests begun and answered,
//! and answers' bodies being sent (the connection's progress), and the order to finish.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::Response;
use futures_util::task::AtomicWaker;

/// An answer's body longer than this, or of unknown length, is watched as it is sent (one
/// shorter goes out with its head).
const WATCHED_BODY: u64 = 64 * 1024;

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
    /// Watched bodies begun and ended (or dropped).
    bodies: AtomicU64,
    bodies_ended: AtomicU64,
    /// Frames of watched bodies handed to the connection to send.
    frames: AtomicU64,
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
    /// Long answers' bodies still being sent.
    pub(super) sending: u64,
    /// Frames of those bodies sent so far: each is progress.
    pub(super) frames: u64,
}

impl Counts {
    /// Whether a request is waiting for its answer, or an answer's body is being sent.
    pub(super) fn in_flight(&self) -> bool {
        self.begun > self.answered.saturating_add(self.abandoned) || self.sending > 0
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
        let ended = self.bodies_ended.load(Ordering::Acquire);
        Counts {
            begun: self.begun.load(Ordering::Acquire),
            answered,
            abandoned,
            sending: self.bodies.load(Ordering::Acquire).saturating_sub(ended),
            frames: self.frames.load(Ordering::Relaxed),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer on its way: counted as begun when made, as answered when the service
    /// gives its response back, as abandoned if dropped before. A long body (over
    /// [`WATCHED_BODY`] or of unknown length: a download, a proxied answer) is then watched as
    /// it is sent: the connection is busy until it ends, and each frame sent is progress, so a
    /// download takes as long as it needs while a reader who stops reading meets the request
    /// timeout.
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

impl<F> Future for Counted<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.future.poll(cx));
        let Some(watch) = this.watch.take() else {
            return Poll::Ready(Ok(response));
        };
        let long = response
            .body()
            .size_hint()
            .exact()
            .is_none_or(|n| n > WATCHED_BODY);
        let response = if long {
            watch.bodies.fetch_add(1, Ordering::Release);
            response.map(|body| {
                Body::new(Watched {
                    body,
                    watch: Some(Arc::clone(&watch)),
                })
            })
        } else {
            response
        };
        watch.answered.fetch_add(1, Ordering::Release);
        Poll::Ready(Ok(response))
    }
}

pin_project_lite::pin_project! {
    /// A long answer's body: each frame sent is counted, and its end (or its drop, when the
    /// connection closes first) ends the connection's busy time for it.
    struct Watched {
        #[pin]
        body: Body,
        watch: Option<Arc<ConnWatch>>,
    }

    impl PinnedDrop for Watched {
        fn drop(this: Pin<&mut Self>) {
            if let Some(watch) = this.project().watch.take() {
                watch.bodies_ended.fetch_add(1, Ordering::Release);
            }
        }
    }
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let this = self.project();
        let frame = ready!(this.body.poll_frame(cx));
        match (&frame, this.watch.as_ref()) {
            (Some(Ok(_)), Some(watch)) => {
                watch.frames.fetch_add(1, Ordering::Relaxed);
            }
            (_, Some(_)) => {
                if let Some(watch) = this.watch.take() {
                    watch.bodies_ended.fetch_add(1, Ordering::Release);
                }
            }
            (_, None) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
