//! Which requests may claim a ticket: a top-level navigation or an API client, never a page's
//! subresource nor a prefetch (issue 14). The rule is [`FetchMetadata::may_take_place`], shared
//! with the reception; this reads its headers off a request.

use http::HeaderMap;
use usher_wire::fetch::{self, FetchMetadata};

/// Whether a claim request was made by a navigation or an API client, so it may take a place
/// (Sb32). Refused: any `Sec-Fetch-Dest` but `document` and `empty` (an `<img>`, `<script>`,
/// `<iframe>`, style, font, media, worker…, and destinations not known yet);
/// `Sec-Fetch-Site: cross-site` with any `Sec-Fetch-Mode` but `navigate` (another site's page
/// fetching the ticket); prefetches (`Sec-Purpose`/`Purpose: prefetch`). Let through:
/// `document` + `navigate` (the buyer following the reception's redirect), `empty` from the
/// same site or none (the shop's own scripts, API clients), and requests with none of these
/// headers (old browsers, curl).
pub(crate) fn opened_by_navigation(headers: &HeaderMap) -> bool {
    // A value that is not text is not one a browser sends: it names no allowed destination.
    let value = |name: &'static str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    FetchMetadata {
        dest: value(fetch::DEST),
        mode: value(fetch::MODE),
        site: value(fetch::SITE),
        purpose: value(fetch::SEC_PURPOSE).or_else(|| value(fetch::PURPOSE)),
    }
    .may_take_place()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(dest: Option<&str>, mode: Option<&str>, site: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (fetch::DEST, dest),
            (fetch::MODE, mode),
            (fetch::SITE, site),
        ] {
            if let Some(value) = value {
                headers.insert(name, HeaderValue::from_str(value).unwrap());
            }
        }
        headers
    }

    fn allowed(dest: Option<&str>, mode: Option<&str>, site: Option<&str>) -> bool {
        opened_by_navigation(&headers(dest, mode, site))
    }

    #[test]
    fn navigations_api_clients_and_old_browsers_may_claim() {
        // The reception's redirect, followed from its own site or another.
        for site in ["same-origin", "same-site", "cross-site", "none"] {
            assert!(
                allowed(Some("document"), Some("navigate"), Some(site)),
                "{site}"
            );
        }
        // A typed or pasted URL.
        assert!(allowed(Some("document"), Some("navigate"), None));
        // fetch/XHR from the shop's own pages, or from no page at all.
        assert!(allowed(Some("empty"), Some("cors"), Some("same-origin")));
        assert!(allowed(Some("empty"), Some("cors"), Some("same-site")));
        assert!(allowed(Some("empty"), Some("cors"), Some("none")));
        // curl, API clients, browsers without Fetch Metadata.
        assert!(allowed(None, None, None));
    }

    #[test]
    fn subresources_and_cross_site_fetches_may_not() {
        for dest in [
            "image",
            "script",
            "style",
            "font",
            "iframe",
            "frame",
            "embed",
            "object",
            "audio",
            "video",
            "track",
            "worker",
            "sharedworker",
            "serviceworker",
            "manifest",
            "report",
            "xslt",
            "audioworklet",
            "paintworklet",
            "fencedframe",
            "something-new",
        ] {
            for site in ["same-origin", "cross-site"] {
                assert!(!allowed(Some(dest), Some("no-cors"), Some(site)), "{dest}");
            }
            assert!(!allowed(Some(dest), None, None), "{dest} alone");
        }
        // Case does not sneak one past.
        assert!(!allowed(Some("Image"), Some("no-cors"), None));
        // Another site's page fetching the ticket.
        assert!(!allowed(Some("empty"), Some("cors"), Some("cross-site")));
        assert!(!allowed(Some("empty"), Some("no-cors"), Some("cross-site")));
        assert!(!allowed(None, Some("no-cors"), Some("cross-site")));
        assert!(!allowed(None, None, Some("cross-site")));
        // A prefetch of the ticket, which nobody may have opened yet.
        let mut prefetch = headers(Some("document"), Some("navigate"), Some("same-origin"));
        prefetch.insert("sec-purpose", HeaderValue::from_static("prefetch"));
        assert!(!opened_by_navigation(&prefetch));
    }

    #[test]
    fn an_unreadable_value_is_not_a_navigation() {
        let mut h = HeaderMap::new();
        h.insert(
            fetch::DEST,
            HeaderValue::from_bytes(b"docum\xe9nt").unwrap(),
        );
        assert!(!opened_by_navigation(&h));
    }
}
