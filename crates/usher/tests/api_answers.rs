//! The API's answers in one shape: every answer that is not a success carries `error` and
//! `message` (and `retry` where it helps), each malformed request gets its own status and code,
//! and the message says what is wrong. Each case guards against the answers disagreeing again
//! (one `400 bad_request` "The request is not valid." for six different mistakes).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// `r`'s status and body, after checking the refusal shape: `error` a code, `message` a
/// sentence, and `Cache-Control: no-store`.
async fn refusal(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    assert_eq!(r.headers()["cache-control"], "no-store", "{status}");
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string(), "{status} {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| m.len() > 10),
        "{body}"
    );
    (status, body)
}

async fn post(url: &str, content_type: Option<&str>, body: &'static str) -> reqwest::Response {
    let mut request = client().post(url).body(body);
    if let Some(t) = content_type {
        request = request.header("content-type", t);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn each_malformed_admission_request_gets_its_own_status_code_and_words() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let api = format!("{}api/v1/admissions", cluster.reception_url());
    let json = Some("application/json");
    // (body, content type, status, code, words the message must hold)
    let cases: [(&'static str, Option<&str>, u16, &str, &str); 9] = [
        ("{not json", json, 400, "bad_request", "line 1 column 2"),
        ("", json, 400, "bad_request", "EOF"),
        ("null", json, 400, "bad_request", "`item`"),
        ("[]", json, 400, "bad_request", "`item`"),
        (
            r#"{"queue_token":"x"}"#,
            json,
            400,
            "bad_request",
            "missing field `item`",
        ),
        (
            r#"{"item":5}"#,
            json,
            400,
            "bad_request",
            "invalid type: integer `5`",
        ),
        (
            r#"{"item":"concert"}"#,
            Some("text/plain"),
            415,
            "unsupported_media_type",
            "Content-Type",
        ),
        (
            r#"{"item":"concert"}"#,
            None,
            415,
            "unsupported_media_type",
            "application/json",
        ),
        (r#"{"item":"nothing"}"#, json, 404, "unknown_item", "item"),
    ];
    for (body, content_type, status, code, words) in cases {
        let (got, answer) = refusal(post(&api, content_type, body).await).await;
        assert_eq!(
            (got.as_u16(), answer["error"].as_str().unwrap()),
            (status, code),
            "{body}"
        );
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(words), "{body}: {message}");
    }
}

/// Unknown fields are ignored (documented): a client that sends a field a later version
/// reads keeps working. Refusing them broke clients the day a field was added.
#[tokio::test]
async fn unknown_fields_are_ignored_and_a_trailing_slash_is_the_same_address() {
    let cluster = Cluster::start(&[ShopSpec::new(3)]).await;
    let base = cluster.reception_url();
    let r = client()
        .post(format!("{base}api/v1/admissions/"))
        .json(&json!({"item": "concert", "coupon": "SPRING", "nested": {"a": [1]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "admitted");
    let r = client()
        .get(format!("{base}order/concert/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "`/order/concert/` orders concert"
    );
    let r = client()
        .get(format!("{base}healthz/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_and_the_refusal_shape() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let base = cluster.reception_url();
    let cases = [
        (reqwest::Method::GET, "api/v1/admissions", "POST"),
        (reqwest::Method::DELETE, "order/concert", "GET"),
        (reqwest::Method::POST, "healthz", "GET"),
    ];
    for (method, path, allow) in cases {
        let r = client()
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        let allowed = r.headers()["allow"].to_str().unwrap().to_owned();
        assert!(allowed.contains(allow), "{method} {path}: Allow {allowed}");
        let (status, body) = refusal(r).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(body["error"], "method_not_allowed");
    }
}

#[tokio::test]
async fn sold_out_and_unavailable_carry_error_message_and_retry() {
    let catalogue = one_item("concert", 0);
    let spec = ShopSpec {
        catalogue,
        ..ShopSpec::new(2)
    };
    let cluster = Cluster::start(&[spec]).await;
    let api = format!("{}api/v1/admissions", cluster.reception_url());
    let ask = || async {
        client()
            .post(&api)
            .json(&json!({"item": "concert"}))
            .send()
            .await
            .unwrap()
    };
    let (status, body) = refusal(ask().await).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(
        (&body["status"], &body["error"]),
        (&json!("sold_out"), &json!("sold_out"))
    );
    assert_eq!(body["retry"], cluster.reception_url().as_str());
    cluster.stops[0].send(true).unwrap();
    eventually("the shop out of rotation", || cluster.live_shops() == 0).await;
    let r = ask().await;
    assert!(r.headers().contains_key("retry-after"));
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        (&body["status"], &body["error"]),
        (&json!("unavailable"), &json!("unavailable"))
    );
    assert_eq!(body["retry"], cluster.reception_url().as_str());
}

/// A refused queue token is a place in line, not a ticket: the words say so.
#[tokio::test]
async fn a_refused_queue_token_is_called_a_place_in_line() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let _held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (token, _) = api.join("concert").await;
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let r = client()
        .post(&api.url)
        .json(&json!({"item": "concert", "queue_token": forged}))
        .send()
        .await
        .unwrap();
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "forged");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("place in line"), "{message}");
    assert!(!message.contains("ticket"), "{message}");
}
