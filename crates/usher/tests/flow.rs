//! The patent's first embodiment end to end over real HTTP: a reception and shops in-process on
//! loopback, buyers as clients.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use usher_buyer::BuyerError;

fn raw_client(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn error_code(r: reqwest::Response) -> String {
    let body: serde_json::Value = r.json().await.unwrap();
    body["error"].as_str().unwrap_or("").to_owned()
}

/// An order's ticket URL, taken from the browser path's 303.
async fn ticket_url(cluster: &Cluster, client: &reqwest::Client, item: &str) -> String {
    let r = client
        .get(format!("{}order/{item}", cluster.reception_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn full_browser_path_order_claim_buy_receipt_download() {
    let cluster = Cluster::start(&[ShopSpec::new(5), ShopSpec::new(10)]).await;
    let buyer = cluster.buyer();
    let admitted = buyer.order("app").await.unwrap();
    assert!(admitted.url.path().starts_with("/t/"), "{}", admitted.url);
    let page = buyer.claim(&admitted).await.unwrap();
    assert_eq!(
        page.path(),
        "/items/app",
        "the ticket leaves the address bar"
    );
    let order = buyer.buy(&page).await.unwrap();
    assert!(order.created, "201 on the first buy");
    let receipt = buyer.receipt(&order).await.unwrap();
    assert_eq!(receipt["order_id"], order.order_id.as_str());
    let bytes = buyer.download(&order).await.unwrap();
    assert!(bytes > 0);
    // A retried buy returns the same order.
    let again = buyer.buy(&page).await.unwrap();
    assert_eq!(again.order_id, order.order_id);
    assert!(!again.created, "200 on the retry");
    // The same ticket afterwards, from the same client: used.
    let err = buyer.claim(&admitted).await.unwrap_err();
    assert_eq!(err.refusal_code().unwrap().as_str(), "used", "{err}");
    // The place is free again (only places leased in advance remain held).
    let shop = cluster.shop_of(admitted.url.as_str());
    let stats = cluster.shops[shop].gate.stats();
    assert_eq!(stats.sessions + stats.reserved, 0, "{stats:?}");
}

#[tokio::test]
async fn invariant_2_every_ticket_is_backed_by_a_granted_place_and_its_notice() {
    let cluster = Cluster::start(&[ShopSpec::new(3), ShopSpec::new(4)]).await;
    let client = raw_client("127.0.0.1");
    let mut tickets = Vec::new();
    for _ in 0..7 {
        tickets.push(ticket_url(&cluster, &client, "concert").await);
    }
    // Every issued ticket holds a place at its shop: 7 reservations, 3 + 4, once the notices
    // (batched when tickets come from leases) have arrived.
    eventually("7 reservations", || {
        cluster
            .shops
            .iter()
            .map(|s| s.gate.stats().reserved)
            .sum::<u32>()
            == 7
    })
    .await;
    // The eighth order finds every shop full: no ticket without a place.
    let r = client
        .get(format!("{}order/concert", cluster.reception_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "waiting");
    assert!(body["retry_after_ms"].as_u64().unwrap() > 0);
    // And every shop learnt its notices: each ticket claims without not_notified.
    for url in tickets {
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{url}");
    }
}

#[tokio::test]
async fn invariant_3_a_ticket_opens_at_most_one_session() {
    let cluster = Cluster::start(&[ShopSpec::new(5)]).await;
    let me = raw_client("127.0.0.1");
    let url = ticket_url(&cluster, &me, "concert").await;
    let first = me.get(&url).send().await.unwrap();
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    // Again from the same client within the window: the same session (a lost redirect).
    let again = me.get(&url).send().await.unwrap();
    assert_eq!(again.headers()["set-cookie"].to_str().unwrap(), cookie);
    assert_eq!(cluster.shops[0].gate.stats().sessions, 1);
    // The order completes: the ticket opens nothing any more.
    let base = &cluster.urls[0];
    let bought = me
        .post(format!("{base}/items/concert/buy"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);
    let r = me.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "used");
    // An expired ticket opens nothing either.
    let url = ticket_url(&cluster, &me, "concert").await;
    cluster.clock.advance(Duration::from_secs(40));
    let r = me.get(&url).send().await.unwrap();
    assert_eq!(error_code(r).await, "expired");
}

#[tokio::test]
async fn invariant_4_a_ticket_is_worthless_anywhere_else() {
    let cluster = Cluster::start(&[ShopSpec::new(5), ShopSpec::new(5)]).await;
    let me = raw_client("127.0.0.1");
    let url = ticket_url(&cluster, &me, "concert").await;
    let shop = cluster.shop_of(&url);
    let other = 1 - shop;
    // At another shop.
    let elsewhere = url.replace(&cluster.urls[shop], &cluster.urls[other]);
    assert_eq!(
        error_code(me.get(&elsewhere).send().await.unwrap()).await,
        "wrong_server"
    );
    // For another item.
    let app = url.replace("/items/concert", "/items/app");
    assert_eq!(
        error_code(me.get(&app).send().await.unwrap()).await,
        "wrong_scope"
    );
    // From another client address.
    let them = raw_client("127.0.0.2");
    assert_eq!(
        error_code(them.get(&url).send().await.unwrap()).await,
        "wrong_client"
    );
    // With a changed character.
    let i = url.find("/items/").unwrap() - 3;
    let mut bytes = url.clone().into_bytes();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(bytes).unwrap();
    assert_eq!(
        error_code(me.get(&changed).send().await.unwrap()).await,
        "forged"
    );
    // Outside its window.
    cluster.clock.advance(Duration::from_secs(40));
    assert_eq!(
        error_code(me.get(&url).send().await.unwrap()).await,
        "expired"
    );
}

#[tokio::test]
async fn invariant_6_stock_never_below_zero_and_one_order_per_ticket() {
    // Also: a buyer admitted for an item never finds it sold out at the shop (its unit is held
    // from admission to order).
    let catalogue = one_item("concert", 3);
    let spec = ShopSpec {
        catalogue,
        ..ShopSpec::new(20)
    };
    let cluster = Cluster::start(&[spec]).await;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let buyer = cluster.buyer();
        handles.push(tokio::spawn(async move {
            let admitted = buyer.order("concert").await?;
            let page = buyer.claim(&admitted).await?;
            let first = buyer.buy(&page).await?;
            let retry = buyer.buy(&page).await?;
            assert_eq!(
                first.order_id, retry.order_id,
                "a retried buy is the same order"
            );
            Ok::<_, BuyerError>(first.order_id)
        }));
    }
    let mut orders = Vec::new();
    let mut sold_out = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(id) => orders.push(id),
            // Told at the reception, before being admitted: the only acceptable sold out.
            Err(BuyerError::SoldOut) => sold_out += 1,
            Err(e) => panic!("an admitted buyer must never find it sold out at the shop: {e}"),
        }
    }
    assert_eq!(orders.len(), 3);
    assert_eq!(sold_out, 5);
    let report = cluster.shops[0].shop.store().check().await.unwrap();
    assert!(report.is_consistent(), "{report:?}");
    // The reception learns it and says so at once.
    eventually("the reception sees the item sold out", || {
        cluster.status()["shops"][0]["report"]["stock"]["concert"] == 0
    })
    .await;
    let r = raw_client("127.0.0.1")
        .get(format!("{}order/concert", cluster.reception_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
}

#[tokio::test]
async fn unknown_item_unavailable_and_bad_input() {
    let cluster = Cluster::start(&[ShopSpec::new(2)]).await;
    let c = raw_client("127.0.0.1");
    let base = cluster.reception_url();
    let r = c.get(format!("{base}order/nothing")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "unknown_item");
    let r = c
        .get(format!("{base}order/{}", "x".repeat(5000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.get(format!("{base}no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(error_code(r).await, "not_found");
    // API: malformed JSON, oversized bodies (the rest in tests/api_answers.rs).
    let api = format!("{base}api/v1/admissions");
    let r = c
        .post(&api)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), error_code(r).await.as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let big = format!("{{\"item\":\"{}\"}}", "x".repeat(10_000));
    let r = c
        .post(&api)
        .body(big)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), error_code(r).await.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let r = c
        .post(&api)
        .body(r#"{"item":"concert"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(
        (r.status(), error_code(r).await.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        "no JSON content type"
    );
    let r = c.get(&api).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(
        (r.status(), error_code(r).await.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    // API admitted answer.
    let r = c
        .post(&api)
        .json(&serde_json::json!({"item":"concert"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "admitted");
    assert_eq!(body["server"], "shop-a");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    // The only shop stops: unavailable.
    cluster.stops[0].send(true).unwrap();
    eventually("the shop out of rotation", || cluster.live_shops() == 0).await;
    let r = c
        .post(&api)
        .json(&serde_json::json!({"item":"concert"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
}
