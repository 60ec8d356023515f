//! Invariant 5 with a crowd, in its own test binary so that no other test shares its two
//! cores: places become eligible in arrival order and nobody is admitted early, while people
//! walk away, retry early, and places free many times a second.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;

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
/// early every time: it keeps its place but gains nothing it can count on), each holds its session 250 ms and buys. Places free tens of times a
/// second. The admission order of those who obey must follow their arrival order (τ ≥ 0.99),
/// every obedient client
/// must get in, the abandoners must not stall the line, and capacity must stay in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariant_5_places_become_eligible_in_arrival_order() {
    const CLIENTS: usize = 500;
    const CAPACITY: u32 = 10;
    const HOLD: Duration = Duration::from_millis(250);
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
    // Speed is a figure, not a pass mark (about 27 frees a second and utilisation 0.7-0.75
    // on an idle machine, recorded in the issue): this bound only catches a line that stalls
    // behind the people who walked away, with room for a loaded CI machine.
    assert!(
        utilisation >= 0.2,
        "abandoners must not leave capacity idle: {utilisation} ({rate:.1} frees a second)"
    );
    let high_water = cluster.shops[0].gate.stats().high_water;
    assert!(
        high_water <= CAPACITY,
        "invariant 1: high water {high_water}"
    );
}
