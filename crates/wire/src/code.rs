//! The refusal codes. One enum for every part, so a code never means two things.

use serde::{Deserialize, Serialize};

/// Why a request was refused. Serialised as its snake_case name (`"not_yet_valid"`).
///
/// The ticket codes (`malformed` … `wrong_client`) are produced by the ticket crate; the gate adds
/// `not_notified`, `used` and `no_session`; the reception `unknown_item`, `sold_out`, `too_many`
/// and `given_up`; the reception and the gate `not_navigation` (a request that is not a page the
/// buyer opened) and `method_not_allowed`; any server `bad_request` and `payload_too_large`;
/// `unsupported_media_type` and `unavailable` (no live shop, `503`); `usher gate`
/// `upstream_failed` and `upstream_timeout`. The 5xx codes say the servers failed, not the
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// The token is not a well-formed usher token (bad encoding, length, layout or version).
    Malformed,
    /// The token is well-formed but its seal does not verify: it was altered or made up.
    Forged,
    /// The token names a key id this server does not hold (retired, or from another keyring).
    UnknownKey,
    /// The token names an issuer (a reception process) this server has not been told about.
    UnknownIssuer,
    /// The ticket was issued for another content server.
    WrongServer,
    /// The ticket or queue token is for another item.
    WrongScope,
    /// The ticket was issued for an earlier run (epoch) of the server, or another sale.
    StaleEpoch,
    /// The ticket's window has not opened yet.
    NotYetValid,
    /// The ticket's window has closed.
    Expired,
    /// The token is bound to another client address.
    WrongClient,
    /// The content server has not received the notice for this ticket.
    NotNotified,
    /// The ticket was already used by another client, or its order is complete.
    Used,
    /// The request needs a session and has none.
    NoSession,
    /// No such item is on sale.
    UnknownItem,
    /// The item is sold out everywhere.
    SoldOut,
    /// This client (address prefix) has made too many requests or holds too many places.
    TooMany,
    /// Nothing at this address (a wrong link, or a receipt whose secret does not match).
    NotFound,
    /// The request is not valid for this endpoint.
    BadRequest,
    /// The request body is larger than this endpoint accepts.
    PayloadTooLarge,
    /// The queue token's place became eligible and was not claimed within its grace period.
    GivenUp,
    /// The request was made by something other than a page the buyer opened (an image, a
    /// script, a frame, another site's fetch), which may not take a place.
    NotNavigation,
    /// This endpoint does not answer that method (a `HEAD` never takes a place).
    MethodNotAllowed,
    /// The shop behind `usher gate` could not be reached or broke off its answer.
    UpstreamFailed,
    /// The shop behind `usher gate` did not answer in time.
    UpstreamTimeout,
    /// The request's body is not of a type this endpoint reads (JSON, for the API).
    UnsupportedMediaType,
    /// No live shop can take the order right now.
    Unavailable,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: [Code; 26] = [
        Code::Malformed,
        Code::Forged,
        Code::UnknownKey,
        Code::UnknownIssuer,
        Code::WrongServer,
        Code::WrongScope,
        Code::StaleEpoch,
        Code::NotYetValid,
        Code::Expired,
        Code::WrongClient,
        Code::NotNotified,
        Code::Used,
        Code::NoSession,
        Code::UnknownItem,
        Code::SoldOut,
        Code::TooMany,
        Code::NotFound,
        Code::BadRequest,
        Code::PayloadTooLarge,
        Code::GivenUp,
        Code::NotNavigation,
        Code::MethodNotAllowed,
        Code::UpstreamFailed,
        Code::UpstreamTimeout,
        Code::UnsupportedMediaType,
        Code::Unavailable,
    ];

    /// The wire name, the same string serde writes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Malformed => "malformed",
            Code::Forged => "forged",
            Code::UnknownKey => "unknown_key",
            Code::UnknownIssuer => "unknown_issuer",
            Code::WrongServer => "wrong_server",
            Code::WrongScope => "wrong_scope",
            Code::StaleEpoch => "stale_epoch",
            Code::NotYetValid => "not_yet_valid",
            Code::Expired => "expired",
            Code::WrongClient => "wrong_client",
            Code::NotNotified => "not_notified",
            Code::Used => "used",
            Code::NoSession => "no_session",
            Code::UnknownItem => "unknown_item",
            Code::SoldOut => "sold_out",
            Code::TooMany => "too_many",
            Code::NotFound => "not_found",
            Code::BadRequest => "bad_request",
            Code::PayloadTooLarge => "payload_too_large",
            Code::GivenUp => "given_up",
            Code::NotNavigation => "not_navigation",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::UpstreamFailed => "upstream_failed",
            Code::UpstreamTimeout => "upstream_timeout",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::Unavailable => "unavailable",
        }
    }

    /// The HTTP status a refusal with this code gets unless the endpoint says otherwise.
    ///
    /// Ticket refusals at a gate are `403`; the same codes for a queue token at the reception are
    /// `400` (the caller picks), which is why this is only a default.
    pub const fn default_status(self) -> u16 {
        match self {
            Code::Malformed | Code::BadRequest | Code::GivenUp => 400,
            Code::NoSession => 401,
            Code::UnknownItem | Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::SoldOut => 410,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::TooMany => 429,
            Code::Forged
            | Code::UnknownKey
            | Code::UnknownIssuer
            | Code::WrongServer
            | Code::WrongScope
            | Code::StaleEpoch
            | Code::NotYetValid
            | Code::Expired
            | Code::WrongClient
            | Code::NotNotified
            | Code::Used
            | Code::NotNavigation => 403,
            Code::UpstreamFailed => 502,
            Code::UpstreamTimeout => 504,
            Code::Unavailable => 503,
        }
    }

    /// A sentence for a person, used when the caller has nothing more specific to say.
    pub const fn message(self) -> &'static str {
        match self {
            Code::Malformed => "This link is not a valid usher ticket.",
            Code::Forged => "This ticket has been altered or was not issued by us.",
            Code::UnknownKey => "This ticket was sealed with a key this server no longer accepts.",
            Code::UnknownIssuer => "This ticket comes from an issuer this server does not know.",
            Code::WrongServer => "This ticket is for another server.",
            Code::WrongScope => "This ticket is for another item.",
            Code::StaleEpoch => "This ticket was issued before the server restarted.",
            Code::NotYetValid => "This ticket is not valid yet.",
            Code::Expired => "This ticket has expired.",
            Code::WrongClient => "This ticket was issued to another device or network.",
            Code::NotNotified => "This server was not told about this ticket.",
            Code::Used => "This ticket has already been used.",
            Code::NoSession => "You have no session here; please order again.",
            Code::UnknownItem => "No such item is on sale.",
            Code::SoldOut => "This item is sold out.",
            Code::TooMany => "Too many requests from your network; please wait.",
            Code::NotFound => "There is nothing at this address.",
            Code::BadRequest => "The request is not valid.",
            Code::PayloadTooLarge => "The request is too large.",
            Code::GivenUp => "Your turn came and went while you were away; please join again.",
            Code::NotNavigation => "Open this link in your browser to take your place.",
            Code::MethodNotAllowed => "This address does not answer that kind of request.",
            Code::UpstreamFailed => {
                "The shop did not answer; your place is kept, please try again."
            }
            Code::UpstreamTimeout => {
                "The shop is answering slowly; your place is kept, please try again."
            }
            Code::UnsupportedMediaType => {
                "Send the request as JSON, with the header Content-Type: application/json."
            }
            Code::Unavailable => "No shop can take orders right now; please try again shortly.",
        }
    }

    /// The sentence for this code when it refuses a queue token (a place in line) rather
    /// than a ticket.
    pub const fn queue_token_message(self) -> &'static str {
        match self {
            Code::Malformed => "This is not a valid place in line; please join again.",
            Code::Forged => {
                "This place in line was altered or not issued by us; please join again."
            }
            Code::UnknownKey | Code::UnknownIssuer => {
                "This place in line was issued under a key no longer accepted; please join again."
            }
            Code::WrongScope => "This place in line is for another item.",
            Code::StaleEpoch => "This place in line is from an earlier sale; please join again.",
            Code::Expired => "This place in line has expired; please join again.",
            Code::WrongClient => {
                "This place in line was given to another device or network; please join again."
            }
            Code::Used => "This place in line was already let in.",
            Code::WrongServer | Code::NotYetValid | Code::NotNotified => {
                "This place in line is not valid here; please join again."
            }
            other => other.message(),
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_name_is_as_str_for_every_code() {
        for code in Code::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: Code = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn codes_are_distinct_and_refusals_are_4xx() {
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len(), "two codes share a name");
        for code in Code::ALL {
            let upstream = matches!(
                code,
                Code::UpstreamFailed | Code::UpstreamTimeout | Code::Unavailable
            );
            let range = if upstream { 500..600 } else { 400..500 };
            assert!(range.contains(&code.default_status()), "{code}");
            assert!(!code.message().is_empty());
            assert!(!code.queue_token_message().contains("ticket"), "{code}");
        }
    }

    #[test]
    fn spec_codes_are_all_present() {
        let spec = [
            "malformed",
            "forged",
            "unknown_key",
            "wrong_server",
            "wrong_scope",
            "stale_epoch",
            "not_yet_valid",
            "expired",
            "wrong_client",
            "not_notified",
            "used",
            "no_session",
            "unknown_item",
            "sold_out",
            "too_many",
            "bad_request",
            "payload_too_large",
        ];
        for name in spec {
            let code: Code = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(code.as_str(), name);
        }
    }
}
