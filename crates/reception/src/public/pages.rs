//! The few pages a browser sees at the reception: busy (Sa36), sold out, unavailable.

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use usher_wire::html::{PAGE_CSP, escape};
use usher_wire::{Admission, Code};

use super::answer::retry_after;

/// Every page's type and policy.
pub(super) const PAGE_HEADERS: [(header::HeaderName, &str); 3] = [
    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
    (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// A small page for a non-admitted answer about `item` (`name`, its name if a shop gave one).
/// The busy and unavailable pages refresh themselves after the wait (works without
/// JavaScript); sold out is a refusal page, with its code and a way back to the sale.
pub(crate) fn answer_page(answer: &Admission, item: &str, name: Option<&str>) -> Response {
    let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::OK);
    let named = escape(name.unwrap_or(item));
    let (title, text, refresh) = match answer {
        Admission::Waiting { retry_after_ms, .. } => (
            "Busy",
            format!("Every shop is full right now. This page asks again for {named} by itself."),
            Some(retry_after_ms.div_ceil(1000).max(1)),
        ),
        Admission::SoldOut(body) => {
            let message = format!("{} is sold out everywhere.", name.unwrap_or(item));
            let retry = body.retry.as_deref().unwrap_or("/");
            let page = usher_wire::html::refusal_page(&message, Code::SoldOut, retry);
            return (status, PAGE_HEADERS, page).into_response();
        }
        Admission::Unavailable(_) => (
            "Unavailable",
            "No shop can be reached right now; this page asks again by itself.".to_owned(),
            Some(1),
        ),
        Admission::Admitted { .. } => ("Admitted", String::new(), None),
    };
    let meta = refresh.map_or(String::new(), |s| {
        format!("<meta http-equiv=\"refresh\" content=\"{s}\">")
    });
    let code = match answer {
        Admission::Unavailable(_) => "<p class=detail>Reason: <code>unavailable</code></p>\n",
        _ => "",
    };
    let main = format!(
        "<h1>{title}</h1>\n<p class=lead>{text}</p>\n\
         <p><a class=button href=\"/\">See what is on sale</a></p>\n{code}"
    );
    let page = usher_wire::html::page(title, &meta, "", &main);
    let mut response = (status, PAGE_HEADERS, page).into_response();
    if let Some(s) = refresh {
        retry_after(&mut response, s * 1000);
    }
    response
}

/// A small page for a refusal a browser can act on (`too_many`): what happened, and a link
/// back to the reception.
pub(crate) fn refusal_page(code: Code, reception_url: &str) -> Response {
    let status = StatusCode::from_u16(code.default_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let page = usher_wire::html::refusal_page(
        code.queue_token_message(),
        code,
        &format!("{reception_url}/"),
    );
    let mut response = (status, PAGE_HEADERS, page).into_response();
    // As the JSON refusal says: a minute, the join budget's window.
    if code == Code::TooMany {
        retry_after(&mut response, 60_000);
    }
    response
}
