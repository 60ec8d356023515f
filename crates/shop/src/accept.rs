//! Which representation a client prefers, read from its `Accept` header.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::header::ACCEPT;
use http::request::Parts;

/// At most this much of `Accept` is read; real browsers send about 150 bytes.
const MAX_ACCEPT_BYTES: usize = 1024;
/// At most this many media ranges are looked at.
const MAX_RANGES: usize = 32;

/// What the client asked for, between JSON and HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preference {
    /// `application/json` ranks above `text/html`.
    Json,
    /// `text/html` ranks above `application/json`.
    Html,
    /// Neither is named (no header, or only wildcards).
    Neither,
}

impl Preference {
    /// Reads `Accept`: the higher quality wins; on a tie, the one listed first.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Preference {
        let mut json: Option<(f32, usize)> = None;
        let mut html: Option<(f32, usize)> = None;
        let mut position = 0;
        for value in headers.get_all(ACCEPT) {
            let Ok(value) = value.to_str() else { continue };
            let value = value.get(..MAX_ACCEPT_BYTES).unwrap_or(value);
            for range in value.split(',') {
                if position >= MAX_RANGES {
                    break;
                }
                position += 1;
                let mut parts = range.split(';');
                let media = parts.next().unwrap_or("").trim();
                let quality = parts
                    .filter_map(|param| param.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .filter(|q| (0.0..=1.0).contains(q))
                    .unwrap_or(1.0);
                let slot = if media.eq_ignore_ascii_case("application/json") {
                    &mut json
                } else if media.eq_ignore_ascii_case("text/html") {
                    &mut html
                } else {
                    continue;
                };
                if slot.is_none_or(|(best, _)| quality > best) {
                    *slot = Some((quality, position));
                }
            }
        }
        let rank = |found: Option<(f32, usize)>| found.filter(|(q, _)| *q > 0.0);
        match (rank(json), rank(html)) {
            (None, None) => Preference::Neither,
            (Some(_), None) => Preference::Json,
            (None, Some(_)) => Preference::Html,
            (Some((qj, pj)), Some((qh, ph))) => {
                if qj > qh || (qj == qh && pj < ph) {
                    Preference::Json
                } else {
                    Preference::Html
                }
            }
        }
    }

    /// Successful pages default to HTML (forms work without JavaScript).
    pub(crate) fn wants_json(self) -> bool {
        self == Preference::Json
    }

    /// Refusals default to the JSON error body; HTML only when asked for.
    pub(crate) fn wants_html(self) -> bool {
        self == Preference::Html
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Preference {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Preference::from_headers(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use http::HeaderValue;

    use super::*;

    fn pref(accept: &str) -> Preference {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
        Preference::from_headers(&headers)
    }

    #[test]
    fn browsers_get_html_and_api_clients_json() {
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(pref(firefox), Preference::Html);
        assert_eq!(pref("application/json"), Preference::Json);
        assert_eq!(pref("*/*"), Preference::Neither);
        assert_eq!(
            Preference::from_headers(&HeaderMap::new()),
            Preference::Neither
        );
    }

    #[test]
    fn quality_then_order_breaks_ties() {
        assert_eq!(pref("text/html;q=0.5, application/json"), Preference::Json);
        assert_eq!(pref("application/json, text/html"), Preference::Json);
        assert_eq!(pref("text/html, application/json"), Preference::Html);
        assert_eq!(pref("application/json;q=0"), Preference::Neither);
    }
}
