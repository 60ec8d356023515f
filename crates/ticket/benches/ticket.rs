//! Ticket costs beside `jsonwebtoken` HS256 on an equivalent claim set, in the same run.
//!
//! `cargo bench -p usher-ticket --bench ticket` prints divan's table, then a summary measured
//! with a plain loop (median of rounds) ending in `verify ratio: X` (jsonwebtoken validate ÷
//! usher verify).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use divan::Bencher;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use usher_ticket::{
    BindingPolicy, Epoch, Issuer, IssuerId, ItemId, KeyId, Keyring, Secret, ServerId, TicketOpener,
    TicketSealer, TicketSpec, VerifyContext,
};

struct Fixture {
    sealer: TicketSealer,
    opener: TicketOpener,
    item: ItemId,
    good: String,
    forged: String,
    now: SystemTime,
    jwt_enc: EncodingKey,
    jwt_dec: DecodingKey,
    jwt_validation: Validation,
    jwt_token: String,
    claims: Claims,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    jti: String,
    aud: String,
    epoch: u32,
    nbf: u64,
    exp: u64,
    sub: String,
    item: String,
}

const CLIENT: &str = "2001:db8:1:2::5";

fn fixture() -> Fixture {
    let ring = Keyring::single(KeyId(1), Secret::from_bytes([0x42; 32]));
    let server = ServerId::new("shop-a").unwrap();
    let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(0x0123_4567_89ab_cdef)));
    let sealer = ring.ticket_sealer(&server, issuer.clone());
    let mut opener = ring.ticket_opener(&server);
    opener.admit_issuer(issuer.id()).unwrap();
    let now = SystemTime::now();
    let item = ItemId::new("concert").unwrap();
    let good = {
        let spec = spec(&item, now);
        sealer.seal_to_string(&spec).unwrap().0
    };
    let mut forged = good.clone().into_bytes();
    let i = forged.len() - 8;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = Claims {
        jti: "0123456789abcdef0000000000000001".into(),
        aud: "shop-a".into(),
        epoch: 7,
        nbf: secs,
        exp: secs + 30,
        sub: "2001:db8:1:2::/64".into(),
        item: "concert".into(),
    };
    let jwt_enc = EncodingKey::from_secret(&[0x42; 32]);
    let jwt_dec = DecodingKey::from_secret(&[0x42; 32]);
    let mut jwt_validation = Validation::new(Algorithm::HS256);
    jwt_validation.set_audience(&["shop-a"]);
    jwt_validation.validate_nbf = true;
    let jwt_token = jsonwebtoken::encode(&Header::default(), &claims, &jwt_enc).unwrap();
    Fixture {
        sealer,
        opener,
        item,
        good,
        forged,
        now,
        jwt_enc,
        jwt_dec,
        jwt_validation,
        jwt_token,
        claims,
    }
}

fn spec(item: &ItemId, now: SystemTime) -> TicketSpec<'_> {
    TicketSpec {
        epoch: Epoch(7),
        not_before: now,
        ttl: Duration::from_secs(30),
        binding: BindingPolicy::TICKET.bind(CLIENT.parse().unwrap()),
        item,
    }
}

fn ctx(now: SystemTime) -> VerifyContext<'static> {
    VerifyContext::new(now, CLIENT.parse().unwrap(), Epoch(7), "concert")
}

#[divan::bench]
fn usher_seal(bencher: Bencher) {
    let f = fixture();
    let spec = spec(&f.item, f.now);
    let mut out = String::with_capacity(256);
    bencher.bench_local(|| {
        out.clear();
        black_box(f.sealer.seal(black_box(&spec), &mut out).unwrap());
    });
}

#[divan::bench]
fn usher_verify_good(bencher: Bencher) {
    let f = fixture();
    let c = ctx(f.now);
    bencher.bench_local(|| black_box(f.opener.verify(black_box(&f.good), &c).unwrap()));
}

#[divan::bench]
fn usher_verify_forged(bencher: Bencher) {
    let f = fixture();
    let c = ctx(f.now);
    bencher.bench_local(|| black_box(f.opener.verify(black_box(&f.forged), &c).unwrap_err()));
}

#[divan::bench]
fn jsonwebtoken_hs256_encode(bencher: Bencher) {
    let f = fixture();
    let header = Header::default();
    bencher.bench_local(|| {
        black_box(jsonwebtoken::encode(&header, black_box(&f.claims), &f.jwt_enc).unwrap())
    });
}

#[divan::bench]
fn jsonwebtoken_hs256_validate(bencher: Bencher) {
    let f = fixture();
    bencher.bench_local(|| {
        black_box(
            jsonwebtoken::decode::<Claims>(black_box(&f.jwt_token), &f.jwt_dec, &f.jwt_validation)
                .unwrap(),
        )
    });
}

/// Median nanoseconds per call of `op` over `rounds` rounds of `n` calls.
fn median_ns(rounds: usize, n: u32, mut op: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                op();
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn summary() {
    let f = fixture();
    let c = ctx(f.now);
    let spec = spec(&f.item, f.now);
    let mut out = String::with_capacity(256);
    let seal = median_ns(15, 20_000, || {
        out.clear();
        black_box(f.sealer.seal(black_box(&spec), &mut out).unwrap());
    });
    let verify = median_ns(15, 20_000, || {
        black_box(f.opener.verify(black_box(&f.good), &c).unwrap());
    });
    let forged = median_ns(15, 20_000, || {
        black_box(f.opener.verify(black_box(&f.forged), &c).unwrap_err());
    });
    let header = Header::default();
    let jwt_encode = median_ns(15, 5_000, || {
        black_box(jsonwebtoken::encode(&header, black_box(&f.claims), &f.jwt_enc).unwrap());
    });
    let jwt_validate = median_ns(15, 5_000, || {
        black_box(
            jsonwebtoken::decode::<Claims>(black_box(&f.jwt_token), &f.jwt_dec, &f.jwt_validation)
                .unwrap(),
        );
    });
    println!();
    println!("ticket: {} characters (IPv6 /64 binding)", f.good.len());
    println!("usher seal:                  {seal:8.1} ns");
    println!("usher verify (good):         {verify:8.1} ns");
    println!("usher verify (forged):       {forged:8.1} ns");
    println!("jsonwebtoken HS256 encode:   {jwt_encode:8.1} ns");
    println!("jsonwebtoken HS256 validate: {jwt_validate:8.1} ns");
    println!("verify ratio: {:.1}", jwt_validate / verify);
}

fn main() {
    divan::main();
    // With a filter (profiling one benchmark), skip the summary.
    if std::env::args().skip(1).all(|a| a.starts_with('-')) {
        summary();
    }
}
