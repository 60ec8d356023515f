//! The waiting room in a real browser: Debian's Chromium, driven by `tests/browser/waiting.mjs`
//! (playwright-core from npm; `scripts/test` installs both). With every shop full the page shows
//! the position and a countdown and keeps its place across a reload; when a place frees it asks
//! again by itself, chimes, and lands on the shop's page; without JavaScript it still reloads
//! itself. The screenshot of the waiting page is kept as `target/artifacts/waiting-page.png`.
//! And a crowd's HTML report (and a comparison) opens offline with every chart drawn
//! (`tests/browser/report.mjs`), screenshots in `target/artifacts/crowd-*.png`. And an order
//! link embedded in another site's page (an image, a frame) takes no place
//! (`tests/browser/hoarding.mjs`). And before a scheduled opening the page counts down to it,
//! then lets the buyer in by itself (`tests/browser/opening.mjs`, screenshot
//! `target/artifacts/opening-page.png`). And every page a buyer can meet has the one look and
//! no dead end (`tests/browser/pages.mjs`, screenshots `target/artifacts/page-*.png`).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use usher_crowd::report::Comparison;
use usher_crowd::run::{Arrival, Live, Scenario, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_page_counts_down_keeps_its_place_and_chimes_when_admitted() {
    let _turn = TURN.lock().await;
    assert_browser_ready();
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    // Fill the one place, so the browser waits.
    let holder = cluster.buyer();
    let admitted = holder.order("concert").await.unwrap();
    let page = holder.claim(&admitted).await.unwrap();

    let screenshot = artifacts().join("waiting-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let reception = cluster.reception_url().to_string();
    let (mut child, mut lines) = spawn_script(
        "waiting.mjs",
        &[
            "--reception".as_ref(),
            reception.as_ref(),
            "--item".as_ref(),
            "concert".as_ref(),
            "--screenshot".as_ref(),
            screenshot.as_os_str(),
        ],
    );

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

/// A sale opening a few seconds ahead: the page says so and counts down, and at the opening
/// it asks by itself and lands on the shop (never before: the reception lets nobody in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_an_opening_the_page_counts_down_and_lets_the_buyer_in_at_it() {
    let _turn = TURN.lock().await;
    assert_browser_ready();
    let opens_at = std::time::SystemTime::now() + std::time::Duration::from_secs(8);
    let cluster = Cluster::start_with(&[ShopSpec::new(1)], |config| {
        config.queue.opening = Some(usher_reception::OpeningSettings::new(opens_at));
    })
    .await;
    let screenshot = artifacts().join("opening-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let reception = cluster.reception_url().to_string();
    let (mut child, mut lines) = spawn_script(
        "opening.mjs",
        &[
            "--reception".as_ref(),
            reception.as_ref(),
            "--item".as_ref(),
            "concert".as_ref(),
            "--screenshot".as_ref(),
            screenshot.as_os_str(),
        ],
    );
    let countdown = next_line(&mut lines, "COUNTDOWN").await;
    eprintln!("browser: {countdown}");
    assert!(
        screenshot.exists(),
        "the countdown page's screenshot is saved"
    );
    let landed = next_line(&mut lines, "LANDED").await;
    assert!(
        std::time::SystemTime::now() >= opens_at,
        "let in before the opening: {landed}"
    );
    assert!(landed.contains(&format!("url={}/items/concert", cluster.urls[0])));
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("the browser script ends")
        .unwrap();
    assert!(status.success(), "the browser script failed: {status}");
}

/// Opens `html` with `report.mjs` and returns its `CHARTS …` line; the screenshot must be saved.
async fn open_report(html: &str, name: &str) -> String {
    let dir = artifacts();
    let (file, screenshot) = (
        dir.join(format!("{name}.html")),
        dir.join(format!("{name}.png")),
    );
    std::fs::write(&file, html).unwrap();
    let _ = std::fs::remove_file(&screenshot);
    let (mut child, mut lines) = spawn_script(
        "report.mjs",
        &[
            "--file".as_ref(),
            file.as_os_str(),
            "--screenshot".as_ref(),
            screenshot.as_os_str(),
        ],
    );
    let line = next_line(&mut lines, "CHARTS").await;
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("the browser script ends")
        .unwrap();
    assert!(status.success(), "the report script failed: {status}");
    let png = std::fs::metadata(&screenshot).expect("the screenshot is saved");
    assert!(
        png.len() > 10_000,
        "a screenshot of {} bytes is blank",
        png.len()
    );
    eprintln!("browser: {name}: {line}");
    line
}

/// The number after `key=` in a `CHARTS` line.
fn field(line: &str, key: &str) -> usize {
    line.split(' ')
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crowd_report_opens_offline_with_every_chart_drawn() {
    let _turn = TURN.lock().await;
    assert_browser_ready();
    // A crowd bigger than the two shops, so the queue and the places charts have something to show.
    let cluster = Cluster::start(&[ShopSpec::new(2), ShopSpec::new(3)]).await;
    let target = cluster.crowd_target();
    let scenario = Scenario {
        clients: 40,
        arrival: Arrival::Flash,
        item: "app".to_owned(),
        abandon_waiting: 0.0,
        abandon_admitted: 0.0,
        hold_ms: 200,
        spread_sources: false,
        deadline_ms: 60_000,
    };
    let outcome = run(&target, &scenario, Arc::new(Live::default())).await;
    let report = outcome.report("browser", &scenario);
    assert_eq!(report.bought, 40, "{:?}", report.errors);

    let page = report.to_html();
    let line = open_report(&page, "crowd-report").await;
    assert_eq!(
        field(&line, "n"),
        page.matches("<svg").count(),
        "every chart in the file is drawn: admissions, queue, one per shop"
    );
    assert!(field(&line, "n") >= 4);

    let mut other = report.clone();
    other.label = "another run".to_owned();
    let comparison = Comparison::new(vec![report, other]).to_html();
    let line = open_report(&comparison, "crowd-comparison").await;
    assert_eq!(field(&line, "n"), comparison.matches("<svg").count());
}

/// Guards against `<img src=".../order/concert">` (or a frame) on a busy page of another site
/// spending each visitor's address on a place: in a real browser both are refused at the
/// reception and the one place is still free for a buyer afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_link_embedded_in_another_sites_page_takes_no_place() {
    let _turn = TURN.lock().await;
    assert_browser_ready();
    let cluster = Cluster::start(&[ShopSpec::new(1)]).await;
    let order = format!("{}order/concert", cluster.reception_url());
    // The busy page, on another site: another loopback address.
    let html = format!(
        "<!doctype html><title>A busy page</title><p>News of the sale.</p>\
         <img alt=\"\" src=\"{order}\"><iframe title=sale src=\"{order}\"></iframe>"
    );
    let site = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let page = format!("http://{}/", site.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    tokio::spawn(async move { axum::serve(site, app).await });
    let (mut child, mut lines) = spawn_script(
        "hoarding.mjs",
        &[
            "--page".as_ref(),
            page.as_ref(),
            "--order".as_ref(),
            order.as_ref(),
        ],
    );
    let line = next_line(&mut lines, "EMBEDDED").await;
    eprintln!("browser: {line}");
    // The frame shows the refusal; the image's answer (JSON) is then cut off by the browser's
    // opaque-response blocking, which is fine: the place below is the proof.
    assert!(
        line == "EMBEDDED image=403 frame=403"
            || line == "EMBEDDED image=net::ERR_BLOCKED_BY_ORB frame=403",
        "{line}"
    );
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("the browser script ends")
        .unwrap();
    assert!(status.success(), "the browser script failed: {status}");
    // The one place is still free: a buyer gets it.
    let buyer = cluster.buyer();
    let admitted = buyer.order("concert").await.unwrap();
    buyer.claim(&admitted).await.unwrap();
}

/// Every page a buyer can meet, walked in a real browser (`tests/browser/pages.mjs`): the
/// landing page, an order, the shop's item page with its picture, a buy, the receipt, and every
/// refusal on the way (the ticket used again, an unknown item, an item sold out, a ticket that
/// is not one, an expired ticket, no session, no such page at either part, too many orders).
/// Each is HTML with a CSP and the one stylesheet, no script or policy error, no dead link, and
/// each refusal names its code and leads on. Guards against the dead ends and the four looks
/// buyers met before (raw JSON, the browser's serif refusal pages, a landing page that was a
/// 404). Screenshots in `target/artifacts/page-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_a_buyer_meets_has_one_look_and_no_dead_end() {
    let _turn = TURN.lock().await;
    assert_browser_ready();
    // The demo's catalogue and pictures, and an item already sold out.
    let folder = tempfile::tempdir().unwrap();
    let shop_src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shop/src");
    let mut catalogue = std::fs::read_to_string(shop_src.join("demo.toml")).unwrap();
    catalogue.push_str(
        "\n[[items]]\nid = \"gone\"\nname = \"Yesterday's concert\"\nprice_cents = 100\n\
         stock = 0\nkind = \"ticket\"\n",
    );
    std::fs::write(folder.path().join("catalogue.toml"), catalogue).unwrap();
    for picture in ["concert.svg", "app.svg"] {
        std::fs::copy(
            shop_src.join("images").join(picture),
            folder.path().join(picture),
        )
        .unwrap();
    }
    let mut shop = ShopSpec::new(40);
    shop.catalogue = usher_shop::Catalogue::load(folder.path().join("catalogue.toml")).unwrap();
    // Places enough for the order links the walk follows (its link checks take tickets too),
    // and a cap on live tickets per client it reaches at the end.
    let cluster = Cluster::start_with(&[shop], |config| config.admissions_per_client = 10).await;
    eventually("the shop's items", || cluster.live_shops() == 1).await;
    // A ticket for this address whose window has passed by the time the browser opens it.
    let expired = cluster
        .buyer()
        .order("concert")
        .await
        .unwrap()
        .url
        .to_string();
    cluster.clock.advance(std::time::Duration::from_secs(40));
    eventually("the shop, after the clock moved", || {
        cluster.live_shops() == 1
    })
    .await;
    let reception = cluster.reception_url().to_string();
    let shots = artifacts();
    let (mut child, mut lines) = spawn_script(
        "pages.mjs",
        &[
            "--reception".as_ref(),
            reception.as_ref(),
            "--shop".as_ref(),
            cluster.urls[0].as_ref(),
            "--item".as_ref(),
            "concert".as_ref(),
            "--sold-out".as_ref(),
            "gone".as_ref(),
            "--expired".as_ref(),
            expired.as_ref(),
            "--shots".as_ref(),
            shots.as_os_str(),
        ],
    );
    // landing, item, confirmation, receipt; used, unknown item, sold out, not a ticket,
    // expired; (no session: a screenshot only) no such page at the shop and at the reception,
    // too many.
    for _ in 0..12 {
        let page = next_line(&mut lines, "PAGE").await;
        eprintln!("browser: {page}");
    }
    let done = next_line(&mut lines, "DONE").await;
    assert_eq!(field(&done, "pages"), 13, "{done}");
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("the browser script ends")
        .unwrap();
    assert!(status.success(), "the browser script failed: {status}");
}
