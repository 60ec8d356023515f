//! Issue 14 point 2: the shop trusts its management link only as far as the other end proves
//! it holds the shop's management key. A fake reception cannot get past the welcome, and once
//! the link is keyed a relay on the path can neither alter, replay nor inject a frame: any of
//! them ends the link, and nothing it carried is applied.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use usher_ticket::Keyring;
use usher_wire::Clock as _;
use usher_wire::mgmt::{Down, Up};

fn welcome(shop: &Shop) -> Down {
    Down::Welcome {
        issuers: vec![shop.issuer.id().to_string()],
        public_url: None,
    }
}

/// A reservation for a fresh ticket id of the shop's issuer.
fn reserve(shop: &Shop, id: u64) -> Down {
    let item = usher_ticket::ItemId::new("concert").unwrap();
    let sealer = shop
        .ring
        .ticket_sealer(&shop.gate.config().server, Arc::clone(&shop.issuer));
    let (_, ticket) = sealer
        .seal_to_string(&shop.spec(&item, "127.0.0.1"))
        .unwrap();
    Down::Reserve {
        id,
        ticket: ticket.to_string(),
        item: "concert".into(),
        expires_at_ms: usher_wire::clock::unix_ms(shop.clock.wall()) + 30_000,
    }
}

fn reserved(shop: &Shop) -> u32 {
    shop.gate.report().reserved
}

/// Once a link ends the gate drops what it reserved; it may take a moment after the close.
async fn nothing_reserved(shop: &Shop) {
    eventually("the link's reservations return", || reserved(shop) == 0).await;
}

#[tokio::test]
async fn a_reception_without_the_shops_key_cannot_welcome_it_or_reserve_places() {
    let shop = start("shop-a", 8).await;
    let reception = FakeReception::start(&shop).await;

    // An unsealed welcome and reservation, as a reception of the old protocol or a fake one
    // would send them.
    let mut link = reception.next().await;
    link.ws.send(plain(&welcome(&shop))).await.unwrap();
    link.ws.send(plain(&reserve(&shop, 1))).await.unwrap();
    assert!(
        link.ends(None).await,
        "the link outlived an unsealed welcome"
    );
    assert_eq!(reserved(&shop), 0);

    // Sealed, but under keys derived from another keyring: the welcome does not verify.
    let mut link = reception.next().await;
    let (mut sealer, _) = link.channel(&Keyring::generate().unwrap());
    for down in [welcome(&shop), reserve(&shop, 2)] {
        let frame = sealed(&mut sealer, &down);
        link.ws.send(Message::binary(frame)).await.unwrap();
    }
    assert!(link.ends(None).await, "the link outlived a forged welcome");
    nothing_reserved(&shop).await;
}

#[tokio::test]
async fn a_relay_cannot_alter_replay_or_inject_frames() {
    let shop = start("shop-a", 8).await;
    let reception = FakeReception::start(&shop).await;

    // A keyed link works: the sealed reservation is granted.
    let mut link = reception.next().await;
    let (mut sealer, mut opener) = link.channel(&shop.ring);
    let frame = sealed(&mut sealer, &welcome(&shop));
    link.ws.send(Message::binary(frame)).await.unwrap();
    let reserve_frame = sealed(&mut sealer, &reserve(&shop, 1));
    link.ws
        .send(Message::binary(reserve_frame.clone()))
        .await
        .unwrap();
    loop {
        let Some(Ok(Message::Binary(frame))) = link.ws.next().await else {
            panic!("the link ended");
        };
        let mut frame = Vec::from(frame);
        let (_, json) = opener.open(&mut frame).unwrap();
        match serde_json::from_slice::<Up>(json).unwrap() {
            Up::Reserved { id: 1, granted } => {
                assert!(granted);
                break;
            }
            Up::Report(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(reserved(&shop), 1);
    // The same frame again: a replay ends the link, and its reservation goes with it.
    link.ws.send(Message::binary(reserve_frame)).await.unwrap();
    assert!(
        link.ends(Some(&mut opener)).await,
        "the link outlived a replay"
    );
    nothing_reserved(&shop).await;

    // One bit changed on the way.
    let mut link = reception.next().await;
    let (mut sealer, mut opener) = link.channel(&shop.ring);
    let frame = sealed(&mut sealer, &welcome(&shop));
    link.ws.send(Message::binary(frame)).await.unwrap();
    let mut altered = sealed(&mut sealer, &reserve(&shop, 2));
    altered[20] ^= 0x01;
    link.ws.send(Message::binary(altered)).await.unwrap();
    assert!(
        link.ends(Some(&mut opener)).await,
        "the link outlived an altered frame"
    );
    nothing_reserved(&shop).await;

    // An unsealed message injected into a keyed link.
    let mut link = reception.next().await;
    let (mut sealer, mut opener) = link.channel(&shop.ring);
    let frame = sealed(&mut sealer, &welcome(&shop));
    link.ws.send(Message::binary(frame)).await.unwrap();
    link.ws.send(plain(&reserve(&shop, 3))).await.unwrap();
    assert!(
        link.ends(Some(&mut opener)).await,
        "the link outlived an injected message"
    );
    nothing_reserved(&shop).await;
}

/// A reception that accepts the connection and then says nothing does not hold the link: the
/// gate gives up at its handshake timeout and dials again (found in review).
#[tokio::test]
async fn a_silent_reception_is_left_at_the_handshake_timeout() {
    let shop = start("shop-a", 8).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config =
        usher_gate::link::LinkConfig::new(format!("ws://{}", listener.local_addr().unwrap()));
    config.handshake_timeout = std::time::Duration::from_millis(300);
    config.retry_max = std::time::Duration::from_millis(100);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(usher_gate::link::run(
        Arc::clone(&shop.gate),
        config,
        stop_rx,
    ));
    let deadline = std::time::Duration::from_secs(10);
    let (first, _) = tokio::time::timeout(deadline, listener.accept())
        .await
        .unwrap()
        .unwrap();
    // Accepted, upgraded, and then silence: no challenge.
    let _silent = tokio_tungstenite::accept_async(first).await.unwrap();
    let again = tokio::time::timeout(deadline, listener.accept()).await;
    assert!(again.is_ok(), "the gate kept waiting on a silent reception");
}

/// The shop learns where its links back lead from the reception itself, so its operator need
/// not repeat the reception's public URL (a wrong one sent every "Start again" astray).
#[tokio::test]
async fn a_welcome_tells_the_shop_where_its_links_back_lead() {
    let shop = start("shop-a", 8).await;
    assert_eq!(
        shop.gate.back_links().retry_url(None),
        "http://reception.invalid/"
    );
    let reception = FakeReception::start(&shop).await;
    let mut link = reception.next().await;
    let (mut sealer, _) = link.channel(&shop.ring);
    let welcome = Down::Welcome {
        issuers: vec![shop.issuer.id().to_string()],
        public_url: Some("https://tickets.example/".into()),
    };
    let frame = sealed(&mut sealer, &welcome);
    link.ws.send(Message::binary(frame)).await.unwrap();
    eventually("the welcome's URL to be learnt", || {
        shop.gate.back_links().retry_url(Some("concert")) == "https://tickets.example/order/concert"
    })
    .await;
    // What is not a web address, or could break out of an attribute, is not learnt.
    for bad in [
        "javascript:alert(1)",
        "https://x.example/\"><script>",
        "ftp://x.example",
    ] {
        shop.gate.back_links().learn(bad);
        assert_eq!(
            shop.gate.back_links().retry_url(None),
            "https://tickets.example/",
            "{bad}"
        );
    }
    // An operator's own setting stands.
    let fixed = start_with("shop-b", 1, |config| {
        config.reception_url = "https://mine.example".into();
        config.reception_url_fixed = true;
    })
    .await;
    fixed.gate.back_links().learn("https://tickets.example");
    assert_eq!(
        fixed.gate.back_links().retry_url(None),
        "https://mine.example/"
    );
}
