//! Answers outside the contract: each must become an error, never a panic or a wrong success.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use url::Url;
use usher_buyer::{Admitted, Buyer, BuyerConfig, BuyerError, ErrorKind, RefusalCode, Step};

use crate::mock::serve;

async fn api_buyer(app: Router) -> Buyer {
    let mut config = BuyerConfig::new(serve(app).await);
    config.api = true;
    config.max_attempts = 3;
    Buyer::new(config).unwrap()
}

fn admitted(url: Url) -> Admitted {
    Admitted {
        url,
        server: None,
        attempts: 1,
        waited: Duration::ZERO,
        first_estimate: None,
        first_range: None,
        first_estimate_after: Duration::ZERO,
        place: None,
        asks: Vec::new(),
    }
}

fn admissions(answer: impl IntoResponse + Clone + Send + Sync + 'static) -> Router {
    Router::new().route(
        "/api/v1/admissions",
        post(move || {
            let answer = answer.clone();
            async move { answer }
        }),
    )
}

#[tokio::test]
async fn admission_bodies_that_are_not_admissions_are_bad_responses() {
    let cases = [
        (StatusCode::OK, "not json"),
        (StatusCode::OK, r#"{"status":"maybe"}"#),
        (
            StatusCode::OK,
            r#"{"status":"admitted","url":"file:///etc/passwd","server":"a","expires_at":"2030-01-01T00:00:00Z"}"#,
        ),
        (StatusCode::OK, r#"{"status":"waiting","retry_after_ms":1}"#),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"admitted","url":"http://127.0.0.1:1/","server":"a","expires_at":"2030-01-01T00:00:00Z"}"#,
        ),
    ];
    for (status, body) in cases {
        let buyer = api_buyer(admissions((status, body))).await;
        let result = buyer.order("poster").await;
        assert!(
            matches!(result, Err(BuyerError::BadResponse(_))),
            "{status} {body}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_503_that_is_no_admission_is_waited_out_then_given_up() {
    let answer = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(RETRY_AFTER, "0")],
        "<h1>proxy says no</h1>",
    );
    let result = api_buyer(admissions(answer)).await.order("poster").await;
    assert!(
        matches!(result, Err(BuyerError::GaveUp { attempts: 3, .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let huge = format!(
        r#"{{"status":"waiting","retry_after_ms":1,"queue_token":"{}"}}"#,
        "x".repeat(100_000)
    );
    let result = api_buyer(admissions((StatusCode::SERVICE_UNAVAILABLE, huge)))
        .await
        .order("poster")
        .await;
    match result {
        Err(BuyerError::BadResponse(message)) => assert!(message.contains("over"), "{message}"),
        other => panic!("expected a bad response, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_codes_and_bare_statuses_are_kept_apart() {
    let unknown = (
        StatusCode::TOO_MANY_REQUESTS,
        r#"{"error":"brand_new","message":"later"}"#,
    );
    match api_buyer(admissions(unknown)).await.order("poster").await {
        Err(error @ BuyerError::Refused { .. }) => {
            assert_eq!(
                error.refusal_code(),
                Some(&RefusalCode::Other("brand_new".into()))
            );
            assert_eq!(error.status(), Some(429));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let bare = (StatusCode::INTERNAL_SERVER_ERROR, "oops");
    let result = api_buyer(admissions(bare)).await.order("poster").await;
    assert!(
        matches!(
            result,
            Err(BuyerError::UnexpectedStatus {
                step: Step::Order,
                status: 500
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_browser_redirect_without_location_is_a_bad_response() {
    let app = Router::new().route("/order/{item}", get(|| async { StatusCode::SEE_OTHER }));
    let buyer = Buyer::new(BuyerConfig::new(serve(app).await)).unwrap();
    let result = buyer.order("poster").await;
    assert!(
        matches!(result, Err(BuyerError::BadResponse(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_claim_that_opens_no_session_or_leaves_the_shop_is_a_bad_response() {
    let app = Router::new()
        .route(
            "/t/{ticket}/items/{item}",
            get(|| async { (StatusCode::SEE_OTHER, [(LOCATION, "/items/poster")]) }),
        )
        .route(
            "/t2/{ticket}/items/{item}",
            get(|| async {
                (
                    StatusCode::SEE_OTHER,
                    [
                        (LOCATION, "http://127.0.0.9:1/items/poster"),
                        (SET_COOKIE, "s=1"),
                    ],
                )
            }),
        );
    let shop = serve(app).await;
    let buyer = Buyer::new(BuyerConfig::new(shop.clone())).unwrap();
    for path in ["t/abc/items/poster", "t2/abc/items/poster"] {
        let result = buyer.claim(&admitted(shop.join(path).unwrap())).await;
        assert!(
            matches!(result, Err(BuyerError::BadResponse(_))),
            "{path}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_claim_does_not_leak_the_ticket() {
    // A port that was just free: nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let ticket_url = Url::parse(&format!("http://{address}/t/secret-ticket/items/poster")).unwrap();
    let buyer = Buyer::new(BuyerConfig::new(ticket_url.clone())).unwrap();

    let error = buyer.claim(&admitted(ticket_url)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{error}");
    assert!(
        !format!("{error} {error:?}").contains("secret-ticket"),
        "{error:?}"
    );
}
