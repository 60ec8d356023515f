//! One test per refusal code, named after it, plus the accepting cases around each boundary.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use usher_ticket::{Binding, Issuer, IssuerId, KeyFile, MAX_TOKEN_LEN, Rejection, TicketSpec};
use usher_wire::Code;

fn sealed(client: &str) -> (String, usher_ticket::TicketOpener) {
    let (sealer, opener) = pair(&keyring(), "shop-a");
    let concert = item("concert");
    let (token, _) = sealer.seal_to_string(&spec(&concert, client)).unwrap();
    (token, opener)
}

#[test]
fn good_ticket_verifies_with_all_its_fields() {
    let (token, opener) = sealed("203.0.113.9");
    let ticket = opener
        .verify(&token, &ctx("concert", "203.0.113.9"))
        .unwrap();
    assert_eq!(ticket.server, server("shop-a"));
    assert_eq!(ticket.item, item("concert"));
    assert_eq!(ticket.epoch, EPOCH);
    assert_eq!(ticket.not_before, NOW);
    assert_eq!(ticket.not_after, NOW + 30);
    assert_eq!(ticket.binding.to_string(), "203.0.113.9/32");
    assert_eq!(ticket.id.issuer, IssuerId(0x1234_5678_9abc_def0));
}

#[test]
fn malformed() {
    let (token, opener) = sealed("203.0.113.9");
    let c = ctx("concert", "203.0.113.9");
    for bad in [
        String::new(),
        "x".into(),
        "not base64!".into(),
        format!("{token}="),
        token[..token.len() - 2].to_owned(),
        "A".repeat(MAX_TOKEN_LEN + 1),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    ] {
        assert_eq!(
            opener.verify(&bad, &c),
            Err(Rejection::Malformed),
            "{bad:?}"
        );
    }
    assert_eq!(Rejection::Malformed.code(), Code::Malformed);
}

#[test]
fn malformed_when_trailing_bits_are_not_canonical() {
    let (token, opener) = sealed("2001:db8::9");
    // 70 raw bytes encode to 94 characters whose last one carries 4 unused bits; setting one
    // of them spells the same bytes a second way, which must not be accepted.
    let last = token.as_bytes()[token.len() - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet.iter().position(|&c| c == last).unwrap();
    assert_ne!(token.len() % 4, 0, "the length leaves spare bits");
    let twin = alphabet[value ^ 1] as char;
    let mut bad = token[..token.len() - 1].to_owned();
    bad.push(twin);
    assert_eq!(
        opener.verify(&bad, &ctx("concert", "2001:db8::9")),
        Err(Rejection::Malformed)
    );
}

#[test]
fn forged() {
    let (token, opener) = sealed("203.0.113.9");
    // Change one byte of the sealed body, keeping the encoding valid.
    let mut bytes = token.into_bytes();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bytes).unwrap();
    assert_eq!(
        opener.verify(&bad, &ctx("concert", "203.0.113.9")),
        Err(Rejection::Forged)
    );
    // A ticket sealed under a different master key with the same key id is forged too.
    let other = usher_ticket::Keyring::single(
        usher_ticket::KeyId(1),
        usher_ticket::Secret::from_bytes([7; 32]),
    );
    let (sealer, _) = pair(&other, "shop-a");
    let concert = item("concert");
    let (token, _) = sealer
        .seal_to_string(&spec(&concert, "203.0.113.9"))
        .unwrap();
    assert_eq!(
        opener.verify(&token, &ctx("concert", "203.0.113.9")),
        Err(Rejection::Forged)
    );
}

#[test]
fn unknown_key() {
    let mut ring = keyring();
    let (old_sealer, _) = pair(&ring, "shop-a");
    ring.rotate().unwrap();
    let (new_sealer, _) = pair(&ring, "shop-a");
    let concert = item("concert");
    let (old, _) = old_sealer
        .seal_to_string(&spec(&concert, "10.0.0.1"))
        .unwrap();
    let (new, _) = new_sealer
        .seal_to_string(&spec(&concert, "10.0.0.1"))
        .unwrap();
    // During the overlap both keys verify.
    let (_, opener) = pair(&ring, "shop-a");
    let c = ctx("concert", "10.0.0.1");
    opener.verify(&old, &c).unwrap();
    opener.verify(&new, &c).unwrap();
    // A gate whose keyring lacks the new key says so rather than "forged".
    let (_, stale_gate) = pair(&keyring(), "shop-a");
    assert_eq!(stale_gate.verify(&new, &c), Err(Rejection::UnknownKey));
    // Once retired, the old key's tickets are refused.
    ring.retire(usher_ticket::KeyId(1)).unwrap();
    let (_, opener) = pair(&ring, "shop-a");
    assert_eq!(opener.verify(&old, &c), Err(Rejection::UnknownKey));
    opener.verify(&new, &c).unwrap();
}

#[test]
fn unknown_issuer() {
    let ring = keyring();
    let (sealer, mut opener) = pair(&ring, "shop-a");
    let stranger = Arc::new(Issuer::fixed_for_tests(IssuerId(99)));
    let stranger = ring.ticket_sealer(&server("shop-a"), stranger);
    let concert = item("concert");
    let (token, _) = stranger
        .seal_to_string(&spec(&concert, "10.0.0.1"))
        .unwrap();
    let c = ctx("concert", "10.0.0.1");
    assert_eq!(opener.verify(&token, &c), Err(Rejection::UnknownIssuer));
    opener.admit_issuer(IssuerId(99)).unwrap();
    opener.verify(&token, &c).unwrap();
    // Retiring an issuer refuses its tickets again; others are untouched.
    opener.retire_issuer(IssuerId(99));
    assert_eq!(opener.verify(&token, &c), Err(Rejection::UnknownIssuer));
    let (mine, _) = sealer.seal_to_string(&spec(&concert, "10.0.0.1")).unwrap();
    opener.verify(&mine, &c).unwrap();
}

#[test]
fn wrong_server() {
    let ring = keyring();
    let (sealer, _) = pair(&ring, "shop-a");
    let (_, shop_b) = pair(&ring, "shop-b");
    let concert = item("concert");
    let (token, _) = sealer.seal_to_string(&spec(&concert, "10.0.0.1")).unwrap();
    assert_eq!(
        shop_b.verify(&token, &ctx("concert", "10.0.0.1")),
        Err(Rejection::WrongServer)
    );
}

#[test]
fn wrong_scope() {
    let (token, opener) = sealed("10.0.0.1");
    assert_eq!(
        opener.verify(&token, &ctx("opera", "10.0.0.1")),
        Err(Rejection::WrongScope)
    );
}

#[test]
fn stale_epoch() {
    let (token, opener) = sealed("10.0.0.1");
    let mut c = ctx("concert", "10.0.0.1");
    c.epoch = usher_ticket::Epoch(EPOCH.0 + 1);
    assert_eq!(opener.verify(&token, &c), Err(Rejection::StaleEpoch));
}

#[test]
fn not_yet_valid() {
    let (token, opener) = sealed("10.0.0.1");
    let mut c = ctx("concert", "10.0.0.1");
    // Within the 2 s skew allowance before the window: accepted.
    c.now = at(NOW - 2);
    opener.verify(&token, &c).unwrap();
    c.now = at(NOW - 3);
    assert_eq!(opener.verify(&token, &c), Err(Rejection::NotYetValid));
    c.skew = Duration::from_secs(5);
    opener.verify(&token, &c).unwrap();
}

#[test]
fn expired() {
    let (token, opener) = sealed("10.0.0.1");
    let mut c = ctx("concert", "10.0.0.1");
    c.now = at(NOW + 30 + 1);
    opener.verify(&token, &c).unwrap();
    c.now = at(NOW + 30 + 2);
    assert_eq!(opener.verify(&token, &c), Err(Rejection::Expired));
    c.skew = Duration::ZERO;
    c.now = at(NOW + 30);
    assert_eq!(opener.verify(&token, &c), Err(Rejection::Expired));
}

#[test]
fn wrong_client() {
    let (token, opener) = sealed("203.0.113.9");
    assert_eq!(
        opener.verify(&token, &ctx("concert", "203.0.113.10")),
        Err(Rejection::WrongClient)
    );
    assert_eq!(
        opener.verify(&token, &ctx("concert", "2001:db8::1")),
        Err(Rejection::WrongClient)
    );
    // The same client seen as an IPv4-mapped IPv6 address is the same client.
    opener
        .verify(&token, &ctx("concert", "::ffff:203.0.113.9"))
        .unwrap();
}

#[test]
fn ipv6_binding_covers_the_slash_64() {
    let (token, opener) = sealed("2001:db8:1:2::5");
    opener
        .verify(&token, &ctx("concert", "2001:db8:1:2:9::1"))
        .unwrap();
    assert_eq!(
        opener.verify(&token, &ctx("concert", "2001:db8:1:3::5")),
        Err(Rejection::WrongClient)
    );
}

#[test]
fn unbound_ticket_admits_any_client() {
    let (sealer, opener) = pair(&keyring(), "shop-a");
    let concert = item("concert");
    let spec = TicketSpec {
        binding: Binding::Any,
        ..spec(&concert, "10.0.0.1")
    };
    let (token, _) = sealer.seal_to_string(&spec).unwrap();
    opener
        .verify(&token, &ctx("concert", "2001:db8::7"))
        .unwrap();
}

#[test]
fn ticket_with_ipv6_binding_is_at_most_120_characters() {
    let (sealer, _) = pair(&keyring(), "shop-a");
    let concert = item("concert");
    let (v6, _) = sealer
        .seal_to_string(&spec(&concert, "2001:db8::1"))
        .unwrap();
    let (v4, _) = sealer.seal_to_string(&spec(&concert, "192.0.2.1")).unwrap();
    assert_eq!(v6.len(), 94, "{v6}");
    assert_eq!(v4.len(), 88, "{v4}");
    // A realistic long id pair still fits.
    let (long_sealer, _) = pair(&keyring(), "shop-eu-west-1");
    let long_item = item("concert-2026-12-31");
    let (long, _) = long_sealer
        .seal_to_string(&spec(&long_item, "2001:db8::1"))
        .unwrap();
    assert!(long.len() <= 120, "{} characters: {long}", long.len());
    assert!(
        long.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[test]
fn ticket_ids_are_unique_per_seal() {
    let (sealer, opener) = pair(&keyring(), "shop-a");
    let concert = item("concert");
    let c = ctx("concert", "10.0.0.1");
    let mut ids = std::collections::HashSet::new();
    for _ in 0..1000 {
        let (token, id) = sealer.seal_to_string(&spec(&concert, "10.0.0.1")).unwrap();
        assert_eq!(opener.verify(&token, &c).unwrap().id, id);
        assert!(ids.insert(id));
    }
}

#[test]
fn queue_token_is_not_a_ticket() {
    let ring = keyring();
    let (_, opener) = pair(&ring, "shop-a");
    let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(0x1234_5678_9abc_def0)));
    let queue = ring.queue_sealer(issuer);
    let concert = item("concert");
    let token = queue
        .seal_to_string(&usher_ticket::QueueSpec {
            epoch: EPOCH,
            place: 1,
            arrived_at: at(NOW),
            binding: Binding::Any,
            item: &concert,
        })
        .unwrap();
    assert_eq!(
        opener.verify(&token, &ctx("concert", "10.0.0.1")),
        Err(Rejection::Malformed)
    );
}

#[test]
fn shop_key_file_verifies_what_the_reception_seals() {
    let ring = keyring();
    let shop_keys = ring.derive_server(&server("shop-a"));
    let text = KeyFile::Server(shop_keys).to_toml();
    let shop_keys = KeyFile::from_toml(&text).unwrap().into_server().unwrap();
    let (sealer, _) = pair(&ring, "shop-a");
    let mut gate = shop_keys.ticket_opener();
    gate.admit_issuer(IssuerId(0x1234_5678_9abc_def0)).unwrap();
    let concert = item("concert");
    let (token, _) = sealer.seal_to_string(&spec(&concert, "10.0.0.1")).unwrap();
    gate.verify(&token, &ctx("concert", "10.0.0.1")).unwrap();
}

#[test]
fn every_rejection_has_its_own_code() {
    let all = [
        Rejection::Malformed,
        Rejection::Forged,
        Rejection::UnknownKey,
        Rejection::UnknownIssuer,
        Rejection::WrongServer,
        Rejection::WrongScope,
        Rejection::StaleEpoch,
        Rejection::NotYetValid,
        Rejection::Expired,
        Rejection::WrongClient,
    ];
    let mut codes: Vec<_> = all.iter().map(|r| r.code().as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
}
