//! The waiting room over real HTTP (Sa54-Sa56, Sc55-Sc56): invariant 5 exactly, early retries,
//! one fair order across items, sold-out items, restarts, clients who go away, and every way a
//! queue token is refused (invariant 5 with a crowd is `invariant_5.rs`).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use usher_buyer::Buyer;

/// Invariant 5, exactly: with one place and two clients in line, the second to join cannot get
/// in before the first, even by coming back first; it keeps its place and is told again.
#[tokio::test]
async fn nobody_is_admitted_before_its_place_is_eligible() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (first, p1) = api.join("concert").await;
    let (second, p2) = api.join("concert").await;
    assert_eq!((p1, p2), (1, 2));
    let (buyer, page) = &held[0];
    buyer.buy(page).await.unwrap();
    eventually("the head to reach the first place", || {
        cluster.status()["queue"]["head"].as_u64().unwrap() >= 1
    })
    .await;
    // The second comes back early and often: it waits, with the same place.
    for _ in 0..5 {
        let (status, body) = api.ask("concert", Some(&second)).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["queue_token"], second.as_str());
        assert_eq!(body["position"], 1, "next, once the first is in");
    }
    let (status, body) = api.ask("concert", Some(&first)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "admitted");
}

/// SPEC (Sa56): every waiting answer carries `estimated_wait_ms` and its range, the first of a
/// sale included. Before any rate is measured the estimate comes from the shops' places and
/// the expected session length (60 s by default): one place and one buyer ahead of it is
/// about a minute, with a range as wide as a prior deserves.
#[tokio::test]
async fn the_first_waiting_answer_of_a_sale_carries_an_estimate_and_its_range() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let _held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (status, body) = api.ask("concert", None).await;
    assert_eq!(status, 503, "{body}");
    let ms = |field: &str| {
        body[field]
            .as_u64()
            .unwrap_or_else(|| panic!("no {field}: {body}"))
    };
    let (estimate, low, high) = (
        ms("estimated_wait_ms"),
        ms("estimate_low_ms"),
        ms("estimate_high_ms"),
    );
    assert!(low <= estimate && estimate <= high, "{body}");
    assert!((30_000..=120_000).contains(&estimate), "{body}");
    assert!(high >= 2 * low.max(1), "a prior's range is wide: {body}");
    // The browser's page says it in words, never "estimating…".
    let page = reqwest::Client::new()
        .get(format!("http://{}/order/concert", cluster.reception.public))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Estimated wait: "), "{page}");
    assert!(!page.contains("estimating"), "{page}");
}

/// Issue 16: the expected session is configurable per item. A shop whose one item is set to
/// ten minutes makes one buyer ahead about ten minutes' wait, not the default minute.
#[tokio::test]
async fn the_first_estimate_uses_the_session_length_configured_for_the_item() {
    let shop = ShopSpec {
        catalogue: one_item("gala", 10),
        ..ShopSpec::new(1)
    };
    let cluster = Cluster::start_with(&[shop], |config| {
        let ten_minutes = Duration::from_secs(600);
        config.queue.expected_sessions = [("gala".to_owned(), ten_minutes)].into();
    })
    .await;
    let buyer = cluster.buyer();
    let admitted = buyer.order("gala").await.unwrap();
    let _page = buyer.claim(&admitted).await.unwrap();
    let api = Api::new(&cluster, "127.0.0.1");
    let (status, body) = api.ask("gala", None).await;
    assert_eq!(status, 503, "{body}");
    let estimate = body["estimated_wait_ms"].as_u64().unwrap();
    assert!((300_000..=1_200_000).contains(&estimate), "{body}");
}

/// The first estimates follow how long sessions really hold a place, as the shops measure it:
/// once a session at the one-place shop has ended within moments, one buyer ahead is a wait of
/// moments, not the configured minute.
#[tokio::test]
async fn the_first_estimate_follows_the_session_length_the_shops_measured() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let held = fill(&cluster, 1).await;
    let (buyer, page) = &held[0];
    buyer.buy(page).await.unwrap();
    eventually(
        "the shop to report how long its session held the place",
        || {
            cluster.status()["shops"][0]["report"]["session_ms"]
                .as_u64()
                .is_some()
        },
    )
    .await;
    let _again = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (status, body) = api.ask("concert", None).await;
    assert_eq!(status, 503, "{body}");
    let estimate = body["estimated_wait_ms"].as_u64().unwrap();
    assert!(estimate < 20_000, "not the configured minute: {body}");
}

/// The waiting answer names the place in line: fixed for the whole wait, in joining order
/// (what `usher crowd` ranks fairness by).
#[tokio::test]
async fn the_waiting_answer_names_a_fixed_place_in_line() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let _held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (first, _) = api.join("concert").await;
    let (second, _) = api.join("app").await;
    for _ in 0..2 {
        for (item, token, place) in [("concert", &first, 1), ("app", &second, 2)] {
            let (status, body) = api.ask(item, Some(token)).await;
            assert_eq!((status, &body["place"]), (503, &place.into()), "{body}");
        }
    }
}

/// Guards against a place standing idle until the next client in line checks in again: a client
/// near the front is held and let in the moment the place frees, on the same request.
#[tokio::test]
async fn a_client_near_the_front_is_let_in_the_moment_a_place_frees() {
    // Held as long as allowed, so that a loaded machine buys well within it.
    let cluster = Cluster::start_with(&[ShopSpec::new(1)], |config| {
        config.queue.hold = usher_reception::MAX_QUEUE_HOLD;
    })
    .await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (token, _) = api.join("concert").await;
    let asking = {
        let api = Api::new(&cluster, "127.0.0.1");
        tokio::spawn(async move { api.ask("concert", Some(&token)).await })
    };
    eventually("the request to be held", || {
        cluster.status()["queue"]["held"] == 1
    })
    .await;
    held[0].0.buy(&held[0].1).await.unwrap();
    let (status, body) = asking.await.unwrap();
    assert_eq!(
        (status, &body["status"]),
        (200, &"admitted".into()),
        "{body}"
    );
    assert_eq!(cluster.status()["queue"]["held"], 0);
}

#[tokio::test]
async fn a_queue_token_admits_only_once() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (token, _) = api.join("concert").await;
    held[0].0.buy(&held[0].1).await.unwrap();
    let body = admit_when_its_turn_comes(&api, "concert", &token).await;
    let buyer = cluster.buyer();
    let page = buyer.claim(&admitted_of(&body)).await.unwrap();
    buyer.buy(&page).await.unwrap();
    let (status, body) = api.ask("concert", Some(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("used")),
        "{body}"
    );
}

/// Guards against the line waiting for a shop's next report tick to learn that an order freed
/// a place: the shop reports at once. Here its ticks are 60 s apart and reservations go per
/// ticket (no lease to learn a free place from), so only that prompt report can move the line
/// within the test's deadline.
#[tokio::test]
async fn a_freed_place_moves_the_line_before_the_next_report_tick() {
    let slow = ShopSpec {
        report_every: Duration::from_secs(60),
        ..ShopSpec::new(1)
    };
    let cluster = Cluster::start_with(&[slow], |config| {
        config.reservation = usher_reception::Reservation::PerTicket;
        config.shop_timeout = Duration::from_secs(120);
    })
    .await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (token, _) = api.join("concert").await;
    let (status, _) = api.ask("concert", Some(&token)).await;
    assert_eq!(status, 503, "the one place is taken");
    held[0].0.buy(&held[0].1).await.unwrap();
    let body = admit_when_its_turn_comes(&api, "concert", &token).await;
    assert_eq!(body["status"], "admitted");
}

async fn admit_when_its_turn_comes(api: &Api, item: &str, token: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = api.ask(item, Some(token)).await;
        if status == 200 {
            return body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(start.elapsed() < DEADLINE, "never admitted: {body}");
        let ms = body["retry_after_ms"].as_u64().unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// One line for the whole sale: a buyer of another item who joined later does not pass.
#[tokio::test]
async fn buyers_of_different_items_share_one_fair_order() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (concert, _) = api.join("concert").await;
    let (app, position) = api.join("app").await;
    assert_eq!(position, 2, "behind the concert buyer");
    held[0].0.buy(&held[0].1).await.unwrap();
    eventually("the head to move", || {
        cluster.status()["queue"]["head"].as_u64().unwrap() >= 1
    })
    .await;
    let (status, body) = api.ask("app", Some(&app)).await;
    assert_eq!(status, 503, "the later buyer waits: {body}");
    let (status, body) = api.ask("concert", Some(&concert)).await;
    assert_eq!(status, 200, "{body}");
}

/// Nobody waits for nothing: when the last unit sells while people wait for it, each of them
/// hears `sold_out` on their next poll, and newcomers at once.
#[tokio::test]
async fn an_item_sold_out_while_people_wait_tells_each_waiter() {
    let one_left = one_item("concert", 1);
    let cluster = Cluster::start(&[ShopSpec {
        catalogue: one_left,
        ..ShopSpec::new(1)
    }])
    .await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (a, _) = api.join("concert").await;
    let (b, _) = api.join("concert").await;
    held[0].0.buy(&held[0].1).await.unwrap();
    eventually("the reception to hear stock 0", || {
        cluster.status()["shops"][0]["report"]["stock"]["concert"] == 0
    })
    .await;
    for token in [&a, &b] {
        let (status, body) = api.ask("concert", Some(token)).await;
        assert_eq!((status, &body["status"]), (410, &Value::from("sold_out")));
    }
    let (status, _) = api.ask("concert", None).await;
    assert_eq!(status, 410);
}

/// The embedded reception keeps its counters on disk before it answers: after a crash (the
/// state file as it stood when the last join was answered, with no final write) and a restart
/// (a new process as far as tokens go: a new issuer), every token still holds its place and
/// newcomers join behind.
#[tokio::test]
async fn a_reception_restart_keeps_places() {
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("queue.json");
    let mut cluster = Cluster::start_with(&[ShopSpec::new(1)], |config| {
        config.queue.state_file = Some(path.clone());
    })
    .await;
    let _held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(api.join("concert").await.0);
    }
    // What a `kill -9` right now would leave on disk.
    let on_disk = std::fs::read(&path).unwrap();
    let issuer_before = cluster.status()["issuer"].clone();
    cluster
        .restart_reception_with(|| std::fs::write(&path, &on_disk).unwrap())
        .await;
    assert_ne!(cluster.status()["issuer"], issuer_before, "a new run");
    let api = Api::new(&cluster, "127.0.0.1");
    for (i, token) in tokens.iter().enumerate() {
        let (status, body) = api.ask("concert", Some(token)).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["position"], i as u64 + 1, "{body}");
    }
    let (_, position) = api.join("concert").await;
    assert_eq!(position, 4, "a newcomer joins behind everyone kept");
}

/// A client that goes away while its admission waits on a shop (here: per-ticket reservations
/// over a slow management link) does not lose its place: the claim is handed back, and its next
/// ask is admitted rather than refused as `used`.
#[tokio::test]
async fn a_client_gone_mid_admission_keeps_its_place() {
    let mut slow = ShopSpec::new(1);
    slow.proxied = true;
    let cluster = Cluster::start_with(&[slow], |config| {
        config.reservation = usher_reception::Reservation::PerTicket;
        config.reserve_timeout = Duration::from_secs(5);
    })
    .await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (token, _) = api.join("concert").await;
    held[0].0.buy(&held[0].1).await.unwrap();
    eventually("the place to become eligible", || {
        cluster.status()["queue"]["head"].as_u64().unwrap() >= 1
    })
    .await;
    let proxy = cluster.proxies[0].as_ref().unwrap();
    proxy.delay(Duration::from_millis(700));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let gone = impatient
        .post(&api.url)
        .json(&serde_json::json!({ "item": "concert", "queue_token": token }))
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up mid-admission");
    proxy.delay(Duration::ZERO);
    let body = admit_when_its_turn_comes(&api, "concert", &token).await;
    assert_eq!(body["status"], "admitted");
}

/// An eligible client who finds no free place for its item waits at the front, and keeps its
/// place as long as it keeps asking, however long that takes beyond the grace period (the
/// place here frees at a shop that does not carry its item, so its turn comes and goes).
#[tokio::test]
async fn a_client_waiting_at_the_front_keeps_its_place_past_the_grace() {
    let app_only = one_item("app", 100);
    let grace = Duration::from_secs(1);
    let cluster = Cluster::start_with(
        &[
            ShopSpec::new(1),
            ShopSpec {
                catalogue: app_only,
                ..ShopSpec::new(1)
            },
        ],
        |config| config.queue.line.grace = grace,
    )
    .await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (token, _) = api.join("concert").await;
    let start = Instant::now();
    while start.elapsed() < grace * 3 {
        let (status, body) = api.ask("concert", Some(&token)).await;
        assert_eq!(status, 503, "still waiting at the front: {body}");
        assert_eq!(body["position"], 1);
        let ms = body["retry_after_ms"].as_u64().unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    held[0].0.buy(&held[0].1).await.unwrap();
    let body = admit_when_its_turn_comes(&api, "concert", &token).await;
    assert_eq!(body["status"], "admitted");
}

/// Token attacks: each refused with its own code, and none of them costs a place.
mod refusals {
    use super::*;

    async fn waiting_token(cluster: &Cluster) -> (Vec<(Buyer, url::Url)>, String) {
        let held = fill(cluster, 1).await;
        let (token, _) = Api::new(cluster, "127.0.0.1").join("concert").await;
        (held, token)
    }

    async fn refused(cluster: &Cluster, from: &str, item: &str, token: &str) -> (u16, String) {
        let (status, body) = Api::new(cluster, from).ask(item, Some(token)).await;
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    }

    #[tokio::test]
    async fn queue_token_replayed_from_another_prefix_is_wrong_client() {
        let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
        let (_held, token) = waiting_token(&cluster).await;
        // Same /24 is the same client (phones move within their network).
        let (status, _) = Api::new(&cluster, "127.0.0.9")
            .ask("concert", Some(&token))
            .await;
        assert_eq!(status, 503);
        let refusal = refused(&cluster, "127.0.5.1", "concert", &token).await;
        assert_eq!(refusal, (400, "wrong_client".to_owned()));
    }

    #[tokio::test]
    async fn queue_token_with_a_flipped_bit_is_forged() {
        let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
        let (_held, token) = waiting_token(&cluster).await;
        let mut bytes = token.into_bytes();
        let at = bytes.len() - 10;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        let refusal = refused(&cluster, "127.0.0.1", "concert", &flipped).await;
        assert_eq!(refusal, (400, "forged".to_owned()));
        let refusal = refused(&cluster, "127.0.0.1", "concert", "not a token").await;
        assert_eq!(refusal, (400, "malformed".to_owned()));
    }

    #[tokio::test]
    async fn queue_token_for_another_item_is_wrong_scope() {
        let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
        let (_held, token) = waiting_token(&cluster).await;
        let refusal = refused(&cluster, "127.0.0.1", "app", &token).await;
        assert_eq!(refusal, (400, "wrong_scope".to_owned()));
    }

    #[tokio::test]
    async fn queue_token_past_its_age_is_expired() {
        let cluster = Cluster::start_with(&[ShopSpec::new(1)], |config| {
            config.queue.token_max_age = Duration::from_secs(600);
        })
        .await;
        let (_held, token) = waiting_token(&cluster).await;
        // Past the age and the 2 s clock-skew allowance.
        cluster.clock.advance(Duration::from_secs(610));
        let refusal = refused(&cluster, "127.0.0.1", "concert", &token).await;
        assert_eq!(refusal, (400, "expired".to_owned()));
    }

    #[tokio::test]
    async fn queue_token_of_another_sale_is_refused() {
        let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
        let other = Cluster::start(&[ShopSpec::new(1)]).await;
        let (_held, foreign) = waiting_token(&other).await;
        let (_held2, _) = waiting_token(&cluster).await;
        let (status, code) = refused(&cluster, "127.0.0.1", "concert", &foreign).await;
        assert_eq!(status, 400);
        assert!(
            ["unknown_key", "forged", "unknown_issuer"].contains(&code.as_str()),
            "{code}"
        );
    }

    #[tokio::test]
    async fn a_place_not_claimed_within_its_grace_is_given_up() {
        let cluster = Cluster::start_with(&[ShopSpec::new(1)], |config| {
            config.queue.line.grace = Duration::from_secs(60);
        })
        .await;
        let (held, token) = waiting_token(&cluster).await;
        held[0].0.buy(&held[0].1).await.unwrap();
        eventually("the place to become eligible", || {
            cluster.status()["queue"]["head"].as_u64().unwrap() >= 1
        })
        .await;
        cluster.clock.advance(Duration::from_secs(61));
        let refusal = refused(&cluster, "127.0.0.1", "concert", &token).await;
        assert_eq!(refusal, (400, "given_up".to_owned()));
    }

    #[tokio::test]
    async fn too_many_joins_from_one_network_is_too_many() {
        let cluster = Cluster::start_with(&[ShopSpec::new(1)], |config| {
            config.queue.join_limit = 3;
        })
        .await;
        let _held = fill(&cluster, 1).await;
        let api = Api::new(&cluster, "127.0.0.1");
        for _ in 0..3 {
            api.join("concert").await;
        }
        let (status, body) = api.ask("concert", None).await;
        assert_eq!((status, body["error"].as_str()), (429, Some("too_many")));
        // Another network is not held to that count.
        Api::new(&cluster, "127.0.7.1").join("concert").await;
    }
}

/// Browsers keep their place in a cookie named per item; a cookie that cannot be honoured is
/// dropped and the browser joins afresh instead of seeing an error.
mod browser_cookie {
    use super::*;

    fn browser(cluster: &Cluster) -> (reqwest::Client, String) {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        (
            http,
            format!("http://{}/order/concert", cluster.reception.public),
        )
    }

    async fn page(http: &reqwest::Client, url: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = http.get(url).header("accept", "text/html");
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        request.send().await.unwrap()
    }

    #[tokio::test]
    async fn the_waiting_page_keeps_its_place_across_reloads() {
        let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
        let _held = fill(&cluster, 1).await;
        let (http, url) = browser(&cluster);
        let first = page(&http, &url, None).await;
        assert_eq!(first.status(), 503);
        let headers = first.headers().clone();
        let cookie = headers["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("usher-queue-concert="), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.contains_key("retry-after"));
        let text = first.text().await.unwrap();
        assert!(text.contains("data-position=\"1\""), "{text}");
        // Someone joins behind; the reload keeps place 1 and sets no new cookie.
        Api::new(&cluster, "127.0.0.1").join("concert").await;
        let again = page(&http, &url, None).await;
        assert_eq!(again.status(), 503);
        assert!(!again.headers().contains_key("set-cookie"));
        assert!(again.text().await.unwrap().contains("data-position=\"1\""));
    }

    #[tokio::test]
    async fn a_stale_queue_cookie_is_dropped_and_the_browser_joins_afresh() {
        let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
        let _held = fill(&cluster, 1).await;
        let (http, url) = browser(&cluster);
        let response = page(&http, &url, Some("usher-queue-concert=garbage")).await;
        assert_eq!(response.status(), 503, "a waiting page, not an error");
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cookie.starts_with("usher-queue-concert=") && !cookie.contains("garbage"));
        assert!(response.text().await.unwrap().contains("You are"));
    }

    #[tokio::test]
    async fn the_waiting_page_assets_are_served_from_the_reception() {
        let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
        let base = format!("http://{}", cluster.reception.public);
        // The stylesheet is in the page itself (`usher_wire::html::STYLE`).
        for (path, kind) in [("/assets/waiting.js", "text/javascript")] {
            let response = reqwest::get(format!("{base}{path}")).await.unwrap();
            assert_eq!(response.status(), 200);
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with(kind)
            );
        }
    }
}
