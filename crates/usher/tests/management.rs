//! The management channel refuses callers that cannot prove who they are, and they change
//! nothing: no report recorded, no shop put into rotation.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::sync::watch;
use usher_gate::link::{self, LinkConfig};
use usher_gate::{Gate, GateConfig};
use usher_ticket::{Keyring, ServerId};
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
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;

    let url = format!("ws://{}/mgmt/v1/connect", cluster.reception.management);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let challenge = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(challenge.to_text().unwrap().contains("challenge"));
    let hello = serde_json::json!({
        "type": "hello", "server": server, "key_id": 1, "epoch": 7, "mac": "00".repeat(32)
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
