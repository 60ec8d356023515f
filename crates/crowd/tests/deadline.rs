//! A run ends at its deadline. Guards against the reported run of 60,000 buyers at 100/s with a
//! five-minute deadline: the process lived until the last buyer was due, ten minutes in, and
//! the report counted the 30,000 who never arrived as errors.
//!
//! The reception here is a stub that keeps every buyer waiting, told to come back in 30 s (a
//! buyer's longest check-in), so only the deadline can end a wait before the test's margin.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use usher_crowd::Unfinished;
use usher_crowd::run::{Arrival, Live, Scenario, Target, run};
use usher_wire::Admission;

/// A reception that answers every order `503 waiting`, come back in 30 s; its `/status` is a
/// 404, so the run takes no samples.
async fn always_waiting() -> Target {
    let waiting = || async {
        let answer = Admission::Waiting {
            queue_token: Some("token".to_owned()),
            position: Some(1),
            place: Some(1),
            estimated_wait_ms: 60_000,
            estimate_low_ms: 40_000,
            estimate_high_ms: 90_000,
            retry_after_ms: 30_000,
            opens_at: None,
            pre_queue: None,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(answer))
    };
    let app = Router::new().route("/api/v1/admissions", post(waiting));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Target {
        reception: format!("http://{address}/").parse().unwrap(),
        status: format!("http://{address}/status").parse().unwrap(),
        direct: Vec::new(),
    }
}

#[tokio::test]
async fn a_run_ends_at_its_deadline_and_counts_the_unfinished_apart_from_errors() {
    let target = always_waiting().await;
    // Arrivals span 9.5 s; the deadline lets the first four arrive (at 0, 0.5, 1 and 1.5 s).
    let scenario = Scenario {
        clients: 20,
        arrival: Arrival::Steady { per_second: 2.0 },
        item: "app".to_owned(),
        abandon_waiting: 0.0,
        abandon_admitted: 0.0,
        hold_ms: 0,
        spread_sources: false,
        deadline_ms: 2000,
    };
    assert_eq!(scenario.arriving(), 4);
    let started = Instant::now();
    let outcome = run(&target, &scenario, Arc::new(Live::default())).await;
    let took = started.elapsed();
    assert!(
        took < scenario.deadline() + Duration::from_secs(5),
        "the run took {took:?}: the arrivals span 9.5 s, each wait 30 s, the deadline 2 s"
    );
    assert!(
        took >= scenario.deadline(),
        "the waiting buyers gave up before the deadline: {took:?}"
    );
    let report = outcome.report("deadline", &scenario);
    assert_eq!(
        (report.buyers, report.cut_short, report.not_arrived),
        (20, 4, 16)
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.admitted, 0);
    let how: Vec<Option<Unfinished>> = outcome.records.iter().map(|r| r.unfinished).collect();
    assert_eq!(how[..4], [Some(Unfinished::CutShort); 4]);
    assert_eq!(how[4..], [Some(Unfinished::NotArrived); 16]);
    // The last buyer was due at 9.5 s; its record says so, though it never asked.
    assert_eq!(outcome.records[19].arrived_ms, 9500);
    assert!(outcome.records.iter().all(|r| r.error.is_none()));
}
