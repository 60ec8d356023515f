//! The contract's paths: admitted, waiting, sold out, refused, giving up, another client address.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::http::StatusCode;
use url::Url;
use usher_buyer::{Buyer, BuyerConfig, BuyerError, ErrorKind, RefusalCode, Step};
use usher_wire::{Code, ErrorBody};

use crate::mock::{DOWNLOAD_LEN, Script, start};

fn buyer(reception: &Url, api: bool) -> Buyer {
    let mut config = BuyerConfig::new(reception.clone());
    config.api = api;
    Buyer::new(config).unwrap()
}

#[tokio::test]
async fn happy_path_step_by_step_sends_the_session_cookie_back() {
    let (mock, reception) = start(Script::default()).await;
    let buyer = buyer(&reception, false);

    let admitted = buyer.order("poster").await.unwrap();
    assert_eq!(admitted.attempts, 1);
    assert_eq!(admitted.waited, Duration::ZERO);
    assert_eq!(
        admitted.server, None,
        "the browser path does not name the shop"
    );
    assert!(
        admitted.url.path().starts_with("/t/ticket-1/"),
        "{}",
        admitted.url.path()
    );
    assert_ne!(
        admitted.url.port(),
        reception.port(),
        "the ticket points at the shop"
    );

    let page = buyer.claim(&admitted).await.unwrap();
    assert_eq!(page.path(), "/items/poster");
    assert_eq!(page.port(), admitted.url.port());

    let order = buyer.buy(&page).await.unwrap();
    assert!(order.created);
    assert_eq!(order.order_id, "o-1");
    assert_eq!(order.item, "poster");
    let shop = page.join("/").unwrap();
    assert_eq!(order.receipt_url, shop.join("orders/o-1").unwrap());
    assert_eq!(
        order.download_url,
        Some(shop.join("orders/o-1/download").unwrap())
    );

    let again = buyer.buy(&page).await.unwrap();
    assert!(
        !again.created,
        "a second buy is the same order, not a new one"
    );
    assert_eq!(again.order_id, order.order_id);

    let receipt = buyer.receipt(&order).await.unwrap();
    assert_eq!(receipt["order_id"], "o-1");
    assert_eq!(buyer.download(&order).await.unwrap(), DOWNLOAD_LEN as u64);

    let seen = mock.seen.lock().unwrap();
    let session = "usher_shop-a_poster=session-ticket-1";
    assert_eq!(seen.page_cookie.as_deref(), Some(session));
    assert_eq!(seen.buys.len(), 2);
    for (cookie, accept) in &seen.buys {
        assert_eq!(cookie.as_deref(), Some(session));
        assert_eq!(accept.as_deref(), Some("application/json"));
    }
}

#[tokio::test]
async fn journey_records_every_step() {
    let script = Script {
        waits: 1,
        retry_after_ms: 5,
        ..Script::default()
    };
    let (_mock, reception) = start(script).await;
    let journey = buyer(&reception, true).journey("poster").await;

    assert!(journey.succeeded(), "{:?}", journey.error);
    let steps: Vec<_> = journey.steps.iter().map(|r| (r.step, r.ok)).collect();
    assert_eq!(
        steps,
        [
            (Step::Order, true),
            (Step::Claim, true),
            (Step::Buy, true),
            (Step::Receipt, true),
            (Step::Download, true)
        ]
    );
    assert_eq!(journey.attempts, 2);
    assert!(journey.waited >= Duration::from_millis(5));
    assert!(journey.duration_of(Step::Order).unwrap() >= journey.waited);
    assert!(journey.total >= journey.steps.iter().map(|r| r.duration).sum::<Duration>());
    assert_eq!(journey.server.as_deref(), Some("shop-a"));
    assert_eq!(journey.order_id.as_deref(), Some("o-1"));
    assert_eq!(journey.downloaded_bytes, Some(DOWNLOAD_LEN as u64));
}

#[tokio::test]
async fn api_waits_twice_then_is_admitted_sending_back_the_latest_token() {
    let script = Script {
        waits: 2,
        retry_after_ms: 5,
        ..Script::default()
    };
    let (mock, reception) = start(script).await;
    let admitted = buyer(&reception, true).order("poster").await.unwrap();

    assert_eq!(admitted.attempts, 3);
    assert!(
        admitted.waited >= Duration::from_millis(10),
        "{:?}",
        admitted.waited
    );
    assert_eq!(admitted.server.as_deref(), Some("shop-a"));
    let seen = mock.seen.lock().unwrap();
    assert_eq!(
        seen.queue_tokens,
        [None, Some("q1".to_owned()), Some("q2".to_owned())]
    );
}

#[tokio::test]
async fn browser_obeys_retry_after_and_keeps_its_queue_cookie() {
    let script = Script {
        waits: 2,
        retry_after_headers: vec!["1", "0"],
        ..Script::default()
    };
    let (mock, reception) = start(script).await;
    let admitted = buyer(&reception, false).order("poster").await.unwrap();

    assert_eq!(admitted.attempts, 3);
    assert!(
        admitted.waited >= Duration::from_secs(1),
        "{:?}",
        admitted.waited
    );
    let seen = mock.seen.lock().unwrap();
    let place = Some("usher_queue=place-1".to_owned());
    assert_eq!(seen.order_cookies, [None, place.clone(), place]);
}

#[tokio::test]
async fn unavailable_is_retried() {
    let script = Script {
        unavailable_first: true,
        ..Script::default()
    };
    let (_mock, reception) = start(script).await;
    for api in [true, false] {
        let admitted = buyer(&reception, api).order("poster").await;
        // The mock answers "unavailable" to its very first ask only, so only the first buyer saw it.
        let expected = if api { 2 } else { 1 };
        assert_eq!(admitted.unwrap().attempts, expected, "api: {api}");
    }
}

#[tokio::test]
async fn sold_out_is_sold_out_on_both_paths() {
    let script = Script {
        sold_out: true,
        ..Script::default()
    };
    let (mock, reception) = start(script).await;
    for api in [true, false] {
        let result = buyer(&reception, api).order("poster").await;
        assert!(
            matches!(result, Err(BuyerError::SoldOut)),
            "api {api}: {result:?}"
        );
    }
    let journey = buyer(&reception, true).journey("poster").await;
    let failure = journey.error.unwrap();
    assert_eq!(
        (failure.step, failure.kind, failure.status),
        (Step::Order, ErrorKind::SoldOut, Some(410))
    );
    assert_eq!(mock.seen.lock().unwrap().asks, 3, "sold out is not retried");
}

#[tokio::test]
async fn a_used_ticket_is_refused_with_its_code() {
    let body = serde_json::to_string(&ErrorBody::new(Code::Used)).unwrap();
    let script = Script {
        claim_refusal: Some((StatusCode::FORBIDDEN, body)),
        ..Script::default()
    };
    let (mock, reception) = start(script).await;
    let buyer = buyer(&reception, true);

    let admitted = buyer.order("poster").await.unwrap();
    match buyer.claim(&admitted).await {
        Err(BuyerError::Refused {
            status,
            code,
            message,
        }) => {
            assert_eq!(status, 403);
            assert_eq!(code, RefusalCode::Known(Code::Used));
            assert_eq!(message, Code::Used.message());
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    let journey = buyer.journey("poster").await;
    let failure = journey.error.unwrap();
    assert_eq!(failure.step, Step::Claim);
    assert_eq!(failure.code, Some(RefusalCode::Known(Code::Used)));
    assert_eq!(
        journey.steps.last().map(|r| (r.step, r.ok)),
        Some((Step::Claim, false))
    );
    assert!(
        mock.seen.lock().unwrap().buys.is_empty(),
        "no buy after a refused claim"
    );
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let script = Script {
        always_wait: true,
        retry_after_ms: 1,
        ..Script::default()
    };
    let (mock, reception) = start(script).await;
    let mut config = BuyerConfig::new(reception);
    config.api = true;
    config.max_attempts = 4;
    let result = Buyer::new(config).unwrap().order("poster").await;

    assert!(
        matches!(result, Err(BuyerError::GaveUp { attempts: 4, .. })),
        "{result:?}"
    );
    assert_eq!(
        mock.seen.lock().unwrap().asks,
        4,
        "no ask beyond max_attempts"
    );
}

#[tokio::test]
async fn gives_up_rather_than_wait_past_max_wait() {
    let script = Script {
        always_wait: true,
        retry_after_ms: 40,
        ..Script::default()
    };
    let (mock, reception) = start(script).await;
    let mut config = BuyerConfig::new(reception);
    config.api = true;
    config.max_wait = Duration::from_millis(110);
    let result = Buyer::new(config).unwrap().order("poster").await;

    // Two waits of 40 ms fit in 110 ms; a third would not, so the buyer stops after its third ask.
    match result {
        Err(BuyerError::GaveUp { attempts, waited }) => {
            assert_eq!(attempts, 3);
            assert!(waited >= Duration::from_millis(80), "{waited:?}");
            assert!(waited <= Duration::from_millis(110), "{waited:?}");
        }
        other => panic!("expected to give up, got {other:?}"),
    }
    assert_eq!(mock.seen.lock().unwrap().asks, 3);
}

#[tokio::test]
async fn local_address_is_the_peer_the_servers_see() {
    let (mock, reception) = start(Script::default()).await;
    let other_client = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut config = BuyerConfig::new(reception.clone());
    config.local_address = Some(other_client);
    let journey = Buyer::new(config).unwrap().journey("poster").await;
    assert!(journey.succeeded(), "{:?}", journey.error);

    let peers = std::mem::take(&mut mock.seen.lock().unwrap().peers);
    assert_eq!(
        peers.len(),
        6,
        "order, ticket, page, buy, receipt, download"
    );
    assert!(peers.iter().all(|p| *p == other_client), "{peers:?}");

    // Without it the same servers see the default loopback address, so the check above can fail.
    buyer(&reception, false).order("poster").await.unwrap();
    let peers = &mock.seen.lock().unwrap().peers;
    assert_eq!(peers, &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
}
