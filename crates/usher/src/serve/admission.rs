//! What a connection holds while it lives (a global permit and its network's count) and the
//! socket that carries them, so that an upgraded connection keeps holding them.
//!
//! # Why the socket carries them
//! When a request upgrades (a WebSocket: axum's `WebSocketUpgrade` calls `hyper::upgrade::on`),
//! hyper's HTTP/1 connection future completes and moves its IO, this [`Held`] socket inside
//! hyper-util's `Rewind`, into the `Upgraded` it hands to the upgrade's waiter
//! (`pending.fulfill(Upgraded::new(io, buf))`). axum gives that to the WebSocket task. So a
//! permit kept beside the connection future would be freed while the WebSocket lives on; kept in
//! the socket, it is freed only when the socket is dropped: when the HTTP connection ends, or
//! when the WebSocket does (or at once, if nobody waits for the upgrade).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::OwnedSemaphorePermit;

use super::per_address::AddressCount;

/// A connection's share of the limits: one of the global connections and one of its network's.
#[derive(Debug)]
pub(super) struct Admission {
    _permit: OwnedSemaphorePermit,
    _address: Option<AddressCount>,
}

impl Admission {
    /// Holds `permit` and `address` together until dropped.
    pub(super) fn new(permit: OwnedSemaphorePermit, address: Option<AddressCount>) -> Admission {
        Admission {
            _permit: permit,
            _address: address,
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection's socket with its [`Admission`]: whoever ends up owning the socket (the HTTP
    /// connection, or an upgrade's task) holds the admission too.
    pub(super) struct Held<T> {
        #[pin]
        io: T,
        admission: Admission,
    }
}

impl<T> Held<T> {
    /// `io`, holding `admission` for as long as it lives.
    pub(super) fn new(io: T, admission: Admission) -> Held<T> {
        Held { io, admission }
    }
}

impl<T: hyper::rt::Read> hyper::rt::Read for Held<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write> hyper::rt::Write for Held<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
