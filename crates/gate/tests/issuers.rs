//! Issue 14 point 3: a shop's issuer table is scoped to the links that announced its issuers,
//! evicts the stalest to make room, and takes one welcome per link.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use futures_util::SinkExt as _;
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use usher_ticket::{Issuer, IssuerId, MAX_ISSUERS};
use usher_wire::mgmt::{Down, Up};

fn issuer(id: u64) -> Arc<Issuer> {
    Arc::new(Issuer::fixed_for_tests(IssuerId(id)))
}

/// A claim of a fresh ticket from `issuer`, noticed: `303` if the gate accepts the issuer.
async fn claims(shop: &Shop, issuer: &Arc<Issuer>) -> bool {
    let url = shop.ticket_from(issuer, "concert", "127.0.0.1", true);
    let r = client("127.0.0.1").get(&url).send().await.unwrap();
    if r.status() == StatusCode::SEE_OTHER {
        return true;
    }
    let (_, code) = code_of(r).await;
    assert_eq!(code, "unknown_issuer");
    false
}

/// One reception restart after another: each announces its issuer on a link that then ends.
fn restarts(shop: &Shop, first: u64) {
    for n in 0..MAX_ISSUERS as u64 {
        let link = shop.gate.next_link();
        shop.gate.admit_link_issuers(link, &[IssuerId(first + n)]);
        shop.gate.drop_link(link);
    }
}

#[tokio::test]
async fn a_fresh_reception_is_admitted_after_max_issuers_restarts() {
    let shop = start("shop-a", 8).await;
    restarts(&shop, 1_000);
    let fresh = issuer(0xf00d);
    shop.gate
        .admit_link_issuers(shop.gate.next_link(), &[fresh.id()]);
    assert!(claims(&shop, &fresh).await, "the fresh issuer was refused");
    assert!(
        !claims(&shop, &issuer(1_000)).await,
        "the oldest ended link's issuer made the room"
    );
    assert!(claims(&shop, &issuer(1_001)).await);
}

#[tokio::test]
async fn a_live_links_issuer_keeps_working_while_stale_ones_are_evicted() {
    let shop = start("shop-a", 8).await;
    let live = issuer(0x7e57_11fe);
    shop.gate
        .admit_link_issuers(shop.gate.next_link(), &[live.id()]);
    restarts(&shop, 2_000);
    let newest = issuer(2_000 + MAX_ISSUERS as u64 - 1);
    assert!(
        claims(&shop, &newest).await,
        "the newest issuer was refused"
    );
    assert!(
        claims(&shop, &live).await,
        "the live link's issuer was evicted"
    );
    assert!(!claims(&shop, &issuer(2_000)).await);
}

#[tokio::test]
async fn a_second_welcome_mid_link_ends_the_link_and_admits_nothing() {
    let shop = start("shop-a", 8).await;
    let reception = FakeReception::start(&shop).await;
    let mut link = reception.next().await;
    assert!(matches!(link.hello, Up::Hello { .. }), "{:?}", link.hello);
    // Both sealed under the right keys: only the second one breaks the protocol.
    let (mut sealer, mut opener) = link.channel(&shop.ring);
    let (first, second) = (issuer(0xa), issuer(0xb));
    for welcomed in [&first, &second] {
        let welcome = Down::Welcome {
            issuers: vec![welcomed.id().to_string()],
            public_url: None,
        };
        let frame = sealed(&mut sealer, &welcome);
        link.ws.send(Message::binary(frame)).await.unwrap();
    }
    assert!(
        link.ends(Some(&mut opener)).await,
        "the link outlived a second welcome"
    );
    assert!(
        claims(&shop, &first).await,
        "the handshake's welcome counts"
    );
    assert!(!claims(&shop, &second).await, "the second welcome admitted");
}
