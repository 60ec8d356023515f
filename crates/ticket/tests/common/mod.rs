//! Shared fixtures for the ticket crate's tests.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use usher_ticket::{
    BindingPolicy, Epoch, Issuer, IssuerId, ItemId, KeyId, Keyring, Secret, ServerId, TicketOpener,
    TicketSealer, TicketSpec, VerifyContext,
};

pub(crate) const NOW: u64 = 1_795_000_000;
pub(crate) const EPOCH: Epoch = Epoch(41);

pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub(crate) fn server(id: &str) -> ServerId {
    ServerId::new(id).unwrap()
}

pub(crate) fn item(id: &str) -> ItemId {
    ItemId::new(id).unwrap()
}

pub(crate) fn keyring() -> Keyring {
    Keyring::single(KeyId(1), Secret::from_bytes([0x42; 32]))
}

/// A reception's sealer for `shop` and that shop's verifier, which knows the issuer.
pub(crate) fn pair(ring: &Keyring, shop: &str) -> (TicketSealer, TicketOpener) {
    let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(0x1234_5678_9abc_def0)));
    let sealer = ring.ticket_sealer(&server(shop), issuer.clone());
    let mut opener = ring.ticket_opener(&server(shop));
    opener.admit_issuer(issuer.id()).unwrap();
    (sealer, opener)
}

pub(crate) fn spec<'a>(item: &'a ItemId, client: &str) -> TicketSpec<'a> {
    TicketSpec {
        epoch: EPOCH,
        not_before: at(NOW),
        ttl: Duration::from_secs(30),
        binding: BindingPolicy::TICKET.bind(ip(client)),
        item,
    }
}

pub(crate) fn ctx<'a>(item: &'a str, client: &str) -> VerifyContext<'a> {
    VerifyContext::new(at(NOW + 5), ip(client), EPOCH, item)
}
