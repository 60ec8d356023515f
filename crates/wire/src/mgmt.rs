//! The management channel between a shop and the reception (patent network 15, 0039).
//!
//! A shop dials the reception's management address and keeps one WebSocket open. The
//! handshake is three plain JSON text frames; after it every frame either way is a binary frame
//! sealed under the link's session keys (`usher_ticket::channel`: AES-256-GCM, a sequence number
//! on each), carrying one JSON message or one notices frame ([`crate::notices`], binary because
//! there is one per ticket). The conversation:
//! ```text
//! reception → shop   challenge {nonce}                     plain; 64 hex digits
//! shop → reception   hello {server, key_id, epoch, nonce, mac}
//!                         plain; the shop's own nonce, mac = hex HMAC(management key, both nonces …)
//! reception → shop   welcome {issuers, public_url}         the first sealed frame: proves the
//!                                                          reception holds the key too
//!                    or refused {error, message} + close   plain
//! shop → reception   report {...}            every 200 ms (Sa31)
//! reception → shop   reserve {id, ticket, item, expires_at_ms}  (Sa34/Sa35: the notice)
//! shop → reception   reserved {id, granted}
//! reception → shop   release {ticket}        the reception gave up waiting: free the place
//! reception → shop   lease {id, places, ttl_ms}            ask for places in advance
//! shop → reception   leased {id, places}                   granted (maybe fewer), for ttl_ms
//! reception → shop   [notices] batch, lease, notices       tickets issued from a lease
//! shop → reception   noted {batch, refused}                acknowledged; refused tickets get
//!                                                          `not_notified` at the gate
//! reception → shop   ping {id}   /   shop → reception  pong {id}   (round-trip time, 0043)
//! shop → reception   names {names}                         once after the welcome: item names
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Code;

/// Path of the management WebSocket on the reception's management listener.
pub const CONNECT_PATH: &str = "/mgmt/v1/connect";
/// Largest management message accepted, in bytes.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Read chunk of the management WebSocket. Small on purpose: the WebSocket library zero-fills
/// its read buffer up to this size before every read (even one that finds nothing), which at
/// the default 128 KiB cost a third of the reception's instructions under load, and at 8 KiB
/// still a tenth.
pub const READ_BUFFER_LEN: usize = 2 * 1024;

/// What a shop sends up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Up {
    /// Answer to the challenge: who the shop is, proven with its management key.
    Hello {
        /// The shop's id, as configured at the reception.
        server: String,
        /// Which key (of the keyring the shop's keys were derived from) made the MAC.
        key_id: u16,
        /// The shop's current run; changes on restart.
        epoch: u32,
        /// The shop's own fresh nonce, 64 hex digits: the link's keys depend on it, so a
        /// reception replaying an old conversation gets nowhere.
        nonce: String,
        /// Hex HMAC-SHA256 over both nonces, the server id and the epoch.
        mac: String,
    },
    /// Sa31: the shop's load.
    Report(Report),
    /// The answer to a [`Down::Reserve`].
    Reserved {
        /// The request's id.
        id: u64,
        /// Whether the shop holds a place for the ticket now.
        granted: bool,
    },
    /// The answer to a [`Down::Lease`]: `places` (at most the number asked) are held for this
    /// reception for the lease's time to live, counted from when the shop granted them.
    Leased {
        /// The request's id.
        id: u64,
        /// Places granted (0 when full).
        places: u32,
        /// Units of stock granted per item: a ticket for an item is issued from the lease only
        /// while the lease holds a unit of it.
        #[serde(default)]
        stock: BTreeMap<String, u32>,
    },
    /// The answer to a notices frame ([`crate::notices`]): every notice in the batch is now known to the shop;
    /// those in `refused` found no place (their lease had run out and the shop is full).
    Noted {
        /// The batch's id.
        batch: u64,
        /// Ticket ids (32 hex digits) that hold no place.
        refused: Vec<String>,
    },
    /// The answer to a [`Down::Ping`].
    Pong {
        /// The ping's id.
        id: u64,
    },
    /// The names buyers know the shop's items by (id → name), once per link after the
    /// welcome: the reception's pages show them. At most [`MAX_NAMES`], each at most
    /// [`MAX_NAME_LEN`] bytes.
    Names {
        /// Item id → display name.
        names: BTreeMap<String, String>,
    },
}

/// Most item names one [`Up::Names`] carries.
pub const MAX_NAMES: usize = 200;
/// The longest item name in an [`Up::Names`], in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// A name buyers may be shown for an item: not blank, at most [`MAX_NAME_LEN`] bytes, no
/// control characters. The one rule for a catalogue's names, `usher gate`'s configured ones and
/// those a reception takes from a shop.
pub fn is_item_name(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control)
}

/// A shop's load report (Sa31, 0027).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Increases with every report the shop makes.
    pub seq: u64,
    /// The shop's run.
    pub epoch: u32,
    /// Open sessions (claimed tickets whose order has not completed).
    pub sessions: u32,
    /// Places the shop has in all.
    pub capacity: u32,
    /// Places held for tickets that have not been claimed yet.
    pub reserved: u32,
    /// Places granted to receptions in leases and not yet used.
    pub leased: u32,
    /// Resident memory of the shop process.
    pub memory_bytes: u64,
    /// Orders completed since the shop's data began.
    pub orders_completed: u64,
    /// Units left per item the shop carries.
    pub stock: BTreeMap<String, u64>,
    /// Units per item neither sold nor held for admitted buyers (reservations, sessions,
    /// leases): what new buyers can still be admitted for.
    #[serde(default)]
    pub stock_free: BTreeMap<String, u64>,
    /// The most places ever in use at once in this run (sessions + reserved + leased).
    pub high_water: u32,
    /// The shop's wall clock, unix milliseconds (the reception warns on skew).
    pub wall_clock_ms: u64,
    /// For a shop behind `usher gate`: how the shop answers. A shop whose upstream is not
    /// [`ok`](UpstreamHealth::ok) is out of rotation, as a silent one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamHealth>,
    /// How long sessions have held a place lately, milliseconds from claim to completion or
    /// expiry: with the capacity, how fast places free (the reception's first estimates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ms: Option<u64>,
    /// [`session_ms`](Self::session_ms) per item, for the items a session has ended for (at
    /// most [`MAX_SESSION_ITEMS`]): the reception learns each item's session length from it
    /// (an item's first estimates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub session_ms_by_item: BTreeMap<String, u64>,
}

/// Most items a report's [`Report::session_ms_by_item`] carries.
pub const MAX_SESSION_ITEMS: usize = 256;

/// A duration as a report's milliseconds (saturating).
pub fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How the HTTP shop behind `usher gate` has been answering over the last few seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamHealth {
    /// The shop answers: its last health check passed and most forwarded requests did not
    /// fail.
    pub ok: bool,
    /// Median time to the shop's answer (status and headers), microseconds.
    pub median_latency_us: u64,
    /// Requests forwarded in the window.
    pub requests: u32,
    /// Of those, how many failed or timed out.
    pub errors: u32,
}

impl Report {
    /// Places in use now.
    pub fn in_use(&self) -> u32 {
        places_in_use(self.sessions, self.reserved, self.leased)
    }
}

/// Places in use at a shop: sessions, places reserved for tickets and places leased to
/// receptions. The one sum every part uses (the gate's capacity check, reports, the crowd).
pub fn places_in_use(sessions: u32, reserved: u32, leased: u32) -> u32 {
    sessions.saturating_add(reserved).saturating_add(leased)
}

/// What the reception sends down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Down {
    /// First message: a fresh random nonce for the shop to authenticate over.
    Challenge {
        /// 32 random bytes, hex.
        nonce: String,
    },
    /// The shop is authenticated; accept tickets from these issuers (16 hex digits each).
    Welcome {
        /// Issuer ids of the reception processes whose tickets the shop should accept.
        issuers: Vec<String>,
        /// The reception's public URL (no trailing slash): where the shop's links back lead,
        /// unless its operator set one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_url: Option<String>,
    },
    /// Sa34/Sa35: hold a place for this ticket until it expires. This is the notice.
    Reserve {
        /// Request id, echoed in [`Up::Reserved`].
        id: u64,
        /// The ticket's id (32 hex digits).
        ticket: String,
        /// The item it admits to.
        item: String,
        /// When the ticket's window closes, unix milliseconds.
        expires_at_ms: u64,
    },
    /// The reception stopped waiting for the answer to a reservation: if it was granted and not
    /// claimed, free the place.
    Release {
        /// The ticket's id (32 hex digits).
        ticket: String,
    },
    /// Ask for a lease of `places` for `ttl_ms`: the shop holds them for this reception, which
    /// then issues tickets against them without a round trip per ticket.
    Lease {
        /// Request id; also the lease's id in notices.
        id: u64,
        /// Places wanted.
        places: u32,
        /// How long the shop holds them, from its grant.
        ttl_ms: u64,
        /// Units of stock wanted per item (at most one per place). `None`: the reception has
        /// not seen the shop's stock yet and counts no units for this lease, so the shop holds
        /// none and takes its notices for any item (empty: it counts them, and wants none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stock: Option<BTreeMap<String, u32>>,
    },
    /// Round-trip measurement.
    Ping {
        /// Echoed in [`Up::Pong`].
        id: u64,
    },
    /// The connection is refused; it will be closed.
    Refused {
        /// Why.
        error: Code,
        /// For the operator.
        message: String,
    },
}

/// Most notices in one batch.
pub const MAX_BATCH: usize = 512;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_item_name_is_not_blank_not_too_long_and_has_no_control_characters() {
        assert!(is_item_name("Concert, 31 December"));
        assert!(is_item_name(&"é".repeat(MAX_NAME_LEN / 2)));
        for bad in ["", "   ", "a\nb", "a\u{7f}b", &"n".repeat(MAX_NAME_LEN + 1)] {
            assert!(!is_item_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn messages_are_tagged_by_type() {
        let up = Up::Reserved {
            id: 7,
            granted: true,
        };
        assert_eq!(
            serde_json::to_value(&up).unwrap(),
            json!({"type":"reserved","id":7,"granted":true})
        );
        let report = Up::Report(Report {
            capacity: 10,
            sessions: 2,
            reserved: 3,
            ..Report::default()
        });
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.starts_with(r#"{"type":"report""#), "{text}");
        assert_eq!(serde_json::from_str::<Up>(&text).unwrap(), report);
        let down = Down::Ping { id: 1 };
        assert_eq!(
            serde_json::to_value(&down).unwrap(),
            json!({"type":"ping","id":1})
        );
    }

    #[test]
    fn in_use_counts_sessions_reservations_and_leases() {
        let r = Report {
            sessions: 2,
            reserved: 3,
            leased: 4,
            ..Report::default()
        };
        assert_eq!(r.in_use(), 9);
    }
}
