//! Server-rendered HTML: plain forms and links that work without JavaScript, no outside resources,
//! readable on a phone. Every value from the catalogue or the database is escaped.

use std::time::{Duration, UNIX_EPOCH};

use http::StatusCode;
use usher_wire::html::escape;
use usher_wire::{Code, Rfc3339};

use crate::catalogue::Item;
use crate::order::Order;

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;max-width:32rem;margin:0 auto;padding:1rem;line-height:1.5;color:#222}\
h1{font-size:1.5rem;margin:.5rem 0}\
.price{font-size:1.25rem;font-weight:600}\
.muted{color:#666}\
button,.button{display:inline-block;font-size:1.1rem;padding:.7rem 1.4rem;border:0;border-radius:.4rem;\
background:#1a5fb4;color:#fff;text-decoration:none;cursor:pointer}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}dt{color:#666}dd{margin:0;word-break:break-all}\
.error{border-left:4px solid #c01c28;padding-left:.75rem}";

/// The page for one item, with the buy button, or the receipt link once the ticket has its order.
pub(crate) fn item(item: &Item, stock_left: u64, order: Option<&Order>, completed: bool) -> String {
    let mut body = format!(
        "<h1>{}</h1>\n<p class=price>{}</p>\n",
        escape(&item.name),
        price(u64::from(item.price_cents))
    );
    match order {
        Some(order) => {
            body.push_str(&format!(
                "<p>You have bought this.</p>\n<p><a class=button href=\"{}\">See your receipt</a></p>\n",
                escape(&order.receipt_url())
            ));
        }
        None if completed => body.push_str("<p>Your order for this is complete.</p>\n"),
        None if stock_left == 0 => body.push_str("<p><strong>Sold out.</strong></p>\n"),
        None => {
            body.push_str(&format!(
                "<p class=muted>{stock_left} left</p>\n\
                 <form method=post action=\"/items/{}/buy\"><button type=submit>Buy now</button></form>\n",
                escape(item.id.as_str())
            ));
        }
    }
    layout(&item.name, &body)
}

/// The answer to a buy: the order and where its receipt is.
pub(crate) fn confirmation(name: &str, order: &Order, created: bool) -> String {
    let heading = if created {
        "Thank you for your order"
    } else {
        "You already have this order"
    };
    let body = format!(
        "<h1>{heading}</h1>\n<p>{} &mdash; {}</p>\n\
         <p><a class=button href=\"{}\">See your receipt</a></p>\n\
         <p class=muted>Keep the receipt's address: it is your proof of purchase.</p>\n",
        escape(name),
        price(order.price_cents),
        escape(&order.receipt_url())
    );
    layout(heading, &body)
}

/// A receipt, with the download link for download items.
pub(crate) fn receipt(name: &str, order: &Order, downloadable: bool) -> String {
    let created = Rfc3339(UNIX_EPOCH + Duration::from_millis(order.created_at_ms));
    let mut body = format!(
        "<h1>Receipt</h1>\n<dl>\n<dt>Item</dt><dd>{}</dd>\n<dt>Price</dt><dd>{}</dd>\n\
         <dt>Order</dt><dd>{}</dd>\n<dt>Date</dt><dd>{created}</dd>\n</dl>\n",
        escape(name),
        price(order.price_cents),
        escape(&order.id)
    );
    if downloadable {
        body.push_str(&format!(
            "<p><a class=button href=\"{}\">Download</a></p>\n",
            escape(&order.download_url())
        ));
    }
    layout("Receipt", &body)
}

/// A refusal for a browser: the same code and message as the JSON body.
pub(crate) fn error(status: StatusCode, code: Code, message: &str) -> String {
    let body = format!(
        "<div class=error><h1>{}</h1>\n<p>{}</p>\n<p class=muted>{} &middot; {}</p></div>\n",
        escape(status.canonical_reason().unwrap_or("Error")),
        escape(message),
        status.as_u16(),
        code
    );
    layout("Error", &body)
}

/// A server failure for a browser.
pub(crate) fn failure(status: StatusCode, message: &str) -> String {
    let body = format!(
        "<div class=error><h1>{}</h1>\n<p>{}</p></div>\n",
        status.as_u16(),
        escape(message)
    );
    layout("Error", &body)
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// `4500` → `45.00`.
fn price(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use usher_ticket::ItemId;

    use super::*;
    use crate::catalogue::Kind;

    fn concert() -> Item {
        Item {
            id: ItemId::new("concert").unwrap(),
            name: "Rock & <Roll>".to_owned(),
            price_cents: 4505,
            initial_stock: 5,
            kind: Kind::Ticket,
        }
    }

    #[test]
    fn item_page_escapes_and_offers_the_form() {
        let page = item(&concert(), 3, None, false);
        assert!(page.contains("Rock &amp; &lt;Roll&gt;"), "{page}");
        assert!(page.contains("45.05"));
        assert!(page.contains("3 left"));
        assert!(page.contains("<form method=post action=\"/items/concert/buy\">"));
        assert!(page.contains("<meta name=viewport"));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }

    #[test]
    fn item_page_without_stock_or_after_completion_has_no_form() {
        assert!(!item(&concert(), 0, None, false).contains("<form"));
        assert!(!item(&concert(), 3, None, true).contains("<form"));
    }

    #[test]
    fn price_formats_cents() {
        assert_eq!(price(0), "0.00");
        assert_eq!(price(999), "9.99");
        assert_eq!(price(4500), "45.00");
    }
}
