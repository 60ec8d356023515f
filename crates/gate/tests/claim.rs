//! The gate over real HTTP: each claim code, sessions, completion. A dummy app stands behind it.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use usher_gate::ORDER_COMPLETE_HEADER;
use usher_ticket::{BindingPolicy, ItemId, TicketSpec};
use usher_wire::Clock;

#[tokio::test]
async fn claim_opens_a_session_and_redirects_to_the_clean_path() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/items/concert");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("usher-shop-a~concert="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = c
        .get(format!("{}/items/concert", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.text().await.unwrap(), "item concert completed false");
    assert_eq!(shop.gate.stats().sessions, 1);
    assert_eq!(shop.gate.stats().reserved, 0);
}

#[tokio::test]
async fn cookies_are_secure_when_the_shop_is_served_over_https() {
    let shop = start_with("shop-a", 5, |c| c.secure_cookies = true).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let r = client("127.0.0.1").get(&url).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn the_same_ticket_from_the_same_client_returns_the_same_session() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    let first = c.get(&url).send().await.unwrap();
    let again = c.get(&url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.headers()["set-cookie"], again.headers()["set-cookie"]);
    assert_eq!(shop.gate.stats().sessions, 1);
}

#[tokio::test]
async fn used_after_the_order_completes() {
    let shop = start("shop-a", 1).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    c.get(&url).send().await.unwrap();
    let bought = c
        .post(format!("{}/items/concert/buy", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);
    assert!(
        bought.headers().get(ORDER_COMPLETE_HEADER).is_none(),
        "header stripped"
    );
    // The place is free at once, and the session still shows the completed order.
    assert_eq!(shop.gate.stats().in_use(), 0);
    let page = c
        .get(format!("{}/items/concert", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.text().await.unwrap(), "item concert completed true");
    let (status, code) = code_of(c.get(&url).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "used"));
}

#[tokio::test]
async fn used_when_another_client_in_the_binding_presents_a_claimed_ticket() {
    let shop = start("shop-a", 5).await;
    // Bound to 127.0.0.0/24 (wide), so a second host in it passes the binding but not the notice.
    let sealer = shop
        .ring
        .ticket_sealer(&shop.gate.config().server, Arc::clone(&shop.issuer));
    let item = ItemId::new("concert").unwrap();
    let spec = TicketSpec {
        binding: BindingPolicy::new(24, 64)
            .unwrap()
            .bind("127.0.0.1".parse().unwrap()),
        ..shop.spec(&item, "127.0.0.1")
    };
    let (token, id) = sealer.seal_to_string(&spec).unwrap();
    assert!(shop.gate.reserve(
        common::LINK,
        id,
        item,
        usher_wire::clock::unix_ms(shop.clock.wall()) + 30_000
    ));
    let url = format!("{}/t/{token}/items/concert", shop.base);
    assert_eq!(
        client("127.0.0.1").get(&url).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let (status, code) = code_of(client("127.0.0.3").get(&url).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "used"));
}

#[tokio::test]
async fn wrong_client() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let (status, code) = code_of(client("127.0.0.2").get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "wrong_client")
    );
}

#[tokio::test]
async fn wrong_server() {
    let a = start("shop-a", 5).await;
    let b = start("shop-b", 5).await;
    let url = a
        .ticket("concert", "127.0.0.1", true)
        .replace(&a.base, &b.base);
    let (status, code) = code_of(client("127.0.0.1").get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "wrong_server")
    );
}

#[tokio::test]
async fn wrong_scope() {
    let shop = start("shop-a", 5).await;
    let url = shop
        .ticket("concert", "127.0.0.1", true)
        .replace("/items/concert", "/items/app");
    let (status, code) = code_of(client("127.0.0.1").get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "wrong_scope")
    );
}

#[tokio::test]
async fn expired() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    shop.clock.advance(Duration::from_secs(33));
    let (status, code) = code_of(client("127.0.0.1").get(&url).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "expired"));
    // Its reservation is gone too.
    assert_eq!(shop.gate.stats().in_use(), 0);
}

#[tokio::test]
async fn stale_epoch() {
    let before = start("shop-a", 5).await;
    let url = before.ticket("concert", "127.0.0.1", true);
    // The shop restarts: a new gate, a new epoch, same address space.
    let after = start("shop-a", 5).await;
    assert_ne!(before.gate.epoch(), after.gate.epoch());
    let url = url.replace(&before.base, &after.base);
    let (status, code) = code_of(client("127.0.0.1").get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "stale_epoch")
    );
}

#[tokio::test]
async fn not_notified() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", false);
    let (status, code) = code_of(client("127.0.0.1").get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "not_notified")
    );
}

#[tokio::test]
async fn a_claim_that_beats_its_notice_waits_for_it() {
    let shop = start("shop-a", 5).await;
    let url = shop.ticket("concert", "127.0.0.1", false);
    let token = url.split("/t/").nth(1).unwrap().split('/').next().unwrap();
    let id = shop.ring.inspect(token).unwrap();
    let usher_ticket::Inspection::Ticket(ticket) = id else {
        panic!("a ticket")
    };
    // The notice arrives in a lease batch 30 ms after the buyer (within the 100 ms hold). The
    // buyer's request really is on the wire meanwhile, so this waits in real time, not on a
    // paused clock (which would jump past the hold while the socket is idle).
    let gate = Arc::clone(&shop.gate);
    let expires = usher_wire::clock::unix_ms(shop.clock.wall()) + 30_000;
    let noticed = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (granted, _) = gate.grant(1, 1, 1, Some(&std::collections::BTreeMap::new()), 2_000);
        let notice = usher_wire::notices::Notice {
            issuer: ticket.id.issuer.0,
            serial: ticket.id.serial,
            item: "concert",
            expires_at_ms: expires,
        };
        (granted, gate.note(1, 1, [notice]))
    });
    let r = client("127.0.0.1").get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The notice's own checks, which a detached task could not fail the test with.
    let (granted, refused) = noticed.await.unwrap();
    assert_eq!(granted, 1, "the lease gets its place");
    assert!(refused.is_empty(), "the notice holds a place: {refused:?}");
}

#[tokio::test]
async fn no_session() {
    let shop = start("shop-a", 5).await;
    let c = client("127.0.0.1");
    let r = c
        .get(format!("{}/items/concert", shop.base))
        .send()
        .await
        .unwrap();
    let (status, code) = code_of(r).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "no_session")
    );
    // A forged cookie is no session either.
    let r = c
        .get(format!("{}/items/concert", shop.base))
        .header(
            "cookie",
            "usher-shop-a~concert=00112233445566778899aabbccddeeff",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.1, "no_session");
    // Open paths need none.
    let r = c
        .get(format!("{}/healthz", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// The prior art `usher crowd compare` measures: with walk-ins allowed, anyone gets a session
/// without a ticket, past capacity, and the high-water mark shows the overrun.
#[tokio::test]
async fn walk_ins_get_a_session_without_a_ticket_and_overrun_capacity() {
    let shop = start_with("shop-a", 2, |c| c.walk_ins = true).await;
    let mut buyers = Vec::new();
    for n in 1..=3 {
        let c = client(&format!("127.0.0.{n}"));
        let r = c
            .get(format!("{}/items/concert", shop.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "walk-in {n} let in");
        assert!(r.headers().contains_key("set-cookie"));
        assert_eq!(r.text().await.unwrap(), "item concert completed false");
        buyers.push(c);
    }
    let stats = shop.gate.stats();
    assert_eq!(
        (stats.sessions, stats.high_water),
        (3, 3),
        "past capacity 2"
    );
    // The cookie keeps the session: a buy completes it and frees the place.
    let r = buyers[0]
        .post(format!("{}/items/concert/buy", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(shop.gate.stats().sessions, 2);
    // Nobody comes through a reception, so no places are held for one.
    let (granted, _) = shop.gate.grant(1, 1, 5, Some(&Default::default()), 10_000);
    assert_eq!((granted, shop.gate.stats().leased), (0, 0));
    // Without the setting (the default) the same request is refused.
    let strict = start("shop-b", 2).await;
    let r = client("127.0.0.1")
        .get(format!("{}/items/concert", strict.base))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.1, "no_session");
}

#[tokio::test]
async fn refusals_show_nothing_of_the_content_and_link_back() {
    let shop = start("shop-a", 5).await;
    let r = client("127.0.0.1")
        .get(format!("{}/items/concert", shop.base))
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
    assert!(!page.contains("item concert"), "no content leaks");
}

#[tokio::test]
async fn malformed_and_forged_tickets() {
    let shop = start("shop-a", 5).await;
    let c = client("127.0.0.1");
    let r = c
        .get(format!("{}/t/nonsense/items/concert", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.1, "malformed");
    let long = "A".repeat(10_000);
    let r = c
        .get(format!("{}/t/{long}/items/concert", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.1, "malformed");
    let url = shop.ticket("concert", "127.0.0.1", true);
    let i = url.find("/items/").unwrap() - 5;
    let mut bytes = url.into_bytes();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let r = c
        .get(String::from_utf8(bytes).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.1, "forged");
}

#[tokio::test]
async fn idle_sessions_end_and_free_their_place() {
    let shop = start("shop-a", 1).await;
    let url = shop.ticket("concert", "127.0.0.1", true);
    let c = client("127.0.0.1");
    c.get(&url).send().await.unwrap();
    assert_eq!(shop.gate.stats().in_use(), 1);
    shop.clock.advance(Duration::from_secs(601));
    assert_eq!(shop.gate.stats().in_use(), 0);
    let r = c
        .get(format!("{}/items/concert", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.1, "no_session");
}
