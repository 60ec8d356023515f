//! Completion rules: `METHOD /path` pairs whose 2xx answer ends the session's order (claim 7),
//! for shops that cannot add the `usher-order-complete` header themselves.

use std::str::FromStr;

use http::Method;
use thiserror::Error;

/// One rule, written `POST /checkout/done`: that method on that exact path, answered with a
/// 2xx, completes the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRule {
    method: Method,
    path: String,
}

/// A rule that does not read as `METHOD /path`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a completion rule is `METHOD /path` (such as `POST /checkout/done`), not {0:?}")]
pub struct RuleError(String);

impl FromStr for CompletionRule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<CompletionRule, RuleError> {
        let refused = || RuleError(text.to_owned());
        let (method, path) = text.trim().split_once(' ').ok_or_else(refused)?;
        let path = path.trim();
        if !path.starts_with('/') || path.contains(char::is_whitespace) || path.len() > 1024 {
            return Err(refused());
        }
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| refused())?;
        Ok(CompletionRule {
            method,
            path: path.to_owned(),
        })
    }
}

impl CompletionRule {
    /// Whether a request with `method` and `path` is one this rule names. Repeated and
    /// trailing slashes do not count (a shop that serves `/checkout/done/` or
    /// `//checkout/done` as `/checkout/done` must not complete an order the gate misses; dot
    /// segments never get this far).
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        fn segments(path: &str) -> impl Iterator<Item = &str> {
            path.split('/').filter(|s| !s.is_empty())
        }
        self.method == method && segments(&self.path).eq(segments(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_names_a_method_and_an_exact_path() {
        let rule: CompletionRule = "POST /checkout/done".parse().unwrap();
        assert!(rule.matches(&Method::POST, "/checkout/done"));
        assert!(!rule.matches(&Method::GET, "/checkout/done"));
        assert!(!rule.matches(&Method::POST, "/checkout/done/x"));
        // Guards against a completion the shop sees and the gate misses (found in review).
        assert!(rule.matches(&Method::POST, "/checkout/done/"));
        assert!(rule.matches(&Method::POST, "//checkout//done"));
        assert!(!rule.matches(&Method::POST, "/checkout/donex"));
        for bad in [
            "POST",
            "POST checkout",
            "/x POST",
            "PO ST /x",
            "GET /a b",
            "",
        ] {
            assert!(bad.parse::<CompletionRule>().is_err(), "{bad:?}");
        }
    }
}
