//! `GET /order/{item}`: a browser's order (Sc31), or a script's, or `curl`'s. Admitted: `303`
//! to the ticket URL; waiting: the waiting page (or JSON), the place kept in a cookie named
//! per item.

use std::net::IpAddr;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use usher_queue::PreQueueOrder;
use usher_wire::fetch::{self, FetchMetadata};
use usher_wire::{Admission, Code};

use super::answer::{admission, answer_json, no_store, refusal, retry_after, unknown_item};
use super::pages;
use crate::outcome::Outcome;
use crate::reception::{Pending, Reception};
use crate::room::Wait;
use crate::room::page::{self as waiting, WaitingView};

/// Queue cookies are named per item (`usher-queue-{item}`), so waiting for one item never
/// overwrites the place held for another.
const QUEUE_COOKIE: &str = "usher-queue-";

/// How a `GET /order/{item}` wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// A browser navigating: `303` to the ticket, or a page.
    Page,
    /// The waiting page's script (`Accept: application/json`): the JSON body even when
    /// admitted, since a script cannot read a cross-origin redirect.
    Json,
    /// Anything else (`curl`): `303` to the ticket, JSON otherwise.
    Other,
}

impl Form {
    pub(super) fn of(headers: &HeaderMap) -> Form {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("text/html") {
            Form::Page
        } else if accept.contains("application/json") {
            Form::Json
        } else {
            Form::Other
        }
    }
}

/// What became of the browser's queue cookie, for the answer's `Set-Cookie`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cookie {
    /// None was sent.
    Absent,
    /// One was sent and is still good.
    Kept,
    /// One was sent and refused (stale, foreign, used, given up): the browser joined afresh.
    Dropped,
}

/// The queue token in the browser's cookie for `item`, if any.
pub(super) fn queue_cookie<'h>(headers: &'h HeaderMap, item: &str) -> Option<&'h str> {
    let name_len = QUEUE_COOKIE.len() + item.len();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name.len() == name_len && name.starts_with(QUEUE_COOKIE) && name.ends_with(item))
                .then_some(value)
        })
}

/// Whether a refusal is about the queue token itself (a browser then drops its cookie and joins
/// afresh) rather than about the client or the request (`too_many`, `not_navigation`).
fn is_token_refusal(code: Code) -> bool {
    !matches!(
        code,
        Code::TooMany | Code::NotNavigation | Code::MethodNotAllowed
    )
}

/// What the request said about itself in its fetch metadata headers. One pass over the
/// headers, comparing names, costs less than a lookup per name (most are absent).
pub(super) fn fetch_metadata(headers: &HeaderMap) -> FetchMetadata<'_> {
    let mut meta = FetchMetadata::default();
    for (name, value) in headers {
        let slot = match name.as_str() {
            fetch::DEST => &mut meta.dest,
            fetch::MODE => &mut meta.mode,
            fetch::SITE => &mut meta.site,
            fetch::SEC_PURPOSE | fetch::PURPOSE => &mut meta.purpose,
            _ => continue,
        };
        if slot.is_none() {
            *slot = value.to_str().ok();
        }
    }
    meta
}

/// A browser's order with the token from its cookie. A cookie that cannot be honoured is
/// dropped and the browser joins afresh, instead of seeing an error it cannot act on.
pub(super) fn browser_order(
    reception: &Reception,
    item: &str,
    client: IpAddr,
    cookie: Option<&str>,
) -> (Result<Outcome, Box<Pending>>, Cookie) {
    let Some(token) = cookie else {
        return (reception.order_now(item, client, None), Cookie::Absent);
    };
    match reception.order_now(item, client, Some(token)) {
        Ok(Outcome::Refused(code)) if is_token_refusal(code) => {
            (reception.order_now(item, client, None), Cookie::Dropped)
        }
        settled => (settled, Cookie::Kept),
    }
}

/// The `Set-Cookie` for `item`'s queue cookie: `token`, or an expired one to delete it.
fn set_queue_cookie(
    reception: &Reception,
    response: &mut Response,
    item: &str,
    token: Option<&str>,
) {
    let secure = if reception.config().public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = match token {
        Some(t) => format!("{QUEUE_COOKIE}{item}={t}; Path=/; HttpOnly; SameSite=Lax{secure}"),
        None => format!("{QUEUE_COOKIE}{item}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The answer to `GET /order/{item}`: admitted → `303` to the ticket URL (or the JSON body for
/// the waiting page's script); otherwise a page or JSON, with the queue cookie set, kept or
/// deleted. Every answer carries `Cache-Control: no-store`.
pub(super) fn order_answer(
    reception: &Reception,
    outcome: Outcome,
    item: &str,
    form: Form,
    cookie: Cookie,
) -> Response {
    if let Outcome::Admitted {
        url,
        server,
        expires_at,
    } = outcome
    {
        if form != Form::Json {
            let mut headers = HeaderMap::with_capacity(2);
            headers.insert(header::LOCATION, url.header_value());
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            *r.headers_mut() = headers;
            if cookie != Cookie::Absent {
                set_queue_cookie(reception, &mut r, item, None);
            }
            return r;
        }
        let outcome = Outcome::Admitted {
            url,
            server,
            expires_at,
        };
        let public_url = &reception.config().public_url;
        let mut response = answer_json(
            admission(outcome, public_url).unwrap_or_else(|| Admission::unavailable(None)),
        );
        if cookie != Cookie::Absent {
            set_queue_cookie(reception, &mut response, item, None);
        }
        return response;
    }
    let fresh = match &outcome {
        Outcome::Waiting(wait) if wait.fresh => wait.queue_token.clone(),
        _ => None,
    };
    let public_url = &reception.config().public_url;
    let mut response = match outcome {
        Outcome::Refused(code) if form == Form::Page => pages::refusal_page(code, public_url),
        Outcome::Refused(code) => refusal(public_url, code),
        // The page's script needs no token: the cookie carries it (and stays HttpOnly).
        Outcome::Waiting(mut wait) if form == Form::Json => {
            wait.queue_token = None;
            answer_json(
                admission(Outcome::Waiting(wait), public_url)
                    .unwrap_or_else(|| Admission::unavailable(None)),
            )
        }
        Outcome::Waiting(wait)
            if form == Form::Page && (wait.position.is_some() || wait.opens_at.is_some()) =>
        {
            waiting_page(reception, item, &wait)
        }
        other => match admission(other, public_url) {
            Some(answer) if form == Form::Page => {
                pages::answer_page(&answer, item, reception.desk.name_of(item).as_deref())
            }
            Some(answer) => answer_json(answer),
            None if form == Form::Page => pages::refusal_page(Code::UnknownItem, public_url),
            None => unknown_item(public_url),
        },
    };
    match (fresh, cookie) {
        (Some(token), _) => set_queue_cookie(reception, &mut response, item, Some(&token)),
        (None, Cookie::Dropped) => set_queue_cookie(reception, &mut response, item, None),
        _ => {}
    }
    no_store(response)
}

/// Sa56 for a browser: the waiting page, with its policy and `Retry-After`.
fn waiting_page(reception: &Reception, item: &str, wait: &Wait) -> Response {
    let name = reception.desk.name_of(item);
    let page = waiting::waiting_page(&WaitingView {
        item,
        name: name.as_deref(),
        position: wait.position,
        drawn_at_random: reception.pre_queue_order() != Some(PreQueueOrder::Arrival),
        opens_in_ms: wait.opens_at.map(|at| {
            let left = at
                .duration_since(reception.clock.wall())
                .unwrap_or_default();
            u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
        }),
        estimated_wait_ms: wait.estimated_wait_ms,
        estimate_low_ms: wait.estimate_low_ms,
        estimate_high_ms: wait.estimate_high_ms,
        retry_after_ms: wait.retry_after_ms,
    });
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, waiting::CSP),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response();
    retry_after(&mut response, wait.retry_after_ms);
    response
}
