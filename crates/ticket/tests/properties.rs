//! Property tests: round trips for any field values, and no altered token ever verifies.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use proptest::prelude::*;
use usher_ticket::{
    BindingPolicy, Epoch, Issuer, IssuerId, ItemId, KeyId, Keyring, QueueContext, QueueSpec,
    Rejection, Secret, ServerId, TicketSpec, VerifyContext,
};

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

fn any_server() -> impl Strategy<Value = ServerId> {
    "[A-Za-z0-9._-]{1,32}".prop_map(|s| ServerId::new(&s).unwrap())
}

fn any_item() -> impl Strategy<Value = ItemId> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|s| ItemId::new(&s).unwrap())
}

fn any_policy() -> impl Strategy<Value = BindingPolicy> {
    (0u8..=32, 0u8..=128).prop_map(|(a, b)| BindingPolicy::new(a, b).unwrap())
}

#[derive(Debug, Clone)]
struct Case {
    secret: [u8; 32],
    issuer: u64,
    server: ServerId,
    item: ItemId,
    epoch: u32,
    not_before: u64,
    ttl: u64,
    client: IpAddr,
    policy: BindingPolicy,
}

fn any_case() -> impl Strategy<Value = Case> {
    (
        any::<[u8; 32]>(),
        any::<u64>(),
        any_server(),
        any_item(),
        any::<u32>(),
        0u64..=u64::from(u32::MAX),
        1u64..=65_535,
        any_ip(),
        any_policy(),
    )
        .prop_map(
            |(secret, issuer, server, item, epoch, not_before, ttl, client, policy)| Case {
                secret,
                issuer,
                server,
                item,
                epoch,
                not_before,
                ttl,
                client,
                policy,
            },
        )
}

impl Case {
    fn ring(&self) -> Keyring {
        Keyring::single(KeyId(3), Secret::from_bytes(self.secret))
    }

    fn seal(&self) -> String {
        let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(self.issuer)));
        let sealer = self.ring().ticket_sealer(&self.server, issuer);
        let spec = TicketSpec {
            epoch: Epoch(self.epoch),
            not_before: at(self.not_before),
            ttl: Duration::from_secs(self.ttl),
            binding: self.policy.bind(self.client),
            item: &self.item,
        };
        sealer.seal_to_string(&spec).unwrap().0
    }

    fn opener(&self, server: &ServerId) -> usher_ticket::TicketOpener {
        let mut opener = self.ring().ticket_opener(server);
        opener.admit_issuer(IssuerId(self.issuer)).unwrap();
        opener
    }

    fn ctx(&self) -> VerifyContext<'_> {
        VerifyContext::new(
            at(self.not_before + self.ttl / 2),
            self.client,
            Epoch(self.epoch),
            self.item.as_str(),
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn seal_then_verify_round_trips(case in any_case()) {
        let token = case.seal();
        prop_assert!(token.len() <= usher_ticket::MAX_TOKEN_LEN);
        let ticket = case.opener(&case.server).verify(&token, &case.ctx()).unwrap();
        prop_assert_eq!(ticket.server, case.server);
        prop_assert_eq!(ticket.item, case.item);
        prop_assert_eq!(ticket.epoch, Epoch(case.epoch));
        prop_assert_eq!(ticket.not_before, case.not_before);
        prop_assert_eq!(ticket.not_after, case.not_before + case.ttl);
        prop_assert_eq!(ticket.id.issuer, IssuerId(case.issuer));
        prop_assert!(ticket.binding.admits(case.client));
    }

    #[test]
    fn flipping_any_bit_never_verifies(case in any_case(), index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let token = case.seal();
        let mut bytes = token.into_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let altered = String::from_utf8_lossy(&bytes);
        prop_assert!(case.opener(&case.server).verify(&altered, &case.ctx()).is_err());
    }

    #[test]
    fn any_truncation_or_extension_is_refused(case in any_case(), cut in any::<prop::sample::Index>(), extra in "[A-Za-z0-9_=-]{1,8}") {
        let token = case.seal();
        let opener = case.opener(&case.server);
        let cut = cut.index(token.len());
        prop_assert!(opener.verify(&token[..cut], &case.ctx()).is_err());
        let extended = format!("{token}{extra}");
        prop_assert!(opener.verify(&extended, &case.ctx()).is_err());
    }

    #[test]
    fn a_ticket_for_shop_a_is_refused_by_shop_b(case in any_case(), other in any_server()) {
        prop_assume!(other != case.server);
        let token = case.seal();
        prop_assert_eq!(
            case.opener(&other).verify(&token, &case.ctx()),
            Err(Rejection::WrongServer)
        );
    }

    #[test]
    fn a_derived_shop_key_file_cannot_seal_for_another_shop(case in any_case(), last in "[A-Za-z0-9]") {
        // shop B differs from shop A in its last character, so the header can be relabelled.
        let mut b = case.server.as_str().to_owned();
        b.pop();
        b.push_str(&last);
        let shop_b = ServerId::new(&b).unwrap();
        prop_assume!(shop_b != case.server);
        // Shop A holds only its own keys; whatever it seals says "shop A"...
        let shop_a_keys = case.ring().derive_server(&case.server);
        let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(case.issuer)));
        let spec = TicketSpec {
            epoch: Epoch(case.epoch),
            not_before: at(case.not_before),
            ttl: Duration::from_secs(case.ttl),
            binding: case.policy.bind(case.client),
            item: &case.item,
        };
        let token = shop_a_keys.ticket_sealer(issuer).seal_to_string(&spec).unwrap().0;
        let shop_b_gate = case.opener(&shop_b);
        prop_assert_eq!(shop_b_gate.verify(&token, &case.ctx()), Err(Rejection::WrongServer));
        // ...and relabelling the header as shop B breaks the seal.
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let start = 20;
        raw[start..start + b.len()].copy_from_slice(b.as_bytes());
        let relabelled = URL_SAFE_NO_PAD.encode(&raw);
        prop_assert_eq!(shop_b_gate.verify(&relabelled, &case.ctx()), Err(Rejection::Forged));
    }

    #[test]
    fn any_input_yields_a_result_and_never_panics(input in ".{0,400}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let ring = keyring();
        let (_, opener) = pair(&ring, "shop-a");
        let ctx = ctx("concert", "10.0.0.1");
        prop_assert!(opener.verify(&input, &ctx).is_err());
        let b64 = URL_SAFE_NO_PAD.encode(&bytes);
        prop_assert!(opener.verify(&b64, &ctx).is_err());
        prop_assert!(ring.inspect(&b64).is_err());
        let mut queue = ring.queue_opener();
        queue.admit_issuer(IssuerId(0)).unwrap();
        let qctx = QueueContext::new(at(NOW), ip("10.0.0.1"), EPOCH, "concert", Duration::from_secs(60));
        prop_assert!(queue.verify(&b64, &qctx).is_err());
    }

    #[test]
    fn queue_tokens_round_trip_and_resist_bit_flips(
        case in any_case(),
        place in any::<u64>(),
        arrived in 0u64..=4_000_000_000_000,
        index in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let ring = case.ring();
        let sealer = ring.queue_sealer(Arc::new(Issuer::fixed_for_tests(IssuerId(case.issuer))));
        let mut opener = ring.queue_opener();
        opener.admit_issuer(IssuerId(case.issuer)).unwrap();
        let token = sealer.seal_to_string(&QueueSpec {
            epoch: Epoch(case.epoch),
            place,
            arrived_at: std::time::UNIX_EPOCH + Duration::from_millis(arrived),
            binding: case.policy.bind(case.client),
            item: &case.item,
        }).unwrap();
        let ctx = QueueContext::new(
            std::time::UNIX_EPOCH + Duration::from_millis(arrived + 1000),
            case.client,
            Epoch(case.epoch),
            case.item.as_str(),
            Duration::from_secs(3600),
        );
        let queued = opener.verify(&token, &ctx).unwrap();
        prop_assert_eq!(queued.place, place);
        prop_assert_eq!(queued.arrived_at_ms, arrived);
        let mut bytes = token.into_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(opener.verify(&String::from_utf8_lossy(&bytes), &ctx).is_err());
    }
}
