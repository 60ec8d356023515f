//! A buyer's whole path through `usher gate` in a real browser: Debian's Chromium, driven by
//! `tests/browser/gate.mjs` (playwright-core from npm; `scripts/test` installs both), in front of
//! the example Python shop (`examples/python-shop`), with a real reception. The order link leads
//! by two redirects to the shop's own item page (no ticket left in the address bar), the Buy
//! button lands on the receipt, and the receipt's link works after the order ended the session.
//! The shop never sees a ticket and sees the gate's session on every item request; the
//! completion frees the place at once. The receipt page's screenshot is kept as
//! `target/artifacts/gate-receipt.png`.
//!
//! Its own test binary, as `browser.rs` is full. Browser tests take turns (the static `TURN` of
//! the tests' common module, within a binary; `cargo test` runs one test binary at a time).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;

/// The value after `key=` in a line of the script's.
fn field<'l>(line: &'l str, key: &str) -> &'l str {
    line.split(' ')
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_walks_through_usher_gate_to_a_python_shop_in_chromium() {
    let _turn = TURN.lock().await;
    assert_browser_ready();
    let system = system(|_| {}).await;
    let gate_url = format!("http://{}", system.gate.public);
    let reception_url = format!("http://{}", system.reception.public);
    let screenshot = artifacts().join("gate-receipt.png");
    let _ = std::fs::remove_file(&screenshot);
    let (mut child, mut lines) = spawn_script(
        "gate.mjs",
        &[
            "--reception".as_ref(),
            reception_url.as_ref(),
            "--gate".as_ref(),
            gate_url.as_ref(),
            "--item".as_ref(),
            "concert".as_ref(),
            "--screenshot".as_ref(),
            screenshot.as_os_str(),
        ],
    );

    let landed = next_line(&mut lines, "LANDED").await;
    assert_eq!(field(&landed, "url"), format!("{gate_url}/concert"));
    let session = field(&landed, "session").to_owned();
    assert_eq!(
        system.gate.gate.report().sessions,
        1,
        "the buyer holds a place"
    );

    let bought = next_line(&mut lines, "BOUGHT").await;
    assert_eq!(field(&bought, "status"), "201");
    let order = field(&bought, "order").to_owned();
    // The browser has the answer, so the completion it carried has freed the place already.
    let report = system.gate.gate.report();
    assert_eq!(
        report.sessions, 0,
        "the completed order still holds its place"
    );
    assert!(report.high_water <= CAPACITY, "{report:?}");
    let png = std::fs::metadata(&screenshot).expect("the screenshot is saved");
    assert!(
        png.len() > 5_000,
        "a screenshot of {} bytes is blank",
        png.len()
    );

    let receipt = next_line(&mut lines, "RECEIPT").await;
    assert_eq!(
        field(&receipt, "url"),
        format!("{gate_url}/receipts/{order}")
    );
    let clean = next_line(&mut lines, "CLEAN").await;
    // The browser's own favicon requests pass the gate (an open path by default) and the shop,
    // which has no icon, answers 404. Nothing else may fail.
    let favicon = field(&clean, "favicon");
    assert!(
        favicon == "none" || favicon.split(',').all(|s| s == "404"),
        "{clean}"
    );
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("the browser script ends")
        .unwrap();
    assert!(status.success(), "the browser script failed: {status}");

    // The stock the gate reads from the shop counts the order.
    eventually("the gate's report to carry the shop's stock", || {
        system.gate.gate.report().stock.get("concert") == Some(&4)
    })
    .await;
    let report = system.gate.gate.report();
    assert_eq!(report.sessions, 0);
    assert!(report.high_water <= CAPACITY, "{report:?}");

    // What the shop saw: no ticket anywhere, the gate's session on every item request.
    let seen = system.shop.requests();
    for request in &seen {
        let path = request["path"].as_str().unwrap();
        assert!(
            !path.starts_with("/t/"),
            "a ticket reached the shop: {path}"
        );
        let text = request.to_string();
        assert!(
            !text.contains("/t/"),
            "a ticket in what the shop saw: {text}"
        );
        if path.starts_with("/concert") {
            assert_eq!(
                request["headers"]["usher-session"],
                session.as_str(),
                "{request}"
            );
        }
    }
    let paths: Vec<(&str, &str)> = seen
        .iter()
        .filter(|r| r["path"] != "/usher/stock")
        .map(|r| (r["method"].as_str().unwrap(), r["path"].as_str().unwrap()))
        .collect();
    for expected in [
        ("GET", "/concert"),
        ("GET", "/static/style.css"),
        ("POST", "/concert/buy"),
        ("GET", &*format!("/receipts/{order}")),
    ] {
        assert!(paths.contains(&expected), "{expected:?} not in {paths:?}");
    }
    let item_requests = paths
        .iter()
        .filter(|(_, p)| p.starts_with("/concert"))
        .count();
    assert_eq!(item_requests, 2, "one page view and one buy: {paths:?}");
}
