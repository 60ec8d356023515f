//! Issue 14 point 2: the management channel over TLS (`wss://`). A shop links to a reception
//! whose certificate it trusts and sells through it; a peer that does not trust the
//! certificate, or speaks plain `ws://`, gets no link.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt as _;
use tokio::sync::watch;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use usher::{ReceptionListeners, RunningReception, ShopSetup, start_reception_with, start_shop};
use usher_gate::GateConfig;
use usher_reception::{ReceptionConfig, ShopEntry};
use usher_shop::Catalogue;
use usher_ticket::{Keyring, ServerId};
use usher_wire::{Clock, SystemClock};

/// A self-signed certificate for 127.0.0.1, written as PEM files into `dir`.
struct Certificate {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    pem: Vec<u8>,
}

fn certificate(dir: &std::path::Path, name: &str) -> Certificate {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    Certificate {
        pem: made.cert.pem().into_bytes(),
        cert,
        key,
    }
}

/// A reception for `shop-a` whose management listener speaks TLS with `cert`.
async fn reception(
    cert: &Certificate,
    keyring: &Keyring,
    stop: watch::Receiver<bool>,
) -> RunningReception {
    let public = local().await;
    let url = format!("http://{}", public.local_addr().unwrap());
    let shops = vec![ShopEntry {
        id: ServerId::new("shop-a").unwrap(),
        url: "http://127.0.0.1:9".into(),
        capacity: None,
    }];
    let mut config = ReceptionConfig::new(shops, url);
    config.admissions_per_client = 0;
    let listeners = ReceptionListeners {
        public: Default::default(),
        management_tls: Some(usher::serve::tls_acceptor(&cert.cert, &cert.key).unwrap()),
    };
    start_reception_with(
        config,
        listeners,
        keyring.clone(),
        Arc::new(SystemClock) as Arc<dyn Clock>,
        public,
        local().await,
        stop,
    )
    .unwrap()
}

fn live(reception: &RunningReception) -> bool {
    reception.reception.status().shops.iter().any(|s| s.live)
}

#[tokio::test]
async fn a_shop_links_over_tls_to_a_reception_it_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let cert = certificate(dir.path(), "reception");
    let keyring = Keyring::generate().unwrap();
    let (_stop, stop_rx) = watch::channel(false);
    let reception = reception(&cert, &keyring, stop_rx.clone()).await;

    let id = ServerId::new("shop-a").unwrap();
    let public = local().await;
    let mut gate = GateConfig::new(id, 5, format!("http://{}", reception.public).as_str());
    gate.sessions_per_client = 0;
    let setup = ShopSetup {
        gate,
        keys: keyring.derive_server(&id),
        catalogue: Catalogue::demo(),
        data_dir: dir.path().join("shop-a"),
        receptions: vec![format!("wss://{}", reception.management)],
        reception_tls: Some(usher_gate::link::client_config(&cert.pem).unwrap()),
        report_every: Duration::from_millis(50),
        pace: Duration::ZERO,
    };
    let _shop = start_shop(
        setup,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        public,
        local().await,
        stop_rx,
    )
    .await
    .unwrap();
    eventually("shop-a live over wss://", || live(&reception)).await;
    let buyer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let order = buyer
        .get(format!("http://{}/order/concert", reception.public))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), reqwest::StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn no_link_without_trust_in_the_receptions_certificate_or_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = certificate(dir.path(), "reception");
    let other = certificate(dir.path(), "other");
    let keyring = Keyring::generate().unwrap();
    let (_stop, stop_rx) = watch::channel(false);
    let reception = reception(&cert, &keyring, stop_rx).await;
    let wss = format!("wss://{}/mgmt/v1/connect", reception.management);
    let dial = |pem: &[u8]| {
        let tls = usher_gate::link::client_config(pem).unwrap();
        tokio_tungstenite::connect_async_tls_with_config(
            wss.clone(),
            None,
            false,
            Some(Connector::Rustls(tls)),
        )
    };

    // Trusting another certificate: the handshake fails.
    assert!(
        dial(&other.pem).await.is_err(),
        "a link to an untrusted reception"
    );
    // Plain WebSocket to a TLS listener: nothing.
    let ws = format!("ws://{}/mgmt/v1/connect", reception.management);
    let plain = tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(ws)).await;
    assert!(matches!(plain, Ok(Err(_))), "plain ws:// was answered");
    // The right certificate: the reception's challenge comes.
    let (mut ws, _) = dial(&cert.pem).await.unwrap();
    let Some(Ok(Message::Text(challenge))) = ws.next().await else {
        panic!("no challenge over TLS");
    };
    assert!(challenge.as_str().contains("challenge"), "{challenge}");
}
