//! Invariant 6 under `kill -9`: a real `usher shop` process is killed in the middle of
//! concurrent orders and restarted on the same data; every order acknowledged with 2xx is
//! there, stock never went below zero, and no ticket has two orders.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::sync::watch;
use usher_buyer::{Buyer, BuyerConfig};
use usher_reception::{ReceptionConfig, ShopEntry};
use usher_shop::{Catalogue, Store};
use usher_ticket::{KeyFile, Keyring, ServerId};
use usher_wire::SystemClock;

fn spawn_shop(args: &[String]) -> Shop {
    Shop(
        Command::new(env!("CARGO_BIN_EXE_usher"))
            .arg("shop")
            .args(args)
            .env("USHER_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The shop process, killed when the test ends however it ends (a failed check must not leave
/// it running, holding its port and whatever the test runner shares with it).
struct Shop(Child);

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariant_6_acknowledged_orders_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate().unwrap();
    let id = ServerId::new("shop-a").unwrap();
    let keys = dir.path().join("shop-a.toml");
    KeyFile::Server(keyring.derive_server(&id))
        .save(&keys, false)
        .unwrap();
    // The shop must come back on the same address after the kill, so its port is chosen here:
    // bound on port 0, read back, released for the child to bind.
    let shop_addr = local().await.local_addr().unwrap();
    let shop_url = format!("http://{shop_addr}");

    let public = local().await;
    let management = local().await;
    let reception_url = format!("http://{}", public.local_addr().unwrap());
    let mut config = ReceptionConfig::new(
        vec![ShopEntry {
            id,
            url: shop_url.clone(),
            capacity: None,
        }],
        reception_url.clone(),
    );
    config.retry_after = Duration::from_millis(50);
    // 24 buyers from one address (the cap on live tickets has tests of its own).
    config.admissions_per_client = 0;
    let (_stop, stop_rx) = watch::channel(false);
    let reception = usher::start_reception(
        config,
        keyring,
        Arc::new(SystemClock),
        public,
        management,
        stop_rx,
    )
    .unwrap();
    let args: Vec<String> = [
        "--id",
        "shop-a",
        "--public",
        &shop_addr.to_string(),
        "--management",
        "127.0.0.1:0",
        "--reception",
        &format!("ws://{}", reception.management),
        "--reception-url",
        &reception_url,
        "--keys",
        keys.to_str().unwrap(),
        "--capacity",
        "20",
        "--sessions-per-client",
        "0",
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--report-every",
        "50ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let live = |reception: &usher::RunningReception| reception.reception.status().shops[0].live;

    let mut child = spawn_shop(&args);
    eventually("the shop process live", || live(&reception)).await;

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut buyers = Vec::new();
    for _ in 0..24 {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        let mut config = BuyerConfig::new(reception_url.parse().unwrap());
        config.api = true;
        config.max_wait = Duration::from_secs(10);
        config.request_timeout = Duration::from_secs(5);
        buyers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                // A fresh client per journey; failures while the shop is down are expected.
                let buyer = Buyer::new(config.clone()).unwrap();
                let Ok(admitted) = buyer.order("concert").await else {
                    continue;
                };
                let Ok(page) = buyer.claim(&admitted).await else {
                    continue;
                };
                if let Ok(order) = buyer.buy(&page).await {
                    acknowledged.lock().unwrap().push(order.order_id);
                }
            }
        }));
    }
    let count = |a: &Arc<Mutex<Vec<String>>>| a.lock().unwrap().len();
    eventually("orders before the kill", || count(&acknowledged) >= 10).await;
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let before = count(&acknowledged);
    let mut child = spawn_shop(&args);
    eventually("the restarted shop live", || live(&reception)).await;
    eventually("orders after the restart", || {
        count(&acknowledged) >= before + 10
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for b in buyers {
        b.await.unwrap();
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let store = Store::open(&dir.path().join("data"), &Catalogue::demo())
        .await
        .unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    for order in &acknowledged {
        assert!(
            store.order(order).await.unwrap().is_some(),
            "order {order} was acknowledged but is gone"
        );
    }
    let report = store.check().await.unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert!(report.orders >= acknowledged.len() as u64);
}
