//! The status documents operators and the crowd read on the management listeners: the
//! reception's `GET /status` ([`ReceptionStatus`]) and a shop's, which is its latest load report
//! ([`ShopStatus`], the same [`Report`] it sends up). One type per document, written by the
//! server and read by the crowd, so neither side names a field by string.

use serde::{Deserialize, Serialize};

pub use crate::mgmt::{Report, places_in_use};

/// A shop's `GET /status`: its load report as it would send it now.
pub type ShopStatus = Report;

/// The reception's `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceptionStatus {
    /// This reception's issuer id (16 hex digits), which shops accept tickets from.
    pub issuer: String,
    /// The waiting room.
    pub queue: QueueStatus,
    /// Management connections refused (bad hello, unknown shop) since the start.
    pub refused_connections: u64,
    /// Every configured shop, in configuration order.
    pub shops: Vec<ShopView>,
}

/// What the reception knows of one configured shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopView {
    /// The shop's id.
    pub id: String,
    /// The shop's public base URL.
    pub url: String,
    /// Connected, with a report younger than the shop timeout: in rotation.
    pub live: bool,
    /// Smoothed round-trip time on the management link, microseconds.
    pub rtt_us: u64,
    /// The shop's last report on its current link (`None` before the first).
    pub report: Option<Report>,
    /// Tickets handed out since that report (counted as load until the next one).
    pub handed_out_since_report: u32,
    /// Places left in this reception's leases at the shop.
    pub lease_places_left: u32,
}

/// The waiting room's counters and measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// The sale's epoch, sealed into every queue token.
    pub epoch: u32,
    /// Places handed out (the next place's number).
    pub issued: u64,
    /// Places below this number are eligible.
    pub head: u64,
    /// Eligible places below this number are given up or claimed.
    pub open_from: u64,
    /// Clients in line behind the head.
    pub waiting: u64,
    /// The measured rate at which places free, per second (`None` before it is measured).
    pub rate_per_s: Option<f64>,
    /// The measured share of eligible clients who never come back.
    pub no_show_share: f64,
    /// Heap the line uses, bytes.
    pub heap_bytes: u64,
    /// Admissions from the line under way.
    pub in_flight: u64,
    /// Clients whose turn came and who wait at the front for a free place.
    pub front: u64,
    /// Requests held near the front, to be let in the moment room is made.
    pub held: u64,
    /// Eligible places still expected to be claimed (each weighted by its client's chance to
    /// come back).
    pub expected_claims: f64,
    /// How long until the sale's scheduled opening, ms; absent once it opened, or without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_in_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reception_status_round_trips_with_its_field_names() {
        let status = ReceptionStatus {
            issuer: "00000000000000ff".to_owned(),
            queue: QueueStatus {
                epoch: 7,
                issued: 12,
                head: 4,
                open_from: 2,
                waiting: 8,
                rate_per_s: None,
                no_show_share: 0.1,
                heap_bytes: 64,
                in_flight: 1,
                front: 0,
                held: 3,
                expected_claims: 0.5,
                opens_in_ms: None,
            },
            refused_connections: 2,
            shops: vec![ShopView {
                id: "shop-a".to_owned(),
                url: "http://127.0.0.1:1".to_owned(),
                live: true,
                rtt_us: 250,
                report: Some(Report {
                    sessions: 3,
                    reserved: 1,
                    leased: 2,
                    capacity: 10,
                    ..Report::default()
                }),
                handed_out_since_report: 1,
                lease_places_left: 2,
            }],
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["queue"]["waiting"], 8);
        assert_eq!(json["queue"]["rate_per_s"], serde_json::Value::Null);
        assert_eq!(json["shops"][0]["report"]["sessions"], 3);
        assert_eq!(json["shops"][0]["lease_places_left"], 2);
        let back: ReceptionStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
        assert_eq!(back.shops[0].report.as_ref().map(Report::in_use), Some(6));
    }

    #[test]
    fn places_in_use_saturate_instead_of_wrapping() {
        assert_eq!(places_in_use(3, 1, 2), 6);
        assert_eq!(places_in_use(u32::MAX, 1, 1), u32::MAX);
    }
}
