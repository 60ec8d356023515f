//! The forwarding service: what the gate lets through goes to the upstream over a pool of
//! keep-alive connections, bodies streamed both ways, and the answer comes back.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, StatusCode, Uri, header};
use tower::Service;
use usher_gate::{Gate, ORDER_COMPLETE_HEADER, SessionInfo, refusal, wants_html};
use usher_wire::Code;

use crate::completions::Completions;
use crate::config::{HostHeader, ProxyConfig};
use crate::headers::{self, Origin};
use crate::health::Health;
use crate::pool::{Pool, PoolError, TurnBody};
use crate::upgrade;

/// Forwards requests to the upstream. Compose it under the gate's layer
/// (`gate.layer().layer(forward)`): the gate claims tickets, keeps sessions and ends orders;
/// this only carries requests and answers.
#[derive(Clone)]
pub struct Forward {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// The upstream's authority, for a request that came without a `Host`.
    authority: HeaderValue,
    config: ProxyConfig,
    /// `usher-server`.
    server: HeaderValue,
    /// Where refused buyers start again, and whose `X-Forwarded-*` are believed.
    gate: Arc<Gate>,
    /// This gate's scheme as buyers see it.
    scheme: &'static str,
    completions: Completions,
    health: Health,
}

impl Forward {
    /// A forwarder to `config`'s upstream for the gate set up as `gate`; completed orders are
    /// counted in `completions` (per item, for stock kept by the gate), and every answer's
    /// outcome and time in `health`.
    pub fn new(
        config: ProxyConfig,
        gate: Arc<Gate>,
        completions: Completions,
        health: Health,
    ) -> Forward {
        let authority = config
            .upstream
            .authority()
            .map_or_else(String::new, |a| a.as_str().to_owned());
        // An authority without a port is port 80 (the upstream is plain HTTP).
        let address = if config.upstream.port_u16().is_some() {
            authority.clone()
        } else {
            format!("{authority}:80")
        };
        let pool = Pool::new(
            address,
            config.connect_timeout,
            config.pool_idle_timeout,
            config.pool_max_idle,
            config.max_connections,
        );
        let authority = HeaderValue::from_str(&authority)
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        let server = HeaderValue::from_str(gate.config().server.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("usher"));
        Forward {
            inner: Arc::new(Inner {
                pool,
                authority,
                config,
                server,
                scheme: if gate.config().secure_cookies {
                    "https"
                } else {
                    "http"
                },
                gate,
                completions,
                health,
            }),
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request<Body>> for Forward {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> BoxFuture {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { Ok(inner.forward(request).await) })
    }
}

impl Inner {
    async fn forward(&self, mut request: Request<Body>) -> Response {
        let html = wants_html(request.headers());
        let session = request.extensions().get::<SessionInfo>().cloned();
        // Written only for a refusal: most requests never need it.
        let retry = || {
            self.gate
                .back_links()
                .retry_url(session.as_ref().map(|s| s.item.as_str()))
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.config.max_request_body) {
            return refusal(
                Code::PayloadTooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                retry(),
                html,
            );
        }
        // Only a WebSocket, and only within a session: anything else would be a tunnel past
        // the gate (an `h2c` upgrade on an open path, say).
        let upgrading = session.is_some() && upgrade::websocket(request.headers());
        let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut request));
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip().to_canonical());
        let origin = Origin {
            peer,
            trusted: self.gate.config().trusted_proxies.contains(&peer),
            proxies: &self.gate.config().trusted_proxies,
            scheme: self.scheme,
        };
        // Kept only when a completion rule may need them after the request has gone.
        let ruled = (!self.config.complete_on.is_empty())
            .then(|| (request.method().clone(), request.uri().path().to_owned()));
        let (mut parts, body) = request.into_parts();
        let client_authority = parts.uri.authority().cloned();
        parts.uri = match self.upstream_uri(&parts.uri) {
            Some(uri) => uri,
            None => {
                return refusal(Code::BadRequest, StatusCode::BAD_REQUEST, retry(), html);
            }
        };
        // The buyer's `Host` (an HTTP/2 buyer's is its URI's authority), filled in before the
        // forwarded headers are written from it; HTTP/1 to the shop needs one in any case.
        if !parts.headers.contains_key(header::HOST) {
            let host = client_authority
                .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok());
            parts
                .headers
                .insert(header::HOST, host.unwrap_or_else(|| self.authority.clone()));
        }
        headers::to_upstream(
            &mut parts.headers,
            &origin,
            session.as_ref(),
            &self.server,
            upgrading,
        );
        if self.config.host == HostHeader::Upstream {
            parts.headers.insert(header::HOST, self.authority.clone());
        }
        parts.extensions = http::Extensions::new();
        // A request without a body (most are) goes as it is; any other is held to the limit as
        // it streams, whatever its `Content-Length` said.
        let body = if axum::body::HttpBody::is_end_stream(&body) {
            body
        } else {
            let limit = usize::try_from(self.config.max_request_body).unwrap_or(usize::MAX);
            Body::new(http_body_util::Limited::new(body, limit))
        };
        let upstream = Request::from_parts(parts, body);
        let sent = std::time::Instant::now();
        let answer = tokio::time::timeout(self.config.timeout, self.pool.send(upstream)).await;
        let answered = std::time::Instant::now();
        // The shop's health counts what is the shop's doing: its 5xx, its silence, a connection
        // it refused. A request that failed on the way (the buyer's body broke off, or ran
        // past the limit) says nothing about the shop, and would let anyone fail it on purpose.
        let verdict = match &answer {
            Ok(Ok((r, _))) => Some(!r.status().is_server_error()),
            Ok(Err(PoolError::Connect(_) | PoolError::ConnectTimeout)) | Err(_) => Some(false),
            Ok(Err(PoolError::Http(_))) => None,
        };
        if let Some(ok) = verdict {
            self.health
                .record(answered, answered.saturating_duration_since(sent), ok);
        }
        let (mut response, turn) = match answer {
            Ok(Ok(answered)) => answered,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "upstream failed");
                return refusal(Code::UpstreamFailed, StatusCode::BAD_GATEWAY, retry(), html);
            }
            Err(_) => {
                tracing::debug!("upstream timed out");
                return refusal(
                    Code::UpstreamTimeout,
                    StatusCode::GATEWAY_TIMEOUT,
                    retry(),
                    html,
                );
            }
        };
        let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        // The request's turn lasts as long as its answer's body, or its upgraded connection.
        let mut turn = Some(turn);
        if switched && let Some(client) = client_upgrade {
            upgrade::splice(client, hyper::upgrade::on(&mut response), turn.take());
        }
        let (mut parts, body) = response.into_parts();
        headers::from_upstream(&mut parts.headers, switched);
        if parts.status.is_success()
            && let Some(session) = &session
        {
            let matched = ruled.as_ref().is_some_and(|(method, path)| {
                self.config
                    .complete_on
                    .iter()
                    .any(|rule| rule.matches(method, path))
            });
            if matched {
                parts
                    .headers
                    .insert(ORDER_COMPLETE_HEADER, HeaderValue::from_static("1"));
            }
            if !session.completed && parts.headers.contains_key(ORDER_COMPLETE_HEADER) {
                self.completions.add(session.item.as_str(), session.ticket);
            }
        }
        Response::from_parts(parts, Body::new(TurnBody::new(body, turn)))
    }

    /// The upstream's URI for a request to `uri`, in origin form (what HTTP/1 sends): the
    /// upstream's base path (if any) before the request's path and query.
    fn upstream_uri(&self, uri: &Uri) -> Option<Uri> {
        let base = self.config.upstream.path().trim_end_matches('/');
        // Without a base path the request's own (shared, not copied) is the upstream's.
        let path: PathAndQuery = match uri.path_and_query() {
            Some(tail) if base.is_empty() => tail.clone(),
            tail => {
                let tail = tail.map_or("/", PathAndQuery::as_str);
                format!("{base}{tail}").parse().ok()?
            }
        };
        Uri::builder().path_and_query(path).build().ok()
    }
}
