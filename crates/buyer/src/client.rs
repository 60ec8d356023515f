//! The [`Buyer`] itself and the HTTP helpers its steps share.

use reqwest::header::{HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use url::Url;

use crate::{BuyerConfig, BuyerError, Step};

/// Largest JSON body (admission, error, order, receipt) the buyer reads.
pub(crate) const JSON_LIMIT: usize = 64 * 1024;
/// `Accept` for pages: JSON first, so that a refusal comes as an error body with its code; an HTML
/// page is fine too, its content is not read.
pub(crate) const PAGE_ACCEPT: HeaderValue =
    HeaderValue::from_static("application/json, text/html;q=0.9");
/// `Accept` for the API calls.
pub(crate) const JSON_ACCEPT: HeaderValue = HeaderValue::from_static("application/json");
/// Largest HTML page (waiting page, item page) the buyer reads.
pub(crate) const PAGE_LIMIT: usize = 1024 * 1024;

/// How long an idle connection is kept for the next ask: under the servers' own idle limit.
const IDLE: std::time::Duration = std::time::Duration::from_secs(5);

/// One client of the shop: one connection pool, one cookie jar, one local address.
///
/// Redirects are never followed by the HTTP client: each `303` is checked and followed by the step
/// that expects it, so every hop is timed and a refusal cannot hide behind a redirect.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub(crate) client: Client,
    pub(crate) config: BuyerConfig,
}

impl Buyer {
    /// A buyer with an empty cookie jar.
    ///
    /// Fails with [`BuyerError::Config`] when the reception URL is not an http(s) base URL.
    pub fn new(config: BuyerConfig) -> Result<Self, BuyerError> {
        check_http(&config.reception).map_err(|_| {
            BuyerError::Config(format!("reception {} is not http(s)", config.reception))
        })?;
        if config.reception.cannot_be_a_base() {
            return Err(BuyerError::Config(
                "the reception URL cannot be a base".into(),
            ));
        }
        let mut builder = Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .timeout(config.request_timeout)
            // Servers close idle connections (usher's after 10 s); dropping ours sooner keeps a
            // request from going out on one the server is closing (a reset POST is not retried).
            .pool_idle_timeout(IDLE)
            .user_agent(concat!("usher-buyer/", env!("CARGO_PKG_VERSION")));
        if let Some(address) = config.local_address {
            builder = builder.local_address(address);
        }
        Ok(Self {
            client: builder.build()?,
            config,
        })
    }

    /// The configuration this buyer was made with.
    pub fn config(&self) -> &BuyerConfig {
        &self.config
    }

    /// `{reception}/{segments...}`, keeping any path prefix of the reception URL.
    pub(crate) fn reception_url(&self, segments: &[&str]) -> Result<Url, BuyerError> {
        let mut url = self.config.reception.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| BuyerError::Config("the reception URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

/// Refuses URLs a buyer must not follow (anything but http and https).
pub(crate) fn check_http(url: &Url) -> Result<(), BuyerError> {
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(()),
        _ => Err(BuyerError::BadResponse(format!(
            "a {} URL where http(s) was expected",
            url.scheme()
        ))),
    }
}

/// Parses an absolute http(s) URL a server handed out.
pub(crate) fn parse_http_url(text: &str) -> Result<Url, BuyerError> {
    let url = Url::parse(text).map_err(|e| BuyerError::BadResponse(format!("bad URL: {e}")))?;
    check_http(&url)?;
    Ok(url)
}

/// Resolves a (possibly relative) URL a server handed out against `base`.
pub(crate) fn resolve(base: &Url, text: &str) -> Result<Url, BuyerError> {
    let url = base
        .join(text)
        .map_err(|e| BuyerError::BadResponse(format!("bad URL: {e}")))?;
    check_http(&url)?;
    Ok(url)
}

/// The target of a redirect, resolved against the URL that was asked.
pub(crate) fn location(response: &Response, asked: &Url) -> Result<Url, BuyerError> {
    let value = response
        .headers()
        .get(LOCATION)
        .ok_or_else(|| BuyerError::BadResponse("a redirect without Location".into()))?
        .to_str()
        .map_err(|_| BuyerError::BadResponse("a Location that is not text".into()))?;
    resolve(asked, value)
}

/// `Retry-After` as whole seconds; `None` when absent or in a form the buyer does not read (an
/// HTTP date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    let seconds = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::Duration::from_secs(seconds))
}

/// Reads the whole body, refusing one over `limit` bytes so a server cannot make the buyer hold
/// an unbounded body.
pub(crate) async fn read_capped(
    response: &mut Response,
    limit: usize,
) -> Result<Vec<u8>, BuyerError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(BuyerError::BadResponse(format!(
                "a body over {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error for a status the step did not expect: the server's refusal if the body is a usher
/// error body, otherwise the bare status.
pub(crate) async fn refusal(step: Step, mut response: Response) -> BuyerError {
    let status = response.status();
    let body = read_capped(&mut response, JSON_LIMIT)
        .await
        .unwrap_or_default();
    refusal_from(step, status, &body)
}

/// [`refusal`] for a body already read.
pub(crate) fn refusal_from(step: Step, status: StatusCode, body: &[u8]) -> BuyerError {
    if (status.is_client_error() || status.is_server_error())
        && let Some(error) = BuyerError::from_error_body(status.as_u16(), body)
    {
        return error;
    }
    BuyerError::UnexpectedStatus {
        step,
        status: status.as_u16(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(
            retry_after(&headers),
            Some(std::time::Duration::from_secs(3))
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn only_http_urls_are_followed() {
        assert!(parse_http_url("http://127.0.0.1:1/t/x/items/y").is_ok());
        assert!(parse_http_url("file:///etc/passwd").is_err());
        assert!(parse_http_url("javascript:alert(1)").is_err());
        assert!(parse_http_url("/relative").is_err());
        let base = Url::parse("http://127.0.0.1:1/t/abc/items/y").unwrap();
        assert_eq!(
            resolve(&base, "/items/y").unwrap().as_str(),
            "http://127.0.0.1:1/items/y"
        );
        assert!(resolve(&base, "data:text/plain,hi").is_err());
    }

    #[test]
    fn reception_urls_keep_the_prefix_and_encode_the_item() {
        let mut config = BuyerConfig::new(Url::parse("http://127.0.0.1:1/shop-front?x=1").unwrap());
        config.api = true;
        let buyer = Buyer::new(config).unwrap();
        assert_eq!(
            buyer.reception_url(&["order", "a b/c"]).unwrap().as_str(),
            "http://127.0.0.1:1/shop-front/order/a%20b%2Fc"
        );
    }

    #[test]
    fn a_reception_that_is_not_http_is_a_config_error() {
        let config = BuyerConfig::new(Url::parse("mailto:someone@example.com").unwrap());
        assert!(matches!(Buyer::new(config), Err(BuyerError::Config(_))));
    }
}
