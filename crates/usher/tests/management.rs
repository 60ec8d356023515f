//! The management channel refuses callers that cannot prove who they are, and they change
//! nothing: no report recorded, no shop put into rotation.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use usher_gate::link::{self, LinkConfig};
use usher_gate::{Gate, GateConfig};
use usher_reception::ShopEntry;
use usher_ticket::channel::{FrameKind, Sealer, Side};
use usher_ticket::hello::{Handshake, Nonce};
use usher_ticket::{Epoch, KeyId, Keyring, ServerId};
use usher_wire::mgmt::{Down, Report, Up};
use usher_wire::{Clock, SystemClock};

/// A gate dialling the cluster's reception with the given id and keys.
fn impostor(cluster: &Cluster, id: &str, keyring: &Keyring) -> watch::Sender<bool> {
    let id = ServerId::new(id).unwrap();
    let gate = Gate::new(
        GateConfig::new(id, 100, "http://x"),
        keyring.derive_server(&id),
        Arc::new(SystemClock) as Arc<dyn Clock>,
    )
    .unwrap();
    let (stop, rx) = watch::channel(false);
    let mut config = LinkConfig::new(format!("ws://{}", cluster.reception.management));
    config.report_every = Duration::from_millis(20);
    tokio::spawn(link::run(gate, config, rx));
    stop
}

#[tokio::test]
async fn unauthenticated_or_unknown_shops_are_refused_and_change_nothing() {
    let cluster = Cluster::start(&[ShopSpec::new(5)]).await;
    let before = cluster.status();
    // shop-a's id with keys from another keyring: its hello does not verify.
    let _a = impostor(&cluster, "shop-a", &Keyring::generate().unwrap());
    // An id the reception does not know, with the right keyring.
    let _z = impostor(&cluster, "shop-z", &cluster.keyring);
    // Each is refused, again and again as it reconnects.
    eventually("both impostors refused twice", || {
        cluster.status()["refused_connections"].as_u64().unwrap() >= 4
    })
    .await;
    let after = cluster.status();
    assert_eq!(after["shops"].as_array().unwrap().len(), 1);
    assert_eq!(
        after["shops"][0]["report"]["capacity"], 5,
        "the real shop-a's report stands"
    );
    assert_eq!(
        before["shops"][0]["report"]["epoch"],
        after["shops"][0]["report"]["epoch"]
    );
    // Orders still go to the real shop-a.
    let admitted = cluster.buyer().order("concert").await.unwrap();
    assert_eq!(cluster.shop_of(admitted.url.as_str()), 0);
}

/// What the reception answers a hello from `server`, whose MAC is made up.
async fn refusal_for(cluster: &Cluster, server: &str) -> serde_json::Value {
    let url = format!("ws://{}/mgmt/v1/connect", cluster.reception.management);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let challenge = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(challenge.to_text().unwrap().contains("challenge"));
    let hello = serde_json::json!({
        "type": "hello", "server": server, "key_id": 1, "epoch": 7,
        "nonce": "11".repeat(32), "mac": "00".repeat(32)
    });
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    serde_json::from_str(refused.to_text().unwrap()).unwrap()
}

/// Guards against the hello telling a prober which ids exist (issue 14, point 8): an unknown
/// shop id and a known one with a wrong MAC get the same answer.
#[tokio::test]
async fn an_unknown_shop_and_a_wrong_key_are_refused_alike() {
    let cluster = Cluster::start(&[ShopSpec::new(5)]).await;
    let unknown = refusal_for(&cluster, "shop-z").await;
    let wrong_mac = refusal_for(&cluster, "shop-a").await;
    assert_eq!(unknown["type"], "refused");
    assert_eq!(unknown, wrong_mac);
}

/// A shop played by the test: it holds the right keys and speaks the protocol by hand, so it
/// can say what a real gate never would.
struct FakeShop {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    sealer: Sealer,
    epoch: u32,
}

impl FakeShop {
    /// Logs in as `id` with keys from `keyring`, and checks that the welcome is sealed under
    /// the link's keys: the reception proved it holds the management key too.
    async fn connect(cluster: &Cluster, id: &str, keyring: &Keyring) -> FakeShop {
        let url = format!("ws://{}/mgmt/v1/connect", cluster.reception.management);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let Some(Ok(Message::Text(challenge))) = ws.next().await else {
            panic!("no challenge");
        };
        let Down::Challenge { nonce } = serde_json::from_str(challenge.as_str()).unwrap() else {
            panic!("not a challenge: {challenge}");
        };
        let challenge = Nonce::from_hex(&nonce).unwrap();
        let ours = Nonce::random().unwrap();
        let server = ServerId::new(id).unwrap();
        let keys = keyring.derive_server(&server);
        let key = keys.management_key(KeyId(1)).unwrap();
        let epoch = 7;
        let handshake = Handshake {
            server: &server,
            epoch: Epoch(epoch),
            reception: &challenge,
            shop: &ours,
        };
        let mac: String = usher_ticket::hello::hello_mac(key, &handshake)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hello = Up::Hello {
            server: id.to_owned(),
            key_id: 1,
            epoch,
            nonce: ours.to_hex(),
            mac,
        };
        ws.send(Message::text(serde_json::to_string(&hello).unwrap()))
            .await
            .unwrap();
        let (sealer, mut opener) = usher_ticket::channel::channel(key, &handshake, Side::Shop);
        let Some(Ok(Message::Binary(welcome))) = ws.next().await else {
            panic!("no sealed welcome");
        };
        let mut welcome = Vec::from(welcome);
        let (_, json) = opener.open(&mut welcome).expect("the welcome is sealed");
        let welcome: Down = serde_json::from_slice(json).unwrap();
        assert!(matches!(welcome, Down::Welcome { .. }), "{welcome:?}");
        FakeShop { ws, sealer, epoch }
    }

    async fn send_sealed(&mut self, up: &Up) {
        let frame = self
            .sealer
            .seal(FrameKind::Message, &serde_json::to_vec(up).unwrap());
        self.ws.send(Message::binary(frame)).await.unwrap();
    }

    fn report(&self, capacity: u32, sessions: u32) -> Up {
        Up::Report(Report {
            seq: 1,
            epoch: self.epoch,
            capacity,
            sessions,
            wall_clock_ms: usher_wire::clock::unix_ms(std::time::SystemTime::now()),
            ..Report::default()
        })
    }

    /// True once the reception has closed the link.
    async fn ends(&mut self) -> bool {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .is_ok()
    }
}

/// A cluster whose reception also knows `shop-z` (capacity 10 in its config), which no real
/// shop plays.
async fn with_shop_z() -> Cluster {
    Cluster::start_with(&[ShopSpec::new(5)], |config| {
        config.shops.push(ShopEntry {
            id: ServerId::new("shop-z").unwrap(),
            url: "http://127.0.0.1:9".into(),
            capacity: Some(10),
        });
    })
    .await
}

fn shop_z(cluster: &Cluster) -> serde_json::Value {
    cluster.status()["shops"][1].clone()
}

/// Issue 14 point 2: after its hello a shop's every frame is sealed; an unsealed one, even a
/// well-formed report from the right shop's link, ends the link and changes nothing.
#[tokio::test]
async fn a_shop_must_seal_every_frame_after_its_hello() {
    let cluster = with_shop_z().await;
    let mut shop = FakeShop::connect(&cluster, "shop-z", &cluster.keyring).await;
    let report = shop.report(4, 1);
    shop.ws
        .send(Message::text(serde_json::to_string(&report).unwrap()))
        .await
        .unwrap();
    assert!(shop.ends().await, "the link outlived an unsealed report");
    assert!(shop_z(&cluster)["report"].is_null(), "{}", shop_z(&cluster));

    // The same report sealed is taken.
    let mut shop = FakeShop::connect(&cluster, "shop-z", &cluster.keyring).await;
    shop.send_sealed(&report).await;
    eventually("shop-z's sealed report", || {
        shop_z(&cluster)["report"]["capacity"] == 4
    })
    .await;
}

/// Issue 14 point 7 over a real link: a shop holding the right keys that lies about its
/// capacity is held to the configured one, and grants for requests nobody made count for
/// nothing.
#[tokio::test]
async fn a_lying_shop_is_held_to_its_configured_capacity() {
    let cluster = with_shop_z().await;
    let mut shop = FakeShop::connect(&cluster, "shop-z", &cluster.keyring).await;
    shop.send_sealed(&shop.report(u32::MAX, 0)).await;
    eventually("shop-z's report", || !shop_z(&cluster)["report"].is_null()).await;
    assert_eq!(shop_z(&cluster)["report"]["capacity"], 10);
    // A lease nobody asked for.
    let leased = Up::Leased {
        id: 987_654,
        places: 1_000,
        stock: [("concert".to_owned(), 1_000)].into(),
    };
    shop.send_sealed(&leased).await;
    // A report after it shows the link still up and the grant ignored.
    shop.send_sealed(&shop.report(u32::MAX, 3)).await;
    eventually("shop-z's second report", || {
        shop_z(&cluster)["report"]["sessions"] == 3
    })
    .await;
    assert_eq!(shop_z(&cluster)["lease_places_left"], 0);
    assert_eq!(shop_z(&cluster)["report"]["capacity"], 10);
}
