//! The shop's HTTP surface, driven with `oneshot` and the gate's session extension set by hand.

#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;
use usher_gate::{ORDER_COMPLETE_HEADER, SessionInfo};
use usher_shop::{Catalogue, Purchase, Receipt, Shop, router};
use usher_ticket::{IssuerId, ItemId, TicketId};

const CATALOGUE: &str = r#"
[[items]]
id = "concert"
name = "Concert, 31 December"
price_cents = 4500
stock = 2
kind = "ticket"

[[items]]
id = "app"
name = "usher app 1.0"
price_cents = 999
stock = 1000
kind = "download"
download_name = "usher-app-1.0.txt"
"#;

struct Harness {
    app: Router,
    shop: Shop,
    _dir: TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = Catalogue::from_toml(CATALOGUE).unwrap();
    let shop = Shop::open(dir.path(), catalogue).await.unwrap();
    Harness {
        app: router(shop.clone()),
        shop,
        _dir: dir,
    }
}

fn session(serial: u64, item: &str) -> SessionInfo {
    SessionInfo {
        ticket: TicketId {
            issuer: IssuerId(0xfeed),
            serial,
        },
        item: ItemId::new(item).unwrap(),
        completed: false,
    }
}

fn request(method: &str, uri: &str, accept: &str, session: Option<SessionInfo>) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    if let Some(session) = session {
        request.extensions_mut().insert(session);
    }
    request
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(request).await.unwrap()
    }

    async fn buy_json(&self, session: SessionInfo) -> (StatusCode, Response<Body>) {
        let uri = format!("/items/{}/buy", session.item);
        let response = self
            .send(request("POST", &uri, "application/json", Some(session)))
            .await;
        (response.status(), response)
    }
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn json<T: serde::de::DeserializeOwned>(response: Response<Body>) -> T {
    serde_json::from_str(&text(response).await).unwrap()
}

fn header(response: &Response<Body>, name: impl http::header::AsHeaderName) -> &str {
    response.headers().get(name).unwrap().to_str().unwrap()
}

async fn expect_error(response: Response<Body>, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    let body: Value = json(response).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn healthz_answers_ok() {
    let h = harness().await;
    let response = h.send(request("GET", "/healthz", "*/*", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "ok");
}

#[tokio::test]
async fn buy_is_201_then_200_with_the_same_order_and_the_complete_header_on_both() {
    let h = harness().await;
    let (status, first) = h.buy_json(session(1, "concert")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(header(&first, ORDER_COMPLETE_HEADER), "1");
    assert_eq!(header(&first, CACHE_CONTROL), "no-store");
    let first: Purchase = json(first).await;
    assert_eq!(first.item.as_str(), "concert");
    assert!(
        first
            .receipt_url
            .starts_with(&format!("/receipts/{}?secret=", first.order_id))
    );
    assert_eq!(first.download_url, None);

    let mut retried = session(1, "concert");
    retried.completed = true;
    let (status, second) = h.buy_json(retried).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&second, ORDER_COMPLETE_HEADER), "1");
    let second: Purchase = json(second).await;
    assert_eq!(second, first);
    assert_eq!(h.shop.stock().await.unwrap()["concert"], 1);
    assert_eq!(h.shop.orders_completed().await.unwrap(), 1);
}

#[tokio::test]
async fn without_a_session_is_403_no_session() {
    let h = harness().await;
    for (method, uri) in [("GET", "/items/concert"), ("POST", "/items/concert/buy")] {
        let response = h.send(request(method, uri, "application/json", None)).await;
        expect_error(response, StatusCode::FORBIDDEN, "no_session").await;
    }
    assert_eq!(h.shop.orders_completed().await.unwrap(), 0);
}

#[tokio::test]
async fn a_session_for_another_item_is_403_wrong_scope() {
    let h = harness().await;
    let wrong = Some(session(1, "app"));
    let response = h
        .send(request("POST", "/items/concert/buy", "*/*", wrong.clone()))
        .await;
    expect_error(response, StatusCode::FORBIDDEN, "wrong_scope").await;
    let response = h.send(request("GET", "/items/concert", "*/*", wrong)).await;
    expect_error(response, StatusCode::FORBIDDEN, "wrong_scope").await;
    assert_eq!(h.shop.stock().await.unwrap()["concert"], 2);
}

#[tokio::test]
async fn unknown_item_is_404_unknown_item() {
    let h = harness().await;
    let response = h
        .send(request(
            "POST",
            "/items/nope/buy",
            "*/*",
            Some(session(1, "nope")),
        ))
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "unknown_item").await;
    let response = h
        .send(request(
            "GET",
            "/items/bad%20id",
            "*/*",
            Some(session(1, "nope")),
        ))
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "unknown_item").await;
}

#[tokio::test]
async fn sold_out_is_410_sold_out() {
    let h = harness().await;
    for serial in 1..=2 {
        assert_eq!(
            h.buy_json(session(serial, "concert")).await.0,
            StatusCode::CREATED
        );
    }
    let (status, response) = h.buy_json(session(3, "concert")).await;
    assert!(response.headers().get(ORDER_COMPLETE_HEADER).is_none());
    expect_error(response, status, "sold_out").await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(h.shop.stock().await.unwrap()["concert"], 0);
}

#[tokio::test]
async fn receipt_is_200_with_the_right_secret_and_404_otherwise() {
    let h = harness().await;
    let (_, response) = h.buy_json(session(1, "concert")).await;
    let purchase: Purchase = json(response).await;

    let response = h
        .send(request(
            "GET",
            &purchase.receipt_url,
            "application/json",
            None,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    let receipt: Receipt = json(response).await;
    assert_eq!(receipt.order_id, purchase.order_id);
    assert_eq!(receipt.name, "Concert, 31 December");
    assert_eq!(receipt.price_cents, 4500);

    let wrong_secret = format!("/receipts/{}?secret={}", purchase.order_id, "0".repeat(32));
    let no_order = purchase
        .receipt_url
        .replace(&purchase.order_id, &"0".repeat(32));
    let no_secret = format!("/receipts/{}", purchase.order_id);
    for uri in [wrong_secret, no_order, no_secret] {
        let response = h.send(request("GET", &uri, "application/json", None)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
        let body: Value = json(response).await;
        assert!(!body.to_string().contains(&purchase.order_id), "{body}");
    }
}

#[tokio::test]
async fn download_has_attachment_headers_and_deterministic_bytes() {
    let h = harness().await;
    let (status, response) = h.buy_json(session(1, "app")).await;
    assert_eq!(status, StatusCode::CREATED);
    let purchase: Purchase = json(response).await;
    let url = purchase.download_url.unwrap();
    assert!(url.starts_with(&format!("/receipts/{}/download?secret=", purchase.order_id)));

    let response = h.send(request("GET", &url, "*/*", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "text/plain; charset=utf-8");
    assert_eq!(
        header(&response, CONTENT_DISPOSITION),
        "attachment; filename=\"usher-app-1.0.txt\""
    );
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    let first = text(response).await;
    assert!(first.contains("item app"));

    // Another buyer of the same item gets the same bytes.
    let (_, response) = h.buy_json(session(2, "app")).await;
    let other: Purchase = json(response).await;
    let response = h
        .send(request("GET", &other.download_url.unwrap(), "*/*", None))
        .await;
    assert_eq!(text(response).await, first);

    // A wrong secret gets nothing.
    let forged = format!(
        "/receipts/{}/download?secret={}",
        purchase.order_id,
        "1".repeat(32)
    );
    let response = h.send(request("GET", &forged, "*/*", None)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn download_of_a_ticket_item_is_404() {
    let h = harness().await;
    let (_, response) = h.buy_json(session(1, "concert")).await;
    let purchase: Purchase = json(response).await;
    let url = purchase
        .receipt_url
        .replacen("?secret", "/download?secret", 1);
    let response = h.send(request("GET", &url, "*/*", None)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn browsers_get_html_and_api_clients_get_json() {
    let h = harness().await;
    let browser = "text/html,application/xhtml+xml,*/*;q=0.8";

    let page = h
        .send(request(
            "GET",
            "/items/concert",
            browser,
            Some(session(1, "concert")),
        ))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(header(&page, CONTENT_TYPE).starts_with("text/html"));
    let page = text(page).await;
    assert!(page.contains("Concert, 31 December") && page.contains("45.00"));
    assert!(page.contains("2 left"));
    assert!(page.contains("<form method=post action=\"/items/concert/buy\">"));

    let bought = h
        .send(request(
            "POST",
            "/items/concert/buy",
            browser,
            Some(session(1, "concert")),
        ))
        .await;
    assert_eq!(bought.status(), StatusCode::CREATED);
    assert_eq!(header(&bought, ORDER_COMPLETE_HEADER), "1");
    assert!(header(&bought, CONTENT_TYPE).starts_with("text/html"));
    let confirmation = text(bought).await;
    assert!(confirmation.contains("href=\"/receipts/"), "{confirmation}");

    // Once the ticket has its order, the item page links the receipt instead of the form.
    let page = h
        .send(request(
            "GET",
            "/items/concert",
            browser,
            Some(session(1, "concert")),
        ))
        .await;
    let page = text(page).await;
    assert!(!page.contains("<form"), "{page}");
    assert!(page.contains("href=\"/receipts/"));

    let receipt_url = h
        .shop
        .store()
        .order_for_ticket(&session(1, "concert").ticket.to_string())
        .await
        .unwrap()
        .unwrap()
        .receipt_url();
    let html = h.send(request("GET", &receipt_url, browser, None)).await;
    assert!(header(&html, CONTENT_TYPE).starts_with("text/html"));
    assert!(text(html).await.contains("Receipt"));
    let api = h
        .send(request("GET", &receipt_url, "application/json", None))
        .await;
    assert!(header(&api, CONTENT_TYPE).starts_with("application/json"));

    // Refusals follow the same preference.
    let refused = h
        .send(request("GET", "/items/concert", browser, None))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(header(&refused, CONTENT_TYPE).starts_with("text/html"));
    assert!(text(refused).await.contains("no_session"));
    let refused = h.send(request("GET", "/items/concert", "*/*", None)).await;
    assert!(header(&refused, CONTENT_TYPE).starts_with("application/json"));
}

#[tokio::test]
async fn overlong_addresses_are_refused_before_any_handler() {
    let h = harness().await;
    let long_path = format!("/receipts/{}", "a".repeat(300));
    let response = h.send(request("GET", &long_path, "*/*", None)).await;
    expect_error(response, StatusCode::URI_TOO_LONG, "bad_request").await;
    let long_query = format!("/receipts/{}?secret={}", "a".repeat(32), "b".repeat(300));
    let response = h.send(request("GET", &long_query, "*/*", None)).await;
    expect_error(response, StatusCode::URI_TOO_LONG, "bad_request").await;
}

/// Guards against another site framing the shop's pages (issue 14, point 8): a buy button
/// under someone else's page is clickjacking.
#[tokio::test]
async fn every_answer_forbids_framing() {
    let h = harness().await;
    let response = h
        .app
        .oneshot(
            Request::builder()
                .uri("/nowhere")
                .header("accept", "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src") || csp.contains("default-src 'none'"));
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_and_the_refusal_shape() {
    let h = harness().await;
    let response = h
        .send(request("DELETE", "/healthz", "application/json", None))
        .await;
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

/// An item's picture is served to anyone, cacheable, typed, and unable to run anything; an item
/// without one, or no item, is `404`.
#[tokio::test]
async fn an_items_picture_is_served_from_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::open(dir.path(), Catalogue::demo()).await.unwrap();
    let app = router(shop);
    let response = app
        .clone()
        .oneshot(request("GET", "/static/items/concert", "image/*", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "image/svg+xml");
    assert_eq!(header(&response, CACHE_CONTROL), "public, max-age=3600");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let csp = header(&response, "content-security-policy");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(text(response).await.contains("<svg"));
    let h = harness().await;
    for path in [
        "/static/items/concert",
        "/static/items/nothing",
        "/static/items/%00",
    ] {
        let response = h.send(request("GET", path, "application/json", None)).await;
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

/// Behind a gate, a refusal page leads back to the sale: no dead end at the shop.
#[tokio::test]
async fn a_refusal_page_behind_a_gate_leads_back_to_the_sale() {
    let h = harness().await;
    let mut lost = request("GET", "/receipts/nothing?secret=x", "text/html", None);
    let server = usher_ticket::ServerId::new("shop-a").unwrap();
    let config = usher_gate::GateConfig::new(server, 1, "http://sale.example:8080");
    let links = usher_gate::BackLinks::new(&config);
    lost.extensions_mut().insert(std::sync::Arc::new(links));
    let response = h.send(lost).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, CONTENT_TYPE), "text/html; charset=utf-8");
    let page = text(response).await;
    assert!(
        page.contains("href=\"http://sale.example:8080/\""),
        "{page}"
    );
    assert!(page.contains("<code>not_found</code>"), "{page}");
    // Without a gate nothing is known of a sale: the page says what happened, no link.
    let response = h
        .send(request(
            "GET",
            "/receipts/nothing?secret=x",
            "text/html",
            None,
        ))
        .await;
    assert!(!text(response).await.contains("href="));
}
