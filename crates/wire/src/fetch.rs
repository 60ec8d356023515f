//! Which requests may take a place: a page the buyer opened (a top-level navigation) or an API
//! client, never a subresource another page pulls in (`<img src=…/order/concert>` on a busy
//! site would spend each visitor's address on a place) nor a prefetch.
//!
//! Browsers say what a request is for in the fetch metadata headers (`Sec-Fetch-Dest`,
//! `Sec-Fetch-Mode`, `Sec-Fetch-Site`) and mark prefetches (`Sec-Purpose: prefetch`, older
//! `Purpose: prefetch`); clients that send none of them (curl, API clients, old browsers) may
//! take a place.

/// Fetch metadata header names.
pub const DEST: &str = "sec-fetch-dest";
/// See [`DEST`].
pub const MODE: &str = "sec-fetch-mode";
/// See [`DEST`].
pub const SITE: &str = "sec-fetch-site";
/// `Sec-Purpose: prefetch` (speculation rules, link prefetch).
pub const SEC_PURPOSE: &str = "sec-purpose";
/// The older `Purpose: prefetch`.
pub const PURPOSE: &str = "purpose";

/// What a request said about itself (absent headers as `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchMetadata<'a> {
    /// `Sec-Fetch-Dest`: `document`, `empty`, `image`, …
    pub dest: Option<&'a str>,
    /// `Sec-Fetch-Mode`: `navigate`, `cors`, `no-cors`, `same-origin`, …
    pub mode: Option<&'a str>,
    /// `Sec-Fetch-Site`: `same-origin`, `same-site`, `cross-site`, `none`.
    pub site: Option<&'a str>,
    /// `Sec-Purpose` or `Purpose`.
    pub purpose: Option<&'a str>,
}

impl FetchMetadata<'_> {
    /// Whether the request may take a place: a navigation to a document, or a fetch (`empty`)
    /// that is not another site's; and not a prefetch.
    pub fn may_take_place(&self) -> bool {
        if self
            .purpose
            .is_some_and(|p| p.to_ascii_lowercase().contains("prefetch"))
        {
            return false;
        }
        let dest_ok = match self.dest {
            None => true,
            Some(dest) => {
                dest.eq_ignore_ascii_case("document") || dest.eq_ignore_ascii_case("empty")
            }
        };
        let cross_site_subresource = self
            .site
            .is_some_and(|s| s.eq_ignore_ascii_case("cross-site"))
            && !self
                .mode
                .is_some_and(|m| m.eq_ignore_ascii_case("navigate"));
        dest_ok && !cross_site_subresource
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta<'a>(dest: &'a str, mode: &'a str, site: &'a str) -> FetchMetadata<'a> {
        FetchMetadata {
            dest: Some(dest),
            mode: Some(mode),
            site: Some(site),
            purpose: None,
        }
    }

    #[test]
    fn navigations_api_clients_and_the_waiting_pages_script_may_take_a_place() {
        assert!(
            FetchMetadata::default().may_take_place(),
            "curl, API clients"
        );
        assert!(
            meta("document", "navigate", "none").may_take_place(),
            "typed in"
        );
        assert!(
            meta("document", "navigate", "cross-site").may_take_place(),
            "a link elsewhere"
        );
        assert!(
            meta("empty", "cors", "same-origin").may_take_place(),
            "the waiting page"
        );
    }

    #[test]
    fn subresources_other_sites_fetches_and_prefetches_may_not() {
        assert!(
            !meta("image", "no-cors", "cross-site").may_take_place(),
            "<img>"
        );
        assert!(!meta("image", "no-cors", "same-origin").may_take_place());
        assert!(!meta("script", "no-cors", "cross-site").may_take_place());
        assert!(
            !meta("iframe", "navigate", "cross-site").may_take_place(),
            "<iframe>"
        );
        assert!(
            !meta("empty", "no-cors", "cross-site").may_take_place(),
            "another site's fetch"
        );
        assert!(!meta("empty", "cors", "cross-site").may_take_place());
        let prefetch = FetchMetadata {
            purpose: Some("prefetch;anonymous-client-ip"),
            ..meta("document", "navigate", "same-origin")
        };
        assert!(!prefetch.may_take_place());
    }
}
