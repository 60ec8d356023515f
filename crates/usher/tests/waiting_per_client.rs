//! One client network holds at most its share of the line (issue 14, point 6): past
//! `waiting_per_client` places waiting at once, a new join is `429 too_many` (browser and API)
//! and takes no place, while its places already in line keep checking in, and once the head
//! passes them it may join again. Over real HTTP against an in-process reception and shop.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;

const CAP: u32 = 3;

/// A client of `GET /order/concert` from `from` (no redirects followed), as a browser or `curl`.
fn orderer(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Guards against one host inflating everyone's position and estimate with fake places while
/// under its join budget, and against a cap that never lets go as the line moves.
#[tokio::test]
async fn a_network_cannot_hold_more_than_its_share_of_the_line_and_joins_again_as_it_moves() {
    let cluster = Cluster::start_with(&[ShopSpec::new(2)], |config| {
        config.queue.waiting_per_client = CAP;
    })
    .await;
    let held = fill(&cluster, 2).await;
    let hoarder = Api::new(&cluster, "127.0.0.1");
    let mut tokens = Vec::new();
    for _ in 0..CAP {
        tokens.push(hoarder.join("concert").await.0);
    }

    // The API's join past the cap.
    let refused = hoarder
        .http
        .post(&hoarder.url)
        .json(&serde_json::json!({ "item": "concert" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many", "{body}");

    // A browser's and `curl`'s join from another address of the same /24.
    let order_url = format!("{}order/concert", cluster.reception_url());
    let neighbour = orderer("127.0.0.9");
    let page = neighbour
        .get(&order_url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    // The page says when to come back as the JSON answer does.
    assert_eq!(page.headers()["retry-after"], "60");
    assert!(page.text().await.unwrap().contains("<code>too_many</code>"));
    let curl = neighbour.get(&order_url).send().await.unwrap();
    assert_eq!(curl.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(curl.headers().contains_key("retry-after"));
    let body: serde_json::Value = curl.json().await.unwrap();
    assert_eq!(body["error"], "too_many", "{body}");

    // Its places already in line are not refused: by the API and from the browser's cookie.
    let (status, body) = hoarder.ask("concert", Some(&tokens[0])).await;
    assert_eq!((status, body["status"].as_str()), (503, Some("waiting")));
    let returning = orderer("127.0.0.1")
        .get(&order_url)
        .header("accept", "text/html")
        .header("cookie", format!("usher-queue-concert={}", tokens[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(returning.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Another network joins, behind the hoarder's places only: the refused joins took none.
    let (_, position) = Api::new(&cluster, "127.0.1.1").join("concert").await;
    assert_eq!(position, u64::from(CAP) + 1, "{}", cluster.status());

    // Places free: the head passes the hoarder's first places, so it may join again.
    for (buyer, page) in &held {
        buyer.buy(page).await.unwrap();
    }
    let start = Instant::now();
    let (status, body) = loop {
        let (status, body) = hoarder.ask("concert", None).await;
        if status != 429 {
            break (status, body);
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the hoarder's network was never let join again: {}",
            cluster.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((status, body["status"].as_str()), (503, Some("waiting")));
    assert!(cluster.status()["queue"]["head"].as_u64().unwrap() >= 1);
}
