//! A scheduled opening over real HTTP: nobody is admitted before it, arrivals before it wait in
//! a pre-queue with a countdown, the pre-queue's order is drawn at the opening from a seed
//! whose hash was published before it, anyone can recompute every place from the seed
//! published after it, later arrivals join behind, and a restart keeps the pre-queue and the
//! draw.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use ring::{digest, hmac};
use serde_json::Value;
use usher_reception::{OpeningSettings, PreQueueOrder};

/// How far ahead the tests' openings are; the clock is moved past it rather than waited out.
const AHEAD: Duration = Duration::from_secs(3600);

/// A cluster of two shops of two places each, its sale opening [`AHEAD`], its line kept in
/// `state` when given.
async fn scheduled(state: Option<std::path::PathBuf>, order: PreQueueOrder) -> Cluster {
    let specs = [ShopSpec::new(2), ShopSpec::new(2)];
    Cluster::start_with(&specs, |config| {
        config.queue.opening = Some(OpeningSettings {
            order,
            ..OpeningSettings::new(SystemTime::now() + AHEAD)
        });
        config.queue.state_file = state;
    })
    .await
}

async fn opening(cluster: &Cluster) -> Value {
    let url = format!("http://{}/api/v1/opening", cluster.reception.public);
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Moves the clock past the opening and waits for the shops to report on the new time.
async fn open(cluster: &Cluster) {
    advance(cluster, AHEAD + Duration::from_secs(1)).await;
}

/// Moves the clock `by` and waits until every shop reported on the new time (a jump leaves
/// their last reports stale, and them out of rotation until the next).
async fn advance(cluster: &Cluster, by: Duration) {
    cluster.clock.advance(by);
    let last = cluster.shops.len() - 1;
    let seq = || cluster.status()["shops"][last]["report"]["seq"].as_u64();
    let before = seq();
    eventually("every shop to report on the new time", || {
        cluster.live_shops() == cluster.shops.len() && seq() > before
    })
    .await;
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The draw recomputed from its published recipe alone (as `GET /api/v1/opening` documents
/// it), not with usher's own code: the drawn index of pre-queue number `n` (0-based).
fn recomputed_index(seed: &[u8], size: u64, n: u64) -> u64 {
    let key = hmac::Key::new(hmac::HMAC_SHA256, seed);
    let bits = (64 - (size - 1).leading_zeros()).max(2);
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let round = |r: u8, x: u64| {
        let mut message = vec![r, half as u8];
        message.extend_from_slice(&x.to_be_bytes());
        let tag = hmac::sign(&key, &message);
        u64::from_be_bytes(tag.as_ref()[..8].try_into().unwrap()) & mask
    };
    let mut x = n;
    loop {
        let (mut left, mut right) = (x >> half, x & mask);
        for r in 0..8 {
            (left, right) = (right, left ^ round(r, right));
        }
        x = (left << half) | right;
        if x < size {
            return x;
        }
    }
}

/// Invariant 5 at an opening: before it nobody is admitted though every shop is empty, each
/// arrival is told the opening, its pre-queue number and an estimate that counts the time to
/// it; at it, each client's place is the one the published seed draws for its number, and
/// only the first drawn places are let in.
#[tokio::test]
async fn nobody_is_admitted_before_the_opening_and_the_draw_is_recomputed_from_the_seed() {
    let cluster = scheduled(None, PreQueueOrder::Random).await;
    let published = opening(&cluster).await;
    assert!(
        published["seed"].is_null(),
        "secret until the draw: {published}"
    );
    let commitment = published["seed_sha256"].as_str().unwrap().to_owned();
    let api = Api::new(&cluster, "127.0.0.1");
    let mut tokens = Vec::new();
    for n in 1..=12u64 {
        let (status, body) = api.ask("concert", None).await;
        assert_eq!(
            status, 503,
            "every shop is empty, yet the sale is not open: {body}"
        );
        assert_eq!(body["pre_queue"], n, "{body}");
        assert!(body["opens_at"].is_string(), "{body}");
        assert!(
            body["place"].is_null() && body["position"].is_null(),
            "{body}"
        );
        let estimate = body["estimated_wait_ms"].as_u64().unwrap();
        assert!(estimate >= AHEAD.as_millis() as u64 - 60_000, "{body}");
        assert!(
            body["retry_after_ms"].as_u64().unwrap() <= 30_000,
            "a check-in: {body}"
        );
        tokens.push(body["queue_token"].as_str().unwrap().to_owned());
    }
    // Coming back early changes nothing.
    let (status, body) = api.ask("concert", Some(&tokens[0])).await;
    assert_eq!(
        (status, &body["pre_queue"]),
        (503, &Value::from(1)),
        "{body}"
    );
    assert_eq!(
        cluster.status()["queue"]["head"],
        0,
        "no place eligible yet"
    );

    open(&cluster).await;
    let mut told = Vec::new();
    for token in &tokens {
        let (status, body) = api.ask("concert", Some(token)).await;
        told.push((status, body));
    }
    let published = opening(&cluster).await;
    let seed = unhex(published["seed"].as_str().unwrap());
    let hash = digest::digest(&digest::SHA256, &seed);
    assert_eq!(
        hex_of(hash.as_ref()),
        commitment,
        "the seed is the one committed to"
    );
    assert_eq!(published["pre_queue_size"], 12, "{published}");
    let first = published["first_place"].as_u64().unwrap();
    // The head runs a little ahead of the free places, by the share of no-shows it expects.
    let head = cluster.status()["queue"]["head"].as_u64().unwrap();
    assert!((4..=6).contains(&head), "{}", cluster.status()["queue"]);
    let mut admitted = 0;
    for (n, (status, body)) in told.iter().enumerate() {
        let index = recomputed_index(&seed, 12, n as u64);
        match status {
            200 => {
                admitted += 1;
                assert!(
                    index < head,
                    "number {n} drew index {index}, let in: {body}"
                );
            }
            503 => {
                assert_eq!(body["place"], first + index, "number {n}: {body}");
                assert_eq!(body["pre_queue"], n as u64 + 1, "{body}");
                assert!(body["opens_at"].is_null(), "the sale is open: {body}");
            }
            _ => panic!("{status}: {body}"),
        }
    }
    assert!((1..=4).contains(&admitted), "{admitted} let in by 4 places");
    // Later arrivals join behind the whole pre-queue.
    let (status, body) = api.ask("concert", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["place"], first + 12, "{body}");
    assert!(body["pre_queue"].is_null(), "{body}");
}

/// Guards the first estimates of a pre-queue (issue 16: coverage 0.74 when its early joiners
/// were told a range from those there so far): drawn at random, a client's place may be
/// anywhere in the pre-queue as it will be at the draw, so while arrivals keep coming its
/// range reaches as far as they are foreseen to, not only as far as the few before it.
#[tokio::test]
async fn a_pre_queue_range_foresees_the_arrivals_still_to_come() {
    let cluster = scheduled(None, PreQueueOrder::Random).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let mut last = Value::Null;
    for _ in 0..12 {
        last = api.ask("concert", None).await.1;
    }
    let ms = |field: &str| last[field].as_u64().unwrap();
    let until = AHEAD.as_millis() as u64 - 60_000;
    // Four places of 60 s sessions: 15 s a place. Twelve so far would be under 12 × 15 s;
    // at the pace they came (a dozen within moments), thousands more by the opening.
    assert!(ms("estimate_high_ms") > until + 100 * 15_000, "{last}");
    assert!(
        ms("estimate_low_ms") < AHEAD.as_millis() as u64 + 12 * 15_000,
        "{last}"
    );
    assert!(ms("estimate_low_ms") <= ms("estimated_wait_ms"), "{last}");
    assert!(ms("estimated_wait_ms") <= ms("estimate_high_ms"), "{last}");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The draw is made a second before the opening: in that second each client learns the place
/// it drew and when to come back, spread by it, but nobody is let in until the opening itself.
#[tokio::test]
async fn in_the_second_before_the_opening_clients_learn_their_places_but_wait_for_it() {
    // Answered at once: a request held near the opening would be answered at it.
    let specs = [ShopSpec::new(2), ShopSpec::new(2)];
    let cluster = Cluster::start_with(&specs, |config| {
        config.queue.opening = Some(OpeningSettings {
            order: PreQueueOrder::Arrival,
            ..OpeningSettings::new(SystemTime::now() + AHEAD)
        });
        config.queue.hold = Duration::ZERO;
    })
    .await;
    let api = Api::new(&cluster, "127.0.0.1");
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(api.ask("concert", None).await.1["queue_token"].clone());
    }
    // Two steps, so that no real time spent waiting for the shops' reports on the new time
    // passes the opening: 1.5 s before it, then (the shops live) 0.5 s before it.
    let opens_in = cluster.status()["queue"]["opens_in_ms"].as_u64().unwrap();
    advance(&cluster, Duration::from_millis(opens_in - 1500)).await;
    let opens_in = cluster.status()["queue"]["opens_in_ms"].as_u64().unwrap();
    cluster
        .clock
        .advance(Duration::from_millis(opens_in.saturating_sub(500)));
    let mut returns = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let (status, body) = api.ask("concert", token.as_str()).await;
        assert_eq!(status, 503, "let in before the opening: {body}");
        assert_eq!(body["place"], n as u64 + 1, "its drawn place: {body}");
        assert!(body["opens_at"].is_string(), "{body}");
        returns.push(body["retry_after_ms"].as_u64().unwrap());
    }
    assert!(
        returns.windows(2).all(|w| w[0] <= w[1]),
        "spread by place: {returns:?}"
    );
    assert!(
        opening(&cluster).await["seed"].is_string(),
        "published at the draw"
    );
    assert!(cluster.status()["queue"]["opens_in_ms"].is_u64());
    advance(&cluster, Duration::from_secs(1)).await;
    let (status, body) = api.ask("concert", tokens[0].as_str()).await;
    assert_eq!(status, 200, "first in at the opening: {body}");
}

/// Arriving first buys nothing when the order is drawn; with `arrival` it is kept.
#[tokio::test]
async fn an_arrival_order_pre_queue_keeps_who_came_first() {
    let cluster = scheduled(None, PreQueueOrder::Arrival).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(api.ask("concert", None).await.1["queue_token"].clone());
    }
    open(&cluster).await;
    for (n, token) in tokens.iter().enumerate() {
        let (status, body) = api.ask("concert", token.as_str()).await;
        if n < 4 {
            assert_eq!(status, 200, "number {n}: {body}");
        } else {
            assert_eq!(body["place"], n as u64 + 1, "number {n}: {body}");
        }
    }
    assert_eq!(opening(&cluster).await["pre_queue_order"], "arrival");
}

/// A restart before the opening keeps the pre-queue and its committed seed; one after it keeps
/// the draw, so every client is told the same place again.
#[tokio::test]
async fn a_restart_keeps_the_pre_queue_and_the_draw() {
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("queue.json");
    let mut cluster = scheduled(Some(path), PreQueueOrder::Random).await;
    let commitment = opening(&cluster).await["seed_sha256"].clone();
    let api = Api::new(&cluster, "127.0.0.1");
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(api.ask("concert", None).await.1["queue_token"].clone());
    }
    cluster.restart_reception().await;
    assert_eq!(opening(&cluster).await["seed_sha256"], commitment);
    let api = Api::new(&cluster, "127.0.0.1");
    for (n, token) in tokens.iter().enumerate() {
        let (status, body) = api.ask("concert", token.as_str()).await;
        assert_eq!(
            (status, &body["pre_queue"]),
            (503, &Value::from(n + 1)),
            "{body}"
        );
    }
    open(&cluster).await;
    let mut places = Vec::new();
    for token in &tokens {
        places.push(api.ask("concert", token.as_str()).await.1["place"].clone());
    }
    let drawn = opening(&cluster).await;
    cluster.restart_reception().await;
    assert_eq!(opening(&cluster).await, drawn, "the same draw");
    let api = Api::new(&cluster, "127.0.0.1");
    for (token, place) in tokens.iter().zip(&places) {
        let (_, body) = api.ask("concert", token.as_str()).await;
        if !place.is_null() {
            assert_eq!(&body["place"], place, "{body}");
        }
    }
}

/// Guards against a line from before the opening letting its clients in early: a sale
/// restarted with an opening ahead holds back even the clients already in line, until it.
#[tokio::test]
async fn a_line_from_before_the_opening_waits_for_it_too() {
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("queue.json");
    let mut cluster = Cluster::start_with(&[ShopSpec::new(1)], |config| {
        config.queue.state_file = Some(path.clone());
    })
    .await;
    let held = fill(&cluster, 1).await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (token, _) = api.join("concert").await;
    cluster.config.queue.opening = Some(OpeningSettings::new(SystemTime::now() + AHEAD));
    cluster.restart_reception().await;
    let (buyer, page) = &held[0];
    buyer.buy(page).await.unwrap();
    let api = Api::new(&cluster, "127.0.0.1");
    eventually("the shop to report its free place", || {
        cluster.status()["shops"][0]["report"]["sessions"] == 0
    })
    .await;
    let (status, body) = api.ask("concert", Some(&token)).await;
    assert_eq!(status, 503, "let in before the opening: {body}");
    assert!(body["opens_at"].is_string(), "{body}");
    open(&cluster).await;
    let (status, body) = api.ask("concert", Some(&token)).await;
    assert_eq!(status, 200, "first in line at the opening: {body}");
}

/// Before the pre-queue opens, an arrival is told when to come back and given no place.
#[tokio::test]
async fn before_the_pre_queue_opens_arrivals_are_told_when_to_come_back() {
    let specs = [ShopSpec::new(2)];
    let opens_at = SystemTime::now() + AHEAD;
    let cluster = Cluster::start_with(&specs, |config| {
        config.queue.opening = Some(OpeningSettings {
            pre_queue_from: Some(opens_at - Duration::from_secs(600)),
            ..OpeningSettings::new(opens_at)
        });
    })
    .await;
    let api = Api::new(&cluster, "127.0.0.1");
    let (status, body) = api.ask("concert", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["queue_token"].is_null() && body["pre_queue"].is_null(),
        "{body}"
    );
    assert!(body["opens_at"].is_string(), "{body}");
    assert!(
        body["estimated_wait_ms"].as_u64().unwrap() >= 3_000_000,
        "{body}"
    );
    advance(&cluster, AHEAD - Duration::from_secs(300)).await;
    let (_, body) = api.ask("concert", None).await;
    assert_eq!(body["pre_queue"], 1, "the pre-queue is open: {body}");
}

/// A browser before the opening sees the countdown page, not a bare "busy".
#[tokio::test]
async fn a_browser_before_the_opening_sees_the_countdown() {
    let cluster = scheduled(None, PreQueueOrder::Random).await;
    let response = reqwest::Client::new()
        .get(format!("http://{}/order/concert", cluster.reception.public))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let page = response.text().await.unwrap();
    assert!(page.contains("The sale opens soon"), "{page}");
    assert!(page.contains("data-opens-in-ms="), "{page}");
    assert!(page.contains("drawn at random"), "{page}");
}

/// A sale without a scheduled opening has nothing to publish.
#[tokio::test]
async fn a_sale_without_an_opening_publishes_none() {
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let url = format!("http://{}/api/v1/opening", cluster.reception.public);
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}
