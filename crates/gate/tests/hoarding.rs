//! Issue 14 at the gate, over real HTTP: nobody hoards the places. Only a navigation or an API
//! client's `GET` claims a ticket, a session nobody comes back to frees its place at its
//! first-use deadline, and one client prefix holds only its share of sessions. Every refused
//! claim leaves the ticket for the buyer's own navigation.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use usher_gate::DEFAULT_SESSIONS_PER_CLIENT;

/// The headers a browser sends for a request of this kind.
fn fetch(
    c: &reqwest::Client,
    method: Method,
    url: &str,
    (dest, mode, site): (&str, &str, &str),
) -> reqwest::RequestBuilder {
    c.request(method, url)
        .header("sec-fetch-dest", dest)
        .header("sec-fetch-mode", mode)
        .header("sec-fetch-site", site)
}

const IMG: (&str, &str, &str) = ("image", "no-cors", "cross-site");
const NAVIGATION: (&str, &str, &str) = ("document", "navigate", "cross-site");

/// The place is still held for the ticket and nobody holds a session.
fn untouched(shop: &Shop) {
    let stats = shop.gate.stats();
    assert_eq!((stats.sessions, stats.reserved), (0, 1), "{stats:?}");
}

#[tokio::test]
async fn an_img_claim_is_refused_and_the_ticket_then_claims_as_a_navigation() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    // `<img src="{ticket URL}">` on another site's page.
    let r = fetch(&c, Method::GET, &url, IMG)
        .header("accept", "image/avif,image/webp,*/*")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("set-cookie"));
    let (status, code) = code_of(r).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "not_navigation")
    );
    // In a frame, a browser is shown the refusal as a page with a link back.
    let r = fetch(&c, Method::GET, &url, ("iframe", "navigate", "cross-site"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("http://reception.invalid/order/concert"),
        "{page}"
    );
    untouched(&shop);
    // The buyer's own navigation (the reception's redirect) still claims it.
    let r = fetch(&c, Method::GET, &url, NAVIGATION)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(shop.gate.stats().sessions, 1);
}

#[tokio::test]
async fn a_cross_site_fetch_claim_is_refused() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    for mode in ["cors", "no-cors"] {
        let r = fetch(&c, Method::GET, &url, ("empty", mode, "cross-site"))
            .send()
            .await
            .unwrap();
        let (status, code) = code_of(r).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "not_navigation"),
            "{mode}"
        );
    }
    untouched(&shop);
}

#[tokio::test]
async fn claims_without_fetch_metadata_and_same_site_fetches_still_work() {
    let shop = start("shop-a", 5).await;
    // curl, an API client, a browser without Fetch Metadata: no such headers at all.
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(format!("{}/items/concert", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // The shop's own script fetching a ticket.
    let url = shop.ticket("concert", "127.0.0.2", true);
    let r = fetch(
        &client("127.0.0.2"),
        Method::GET,
        &url,
        ("empty", "cors", "same-origin"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(shop.gate.stats().sessions, 2);
}

#[tokio::test]
async fn a_head_claim_is_405_and_the_ticket_still_claims_with_get() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    // A link checker or a chat preview.
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(!r.headers().contains_key("set-cookie"));
    // Any other method too, in the refusal shape.
    let r = c.post(&url).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    let (status, code) = code_of(r).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    untouched(&shop);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(shop.gate.stats().sessions, 1);
}

#[tokio::test]
async fn a_head_on_a_session_path_is_no_first_use_and_opens_no_walk_in() {
    let shop = start_with("shop-a", 5, |c| {
        c.first_use_timeout = Duration::from_secs(5)
    })
    .await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    assert_eq!(
        c.get(&url).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let page = format!("{}/items/concert", shop.base);
    // The cookie's session lives, so a HEAD is answered, but it does not count as its use.
    assert_eq!(c.head(&page).send().await.unwrap().status(), StatusCode::OK);
    shop.clock.advance(Duration::from_secs(5));
    assert_eq!(shop.gate.stats().in_use(), 0, "the HEAD kept nothing");
    assert_eq!(
        code_of(c.get(&page).send().await.unwrap()).await.1,
        "no_session"
    );

    // Where walk-ins are let in (the prior art), a HEAD still opens nothing.
    let open = start_with("shop-b", 5, |c| c.walk_ins = true).await;
    let r = client("127.0.0.1")
        .head(format!("{}/items/concert", open.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!r.headers().contains_key("set-cookie"));
    assert_eq!(open.gate.stats().sessions, 0);
}

#[tokio::test]
async fn a_session_never_used_frees_its_place_at_the_first_use_timeout_and_a_used_one_stays() {
    let shop = start_with("shop-a", 2, |c| {
        c.first_use_timeout = Duration::from_secs(5)
    })
    .await;
    // One claim nobody follows (the redirect's request with the cookie never comes)...
    let hoarder = client("127.0.0.1");
    let url = shop.ticket("concert", "127.0.0.1", true);
    assert_eq!(
        hoarder.get(&url).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    // ...and one buyer who follows it.
    let buyer = client("127.0.0.2");
    let url = shop.ticket("concert", "127.0.0.2", true);
    assert_eq!(
        buyer.get(&url).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let page = format!("{}/items/concert", shop.base);
    assert_eq!(
        buyer.get(&page).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(shop.gate.stats().in_use(), 2, "the shop is full");

    shop.clock.advance(Duration::from_millis(4_900));
    assert_eq!(shop.gate.stats().sessions, 2, "not before its deadline");
    shop.clock.advance(Duration::from_millis(100));
    let report = shop.gate.report();
    assert_eq!(
        (report.sessions, report.reserved),
        (1, 0),
        "the report shows the unused session's place free"
    );
    // The place is there for the next ticket; the hoarder's is dead.
    let next = shop.ticket("concert", "127.0.0.3", true);
    assert_eq!(
        client("127.0.0.3")
            .get(&next)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        code_of(hoarder.get(&page).send().await.unwrap()).await.1,
        "no_session"
    );
    // The used session lives on past the first-use deadline, under the idle timeout.
    shop.clock.advance(Duration::from_secs(60));
    let r = buyer.get(&page).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "item concert completed false");
}

#[tokio::test]
async fn one_address_holds_only_its_share_of_sessions_and_another_is_not_held_back() {
    let shop = start("shop-a", 10).await;
    let cap = DEFAULT_SESSIONS_PER_CLIENT as usize;
    let mut held = Vec::new();
    for _ in 0..cap {
        // A fresh client each time, as a bot would be: one cookie jar per session.
        let c = client("127.0.0.1");
        let url = shop.ticket("concert", "127.0.0.1", true);
        assert_eq!(
            c.get(&url).send().await.unwrap().status(),
            StatusCode::SEE_OTHER
        );
        held.push(c);
    }
    let one_more = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    let (status, code) = code_of(c.get(&one_more).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many")
    );
    let stats = shop.gate.stats();
    assert_eq!(
        (stats.sessions, stats.reserved),
        (cap as u32, 1),
        "ticket kept"
    );
    // Another address is not held back by the first one's share.
    let other = shop.ticket("concert", "127.0.0.2", true);
    assert_eq!(
        client("127.0.0.2")
            .get(&other)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    // Once one of its sessions' orders completes, the refused ticket claims.
    let page = format!("{}/items/concert", shop.base);
    assert_eq!(
        held[0].get(&page).send().await.unwrap().status(),
        StatusCode::OK
    );
    let bought = held[0].post(format!("{page}/buy")).send().await.unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);
    assert_eq!(
        c.get(&one_more).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
}
