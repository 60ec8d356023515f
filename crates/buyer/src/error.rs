//! What can go wrong for a buyer, and the short names reports group failures by.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use usher_wire::{Code, ErrorBody};

use crate::Step;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum BuyerError {
    /// A server refused with a usher error body (`{"error": code, "message": ...}`).
    #[error("refused ({status} {code}): {message}")]
    Refused {
        /// The HTTP status of the refusal.
        status: u16,
        /// The refusal code from the body.
        code: RefusalCode,
        /// The server's sentence for a person.
        message: String,
    },
    /// The item is sold out (`410`).
    #[error("sold out")]
    SoldOut,
    /// The buyer waited as long or asked as often as its config allows and was still not let in.
    #[error("gave up after {attempts} attempts and {waited:?} of waiting")]
    GaveUp {
        /// How many times the reception was asked.
        attempts: u32,
        /// Time spent sleeping between asks.
        waited: Duration,
    },
    /// A status the contract does not allow at this step, without a usher error body.
    #[error("{step}: unexpected HTTP status {status}")]
    UnexpectedStatus {
        /// Where it happened.
        step: Step,
        /// The status received.
        status: u16,
    },
    /// The exchange itself failed (connect, timeout, broken body). The URL is left out of the
    /// error because a ticket URL is a secret that must not reach logs.
    #[error("http: {0}")]
    Http(reqwest::Error),
    /// The server answered something the contract does not allow (bad JSON, missing header, odd
    /// `Location`, a body over the size limit).
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The buyer's own configuration cannot work (for example a reception URL that is not http).
    #[error("bad config: {0}")]
    Config(String),
}

impl From<reqwest::Error> for BuyerError {
    fn from(error: reqwest::Error) -> Self {
        BuyerError::Http(error.without_url())
    }
}

impl BuyerError {
    /// The short class of this error, for grouping failures in reports.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BuyerError::Refused { .. } => ErrorKind::Refused,
            BuyerError::SoldOut => ErrorKind::SoldOut,
            BuyerError::GaveUp { .. } => ErrorKind::GaveUp,
            BuyerError::UnexpectedStatus { .. } => ErrorKind::UnexpectedStatus,
            BuyerError::Http(e) if e.is_timeout() => ErrorKind::Timeout,
            BuyerError::Http(e) if e.is_connect() => ErrorKind::Connect,
            BuyerError::Http(_) => ErrorKind::Http,
            BuyerError::BadResponse(_) => ErrorKind::BadResponse,
            BuyerError::Config(_) => ErrorKind::Config,
        }
    }

    /// The refusal code, when a server refused with one.
    pub fn refusal_code(&self) -> Option<&RefusalCode> {
        match self {
            BuyerError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            BuyerError::Refused { status, .. } | BuyerError::UnexpectedStatus { status, .. } => {
                Some(*status)
            }
            BuyerError::SoldOut => Some(410),
            BuyerError::Http(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// Reads a usher error body; `None` when `body` is not one, so the caller can fall back to
    /// [`BuyerError::UnexpectedStatus`].
    pub(crate) fn from_error_body(status: u16, body: &[u8]) -> Option<Self> {
        if let Ok(known) = serde_json::from_slice::<ErrorBody>(body) {
            return Some(BuyerError::Refused {
                status,
                code: RefusalCode::Known(known.error),
                message: known.message,
            });
        }
        // A code newer than this build still names the refusal; keep it as text.
        #[derive(Deserialize)]
        struct Raw {
            error: String,
            #[serde(default)]
            message: String,
        }
        let raw = serde_json::from_slice::<Raw>(body).ok()?;
        Some(BuyerError::Refused {
            status,
            code: RefusalCode::from_wire(&raw.error),
            message: raw.message,
        })
    }
}

/// A refusal code: one of usher's [`Code`]s, or the raw text of a code this build does not know.
/// Either way it serialises as the plain code string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RefusalCode {
    /// A code from [`usher_wire::Code`].
    Known(Code),
    /// Any other code string.
    Other(String),
}

impl RefusalCode {
    /// The code for wire text `name`, known or not.
    pub fn from_wire(name: &str) -> Self {
        Code::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
            .map_or_else(|| RefusalCode::Other(name.to_owned()), RefusalCode::Known)
    }

    /// The wire text.
    pub fn as_str(&self) -> &str {
        match self {
            RefusalCode::Known(code) => code.as_str(),
            RefusalCode::Other(name) => name,
        }
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class of a [`BuyerError`], serialised in snake_case for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// See [`BuyerError::Refused`].
    Refused,
    /// See [`BuyerError::SoldOut`].
    SoldOut,
    /// See [`BuyerError::GaveUp`].
    GaveUp,
    /// See [`BuyerError::UnexpectedStatus`].
    UnexpectedStatus,
    /// An exchange ran past the request timeout.
    Timeout,
    /// A connection could not be made.
    Connect,
    /// Any other transport failure.
    Http,
    /// See [`BuyerError::BadResponse`].
    BadResponse,
    /// See [`BuyerError::Config`].
    Config,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_codes_keep_their_wire_text() {
        assert_eq!(
            RefusalCode::from_wire("used"),
            RefusalCode::Known(Code::Used)
        );
        assert_eq!(
            RefusalCode::from_wire("brand_new"),
            RefusalCode::Other("brand_new".into())
        );
        for code in [
            RefusalCode::Known(Code::NotYetValid),
            RefusalCode::Other("x_y".into()),
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<RefusalCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn error_bodies_become_refusals_and_other_bodies_do_not() {
        let err =
            BuyerError::from_error_body(403, br#"{"error":"wrong_client","message":"m"}"#).unwrap();
        assert!(matches!(
            err,
            BuyerError::Refused { status: 403, code: RefusalCode::Known(Code::WrongClient), ref message }
                if message == "m"
        ));
        let err = BuyerError::from_error_body(418, br#"{"error":"teapot"}"#).unwrap();
        assert_eq!(
            err.refusal_code(),
            Some(&RefusalCode::Other("teapot".into()))
        );
        assert_eq!(err.status(), Some(418));
        assert_eq!(err.kind(), ErrorKind::Refused);
        assert!(BuyerError::from_error_body(403, b"<html>no</html>").is_none());
        assert!(BuyerError::from_error_body(403, br#"{"error":7}"#).is_none());
    }
}
