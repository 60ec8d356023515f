//! The waiting line under `kill -9`: a real `usher demo` process (the reception with its state
//! file, `room/slots.rs`) is killed while clients join as fast as they can, and restarted on
//! the same data. No place is handed out twice: every place told before the kill is below the
//! first place after it, and every token told before it is still honoured. Guards the state
//! file's two-slot writes (a torn or lost write must never let `issued` go back).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, line_starting, usher};
use serde_json::{Value, json};

/// The demo process, killed when the test ends however it ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `usher demo` on `data` (three shops of one place) and returns it with its
/// reception's URL, read from its first line, once the reception has every shop live (an
/// order before that could join the line while a shop is still on its way).
async fn start(data: &std::path::Path) -> (Demo, String) {
    let data = data.to_str().unwrap();
    let mut child = usher(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--capacity",
        "1",
        "--data",
        data,
    ]);
    let first = line_starting(&mut child, "usher demo: reception ");
    let demo = Demo(child);
    let url = first.split_whitespace().nth(3).unwrap().to_owned();
    let status = first
        .split("(status: ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let live = match reqwest::get(&status).await {
            Ok(r) => r.json::<Value>().await.ok().is_some_and(|s| {
                s["shops"]
                    .as_array()
                    .is_some_and(|shops| shops.iter().all(|shop| shop["live"] == true))
            }),
            Err(_) => false,
        };
        if live {
            return (demo, url);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the demo's shops never came up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ask(http: &reqwest::Client, url: &str, token: Option<&str>) -> Option<(u16, Value)> {
    let mut body = json!({ "item": "concert" });
    if let Some(t) = token {
        body["queue_token"] = Value::from(t);
    }
    let r = http
        .post(format!("{url}/api/v1/admissions"))
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_reception_never_hands_a_place_out_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut demo, url) = start(&data).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // The shops' three places go to tickets nobody uses; then everyone joins the line.
    let mut admitted = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while admitted < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the shops never admitted"
        );
        if let Some((200, _)) = ask(&http, &url, None).await {
            admitted += 1;
        }
    }

    // Each joiner from a network of its own (a /24 holds at most 500 places waiting).
    let client = |i: usize| {
        reqwest::Client::builder()
            .local_address(
                format!("127.0.{}.1", i + 1)
                    .parse::<std::net::IpAddr>()
                    .unwrap(),
            )
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    };
    let told = Arc::new(Mutex::new(Vec::<(u64, String, usize)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut joiners = Vec::new();
    for i in 0..16 {
        let (told, stop, http, url) = (told.clone(), stop.clone(), client(i), url.clone());
        joiners.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let Some((503, body)) = ask(&http, &url, None).await else {
                    continue;
                };
                if let (Some(place), Some(token)) =
                    (body["place"].as_u64(), body["queue_token"].as_str())
                {
                    told.lock().unwrap().push((place, token.to_owned(), i));
                }
            }
        }));
    }
    eventually("joins answered before the kill", || {
        told.lock().unwrap().len() >= 200
    })
    .await;
    demo.0.kill().unwrap();
    demo.0.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for joiner in joiners {
        joiner.await.unwrap();
    }
    let told = told.lock().unwrap().clone();
    let highest = told.iter().map(|(place, ..)| *place).max().unwrap();
    let mut places: Vec<u64> = told.iter().map(|(place, ..)| *place).collect();
    places.sort_unstable();
    places.dedup();
    assert_eq!(
        places.len(),
        told.len(),
        "a place told to two clients before the kill"
    );

    let (_demo, url) = start(&data).await;
    let (status, body) = ask(&http, &url, None).await.unwrap();
    assert_eq!(status, 503, "{body}");
    let first_after = body["place"].as_u64().unwrap();
    assert!(
        first_after > highest,
        "place {first_after} handed out again after the kill (told up to {highest})"
    );
    // Every token told before the kill still holds its place (admitted or waiting, never
    // refused).
    for (place, token, i) in told.iter().step_by(17) {
        let (status, body) = ask(&client(*i), &url, Some(token)).await.unwrap();
        assert!(
            status == 200 || status == 503,
            "place {place}: {status} {body}"
        );
        if status == 503 {
            assert_eq!(body["place"].as_u64(), Some(*place), "{body}");
        }
    }
}
