//! The one HTML escape the parts' small pages share, and the refusal page they all show.

use crate::Code;

/// The policy every small page is sent with: nothing runs, nothing loads but this origin's
/// style sheets and images, and no other site may frame it (clickjacking a buy button).
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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

/// The small page a browser gets for a refusal, at any part: what happened, the code, and a
/// link to start again. `message` and `retry` are escaped here.
pub fn refusal_page(message: &str, code: Code, retry: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>Not admitted</title></head><body><h1>Not admitted</h1><p>{}</p>\
         <p><code>{code}</code></p><p><a href=\"{}\">Start again</a></p></body></html>",
        escape(message),
        escape(retry),
    )
}

#[cfg(test)]
mod tests {
    use super::{Code, escape, refusal_page};

    #[test]
    fn a_refusal_page_escapes_what_it_is_given() {
        let page = refusal_page("<b>no</b>", Code::TooMany, "/\"x");
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(page.contains("<code>too_many</code>"));
        assert!(page.contains("href=\"/&quot;x\""));
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
