//! The reception's `/`, where every "Start again" leads: the items and what an order for each
//! would meet now, as a page for browsers and as JSON. Guards against the dead end it was
//! (`404 not_found` for everyone, so every refusal's link led nowhere).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::Value;

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn sale(cluster: &Cluster) -> Value {
    let url = format!("{}api/v1/sale", cluster.reception_url());
    let r = browser().get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

fn state_of(sale: &Value, item: &str) -> String {
    sale["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == item)
        .map(|i| i["state"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_landing_page_lists_each_item_and_what_an_order_meets() {
    // Three places: following the page's two order links takes two.
    let cluster = Cluster::start(&[ShopSpec::new(3)]).await;
    let base = cluster.reception_url();
    eventually("the shop's items", || cluster.live_shops() == 1).await;
    let now = sale(&cluster).await;
    assert_eq!(state_of(&now, "concert"), "open", "{now}");
    assert_eq!(now["waiting"], 0);
    // Items by the names the shops gave them (the demo catalogue's), not by id.
    let concert = now["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "concert")
        .unwrap();
    assert_eq!(concert["name"], "Concert, 31 December", "{now}");

    // A browser gets a page, every link of which answers.
    let r = browser()
        .get(base.as_str())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("content-security-policy"));
    let page = r.text().await.unwrap();
    assert!(page.contains("<html lang=en>"), "{page}");
    assert!(page.contains("Concert, 31 December"), "{page}");
    let order = format!("href=\"{base}order/concert\"");
    assert!(page.contains(&order), "{page}");
    for link in page.split("href=\"").skip(1) {
        let link = link.split('"').next().unwrap();
        let url = base.join(link).unwrap();
        let r = browser()
            .get(url.as_str())
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "{url}: {}",
            r.status()
        );
    }

    // The last place taken: an order joins the line.
    let _held = fill(&cluster, 1).await;
    eventually("the shop full", || {
        cluster.reported_in_use(0).is_some_and(|n| n >= 3)
    })
    .await;
    assert_eq!(state_of(&sale(&cluster).await, "concert"), "waiting");
    // An API client asking for `/` gets the same as JSON.
    let r = browser().get(base.as_str()).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(state_of(&body, "concert"), "waiting");
}

#[tokio::test]
async fn a_sold_out_item_is_said_and_not_linked() {
    let spec = ShopSpec {
        catalogue: one_item("concert", 0),
        ..ShopSpec::new(2)
    };
    let cluster = Cluster::start(&[spec]).await;
    eventually("the shop's items", || cluster.live_shops() == 1).await;
    assert_eq!(state_of(&sale(&cluster).await, "concert"), "sold_out");
    let page = browser()
        .get(cluster.reception_url().as_str())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sold out."), "{page}");
    assert!(!page.contains("order/concert"), "{page}");
    // The sold-out page a browser meets leads back here, in the page's one look.
    let r = browser()
        .get(format!("{}order/concert", cluster.reception_url()))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let page = r.text().await.unwrap();
    let back = format!("href=\"{}\">Start again", cluster.reception_url());
    assert!(page.contains(&back), "{page}");
    assert!(page.contains("<code>sold_out</code>"), "{page}");
    assert!(page.contains(usher_wire::html::STYLE), "{page}");
}

/// A refusal's `retry` link leads somewhere a person can act: the landing page.
#[tokio::test]
async fn a_refusals_retry_link_leads_to_the_landing_page() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let api = format!("{}api/v1/admissions", cluster.reception_url());
    let r = browser()
        .post(&api)
        .json(&serde_json::json!({"item": "concert", "queue_token": "not-a-token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    let retry = body["retry"].as_str().unwrap();
    let r = browser()
        .get(retry)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{retry}");
    assert!(r.text().await.unwrap().contains("On sale"));
}
