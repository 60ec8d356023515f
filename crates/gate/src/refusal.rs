//! The gate's refusals: `403` (or another 4xx) with the code, a link back, and nothing of the
//! content.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use usher_wire::html::{PAGE_CSP, refusal_page};
use usher_wire::{Code, ErrorBody};

/// Whether the client prefers HTML (a browser) over JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("text/html") && !accept.starts_with("application/json")
}

/// A refusal with `code`, as JSON or as a small page.
pub fn refusal(code: Code, status: StatusCode, retry: String, html: bool) -> Response {
    let body = ErrorBody::new(code).with_retry(retry);
    let mut response = if html {
        let page = refusal_page(
            &body.message,
            body.error,
            body.retry.as_deref().unwrap_or("/"),
        );
        (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            ],
            page,
        )
            .into_response()
    } else {
        (status, axum::Json(body)).into_response()
    };
    guard_headers(response.headers_mut());
    response
}

/// Headers on every answer the gate gives or passes: no caching, and no referrer that could
/// carry a ticket URL elsewhere.
pub(crate) fn guard_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A bare `303 See Other`.
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    guard_headers(response.headers_mut());
    response
}
