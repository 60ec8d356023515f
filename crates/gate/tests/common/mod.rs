//! A gate over real HTTP with a dummy app behind it, and tickets sealed and noticed as a
//! reception would: what the gate's test files share.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Extension;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use usher_gate::{Gate, GateConfig, ORDER_COMPLETE_HEADER, SessionInfo};
use usher_ticket::{
    BindingPolicy, Issuer, IssuerId, ItemId, KeyId, Keyring, Secret, ServerId, TicketSpec,
};
use usher_wire::{Clock, OffsetClock};

mod reception;
#[allow(unused_imports)]
pub use reception::*;

/// The management link the tests' notices come over (a link that never ends).
pub const LINK: u64 = 0;

pub const ISSUER: IssuerId = IssuerId(0xabc);

pub struct Shop {
    pub gate: Arc<Gate>,
    pub base: String,
    pub clock: Arc<OffsetClock>,
    pub ring: Keyring,
    /// One issuer per test shop, so serials (and ticket ids) never repeat.
    pub issuer: Arc<Issuer>,
}

pub fn ring() -> Keyring {
    Keyring::single(KeyId(1), Secret::from_bytes([9; 32]))
}

pub async fn app(Extension(session): Extension<SessionInfo>) -> impl IntoResponse {
    format!("item {} completed {}", session.item, session.completed)
}

pub async fn buy(Extension(session): Extension<SessionInfo>) -> impl IntoResponse {
    (
        StatusCode::CREATED,
        [(ORDER_COMPLETE_HEADER, "1")],
        format!("order for {}", session.ticket),
    )
}

pub async fn start(id: &str, capacity: u32) -> Shop {
    start_with(id, capacity, |_| {}).await
}

pub async fn start_with(id: &str, capacity: u32, adjust: impl FnOnce(&mut GateConfig)) -> Shop {
    let ring = ring();
    let clock = Arc::new(OffsetClock::new());
    let server = ServerId::new(id).unwrap();
    let mut config = GateConfig::new(server, capacity, "http://reception.invalid");
    adjust(&mut config);
    let gate = Gate::new(
        config,
        ring.derive_server(&server),
        clock.clone() as Arc<dyn Clock>,
    )
    .unwrap();
    gate.admit_issuers(&[ISSUER]);
    let router = Router::new()
        .route("/items/{item}", get(app))
        .route("/items/{item}/buy", post(buy))
        .route("/healthz", get(|| async { "ok" }))
        .layer(gate.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Shop {
        gate,
        base: format!("http://{addr}"),
        clock,
        ring,
        issuer: Arc::new(Issuer::fixed_for_tests(ISSUER)),
    }
}

impl Shop {
    /// A ticket for this shop as a reception would make it, with or without its notice.
    pub fn ticket(&self, item: &str, client: &str, notify: bool) -> String {
        self.ticket_from(&self.issuer, item, client, notify)
    }

    /// [`ticket`](Self::ticket), sealed by `issuer` (another reception process).
    pub fn ticket_from(
        &self,
        issuer: &Arc<Issuer>,
        item: &str,
        client: &str,
        notify: bool,
    ) -> String {
        let sealer = self
            .ring
            .ticket_sealer(&self.gate.config().server, Arc::clone(issuer));
        let item_id = ItemId::new(item).unwrap();
        let (token, id) = sealer.seal_to_string(&self.spec(&item_id, client)).unwrap();
        if notify {
            let expires = usher_wire::clock::unix_ms(self.clock.wall()) + 30_000;
            assert!(self.gate.reserve(LINK, id, item_id, expires));
        }
        format!("{}/t/{token}/items/{item}", self.base)
    }

    pub fn spec<'a>(&self, item: &'a ItemId, client: &str) -> TicketSpec<'a> {
        TicketSpec {
            epoch: self.gate.epoch(),
            not_before: self.clock.wall(),
            ttl: Duration::from_secs(30),
            binding: BindingPolicy::TICKET.bind(client.parse().unwrap()),
            item,
        }
    }
}

pub fn client(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .local_address(from.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

pub async fn code_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    assert_eq!(
        response.headers()["referrer-policy"],
        "no-referrer",
        "every gate answer carries no-referrer"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

/// Polls `check` until it holds, failing the test after ten seconds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
