//! What the reception answers to an order.

use serde::{Deserialize, Serialize};

use crate::{Code, ErrorBody, Rfc3339};

/// The answer to `POST /api/v1/admissions` (and the data behind the browser's redirect or page).
///
/// Serialised with a `status` tag: `{"status":"admitted",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Admission {
    /// `200`: go to `url` (the ticket URL) before `expires_at`.
    Admitted {
        /// `{shop public URL}/t/{ticket}/items/{item}`.
        url: String,
        /// The chosen shop's id.
        server: String,
        /// When the ticket's window closes.
        #[schema(value_type = String, format = DateTime)]
        expires_at: Rfc3339,
    },
    /// `503`: every shop is full; come back after `retry_after_ms`.
    Waiting {
        /// The sealed place in the queue, to send back on the next try.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue_token: Option<String>,
        /// 1 means next.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<u64>,
        /// The place held in the sale's one line, counted from its start (1 = the first to
        /// join): fixed for the whole wait, so clients and load tests can check that places are
        /// let in in order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        place: Option<u64>,
        /// The honest estimate of the rest of the wait (Sa56), in every waiting answer: before
        /// a rate is measured it comes from the shops' places and the expected session length.
        estimated_wait_ms: u64,
        /// About the 10th percentile of the real wait.
        estimate_low_ms: u64,
        /// About the 90th percentile of the real wait.
        estimate_high_ms: u64,
        /// When to ask again (the scheduled return time for this place).
        retry_after_ms: u64,
        /// The sale's scheduled opening, while it is ahead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>, format = DateTime)]
        opens_at: Option<Rfc3339>,
        /// The client's number in the pre-queue of a scheduled opening (1 = the first to
        /// arrive): with the seed published after the draw ([`Opening`]) anyone can recompute
        /// the place it drew.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pre_queue: Option<u64>,
    },
    /// `410`: the item is sold out everywhere. Also in the refusal shape (`error` `sold_out`,
    /// `message`, `retry`), as every answer that is not a success.
    SoldOut(ErrorBody),
    /// `503`: no live shop can be reached. Also in the refusal shape (`error` `unavailable`).
    Unavailable(ErrorBody),
}

/// `GET /api/v1/opening`: a sale's scheduled opening and, after it, its draw, so that anyone
/// can recompute the pre-queue's order (the recipe is `usher_queue::Draw`'s): pre-queue number
/// `n` (1-based) drew place `first_place + index(n - 1)`, `index` the permutation of
/// `pre_queue_size` numbers under `seed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Opening {
    /// When the sale opens (or opened).
    #[schema(value_type = String, format = DateTime)]
    pub opens_at: Rfc3339,
    /// Since when arrivals join the pre-queue; absent: any time before the opening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub pre_queue_from: Option<Rfc3339>,
    /// `random` or `arrival`.
    pub pre_queue_order: String,
    /// SHA-256 of the seed, hex: published before the draw, so the seed cannot be chosen after.
    pub seed_sha256: String,
    /// The seed, hex: published once the draw is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// How many joined the pre-queue: fixed by the draw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_queue_size: Option<u64>,
    /// The place in line of the pre-queue's first drawn index.
    pub first_place: u64,
}

impl Admission {
    /// The HTTP status that carries this answer.
    pub const fn status(&self) -> u16 {
        match self {
            Admission::Admitted { .. } => 200,
            Admission::Waiting { .. } | Admission::Unavailable(_) => 503,
            Admission::SoldOut(_) => 410,
        }
    }

    /// `sold_out`, with the link to start again.
    pub fn sold_out(retry: Option<String>) -> Admission {
        Admission::SoldOut(ErrorBody {
            retry,
            ..ErrorBody::new(Code::SoldOut)
        })
    }

    /// `unavailable`, with the link to try again.
    pub fn unavailable(retry: Option<String>) -> Admission {
        Admission::Unavailable(ErrorBody {
            retry,
            ..ErrorBody::new(Code::Unavailable)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    #[test]
    fn admitted_has_the_spec_fields() {
        let answer = Admission::Admitted {
            url: "http://127.0.0.1:1/t/abc/items/x".into(),
            server: "shop-a".into(),
            expires_at: Rfc3339(UNIX_EPOCH + Duration::from_secs(60)),
        };
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!({"status":"admitted","url":"http://127.0.0.1:1/t/abc/items/x","server":"shop-a",
                   "expires_at":"1970-01-01T00:01:00Z"})
        );
        assert_eq!(answer.status(), 200);
    }

    #[test]
    fn waiting_sold_out_and_unavailable_round_trip() {
        let answers = [
            Admission::Waiting {
                queue_token: Some("q".into()),
                position: Some(1),
                place: Some(7),
                estimated_wait_ms: 1500,
                estimate_low_ms: 900,
                estimate_high_ms: 2600,
                retry_after_ms: 1200,
                opens_at: None,
                pre_queue: None,
            },
            Admission::Waiting {
                queue_token: None,
                position: None,
                place: None,
                estimated_wait_ms: 1000,
                estimate_low_ms: 0,
                estimate_high_ms: 1000,
                retry_after_ms: 1000,
                opens_at: Some(Rfc3339(UNIX_EPOCH + Duration::from_secs(90))),
                pre_queue: Some(3),
            },
            Admission::sold_out(Some("http://r.example/".into())),
            Admission::unavailable(None),
        ];
        for answer in answers {
            let json = serde_json::to_string(&answer).unwrap();
            assert_eq!(serde_json::from_str::<Admission>(&json).unwrap(), answer);
        }
        assert_eq!(
            serde_json::to_value(Admission::sold_out(Some("http://r.example/".into()))).unwrap(),
            json!({"status":"sold_out","error":"sold_out","message":Code::SoldOut.message(),
                   "retry":"http://r.example/"})
        );
        assert_eq!(
            serde_json::to_value(Admission::unavailable(None)).unwrap(),
            json!({"status":"unavailable","error":"unavailable",
                   "message":Code::Unavailable.message()})
        );
        assert_eq!(Admission::sold_out(None).status(), 410);
        assert_eq!(Admission::unavailable(None).status(), 503);
    }

    /// SPEC: `estimated_wait_ms` is in every waiting answer; one without it is not a waiting
    /// answer.
    #[test]
    fn a_waiting_answer_without_an_estimate_is_refused() {
        let bare = r#"{"status":"waiting","retry_after_ms":1000}"#;
        assert!(serde_json::from_str::<Admission>(bare).is_err());
        let full = r#"{"status":"waiting","retry_after_ms":1000,"estimated_wait_ms":5,
            "estimate_low_ms":1,"estimate_high_ms":9}"#;
        assert!(serde_json::from_str::<Admission>(full).is_ok());
    }

    #[test]
    fn unknown_status_is_refused() {
        assert!(serde_json::from_str::<Admission>(r#"{"status":"maybe"}"#).is_err());
    }
}
