//! Runs one ticket operation in a loop, for profilers that count instructions:
//! `valgrind --tool=callgrind target/release/examples/hot_path verify 100000`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use usher_ticket::{
    BindingPolicy, Epoch, Issuer, IssuerId, ItemId, KeyId, Keyring, Secret, ServerId, TicketSpec,
    VerifyContext,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_else(|| "verify".into());
    let n: u32 = args.next().map_or(100_000, |s| s.parse().unwrap());
    let ring = Keyring::single(KeyId(1), Secret::from_bytes([0x42; 32]));
    let server = ServerId::new("shop-a").unwrap();
    let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(0x0123_4567_89ab_cdef)));
    let sealer = ring.ticket_sealer(&server, issuer.clone());
    let mut opener = ring.ticket_opener(&server);
    opener.admit_issuer(issuer.id()).unwrap();
    let now = SystemTime::now();
    let client = "2001:db8:1:2::5".parse().unwrap();
    let item = ItemId::new("concert").unwrap();
    let spec = TicketSpec {
        epoch: Epoch(7),
        not_before: now,
        ttl: Duration::from_secs(30),
        binding: BindingPolicy::TICKET.bind(client),
        item: &item,
    };
    let good = sealer.seal_to_string(&spec).unwrap().0;
    let mut forged = good.clone().into_bytes();
    let i = forged.len() - 8;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let ctx = VerifyContext::new(now, client, Epoch(7), "concert");
    let mut out = String::with_capacity(256);
    for _ in 0..n {
        match op.as_str() {
            "seal" => {
                out.clear();
                black_box(sealer.seal(black_box(&spec), &mut out).unwrap());
            }
            "verify" => {
                black_box(opener.verify(black_box(&good), &ctx).unwrap());
            }
            "forged" => {
                black_box(opener.verify(black_box(&forged), &ctx).unwrap_err());
            }
            other => panic!("unknown op {other}; use seal, verify or forged"),
        }
    }
}
