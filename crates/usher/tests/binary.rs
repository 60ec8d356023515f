//! The real `usher` binary as an operator runs it: the demo, key reload on SIGHUP, graceful
//! shutdown on SIGTERM.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use usher_ticket::{Inspection, KeyFile, Keyring, ServerId};

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Waits for the child to exit by itself, with a deadline.
fn exits(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < DEADLINE, "the process did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Orders until a shop answers (the demo's shops connect just after it prints).
async fn order_303(reception: &str) -> String {
    let c = client();
    let start = Instant::now();
    loop {
        let r = c
            .get(format!("{reception}/order/concert"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::SEE_OTHER {
            return r.headers()["location"].to_str().unwrap().to_owned();
        }
        assert!(start.elapsed() < DEADLINE, "no 303: {}", r.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `usher demo --upstream`: one command puts a shop of one's own (here the Python example)
/// behind usher on loopback, and a buyer gets through to it.
#[tokio::test]
async fn demo_puts_a_shop_of_ones_own_behind_usher_gate() {
    let dir = tempfile::tempdir().unwrap();
    let shop = PythonShop::start(dir.path(), 3);
    let stock = format!("{}/usher/stock", shop.url);
    let mut demo = usher(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &shop.url,
        "--item",
        "concert=/concert",
        "--stock-url",
        &stock,
    ]);
    let first = line_starting(&mut demo, "usher demo: reception ");
    let reception = first.split_whitespace().nth(3).unwrap().to_owned();
    let ticket = order_303(&reception).await;
    let buyer = browser();
    let claim = buyer.get(&ticket).send().await.unwrap();
    assert_eq!(claim.status(), StatusCode::SEE_OTHER);
    assert_eq!(claim.headers()["location"], "/concert");
    let base = ticket.split("/t/").next().unwrap();
    let page: serde_json::Value = buyer
        .get(format!("{base}/concert"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["usher_item"], "concert", "{page}");
    signal(&demo, "TERM");
    assert!(exits(&mut demo).success());
}

#[tokio::test]
async fn demo_answers_an_order_with_303_and_stops_on_sigterm() {
    let mut demo = usher(&["demo", "--listen", "127.0.0.1:0"]);
    let first = line_starting(&mut demo, "usher demo: reception ");
    let reception = first.split_whitespace().nth(3).unwrap().to_owned();
    let location = order_303(&reception).await;
    assert!(
        location.contains("/t/") && location.ends_with("/items/concert"),
        "{location}"
    );
    // Following it as a browser would: a session and the item page.
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = c
        .get(&location)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("<form"),
        "the item page has a buy form"
    );
    signal(&demo, "TERM");
    assert!(exits(&mut demo).success(), "graceful shutdown exits 0");
}

/// Also guards against `--data` naming a directory that does not exist yet: the demo creates it
/// (it used to fail to write its queue state there).
#[tokio::test]
async fn demo_capacity_gives_every_shop_that_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not/yet");
    let mut demo = usher(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--capacity",
        "1",
        "--data",
        data.to_str().unwrap(),
    ]);
    let first = line_starting(&mut demo, "usher demo: reception ");
    let reception = first.split_whitespace().nth(3).unwrap().to_owned();
    // Three shops of one place each: three tickets, then every shop is full.
    let mut shops = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let location = order_303(&reception).await;
        shops.insert(location.split("/t/").next().unwrap().to_owned());
    }
    assert_eq!(shops.len(), 3, "one ticket per shop: {shops:?}");
    let busy = client()
        .get(format!("{reception}/order/concert"))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    signal(&demo, "TERM");
    assert!(exits(&mut demo).success());
    assert!(
        data.join("queue.json").exists(),
        "the line's counters kept in --data"
    );
}

#[tokio::test]
async fn keys_reload_on_sighup_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("master.toml");
    let shop_keys = dir.path().join("shop-a.toml");
    let id = ServerId::new("shop-a").unwrap();
    let mut ring = Keyring::generate().unwrap();
    KeyFile::Master(ring.clone()).save(&master, false).unwrap();
    KeyFile::Server(ring.derive_server(&id))
        .save(&shop_keys, false)
        .unwrap();
    // The reception's config names the shop's URL, so the shop's port is chosen here (bound on
    // port 0, read back, released for the child).
    let shop_addr = local().await.local_addr().unwrap();
    let mut reception = usher(&[
        "reception",
        "--keys",
        master.to_str().unwrap(),
        "--public",
        "127.0.0.1:0",
        "--management",
        "127.0.0.1:0",
        "--shop",
        &format!("shop-a=http://{shop_addr}"),
    ]);
    let line = line_starting(&mut reception, "usher reception: ");
    let words: Vec<&str> = line.split_whitespace().collect();
    let (public, management) = (words[3].to_owned(), words[5].to_owned());
    let mut shop = usher(&[
        "shop",
        "--id",
        "shop-a",
        "--keys",
        shop_keys.to_str().unwrap(),
        "--public",
        &shop_addr.to_string(),
        "--management",
        "127.0.0.1:0",
        "--reception",
        &management,
        "--reception-url",
        &public,
        "--data",
        dir.path().join("data").to_str().unwrap(),
    ]);
    line_starting(&mut shop, "usher shop ");
    let key_of = |url: &str, ring: &Keyring| {
        let token = url.split("/t/").nth(1).unwrap().split('/').next().unwrap();
        match ring.inspect(token).unwrap() {
            Inspection::Ticket(t) => t.key_id.0,
            Inspection::Queue(_) => panic!("not a ticket"),
        }
    };
    let before = order_303(&public).await;
    assert_eq!(key_of(&before, &ring), 1);

    // Rotate: the shop learns key 2 first, then the reception seals with it.
    ring.rotate().unwrap();
    KeyFile::Server(ring.derive_server(&id))
        .save(&shop_keys, true)
        .unwrap();
    signal(&shop, "HUP");
    KeyFile::Master(ring.clone()).save(&master, true).unwrap();
    signal(&reception, "HUP");
    let start = Instant::now();
    let after = loop {
        let url = order_303(&public).await;
        if key_of(&url, &ring) == 2 {
            break url;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the reception never sealed with key 2"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The shop, reloaded, verifies tickets under the new key.
    let r = client().get(&after).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "claim under key 2");
    for child in [&mut shop, &mut reception] {
        signal(child, "TERM");
        assert!(exits(child).success());
    }
}

/// A hold past 5 s is refused with a clear error before anything listens (a held request ties up
/// a connection; the server cuts a silent one at 10 s).
#[test]
fn reception_refuses_a_queue_hold_past_five_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("master.toml");
    KeyFile::Master(Keyring::generate().unwrap())
        .save(&master, false)
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["reception", "--keys"])
        .arg(&master)
        .args([
            "--shop",
            "shop-a=http://127.0.0.1:9",
            "--public",
            "127.0.0.1:0",
            "--management",
            "127.0.0.1:0",
            "--queue-hold",
            "6s",
        ])
        .env("USHER_LOG", "warn")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("queue_hold must be at most 5s"), "{stderr}");
}

/// The public listener's settings are checked before anything listens, from flags and
/// `USHER_*` variables alike: out of range, or the PROXY protocol with no proxy to speak it.
#[test]
fn reception_refuses_listener_settings_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("master.toml");
    KeyFile::Master(Keyring::generate().unwrap())
        .save(&master, false)
        .unwrap();
    let refusal = |args: &[&str], env: (&str, &str)| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(["reception", "--keys"])
            .arg(&master)
            .args([
                "--shop",
                "shop-a=http://127.0.0.1:9",
                "--public",
                "127.0.0.1:0",
                "--management",
                "127.0.0.1:0",
            ])
            .args(args)
            .env("USHER_LOG", "warn")
            .env(env.0, env.1)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A reception that took the settings would run until stopped: it must exit by itself.
        let status = exits(&mut child);
        assert!(!status.success(), "{args:?} {env:?} started");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        stderr
    };
    let none = ("USHER_UNUSED", "");
    let stderr = refusal(&["--max-connections", "0"], none);
    assert!(stderr.contains("max_connections is 0"), "{stderr}");
    let stderr = refusal(&[], ("USHER_REQUEST_TIMEOUT", "1ms"));
    assert!(stderr.contains("request_timeout"), "{stderr}");
    let stderr = refusal(&["--proxy-protocol"], none);
    assert!(stderr.contains("trusted_proxies is empty"), "{stderr}");
}
