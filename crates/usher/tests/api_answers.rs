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

/// The answers the description (`GET /api/v1/openapi.json`) documents for `path` and `method`,
/// each checked by a JSON Schema validator (a crate, not by hand) against the real answers met.
struct Described {
    doc: Value,
    met: std::collections::BTreeSet<(String, String)>,
}

impl Described {
    async fn fetch(cluster: &Cluster) -> Described {
        let url = format!("{}api/v1/openapi.json", cluster.reception_url());
        let r = client().get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        Described {
            doc: r.json().await.unwrap(),
            met: Default::default(),
        }
    }

    /// Checks a real answer `r` to `method path` against the description.
    async fn check(&mut self, method: &str, path: &str, r: reqwest::Response) -> Value {
        let status = r.status().as_u16().to_string();
        let body: Value = r.json().await.unwrap();
        let answer = &self.doc["paths"][path][method]["responses"][&status];
        assert!(
            answer.is_object(),
            "{method} {path} {status} is not described: {body}"
        );
        let schema = &answer["content"]["application/json"]["schema"];
        if let Err(e) = self.validate(schema, &body) {
            panic!("{method} {path} {status} is not as described: {e}\n{body}");
        }
        self.met.insert((path.to_owned(), status));
        body
    }

    /// `body` against `schema`, whose references point into the description's components.
    fn validate(&self, schema: &Value, body: &Value) -> Result<(), String> {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::validator_for(&root).unwrap();
        validator.validate(body).map_err(|e| e.to_string())
    }

    /// Every answer described for `method path` was met.
    fn all_met(&self, method: &str, path: &str) {
        let described = self.doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap();
        for status in described.keys() {
            assert!(
                self.met.contains(&(path.to_owned(), status.clone())),
                "{method} {path} {status} is described but was never met"
            );
        }
    }
}

#[tokio::test]
async fn every_answer_is_as_the_openapi_description_says() {
    let cluster = Cluster::start_with(&[ShopSpec::new(1)], |config| {
        config.queue.waiting_per_client = 1;
    })
    .await;
    let mut doc = Described::fetch(&cluster).await;
    let base = cluster.reception_url();
    let api = format!("{base}api/v1/admissions");
    let path = "/api/v1/admissions";
    let order = |body: Value| client().post(&api).json(&body).send();
    doc.check(
        "post",
        path,
        order(json!({"item": "concert"})).await.unwrap(),
    )
    .await;
    let waiting = doc
        .check(
            "post",
            path,
            order(json!({"item": "concert"})).await.unwrap(),
        )
        .await;
    assert_eq!(waiting["status"], "waiting");
    // The check can fail: a waiting answer is no refusal, and one without its estimate is
    // no waiting answer.
    let refusal = json!({"$ref": "#/components/schemas/ErrorBody"});
    assert!(doc.validate(&refusal, &waiting).is_err());
    let mut bare = waiting.clone();
    bare.as_object_mut().unwrap().remove("estimated_wait_ms");
    let admission = json!({"$ref": "#/components/schemas/Admission"});
    assert!(doc.validate(&admission, &bare).is_err());
    doc.check(
        "post",
        path,
        order(json!({"item": "concert"})).await.unwrap(),
    )
    .await; // 429: the network's one place waiting is taken
    doc.check(
        "post",
        path,
        order(json!({"item": "nothing"})).await.unwrap(),
    )
    .await;
    doc.check("post", path, order(json!({"item": 5})).await.unwrap())
        .await;
    doc.check("post", path, post(&api, None, "{}").await).await;
    let big = format!(r#"{{"item":"{}"}}"#, "x".repeat(10_000));
    let r = client()
        .post(&api)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    doc.check("post", path, r).await;
    doc.check("post", path, client().get(&api).send().await.unwrap())
        .await;
    let sale = client()
        .get(format!("{base}api/v1/sale"))
        .send()
        .await
        .unwrap();
    doc.check("get", "/api/v1/sale", sale).await;
    let opening = client()
        .get(format!("{base}api/v1/opening"))
        .send()
        .await
        .unwrap();
    doc.check("get", "/api/v1/opening", opening).await;
    doc.all_met("get", "/api/v1/sale");

    // Sold out, then unavailable, at a shop without stock.
    let empty = Cluster::start(&[ShopSpec {
        catalogue: one_item("concert", 0),
        ..ShopSpec::new(1)
    }])
    .await;
    let api = format!("{}api/v1/admissions", empty.reception_url());
    let ask = || client().post(&api).json(&json!({"item": "concert"})).send();
    doc.check("post", path, ask().await.unwrap()).await;
    empty.stops[0].send(true).unwrap();
    eventually("the shop out of rotation", || empty.live_shops() == 0).await;
    let unavailable = doc.check("post", path, ask().await.unwrap()).await;
    assert_eq!(unavailable["status"], "unavailable");
    doc.all_met("post", path);
}
