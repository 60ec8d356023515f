//! The waiting room in a real browser: Debian's Chromium, driven by `tests/browser/waiting.mjs`
//! (playwright-core from npm; `scripts/test` installs both). With every shop full the page shows
//! the position and a countdown and keeps its place across a reload; when a place frees it asks
//! again by itself, chimes, and lands on the shop's page; without JavaScript it still reloads
//! itself. The screenshot of the waiting page is kept as `target/artifacts/waiting-page.png`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

const STEP: Duration = Duration::from_secs(90);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> String {
    let line = tokio::time::timeout(STEP, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("no {prefix} from the browser within {STEP:?}"))
        .unwrap()
        .unwrap_or_else(|| panic!("the browser script ended before {prefix}"));
    assert!(line.starts_with(prefix), "expected {prefix}, got {line:?}");
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_page_counts_down_keeps_its_place_and_chimes_when_admitted() {
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && browser_dir().join("node_modules/playwright-core").exists(),
        "the browser test needs Debian's chromium and playwright-core: run scripts/test, which \
         installs both"
    );
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    // Fill the one place, so the browser waits.
    let holder = cluster.buyer();
    let admitted = holder.order("concert").await.unwrap();
    let page = holder.claim(&admitted).await.unwrap();

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("waiting-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let mut child = Command::new("node")
        .arg(browser_dir().join("waiting.mjs"))
        .args(["--reception", cluster.reception_url().as_str()])
        .args(["--item", "concert"])
        .arg("--screenshot")
        .arg(&screenshot)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let waiting = next_line(&mut lines, "WAITING").await;
    assert!(
        screenshot.exists(),
        "the waiting page's screenshot is saved"
    );
    eprintln!("browser: {waiting}");
    // A place frees: the page must notice by itself.
    holder.buy(&page).await.unwrap();
    let landed = next_line(&mut lines, "LANDED").await;
    eprintln!("browser: {landed}");
    assert!(landed.contains(&format!("url={}/items/concert", cluster.urls[0])));
    assert!(
        landed.ends_with("sound=played"),
        "the chime played: {landed}"
    );
    next_line(&mut lines, "NOJS ok").await;
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("the browser script ends")
        .unwrap();
    assert!(status.success(), "the browser script failed: {status}");
}
