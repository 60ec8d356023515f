//! Small validated identifiers that travel inside tokens.

use std::fmt;

use arrayvec::ArrayString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// The longest server id, in bytes. Ids sit in every ticket's clear header, so they stay short.
pub const MAX_SERVER_ID_LEN: usize = 32;
/// The longest item id, in bytes.
pub const MAX_ITEM_ID_LEN: usize = 64;

/// An identifier was empty, too long or held a character outside `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} must be 1 to {max} characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
pub struct InvalidId {
    what: &'static str,
    max: usize,
}

fn check(text: &str, what: &'static str, max: usize) -> Result<(), InvalidId> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidId { what, max })
    }
}

macro_rules! short_id {
    ($(#[$doc:meta])* $name:ident, $max:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ArrayString<$max>);

        impl $name {
            /// Checks and wraps `text`.
            pub fn new(text: &str) -> Result<Self, InvalidId> {
                check(text, $what, $max)?;
                ArrayString::from(text)
                    .map(Self)
                    .map_err(|_| InvalidId { what: $what, max: $max })
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(text: &str) -> Result<Self, InvalidId> {
                Self::new(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

short_id!(
    /// A content server's id, as configured at the reception (`shop-a`).
    ServerId,
    MAX_SERVER_ID_LEN,
    "a server id"
);
short_id!(
    /// An item's id, as it appears in `/order/{item}` (`concert-2026`).
    ItemId,
    MAX_ITEM_ID_LEN,
    "an item id"
);

/// Which master key sealed a token; written in the clear so a verifier can pick the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub u16);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One issuing process (a reception's run). Random, 64 bits, so that no two processes ever share
/// a sealing subkey and their counter nonces can never collide.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssuerId(pub u64);

impl IssuerId {
    /// Parses the 16 hex digits [`Display`](fmt::Display) writes.
    pub fn from_hex(text: &str) -> Option<IssuerId> {
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(IssuerId)
    }
}

impl fmt::Display for IssuerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for IssuerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuerId({self})")
    }
}

impl Serialize for IssuerId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A content server's run: it changes when the server restarts, so tickets for a previous run
/// (whose notices the server no longer holds) are refused as `stale_epoch`. The queue uses the same
/// type for the sale's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(pub u32);

/// The unique id of one ticket: its issuer and that issuer's serial number (also the AEAD nonce).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId {
    /// The process that sealed it.
    pub issuer: IssuerId,
    /// That process's counter when it sealed it.
    pub serial: u64,
}

impl TicketId {
    /// Parses the 32 hex digits [`Display`](fmt::Display) writes.
    pub fn from_hex(text: &str) -> Option<TicketId> {
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(TicketId {
            issuer: IssuerId::from_hex(&text[..16])?,
            serial: u64::from_str_radix(&text[16..], 16).ok()?,
        })
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:016x}", self.issuer, self.serial)
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketId({self})")
    }
}

impl Serialize for TicketId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_url_safe_alphabet_only() {
        assert!(ServerId::new("shop-a_1.eu").is_ok());
        assert!(ServerId::new("").is_err());
        assert!(ServerId::new("shop a").is_err());
        assert!(ServerId::new("shop/a").is_err());
        assert!(ServerId::new("ü").is_err());
        assert!(ServerId::new(&"a".repeat(MAX_SERVER_ID_LEN)).is_ok());
        assert!(ServerId::new(&"a".repeat(MAX_SERVER_ID_LEN + 1)).is_err());
        assert!(ItemId::new(&"i".repeat(MAX_ITEM_ID_LEN)).is_ok());
        assert!(ItemId::new(&"i".repeat(MAX_ITEM_ID_LEN + 1)).is_err());
    }

    #[test]
    fn ticket_id_prints_as_32_hex_digits() {
        let id = TicketId {
            issuer: IssuerId(0xab),
            serial: 7,
        };
        assert_eq!(id.to_string(), "00000000000000ab0000000000000007");
        assert_eq!(TicketId::from_hex(&id.to_string()), Some(id));
        assert_eq!(TicketId::from_hex("00000000000000ab000000000000007"), None);
        assert_eq!(TicketId::from_hex("+0000000000000ab0000000000000007"), None);
        assert_eq!(IssuerId::from_hex("00000000000000ab"), Some(IssuerId(0xab)));
    }
}
