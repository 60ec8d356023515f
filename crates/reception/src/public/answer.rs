//! Outcomes written as HTTP answers: the JSON bodies of SPEC's wire contract, the refusal
//! shape, `Retry-After` and `Cache-Control: no-store`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
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
    let secs = ms.div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
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

/// `answer` as JSON with its status, and `Retry-After` where the client should come back.
pub(crate) fn answer_json(answer: Admission) -> Response {
    let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::OK);
    let wait = match &answer {
        Admission::Waiting { retry_after_ms, .. } => Some(*retry_after_ms),
        Admission::Unavailable(_) => Some(1000),
        _ => None,
    };
    let mut response = (status, axum::Json(answer)).into_response();
    if let Some(ms) = wait {
        retry_after(&mut response, ms);
    }
    response
}
