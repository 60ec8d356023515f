//! Sa31/Sa33 over real connections: least load wins, near-ties go to the nearer shop, shops
//! without stock or without reports get nobody, and no shop ever holds more than its capacity.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use usher_buyer::BuyerConfig;
use usher_reception::Reservation;

async fn order_shop(cluster: &Cluster, item: &str) -> usize {
    let admitted = cluster.buyer().order(item).await.unwrap();
    cluster.shop_of(admitted.url.as_str())
}

#[tokio::test]
async fn the_least_loaded_shop_is_chosen() {
    // Per-ticket reservations, so that no lease holds places while the loads are set up.
    let shops = [ShopSpec::new(10), ShopSpec::new(10), ShopSpec::new(10)];
    let cluster = Cluster::start_with(&shops, |config| {
        config.reservation = Reservation::PerTicket;
    })
    .await;
    cluster.occupy(0, 9);
    cluster.occupy(1, 2);
    cluster.occupy(2, 5);
    eventually("reports with loads 0.9 / 0.2 / 0.5", || {
        cluster.reported_in_use(0) == Some(9)
            && cluster.reported_in_use(1) == Some(2)
            && cluster.reported_in_use(2) == Some(5)
    })
    .await;
    assert_eq!(order_shop(&cluster, "concert").await, 1);
}

#[tokio::test]
async fn a_near_tie_goes_to_the_lower_round_trip_time() {
    let mut near = ShopSpec::new(10);
    near.proxied = true;
    let far = near.clone();
    let cluster = Cluster::start(&[far, near]).await;
    // Shop a (index 0, first in config) is made far away; equal loads.
    cluster.proxies[0]
        .as_ref()
        .unwrap()
        .delay(Duration::from_millis(25));
    eventually("shop a's RTT to rise", || {
        cluster.status()["shops"][0]["rtt_us"].as_u64().unwrap() > 20_000
    })
    .await;
    assert_eq!(order_shop(&cluster, "concert").await, 1);
}

#[tokio::test]
async fn a_shop_without_stock_for_the_item_is_never_chosen() {
    let empty = one_item("concert", 0);
    let cluster = Cluster::start(&[
        ShopSpec {
            catalogue: empty,
            ..ShopSpec::new(50)
        },
        ShopSpec::new(50),
    ])
    .await;
    for _ in 0..20 {
        assert_eq!(order_shop(&cluster, "concert").await, 1);
    }
}

#[tokio::test]
async fn a_shop_whose_reports_stop_gets_no_new_tickets() {
    let mut frozen = ShopSpec::new(50);
    frozen.proxied = true;
    let cluster = Cluster::start(&[frozen, ShopSpec::new(50)]).await;
    // Shop a freezes: its connection stays open but nothing more arrives from it.
    let start = Instant::now();
    cluster.proxies[0].as_ref().unwrap().freeze();
    eventually("shop a out of rotation", || {
        cluster.status()["shops"][0]["live"] == false
    })
    .await;
    let took = start.elapsed();
    eprintln!(
        "shop out of rotation {} ms after its reports stopped",
        took.as_millis()
    );
    // The default timeout is 1 s; the margin is for a loaded machine.
    assert!(took < Duration::from_secs(5), "{took:?}");
    for _ in 0..20 {
        assert_eq!(order_shop(&cluster, "concert").await, 1);
    }
}

#[tokio::test]
async fn a_reservation_the_reception_gave_up_on_is_released() {
    let mut slow = ShopSpec::new(5);
    slow.proxied = true;
    let cluster = Cluster::start_with(&[slow], |config| {
        config.reservation = Reservation::PerTicket;
        config.reserve_timeout = Duration::from_millis(100);
    })
    .await;
    // Every message now takes 300 ms each way: the grant comes too late.
    cluster.proxies[0]
        .as_ref()
        .unwrap()
        .delay(Duration::from_millis(300));
    let r = reqwest::Client::new()
        .post(format!("{}api/v1/admissions", cluster.reception_url()))
        .json(&serde_json::json!({"item": "concert"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    // The shop granted the place when the request arrived, then freed it on the release.
    let gate = &cluster.shops[0].gate;
    eventually("the late grant", || gate.stats().high_water == 1).await;
    eventually("the place released", || gate.stats().in_use() == 0).await;
}

#[tokio::test]
async fn three_hundred_concurrent_orders_never_overfill_a_shop() {
    let cluster = Cluster::start_with(
        &[ShopSpec::new(5), ShopSpec::new(10), ShopSpec::new(20)],
        |config| config.retry_after = Duration::from_millis(50),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        let mut config = BuyerConfig::new(cluster.reception_url());
        config.api = true;
        config.max_wait = Duration::from_secs(120);
        config.max_attempts = 100_000;
        let buyer = usher_buyer::Buyer::new(config).unwrap();
        tasks.push(tokio::spawn(async move {
            let admitted = buyer.order("app").await.unwrap();
            let page = buyer.claim(&admitted).await.unwrap();
            // Hold the place a moment, as a person would, so the shops fill up.
            tokio::time::sleep(Duration::from_millis(u64::from(i % 7) * 5)).await;
            buyer.buy(&page).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut full = 0;
    for (shop, capacity) in cluster.shops.iter().zip([5, 10, 20]) {
        let stats = shop.gate.stats();
        assert!(
            stats.high_water <= capacity,
            "{stats:?} over capacity {capacity}"
        );
        full += usize::from(stats.high_water == capacity);
        assert_eq!(
            stats.sessions + stats.reserved,
            0,
            "every ticket's place is free after the orders completed"
        );
    }
    assert!(
        full >= 1,
        "the crowd filled at least one shop, so the bound was exercised"
    );
    let orders: u64 = {
        let mut n = 0;
        for shop in &cluster.shops {
            n += shop.shop.orders_completed().await.unwrap();
        }
        n
    };
    assert_eq!(orders, 300);
}
