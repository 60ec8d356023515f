//! Queue tokens: round trip and each refusal a reception can meet.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use usher_ticket::{
    BindingPolicy, Epoch, Issuer, IssuerId, QueueContext, QueueOpener, QueueSealer, QueueSpec,
    Rejection,
};

const MAX_AGE: Duration = Duration::from_secs(3600);

fn fixture() -> (QueueSealer, QueueOpener) {
    let ring = keyring();
    let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(5)));
    let sealer = ring.queue_sealer(issuer);
    let mut opener = ring.queue_opener();
    opener.admit_issuer(IssuerId(5)).unwrap();
    (sealer, opener)
}

fn token(place: u64, client: &str) -> String {
    let concert = item("concert");
    fixture()
        .0
        .seal_to_string(&QueueSpec {
            epoch: EPOCH,
            place,
            arrived_at: at(NOW),
            binding: BindingPolicy::QUEUE.bind(ip(client)),
            item: &concert,
        })
        .unwrap()
}

fn qctx<'a>(item: &'a str, client: &str) -> QueueContext<'a> {
    QueueContext::new(at(NOW + 60), ip(client), EPOCH, item, MAX_AGE)
}

#[test]
fn queue_token_round_trips_its_place() {
    let (_, opener) = fixture();
    let t = token(123_456_789, "198.51.100.20");
    let q = opener
        .verify(&t, &qctx("concert", "198.51.100.20"))
        .unwrap();
    assert_eq!(q.place, 123_456_789);
    assert_eq!(q.arrived_at_ms, NOW * 1000);
    assert_eq!(q.item, item("concert"));
    assert_eq!(q.binding.to_string(), "198.51.100.0/24");
    assert!(t.len() <= 120, "{} characters", t.len());
}

#[test]
fn queue_binding_survives_an_address_change_within_the_slash_24() {
    let (_, opener) = fixture();
    let t = token(1, "198.51.100.20");
    opener
        .verify(&t, &qctx("concert", "198.51.100.250"))
        .unwrap();
    assert_eq!(
        opener.verify(&t, &qctx("concert", "198.51.101.20")),
        Err(Rejection::WrongClient)
    );
}

#[test]
fn queue_malformed() {
    let (_, opener) = fixture();
    assert_eq!(
        opener.verify("%%%", &qctx("concert", "10.0.0.1")),
        Err(Rejection::Malformed)
    );
    // A ticket is not a queue token.
    let (sealer, _) = pair(&keyring(), "shop-a");
    let concert = item("concert");
    let (ticket, _) = sealer.seal_to_string(&spec(&concert, "10.0.0.1")).unwrap();
    assert_eq!(
        opener.verify(&ticket, &qctx("concert", "10.0.0.1")),
        Err(Rejection::Malformed)
    );
}

#[test]
fn queue_forged() {
    let (_, opener) = fixture();
    let mut t = token(1, "10.0.0.1").into_bytes();
    let i = t.len() / 2;
    t[i] = if t[i] == b'x' { b'y' } else { b'x' };
    let t = String::from_utf8(t).unwrap();
    assert_eq!(
        opener.verify(&t, &qctx("concert", "10.0.0.1")),
        Err(Rejection::Forged)
    );
}

#[test]
fn queue_unknown_issuer_and_unknown_key() {
    let t = token(1, "10.0.0.1");
    let ring = keyring();
    let stranger = ring.queue_opener();
    assert_eq!(
        stranger.verify(&t, &qctx("concert", "10.0.0.1")),
        Err(Rejection::UnknownIssuer)
    );
    let mut rotated = keyring();
    rotated.rotate().unwrap();
    rotated.retire(usher_ticket::KeyId(1)).unwrap();
    let mut opener = rotated.queue_opener();
    opener.admit_issuer(IssuerId(5)).unwrap();
    assert_eq!(
        opener.verify(&t, &qctx("concert", "10.0.0.1")),
        Err(Rejection::UnknownKey)
    );
}

#[test]
fn queue_stale_epoch() {
    let (_, opener) = fixture();
    let t = token(1, "10.0.0.1");
    let mut c = qctx("concert", "10.0.0.1");
    c.epoch = Epoch(EPOCH.0 + 1);
    assert_eq!(opener.verify(&t, &c), Err(Rejection::StaleEpoch));
}

#[test]
fn queue_wrong_scope() {
    let (_, opener) = fixture();
    let t = token(1, "10.0.0.1");
    assert_eq!(
        opener.verify(&t, &qctx("opera", "10.0.0.1")),
        Err(Rejection::WrongScope)
    );
}

#[test]
fn queue_expired_and_not_yet_valid() {
    let (_, opener) = fixture();
    let t = token(1, "10.0.0.1");
    let mut c = qctx("concert", "10.0.0.1");
    c.now = at(NOW + 3600 + 2);
    assert_eq!(opener.verify(&t, &c), Err(Rejection::Expired));
    c.now = at(NOW + 3600);
    opener.verify(&t, &c).unwrap();
    c.now = at(NOW - 3);
    assert_eq!(opener.verify(&t, &c), Err(Rejection::NotYetValid));
}

#[test]
fn any_reception_sharing_the_keyring_honours_the_token() {
    let t = token(77, "10.0.0.1");
    // Another reception process: its own issuer, the same keyring, told about the first issuer.
    let ring = keyring();
    let mut peer = ring.queue_opener();
    peer.admit_issuer(IssuerId(6)).unwrap();
    peer.admit_issuer(IssuerId(5)).unwrap();
    assert_eq!(
        peer.verify(&t, &qctx("concert", "10.0.0.1")).unwrap().place,
        77
    );
}
