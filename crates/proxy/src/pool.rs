//! Keep-alive connections to the shop: hyper's own HTTP/1 client connections, reused whenever
//! one is ready. There is one upstream, so there is no key to hash and no queue between the
//! request and its connection (hyper-util's general-purpose pool spent a tenth of a proxied
//! request on both, measured under `bench/proxy-callgrind`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A request's turn among those the shop is sent at once: held until its answer's body ends
/// (or its upgraded connection closes), and the next waiting request goes.
pub(crate) type Turn = OwnedSemaphorePermit;

/// Why a request found no answer from the shop.
#[derive(Debug, Error)]
pub(crate) enum PoolError {
    /// No connection could be made.
    #[error("cannot connect to the shop: {0}")]
    Connect(#[from] std::io::Error),
    /// Connecting took longer than allowed.
    #[error("connecting to the shop timed out")]
    ConnectTimeout,
    /// The connection failed, before or during the answer's head.
    #[error("the shop's connection failed: {0}")]
    Http(#[from] hyper::Error),
}

pin_project_lite::pin_project! {
    /// An answer's body from the shop, holding its request's [`Turn`] until it ends (or is
    /// dropped, when the buyer goes away first).
    pub(crate) struct TurnBody {
        #[pin]
        body: Incoming,
        turn: Option<Turn>,
    }
}

impl TurnBody {
    /// `body`, holding `turn` (none for an upgrade, whose connection holds it).
    pub(crate) fn new(body: Incoming, turn: Option<Turn>) -> TurnBody {
        TurnBody { body, turn }
    }
}

impl hyper::body::Body for TurnBody {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.body.poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) {
            this.turn.take();
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The connections to one upstream. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// `host:port` to connect to.
    address: String,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
    /// Turns for requests to the shop at once.
    turns: Arc<Semaphore>,
    /// Connections not sending a request now: ready, or still delivering their last answer's
    /// body (those become ready when it ends).
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

impl Pool {
    /// Connections to `address` (`host:port`), `max_idle` kept idle, at most `at_once`
    /// requests sent at once.
    pub(crate) fn new(
        address: String,
        connect_timeout: Duration,
        idle_timeout: Duration,
        max_idle: usize,
        at_once: usize,
    ) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                address,
                connect_timeout,
                idle_timeout,
                max_idle,
                turns: Arc::new(Semaphore::new(at_once.min(Semaphore::MAX_PERMITS))),
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) on a ready connection, or a new one, once
    /// it has its turn (the caller holds it until the answer's body ends). A kept connection
    /// that the shop closed before the request went out is replaced by a new one, and the
    /// request sent again: it never reached the shop.
    pub(crate) async fn send(
        &self,
        request: Request<Body>,
    ) -> Result<(Response<Incoming>, Turn), PoolError> {
        let turns = &self.inner.turns;
        let turn = match Arc::clone(turns).try_acquire_owned() {
            Ok(turn) => turn,
            // The semaphore is never closed.
            Err(_) => Arc::clone(turns)
                .acquire_owned()
                .await
                .map_err(|e| PoolError::Connect(std::io::Error::other(e)))?,
        };
        Ok((self.send_now(request).await?, turn))
    }

    async fn send_now(&self, request: Request<Body>) -> Result<Response<Incoming>, PoolError> {
        let mut request = request;
        if let Some(mut sender) = self.checkout(Instant::now()) {
            match sender.try_send_request(request).await {
                Ok(response) => {
                    self.checkin(sender);
                    return Ok(response);
                }
                Err(mut refused) => match refused.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(PoolError::Http(refused.into_error())),
                },
            }
        }
        let mut sender = self.connect().await?;
        let response = sender.send_request(request).await?;
        self.checkin(sender);
        Ok(response)
    }

    /// The most recently used connection that is ready; closed and expired ones are dropped,
    /// busy ones kept.
    fn checkout(&self, now: Instant) -> Option<SendRequest<Body>> {
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            let entry = &idle[i];
            if entry.sender.is_closed()
                || now.saturating_duration_since(entry.since) > self.inner.idle_timeout
            {
                idle.swap_remove(i);
            } else if entry.sender.is_ready() {
                return Some(idle.swap_remove(i).sender);
            }
        }
        None
    }

    /// Keeps a connection whose request has its answer's head: it may serve the next request
    /// once the answer's body is through. Past `max_idle`, the oldest goes.
    fn checkin(&self, sender: SendRequest<Body>) {
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        idle.push(Idle {
            sender,
            since: Instant::now(),
        });
        if idle.len() > self.inner.max_idle {
            idle.remove(0);
        }
    }

    /// A new connection, its hyper connection task running (upgrades included).
    async fn connect(&self) -> Result<SendRequest<Body>, PoolError> {
        let stream = tokio::time::timeout(
            self.inner.connect_timeout,
            TcpStream::connect(self.inner.address.as_str()),
        )
        .await
        .map_err(|_| PoolError::ConnectTimeout)??;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// Connections kept now (tests).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt as _;

    use super::*;

    /// A shop on loopback answering `ok`, counting the connections it accepted; with
    /// `close_after_one`, each connection is closed after its first answer.
    async fn shop(close_after_one: bool) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_request| async {
                        Ok::<_, std::convert::Infallible>(Response::new("ok".to_owned()))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(!close_after_one)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (address, accepted)
    }

    fn request(address: &str) -> Request<Body> {
        Request::get("/")
            .header(http::header::HOST, address)
            .body(Body::empty())
            .unwrap()
    }

    async fn answer(pool: &Pool, address: &str) -> String {
        let (response, _turn) = pool.send(request(address)).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    fn pool(address: &str) -> Pool {
        Pool::new(
            address.to_owned(),
            Duration::from_secs(1),
            Duration::from_secs(60),
            4,
            16,
        )
    }

    #[tokio::test]
    async fn one_connection_serves_requests_one_after_another() {
        let (address, accepted) = shop(false).await;
        let pool = pool(&address);
        for _ in 0..5 {
            assert_eq!(answer(&pool, &address).await, "ok");
            // The connection is ready again once its answer's body is read; let its task see
            // that the message ended.
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.kept(), 1);
    }

    #[tokio::test]
    async fn a_connection_the_shop_closed_is_replaced_and_nothing_fails() {
        let (address, accepted) = shop(true).await;
        let pool = pool(&address);
        for _ in 0..5 {
            assert_eq!(answer(&pool, &address).await, "ok");
        }
        assert!(accepted.load(Ordering::SeqCst) >= 2);
    }

    /// The shop is sent at most `at_once` requests together: the next waits until an answer's
    /// body is through, however many buyers ask.
    #[tokio::test]
    async fn requests_past_the_cap_wait_for_an_answer_to_end() {
        let (address, accepted) = shop(false).await;
        let pool = Pool::new(
            address.clone(),
            Duration::from_secs(1),
            Duration::from_secs(60),
            4,
            2,
        );
        let (first, turn_a) = pool.send(request(&address)).await.unwrap();
        let (_second, turn_b) = pool.send(request(&address)).await.unwrap();
        let third = pool.send(request(&address));
        tokio::pin!(third);
        let waited = tokio::time::timeout(Duration::from_millis(200), third.as_mut()).await;
        assert!(waited.is_err(), "a third request went out past the cap");
        assert!(accepted.load(Ordering::SeqCst) <= 2);
        // The first answer's body ends and its turn goes: the third goes out.
        let _ = first.into_body().collect().await.unwrap();
        drop(turn_a);
        tokio::task::yield_now().await;
        let (third, _turn) = tokio::time::timeout(Duration::from_secs(10), third)
            .await
            .expect("the third request never went out")
            .unwrap();
        assert_eq!(third.status(), 200);
        drop(turn_b);
    }

    #[tokio::test]
    async fn a_shop_that_is_not_there_is_an_error() {
        let (address, _) = shop(false).await;
        let unused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let pool = pool(&unused);
        assert!(matches!(
            pool.send(request(&address)).await,
            Err(PoolError::Connect(_))
        ));
    }
}
