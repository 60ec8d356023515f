//! The one look of every page a buyer can meet, at every part: the stylesheet ([`STYLE`]),
//! the template ([`page`]), the HTML escape, and the refusal page.

use crate::Code;

/// The one stylesheet, inlined in every page by [`page`] (so each part serves it from its own
/// origin with no route of its own, in front of any app).
pub const STYLE: &str = include_str!("../assets/usher.css");

/// SHA-256 of [`STYLE`], base64, as a CSP source: the permission for exactly that inline
/// style (a test checks it, and says the new value when the stylesheet changes).
macro_rules! style_sha256 {
    () => {
        "'sha256-VpDwXVkjrb6uonBOqO4NQhV48FiPADb+V6Uu5Z6DVT8='"
    };
}

/// See [`style_sha256`].
pub const STYLE_SHA256: &str = style_sha256!();

/// The policy every small page is sent with: nothing runs, no style but [`STYLE`], images only
/// from this origin, and no other site may frame it (clickjacking a buy button).
pub const PAGE_CSP: &str = concat!(
    "default-src 'none'; style-src ",
    style_sha256!(),
    "; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
);

/// The policy of a page that runs this origin's scripts and asks this origin for JSON (the
/// waiting page), and nothing else.
pub const SCRIPTED_PAGE_CSP: &str = concat!(
    "default-src 'none'; script-src 'self'; style-src ",
    style_sha256!(),
    "; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'"
);

/// A whole page in the one look: `title` (escaped here); `head` (scripts, a refresh),
/// `main_attributes` (of `<main>`, each with its leading space) and `main` are markup whose
/// values the caller has escaped.
pub fn page(title: &str, head: &str, main_attributes: &str, main: &str) -> String {
    format!(
        "<!doctype html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta name=viewport content=\"width=device-width,initial-scale=1\">
<meta name=color-scheme content=\"light dark\">
<title>{}</title>
<style>{STYLE}</style>
{head}</head>
<body>
<main{main_attributes}>
{main}</main>
</body>
</html>
",
        escape(title)
    )
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page a browser gets for a refusal, at any part: what happened and what to do in words,
/// a button to start again, and the code only as a detail. `message` and `retry` are escaped
/// here.
pub fn refusal_page(message: &str, code: Code, retry: &str) -> String {
    let heading = match code {
        Code::TooMany => "Too many requests",
        Code::SoldOut => "Sold out",
        Code::UnknownItem | Code::NotFound => "Nothing here",
        Code::NoSession | Code::Expired | Code::GivenUp => "Your visit has ended",
        Code::UpstreamFailed | Code::UpstreamTimeout | Code::Unavailable => "Please try again",
        Code::BadRequest
        | Code::PayloadTooLarge
        | Code::MethodNotAllowed
        | Code::UnsupportedMediaType => "This request cannot be answered",
        _ => "This link cannot let you in",
    };
    let main = format!(
        "<h1>{heading}</h1>\n<p class=lead>{}</p>\n\
         <p><a class=button href=\"{}\">Start again</a></p>\n\
         <p class=detail>Reason: <code>{code}</code></p>\n",
        escape(message),
        escape(retry),
    );
    page(heading, "", " class=refused", &main)
}

#[cfg(test)]
mod tests {
    use super::{Code, PAGE_CSP, STYLE, STYLE_SHA256, escape, refusal_page};

    #[test]
    fn a_refusal_page_escapes_what_it_is_given() {
        let page = refusal_page("<b>no</b>", Code::TooMany, "/\"x");
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(page.contains("<code>too_many</code>"));
        assert!(page.contains("href=\"/&quot;x\""));
        assert!(page.contains(STYLE), "the one stylesheet");
        assert!(page.contains("<title>Too many requests</title>"));
    }

    /// The CSP allows exactly the inline stylesheet: change the CSS and this says the new hash.
    #[test]
    fn the_csp_allows_the_stylesheet_by_its_hash() {
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        let expected = format!("'sha256-{hash}'");
        assert_eq!(
            STYLE_SHA256, expected,
            "set STYLE_SHA256 and PAGE_CSP to {expected}"
        );
        assert!(PAGE_CSP.contains(&expected));
        assert!(!PAGE_CSP.contains("unsafe"));
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
