//! Ticket and queue-token decoding and verifying, on any input.
//!
//! The first byte picks a mode: raw text handed to every verifier (nothing may panic, nothing
//! may verify), or a real token sealed from the input's fields and then altered by XOR with the
//! rest of the input (it must verify exactly when nothing changed).
#![no_main]

use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use usher_ticket::{
    BindingPolicy, Epoch, Issuer, IssuerId, ItemId, KeyId, Keyring, QueueContext, QueueOpener,
    QueueSealer, QueueSpec, Secret, ServerId, TicketOpener, TicketSealer, TicketSpec,
    VerifyContext,
};

struct Keys {
    ring: Keyring,
    ticket_sealer: TicketSealer,
    ticket_opener: TicketOpener,
    queue_sealer: QueueSealer,
    queue_opener: QueueOpener,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ring = Keyring::single(KeyId(1), Secret::from_bytes([0x5a; 32]));
        let server = ServerId::new("shop-a").expect("valid id");
        let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(77)));
        let mut ticket_opener = ring.ticket_opener(&server);
        ticket_opener.admit_issuer(IssuerId(77)).expect("room");
        let mut queue_opener = ring.queue_opener();
        queue_opener.admit_issuer(IssuerId(77)).expect("room");
        Keys {
            ticket_sealer: ring.ticket_sealer(&server, issuer.clone()),
            queue_sealer: ring.queue_sealer(issuer),
            ring,
            ticket_opener,
            queue_opener,
        }
    })
}

const NOW: u64 = 1_795_000_000;

fn client(data: &[u8]) -> IpAddr {
    let mut b = [0u8; 16];
    let n = data.len().min(16);
    b[..n].copy_from_slice(&data[..n]);
    IpAddr::V6(Ipv6Addr::from(b)).to_canonical()
}

fuzz_target!(|data: &[u8]| {
    let k = keys();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let at = UNIX_EPOCH + Duration::from_secs(NOW);
    let ip = client(rest);
    let tctx = VerifyContext::new(at, ip, Epoch(1), "concert");
    let qctx = QueueContext::new(at, ip, Epoch(1), "concert", Duration::from_secs(3600));
    if mode < 128 {
        let text = String::from_utf8_lossy(rest);
        assert!(k.ticket_opener.verify(&text, &tctx).is_err());
        assert!(k.queue_opener.verify(&text, &qctx).is_err());
        let _ = k.ring.inspect(&text);
        return;
    }
    let item = ItemId::new("concert").expect("valid id");
    let binding = BindingPolicy::new(rest.first().map_or(32, |b| b % 33), 64)
        .expect("valid")
        .bind(ip);
    let mut token = String::new();
    let is_ticket = mode & 1 == 0;
    if is_ticket {
        let spec = TicketSpec {
            epoch: Epoch(1),
            not_before: at,
            ttl: Duration::from_secs(30),
            binding,
            item: &item,
        };
        k.ticket_sealer.seal(&spec, &mut token).expect("seals");
    } else {
        let spec = QueueSpec {
            epoch: Epoch(1),
            place: u64::from(mode),
            arrived_at: at,
            binding,
            item: &item,
        };
        k.queue_sealer.seal(&spec, &mut token).expect("seals");
    }
    let mut bytes = token.into_bytes();
    let mask = rest.get(16..).unwrap_or(&[]);
    let mut changed = false;
    for (b, m) in bytes.iter_mut().zip(mask) {
        changed |= *m != 0;
        *b ^= m;
    }
    let text = String::from_utf8_lossy(&bytes);
    let ok = if is_ticket {
        k.ticket_opener.verify(&text, &tctx).is_ok()
    } else {
        k.queue_opener.verify(&text, &qctx).is_ok()
    };
    assert_eq!(
        ok, !changed,
        "an altered token verified, or a good one did not"
    );
});
