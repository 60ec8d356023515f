//! The app's answer to a request made within a session, carried to its end even when the buyer
//! goes away: an order the app committed always ends its session (claim 7), and the count of
//! calls in the app always comes back down.
//!
//! The call runs inside the request's own task; only a call whose request is dropped before
//! the answer (the buyer closed the connection) is moved to a task of its own to finish. A task
//! per request cost more than the rest of the gate's work on a proxied request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::response::Response;

use crate::ORDER_COMPLETE_HEADER;
use crate::gate::Gate;
use crate::places::SessionId;

/// The app's call for `session`, counted in the gate's calls in the app from
/// [`AppCall::new`] until the answer's head is back.
pub(crate) struct AppCall<F: Future<Output = Result<Response, Infallible>> + Send + 'static> {
    /// `None` once answered.
    call: Option<Pin<Box<F>>>,
    gate: Arc<Gate>,
    session: SessionId,
}

impl<F: Future<Output = Result<Response, Infallible>> + Send + 'static> AppCall<F> {
    /// Counts a call in the app for `session`, whose answer `call` makes.
    pub(crate) fn new(call: F, gate: Arc<Gate>, session: SessionId) -> AppCall<F> {
        gate.app_call(true);
        AppCall {
            call: Some(Box::pin(call)),
            gate,
            session,
        }
    }
}

/// A completed order is recorded before the call counts as finished.
fn answered(gate: &Gate, session: SessionId, answer: &Result<Response, Infallible>) {
    let response = match answer {
        Ok(response) => response,
        Err(never) => match *never {},
    };
    if response.status().is_success() && response.headers().contains_key(ORDER_COMPLETE_HEADER) {
        gate.complete(session);
    }
    gate.app_call(false);
}

impl<F: Future<Output = Result<Response, Infallible>> + Send + 'static> Future for AppCall<F> {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let call = this
            .call
            .as_mut()
            .expect("an AppCall is not polled after its answer");
        let answer = ready!(call.as_mut().poll(cx));
        this.call = None;
        answered(&this.gate, this.session, &answer);
        Poll::Ready(answer)
    }
}

impl<F: Future<Output = Result<Response, Infallible>> + Send + 'static> Drop for AppCall<F> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        let gate = Arc::clone(&self.gate);
        let session = self.session;
        // A call that panicked is not resumed; outside a runtime nothing can drive it.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !std::thread::panicking() => {
                runtime.spawn(async move {
                    let answer = call.await;
                    answered(&gate, session, &answer);
                });
            }
            _ => gate.app_call(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use http::HeaderValue;

    use usher_ticket::{Keyring, ServerId};
    use usher_wire::{Clock, SystemClock};

    use super::*;
    use crate::GateConfig;

    fn gate() -> Arc<Gate> {
        let server = ServerId::new("shop-a").unwrap();
        let keys = Keyring::generate().unwrap().derive_server(&server);
        let config = GateConfig::new(server, 10, "http://reception.invalid");
        Gate::new(config, keys, Arc::new(SystemClock) as Arc<dyn Clock>).unwrap()
    }

    fn completing() -> Response {
        let mut response = Response::new(Body::empty());
        response
            .headers_mut()
            .insert(ORDER_COMPLETE_HEADER, HeaderValue::from_static("1"));
        response
    }

    #[tokio::test]
    async fn a_call_is_counted_in_the_app_until_its_answer() {
        let gate = gate();
        let session = SessionId::from_hex("00000000000000000000000000000001").unwrap();
        let call = AppCall::new(
            async { Ok(Response::new(Body::empty())) },
            Arc::clone(&gate),
            session,
        );
        assert_eq!(gate.in_app.load(std::sync::atomic::Ordering::SeqCst), 1);
        let _ = call.await;
        assert_eq!(gate.in_app.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// Guards against an order the app committed while its buyer went away staying open: the
    /// call is finished on a task of its own and the count comes back down.
    #[tokio::test]
    async fn a_call_whose_buyer_left_still_finishes() {
        let gate = gate();
        let session = SessionId::from_hex("00000000000000000000000000000001").unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let call = AppCall::new(
            async move {
                let _ = rx.await;
                Ok(completing())
            },
            Arc::clone(&gate),
            session,
        );
        // The request is polled once, then dropped (the buyer closed the connection).
        let mut call = Box::pin(call);
        let pending =
            std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_pending())).await;
        assert!(pending);
        drop(call);
        assert_eq!(
            gate.in_app.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the call is still in the app"
        );
        tx.send(()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while gate.in_app.load(std::sync::atomic::Ordering::SeqCst) != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the call never finished"
            );
            tokio::task::yield_now().await;
        }
    }
}
