//! A reception and `usher gate` in front of the example Python shop, in process: what the
//! tests of the gate as a proxy share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::watch;
use usher::{GateSetup, RunningGate, RunningReception, start_gate, start_reception};
use usher_gate::{GateConfig, ItemPaths};
use usher_proxy::{ProxyConfig, StockSource};
use usher_reception::{ReceptionConfig, ShopEntry};
use usher_ticket::{Keyring, ServerId};
use usher_wire::{Clock, SystemClock};

use super::{PythonShop, eventually, local};

/// A reception, and `usher gate` in front of the Python shop, capacity 2.
pub struct System {
    pub reception: RunningReception,
    pub gate: RunningGate,
    pub shop: PythonShop,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

pub const CAPACITY: u32 = 2;

pub async fn system(tune: impl FnOnce(&mut ProxyConfig)) -> System {
    system_with(usher::serve::PublicListener::default(), tune).await
}

/// [`system`], the gate's public listener set up as `listener` says.
pub async fn system_with(
    listener: usher::serve::PublicListener,
    tune: impl FnOnce(&mut ProxyConfig),
) -> System {
    let dir = tempfile::tempdir().unwrap();
    let shop = PythonShop::start(dir.path(), 5);
    let keyring = Keyring::generate().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let clock = Arc::new(SystemClock) as Arc<dyn Clock>;
    let gate_public = local().await;
    let gate_url = format!("http://{}", gate_public.local_addr().unwrap());
    let public = local().await;
    let reception_url = format!("http://{}", public.local_addr().unwrap());
    let id = ServerId::new("shop-a").unwrap();
    let mut config = ReceptionConfig::new(
        vec![ShopEntry {
            id,
            url: gate_url,
            capacity: None,
        }],
        reception_url.clone(),
    );
    config.admissions_per_client = 0;
    let reception = start_reception(
        config,
        keyring.clone(),
        Arc::clone(&clock),
        public,
        local().await,
        stop_rx.clone(),
    )
    .unwrap();

    let mut gate = GateConfig::new(id, CAPACITY, reception_url);
    gate.sessions_per_client = 0;
    gate.items = vec![ItemPaths {
        id: "concert".into(),
        paths: ["/concert", "/slow", "/download", "/upload", "/echo-headers"]
            .map(String::from)
            .to_vec(),
        name: Some("Concert, 31 December".into()),
    }];
    let mut proxy = ProxyConfig::new(shop.url.parse().unwrap());
    tune(&mut proxy);
    let setup = GateSetup {
        gate,
        keys: keyring.derive_server(&id),
        proxy,
        stock: StockSource {
            items: [("concert".to_owned(), None)].into(),
            url: Some(format!("{}/usher/stock", shop.url).parse().unwrap()),
            every: Duration::from_millis(50),
        },
        receptions: vec![format!("ws://{}", reception.management)],
        reception_tls: None,
        report_every: Duration::from_millis(50),
    };
    let gate = start_gate(setup, listener, clock, gate_public, local().await, stop_rx)
        .await
        .unwrap();
    let system = System {
        reception,
        gate,
        shop,
        _stop: stop,
        _dir: dir,
    };
    eventually(
        "the gate live at the reception, with the shop's stock",
        || {
            let status = system.reception.reception.status();
            let shop = &status.shops[0];
            shop.live
                && shop
                    .report
                    .as_ref()
                    .is_some_and(|r| r.stock.contains_key("concert"))
        },
    )
    .await;
    system
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

impl System {
    pub fn gate_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gate.public)
    }

    /// Orders at the reception and claims the ticket at the gate: the session's id (its
    /// ticket's) as the shop will see it.
    pub async fn admitted(&self, buyer: &reqwest::Client) -> String {
        let claim = claimed(self.reception.public, buyer).await;
        assert_eq!(claim.headers()["location"], "/concert");
        let page = self.json(buyer, "/concert").await;
        page["session"].as_str().unwrap().to_owned()
    }

    pub async fn json(&self, buyer: &reqwest::Client, path: &str) -> Value {
        let r = buyer
            .get(self.gate_url(path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    pub fn sessions(&self) -> u32 {
        self.gate.gate.report().sessions
    }
}

/// Orders `concert` at the reception listening on `reception` and claims the ticket at the
/// gate, both answering `303`: the claim's answer (its `Set-Cookie` is the session's).
pub async fn claimed(reception: SocketAddr, buyer: &reqwest::Client) -> reqwest::Response {
    let order = buyer
        .get(format!("http://{reception}/order/concert"))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), StatusCode::SEE_OTHER);
    let ticket = order.headers()["location"].to_str().unwrap().to_owned();
    assert!(ticket.contains("/t/"), "{ticket}");
    let claim = buyer
        .get(&ticket)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    if claim.status() != StatusCode::SEE_OTHER {
        panic!("claim refused: {} {:?}", claim.status(), claim.text().await);
    }
    claim
}

/// The `name=value` of the session cookie a claim's answer sets.
pub fn session_cookie(claim: &reqwest::Response) -> String {
    let cookie = claim.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}
