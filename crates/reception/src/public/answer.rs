//! Outcomes written as HTTP answers: the JSON bodies of SPEC's wire contract, the refusal
//! shape, `Retry-After` and `Cache-Control: no-store`.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use usher_wire::{Admission, Code, ErrorBody, Rfc3339};

use crate::outcome::Outcome;

/// Marks `response` as never to be cached (every answer of the reception).
pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Sets `Retry-After` to `ms` rounded up to whole seconds (at least 1).
pub(crate) fn retry_after(response: &mut Response, ms: u64) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after_value(ms));
}

/// `ms` rounded up to whole seconds (at least 1) as a `Retry-After` value: a waiting client
/// is told to come back within a check-in (at most a minute), so the value is one of a table
/// made once, not a string formatted per answer.
fn retry_after_value(ms: u64) -> HeaderValue {
    const SECONDS: [&str; 61] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
        "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46",
        "47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60",
    ];
    let secs = ms.div_ceil(1000).max(1);
    match usize::try_from(secs).ok().and_then(|i| SECONDS.get(i)) {
        Some(text) => HeaderValue::from_static(text),
        None => HeaderValue::from(secs),
    }
}

/// A refusal in the one error shape, with the code's own message.
pub(crate) fn error(code: Code, status: StatusCode, retry: Option<String>) -> Response {
    error_body(
        status,
        ErrorBody {
            retry,
            ..ErrorBody::new(code)
        },
    )
}

/// `body` as the answer, never cached.
pub(crate) fn error_body(status: StatusCode, body: ErrorBody) -> Response {
    no_store((status, axum::Json(body)).into_response())
}

/// A refusal of an order: too many joins or live tickets (`429`), not a page the buyer opened
/// (`403`), or a queue token refused (`400` with its code).
pub(crate) fn refusal(public_url: &str, code: Code) -> Response {
    let status = match code {
        Code::TooMany => StatusCode::TOO_MANY_REQUESTS,
        Code::NotNavigation => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = ErrorBody {
        message: code.queue_token_message().to_owned(),
        retry: Some(format!("{public_url}/")),
        ..ErrorBody::new(code)
    };
    let mut response = error_body(status, body);
    if code == Code::TooMany {
        retry_after(&mut response, 60_000);
    }
    response
}

/// No shop carries the item.
pub(crate) fn unknown_item(public_url: &str) -> Response {
    error(
        Code::UnknownItem,
        StatusCode::NOT_FOUND,
        Some(format!("{public_url}/")),
    )
}

/// The wire answer for an outcome (`public_url` for the link to start again); `None` for an
/// unknown item or a refusal (errors, not answers).
pub(crate) fn admission(outcome: Outcome, public_url: &str) -> Option<Admission> {
    Some(match outcome {
        Outcome::Admitted {
            url,
            server,
            expires_at,
        } => Admission::Admitted {
            url: url.as_str().to_owned(),
            server: server.to_string(),
            expires_at: Rfc3339(expires_at),
        },
        Outcome::Waiting(wait) => Admission::Waiting {
            queue_token: wait.queue_token,
            position: wait.position,
            place: wait.place,
            estimated_wait_ms: wait.estimated_wait_ms,
            estimate_low_ms: wait.estimate_low_ms,
            estimate_high_ms: wait.estimate_high_ms,
            retry_after_ms: wait.retry_after_ms,
            opens_at: wait.opens_at.map(Rfc3339),
            pre_queue: wait.pre_queue.map(std::num::NonZeroU64::get),
        },
        Outcome::SoldOut => Admission::sold_out(Some(format!("{public_url}/"))),
        Outcome::Unavailable => Admission::unavailable(Some(format!("{public_url}/"))),
        Outcome::UnknownItem | Outcome::Refused(_) => return None,
    })
}

/// `answer` as JSON with its status, `Cache-Control: no-store`, and `Retry-After` where the
/// client should come back. What a waiting client polls, so it is written in one buffer sized
/// for it and one header map sized for its headers.
pub(crate) fn answer_json(answer: Admission) -> Response {
    let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::OK);
    let wait = match &answer {
        Admission::Waiting { retry_after_ms, .. } => Some(*retry_after_ms),
        Admission::Unavailable(_) => Some(1000),
        _ => None,
    };
    let mut body = Vec::with_capacity(ANSWER_CAPACITY);
    // A waiting answer is written directly; any other, or one it does not write, by serde.
    if !write_waiting(&mut body, &answer)
        && let Err(e) = serde_json::to_writer(&mut body, &answer)
    {
        // Serialising these types cannot fail (no maps, no I/O); were it to, the client is
        // told to come back rather than given half an answer.
        tracing::error!(error = %e, "an admission answer could not be written");
        return error(Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE, None);
    }
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(ms) = wait {
        headers.insert(header::RETRY_AFTER, retry_after_value(ms));
    }
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Writes `answer` to `out` if it is a waiting answer without an opening and its token is
/// base64url (all sealed tokens are): the bytes `serde_json` writes for it, without scanning a
/// hundred-character token for characters to escape (an eighth of a poll's instructions).
/// `false`, and nothing written, for any other answer.
fn write_waiting(out: &mut Vec<u8>, answer: &Admission) -> bool {
    let Admission::Waiting {
        queue_token,
        position,
        place,
        estimated_wait_ms,
        estimate_low_ms,
        estimate_high_ms,
        retry_after_ms,
        opens_at: None,
        pre_queue,
    } = answer
    else {
        return false;
    };
    let plain = |token: &String| token.bytes().all(|b| BASE64URL[usize::from(b)]);
    if !queue_token.as_ref().is_none_or(plain) {
        return false;
    }
    let mut number = itoa::Buffer::new();
    let mut field = |out: &mut Vec<u8>, name: &str, value: u64| {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(number.format(value).as_bytes());
    };
    out.extend_from_slice(br#"{"status":"waiting""#);
    if let Some(token) = queue_token {
        out.extend_from_slice(br#","queue_token":""#);
        out.extend_from_slice(token.as_bytes());
        out.push(b'"');
    }
    if let Some(position) = position {
        field(out, "position", *position);
    }
    if let Some(place) = place {
        field(out, "place", *place);
    }
    field(out, "estimated_wait_ms", *estimated_wait_ms);
    field(out, "estimate_low_ms", *estimate_low_ms);
    field(out, "estimate_high_ms", *estimate_high_ms);
    field(out, "retry_after_ms", *retry_after_ms);
    if let Some(pre_queue) = pre_queue {
        field(out, "pre_queue", *pre_queue);
    }
    out.push(b'}');
    true
}

/// The bytes of base64url, the alphabet of every sealed token: nothing in it needs escaping.
const BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// Room for a waiting answer with its queue token (about 250 bytes) without growing.
const ANSWER_CAPACITY: usize = 384;

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(token: Option<&str>, opens_at: Option<Rfc3339>, n: u64) -> Admission {
        Admission::Waiting {
            queue_token: token.map(str::to_owned),
            position: n.is_multiple_of(2).then_some(n),
            place: (!n.is_multiple_of(3)).then_some(n * 7),
            estimated_wait_ms: n * 1000,
            estimate_low_ms: n * 500,
            estimate_high_ms: u64::MAX - n,
            retry_after_ms: n,
            opens_at,
            pre_queue: n.is_multiple_of(5).then_some(n + 1),
        }
    }

    /// Guards the direct writer against ever saying something other than the wire type's
    /// serde form, which clients and the OpenAPI document follow.
    #[test]
    fn a_waiting_answer_written_directly_is_what_serde_writes() {
        let token = "EgABJibyGHX419AAAAAAAAAAAgAAawyI-fC_YgH6LgC3X0qeGoyIy0nRjUsV8qpudxT";
        for n in 0..40 {
            for token in [Some(token), None] {
                let answer = waiting(token, None, n);
                let mut direct = Vec::new();
                assert!(write_waiting(&mut direct, &answer), "{answer:?}");
                assert_eq!(
                    String::from_utf8(direct).unwrap(),
                    serde_json::to_string(&answer).unwrap()
                );
            }
        }
        // What it does not write, serde does: a token with characters to escape, an opening.
        let mut out = Vec::new();
        assert!(!write_waiting(&mut out, &waiting(Some("a\"b"), None, 1)));
        let opening = Some(Rfc3339(std::time::UNIX_EPOCH));
        assert!(!write_waiting(&mut out, &waiting(Some(token), opening, 1)));
        assert!(!write_waiting(&mut out, &Admission::unavailable(None)));
        assert!(out.is_empty());
        let answer = answer_json(waiting(Some("a\"b"), None, 1));
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        for (ms, text) in [
            (0, "1"),
            (1, "1"),
            (1000, "1"),
            (1001, "2"),
            (30_000, "30"),
            (60_000, "60"),
            (60_001, "61"),
            (3_600_000, "3600"),
        ] {
            assert_eq!(retry_after_value(ms), text, "{ms} ms");
        }
    }
}
