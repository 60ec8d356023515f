//! The waiting room over real HTTP (Sa54-Sa56, Sc55-Sc56): invariant 5 with a crowd that obeys
//! its return times, early retries, one fair order across items, sold-out items, restarts, and
//! every way a queue token is refused.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use usher_buyer::{Admitted, Buyer};
use usher_shop::Catalogue;

/// An API client of the reception (`POST /api/v1/admissions`), from one source address.
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    fn new(cluster: &Cluster, from: &str) -> Api {
        let http = reqwest::Client::builder()
            .local_address(from.parse::<IpAddr>().unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Api {
            http,
            url: format!("http://{}/api/v1/admissions", cluster.reception.public),
        }
    }

    async fn ask(&self, item: &str, token: Option<&str>) -> (u16, Value) {
        let mut body = serde_json::json!({ "item": item });
        if let Some(t) = token {
            body["queue_token"] = Value::from(t);
        }
        let response = self.http.post(&self.url).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Joins the line (every shop must be full): the token and the position.
    async fn join(&self, item: &str) -> (String, u64) {
        let (status, body) = self.ask(item, None).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "waiting", "{body}");
        let token = body["queue_token"].as_str().unwrap().to_owned();
        (token, body["position"].as_u64().unwrap())
    }
}

/// Buyers admitted and holding their session at a shop, until they buy.
async fn fill(cluster: &Cluster, n: usize) -> Vec<(Buyer, url::Url)> {
    let mut held = Vec::new();
    for _ in 0..n {
        let buyer = cluster.buyer();
        let admitted = buyer.order("concert").await.unwrap();
        assert_eq!(admitted.attempts, 1, "the shop should have had room");
        let page = buyer.claim(&admitted).await.unwrap();
        held.push((buyer, page));
    }
    held
}

fn admitted_of(body: &Value) -> Admitted {
    Admitted {
        url: body["url"].as_str().unwrap().parse().unwrap(),
        server: body["server"].as_str().map(str::to_owned),
        attempts: 1,
        waited: Duration::ZERO,
    }
}

/// Kendall's τ between arrival order and admission order (1 = the same order).
fn kendall_tau(pairs: &[(usize, u64)]) -> f64 {
    let (mut concordant, mut discordant) = (0i64, 0i64);
    for (i, a) in pairs.iter().enumerate() {
        for b in &pairs[i + 1..] {
            let s = (a.0 as i64 - b.0 as i64).signum() * (a.1 as i64 - b.1 as i64).signum();
            concordant += i64::from(s > 0);
            discordant += i64::from(s < 0);
        }
    }
    (concordant - discordant) as f64 / (concordant + discordant).max(1) as f64
}

#[test]
fn kendall_tau_of_known_orders() {
    let same: Vec<_> = (0..10).map(|i| (i, i as u64)).collect();
    assert_eq!(kendall_tau(&same), 1.0);
    let reversed: Vec<_> = (0..10).map(|i| (i, 10 - i as u64)).collect();
    assert_eq!(kendall_tau(&reversed), -1.0);
    let one_swap = [(0, 1), (1, 0), (2, 2), (3, 3)];
    assert!((kendall_tau(&one_swap) - 4.0 / 6.0).abs() < 1e-9);
}

/// Invariant 5 with a crowd: 500 clients join in a known order while the one shop (capacity
/// 10) is full; 20% never come back; the rest obey their return times (one in ten comes back
/// early every time: it keeps its place but gains nothing it can count on), each holds its session 300 ms and buys. Places free tens of times a
/// second. The admission order of those who obey must follow their arrival order (τ ≥ 0.99),
/// every obedient client
/// must get in, the abandoners must not stall the line, and capacity must stay in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariant_5_places_become_eligible_in_arrival_order() {
    const CLIENTS: usize = 500;
    const CAPACITY: u32 = 10;
    const HOLD: Duration = Duration::from_millis(300);
    // The demo's plentiful item, so that nobody is told it sold out.
    const ITEM: &str = "app";
    let cluster = Arc::new(Cluster::start(&[ShopSpec::new(CAPACITY)]).await);
    let held = fill(&cluster, CAPACITY as usize).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        let (token, position) = api.join(ITEM).await;
        assert_eq!(
            position,
            i as u64 + 1,
            "positions follow arrival {}",
            cluster.status()
        );
        tokens.push(token);
    }

    let admissions = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // Samples of places in use while anyone waits.
    let sampler = {
        let (cluster, done) = (Arc::clone(&cluster), Arc::clone(&done));
        tokio::spawn(async move {
            let (mut sum, mut n) = (0.0, 0u32);
            while !done.load(Ordering::Relaxed) {
                let stats = cluster.shops[0].gate.stats();
                if cluster.status()["queue"]["waiting"].as_u64().unwrap() > 0 {
                    sum += f64::from(stats.sessions + stats.reserved) / f64::from(CAPACITY);
                    n += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sum / f64::from(n.max(1))
        })
    };
    let start = Instant::now();
    for (buyer, page) in &held {
        buyer.buy(page).await.unwrap();
    }
    let mut tasks = Vec::new();
    for (arrival, token) in tokens.into_iter().enumerate() {
        if arrival % 5 == 4 {
            continue; // walks away
        }
        let early = arrival % 10 == 3;
        let (cluster, admissions) = (Arc::clone(&cluster), Arc::clone(&admissions));
        tasks.push(tokio::spawn(async move {
            let api = Api::new(&cluster, "127.0.0.1");
            let mut wait = Duration::from_millis(100);
            let mut last_position = u64::MAX;
            loop {
                tokio::time::sleep(if early { wait / 2 } else { wait }).await;
                let (status, body) = api.ask(ITEM, Some(&token)).await;
                match status {
                    200 => {
                        let seq = admissions.fetch_add(1, Ordering::SeqCst);
                        let buyer = cluster.buyer();
                        let page = buyer.claim(&admitted_of(&body)).await.unwrap();
                        tokio::time::sleep(HOLD).await;
                        buyer.buy(&page).await.unwrap();
                        return (arrival, seq, early);
                    }
                    503 => {
                        assert_eq!(body["queue_token"], token.as_str(), "the same place");
                        let position = body["position"].as_u64().unwrap();
                        assert!(position <= last_position, "coming back never costs a place");
                        last_position = position;
                        wait = Duration::from_millis(body["retry_after_ms"].as_u64().unwrap());
                        assert!(
                            wait <= Duration::from_secs(30),
                            "check-ins at most 30 s apart"
                        );
                    }
                    _ => panic!("client {arrival}: {status} {body}"),
                }
            }
        }));
    }
    let mut order = Vec::new();
    for task in tasks {
        order.push(
            tokio::time::timeout(Duration::from_secs(120), task)
                .await
                .expect("every obedient client is admitted")
                .unwrap(),
        );
    }
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let utilisation = sampler.await.unwrap();
    let obedient: Vec<_> = order.iter().filter(|o| !o.2).map(|o| (o.0, o.1)).collect();
    let all: Vec<_> = order.iter().map(|o| (o.0, o.1)).collect();
    let tau = kendall_tau(&obedient);
    let tau_all = kendall_tau(&all);
    let rate = order.len() as f64 / elapsed.as_secs_f64();
    eprintln!(
        "invariant 5: {} admitted in {elapsed:.1?} ({rate:.1}/s), kendall tau {tau:.4} \
         (with the early retriers {tau_all:.4}), \
         utilisation while queued {utilisation:.3}, queue {}",
        order.len(),
        cluster.status()["queue"]
    );
    assert_eq!(order.len(), CLIENTS * 4 / 5);
    assert!(
        tau >= 0.99,
        "admission order follows arrival order: tau {tau}"
    );
    assert!(tau_all >= 0.97, "early retries gain little: tau {tau_all}");
    // Figures (about 20 frees a second, utilisation 0.65 on an idle machine) are recorded in
    // the issue; the bounds here only catch a line that stalls, with room for a loaded CI.
    assert!(rate >= 10.0, "places freed {rate:.1} times a second");
    assert!(
        utilisation >= 0.4,
        "abandoners must not leave capacity idle: {utilisation}"
    );
    let high_water = cluster.shops[0].gate.stats().high_water;
    assert!(
        high_water <= CAPACITY,
        "invariant 1: high water {high_water}"
    );
}

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
    let one_left = Catalogue::from_toml(
        r#"
        [[items]]
        id = "concert"
        name = "Concert"
        price_cents = 100
        stock = 1
        kind = "ticket"
        "#,
    )
    .unwrap();
    let cluster = Cluster::start(&[ShopSpec {
        capacity: 1,
        catalogue: one_left,
        proxied: false,
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

/// The embedded reception keeps its counters on disk: after a restart (a new process as far as
/// tokens go: a new issuer), every token still holds its place and newcomers join behind.
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
    let issuer_before = cluster.status()["issuer"].clone();
    cluster.restart_reception().await;
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
        for (path, kind) in [
            ("/assets/waiting.js", "text/javascript"),
            ("/assets/waiting.css", "text/css"),
        ] {
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
