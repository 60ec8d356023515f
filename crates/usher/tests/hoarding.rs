//! Nobody hoards the places at the reception (issue 14, point 1): a cap on live tickets per
//! client network, no place for a `HEAD`, none for a request that is not a page the buyer
//! opened. Over real HTTP against an in-process reception and shop.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::redirect::Policy;

fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn order(
    cluster: &Cluster,
    client: &reqwest::Client,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = client.get(format!("{}order/concert", cluster.reception_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    (status, body)
}

fn code_of(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    value["error"].as_str().unwrap_or("").to_owned()
}

/// Guards against one host (a `curl` loop) holding every place: its network gets its share of
/// live tickets, the next order is `429 too_many` and takes nothing, and others still get in.
#[tokio::test]
async fn one_client_network_holds_at_most_its_share_of_live_tickets() {
    let cluster = Cluster::start_with(&[ShopSpec::new(10)], |config| {
        config.admissions_per_client = 2;
    })
    .await;
    let hoarder = client_from("127.0.0.1");
    for _ in 0..2 {
        assert_eq!(
            order(&cluster, &hoarder, &[]).await.0,
            StatusCode::SEE_OTHER
        );
    }
    let (status, body) = order(&cluster, &hoarder, &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code_of(&body), "too_many");
    // Another network is not held back by it.
    let other = client_from("127.0.0.2");
    assert_eq!(order(&cluster, &other, &[]).await.0, StatusCode::SEE_OTHER);
}

/// Guards against link checkers, chat link previews and uptime monitors draining the shops:
/// a `HEAD` is `405` and the one place is still free for the buyer after many of them.
#[tokio::test]
async fn a_head_order_takes_no_place() {
    let cluster = Cluster::start_with(&[ShopSpec::new(1)], |_| {}).await;
    let checker = client_from("127.0.0.1");
    for _ in 0..5 {
        let r = checker
            .head(format!("{}order/concert", cluster.reception_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()["allow"], "GET");
    }
    let buyer = client_from("127.0.0.2");
    let (status, body) = order(&cluster, &buyer, &[]).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the one place was taken: {body}"
    );
}

/// Guards against `<img src=".../order/concert">` on a busy page spending every visitor's
/// address on a place: an image, a frame or another site's fetch is refused and takes nothing.
#[tokio::test]
async fn an_order_that_is_not_a_page_the_buyer_opened_takes_no_place() {
    let cluster = Cluster::start_with(&[ShopSpec::new(1)], |_| {}).await;
    let visitor = client_from("127.0.0.1");
    for headers in [
        [
            ("sec-fetch-dest", "image"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-site", "cross-site"),
        ],
        [
            ("sec-fetch-dest", "iframe"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-site", "cross-site"),
        ],
        [
            ("sec-fetch-dest", "empty"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-site", "cross-site"),
        ],
    ] {
        let (status, body) = order(&cluster, &visitor, &headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {body}");
        assert_eq!(code_of(&body), "not_navigation");
    }
    // The buyer's own navigation still finds the place free.
    let navigation = [
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "cross-site"),
    ];
    let (status, body) = order(&cluster, &visitor, &navigation).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
}

/// Guards against a client choosing its own address behind a proxy that adds its own
/// `X-Forwarded-For` line (issue 14, point 5): every line is read and the rightmost hop the
/// proxies did not add is the client, so forged first lines do not make two clients of one.
#[tokio::test]
async fn behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_hop() {
    let cluster = Cluster::start_with(&[ShopSpec::new(10)], |config| {
        config.admissions_per_client = 1;
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let proxy = client_from("127.0.0.1");
    let through_proxy = |forged: &'static str| {
        let request = proxy
            .get(format!("{}order/concert", cluster.reception_url()))
            .header("x-forwarded-for", forged)
            .header("x-forwarded-for", "203.0.113.8");
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(through_proxy("5.5.5.5").await, StatusCode::SEE_OTHER);
    assert_eq!(
        through_proxy("6.6.6.6").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the same client behind another forged line"
    );
    // Another client behind the same proxy gets in.
    let other = proxy
        .get(format!("{}order/concert", cluster.reception_url()))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::SEE_OTHER);
}

/// Guards against the gate reading no forwarded address (issue 14, point 5): behind a trusted
/// proxy the ticket is bound to the client's address, so the gate must find the same address
/// when the client claims through that proxy, or every claim is `wrong_client`.
#[tokio::test]
async fn behind_a_trusted_proxy_a_ticket_claims_at_the_gate() {
    let cluster = Cluster::start_with(&[ShopSpec::new(2)], |config| {
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let proxy = client_from("127.0.0.1");
    let admitted = proxy
        .get(format!("{}order/concert", cluster.reception_url()))
        .header("x-forwarded-for", "203.0.113.8")
        .send()
        .await
        .unwrap();
    assert_eq!(admitted.status(), StatusCode::SEE_OTHER);
    let ticket = admitted.headers()["location"].to_str().unwrap().to_owned();
    let claim = |from: &'static str| proxy.get(&ticket).header("x-forwarded-for", from).send();
    // Another client behind the proxy cannot use it...
    let stolen = claim("203.0.113.9").await.unwrap();
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN);
    assert_eq!(code_of(&stolen.text().await.unwrap()), "wrong_client");
    // ...and its own client can.
    let claimed = claim("203.0.113.8").await.unwrap();
    assert_eq!(
        claimed.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        claimed.text().await
    );
}

/// Guards against another site framing the gate's refusal pages (issue 14, point 8).
#[tokio::test]
async fn the_gates_refusal_pages_forbid_framing() {
    let cluster = Cluster::start_with(&[ShopSpec::new(1)], |_| {}).await;
    let browser = client_from("127.0.0.1");
    let refused = browser
        .get(format!("{}/t/not-a-ticket/items/concert", cluster.urls[0]))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let csp = refused.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}
