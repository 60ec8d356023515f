//! Server-rendered HTML: plain forms and links that work without JavaScript, no outside resources,
//! readable on a phone. Every value from the catalogue or the database is escaped.

use std::time::{Duration, UNIX_EPOCH};

use http::StatusCode;
use usher_wire::html::escape;
use usher_wire::{Code, Rfc3339};

use crate::catalogue::Item;
use crate::order::Order;

/// What the item page shows besides the item: the ticket's order, if it made one; whether its
/// session ended; the way back to the sale, behind a gate.
pub(crate) struct Shown<'a> {
    pub(crate) order: Option<&'a Order>,
    pub(crate) completed: bool,
    pub(crate) back: Option<&'a str>,
}

/// The page for one item, with the buy button, or the receipt link once the ticket has its order.
pub(crate) fn item(item: &Item, currency: &str, stock_left: u64, shown: &Shown<'_>) -> String {
    let mut body = String::new();
    if item.image.is_some() {
        // The name is the heading below: the picture adds nothing a screen reader should say.
        body.push_str(&format!(
            "<img class=picture src=\"/static/items/{}\" alt=\"\">\n",
            escape(item.id.as_str())
        ));
    }
    body.push_str(&format!(
        "<h1>{}</h1>\n<p class=price>{}</p>\n",
        escape(&item.name),
        price(u64::from(item.price_cents), currency)
    ));
    if let Some(description) = &item.description {
        body.push_str(&format!(
            "<p class=description>{}</p>\n",
            escape(description)
        ));
    }
    match shown.order {
        Some(order) => {
            body.push_str(&format!(
                "<p>You have bought this.</p>\n<p><a class=button href=\"{}\">See your receipt</a></p>\n",
                escape(&order.receipt_url())
            ));
        }
        None if shown.completed => body.push_str("<p>Your order for this is complete.</p>\n"),
        None if stock_left == 0 => body.push_str("<p><strong>Sold out.</strong></p>\n"),
        None => {
            body.push_str(&format!(
                "<p class=muted>{stock_left} left</p>\n\
                 <form method=post action=\"/items/{}/buy\"><button class=button type=submit>Buy now</button></form>\n",
                escape(item.id.as_str())
            ));
        }
    }
    if let Some(back) = shown.back {
        body.push_str(&format!(
            "<p><a href=\"{}\">Back to the sale</a></p>\n",
            escape(back)
        ));
    }
    layout(&item.name, &body)
}

/// The answer to a buy: the order and where its receipt is.
pub(crate) fn confirmation(name: &str, currency: &str, order: &Order, created: bool) -> String {
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
        price(order.price_cents, currency),
        escape(&order.receipt_url())
    );
    layout(heading, &body)
}

/// A receipt, with the download link for download items and, behind a gate, the way back to
/// the sale (`back`, the reception's landing page).
pub(crate) fn receipt(
    name: &str,
    currency: &str,
    order: &Order,
    downloadable: bool,
    back: Option<&str>,
) -> String {
    let created = Rfc3339(UNIX_EPOCH + Duration::from_millis(order.created_at_ms)).to_string();
    let mut body = format!(
        "<h1>Receipt</h1>\n<dl>\n<dt>Item</dt><dd>{}</dd>\n<dt>Price</dt><dd>{}</dd>\n\
         <dt>Order</dt><dd>{}</dd>\n<dt>Date</dt><dd><time datetime=\"{created}\">{}</time></dd>\n\
         </dl>\n",
        escape(name),
        price(order.price_cents, currency),
        escape(&order.id),
        readable(&created)
    );
    if downloadable {
        body.push_str(&format!(
            "<p><a class=button href=\"{}\">Download</a></p>\n",
            escape(&order.download_url())
        ));
    }
    if let Some(back) = back {
        body.push_str(&format!(
            "<p><a href=\"{}\">Back to the sale</a></p>\n",
            escape(back)
        ));
    }
    layout("Receipt", &body)
}

/// A refusal for a browser: the same code and message as the JSON body.
pub(crate) fn error(status: StatusCode, code: Code, message: &str) -> String {
    let body = format!(
        "<h1>{}</h1>\n<p class=lead>{}</p>\n<p class=detail>{} &middot; {}</p>\n",
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
        "<h1>{}</h1>\n<p class=lead>{}</p>\n",
        status.as_u16(),
        escape(message)
    );
    layout("Error", &body)
}

fn layout(title: &str, body: &str) -> String {
    usher_wire::html::page(title, "", "", body)
}

/// `4500` in `EUR` → `€45.00`; currencies without a sign here are written after the amount
/// (`45.00 CHF`), with their own minor units (`¥4500`, `4.500 KWD`).
fn price(cents: u64, currency: &str) -> String {
    // ISO 4217 minor units: most currencies have two; these have none or three.
    let amount = match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => cents.to_string(),
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => {
            format!("{}.{:03}", cents / 1000, cents % 1000)
        }
        _ => format!("{}.{:02}", cents / 100, cents % 100),
    };
    match currency {
        "EUR" => format!("€{amount}"),
        "USD" => format!("${amount}"),
        "GBP" => format!("£{amount}"),
        "JPY" => format!("¥{amount}"),
        "KRW" => format!("₩{amount}"),
        other => format!("{amount} {}", escape(other)),
    }
}

/// `2026-12-07T17:25:14Z` → `7 December 2026, 17:25 UTC`: as a person reads a date, with no
/// script to learn their time zone.
fn readable(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let parts = (
        rfc3339.get(0..4),
        rfc3339.get(5..7).and_then(|m| m.parse::<usize>().ok()),
        rfc3339.get(8..10).and_then(|d| d.parse::<u32>().ok()),
        rfc3339.get(11..16),
    );
    match parts {
        (Some(year), Some(month @ 1..=12), Some(day), Some(time)) => {
            format!("{day} {} {year}, {time} UTC", MONTHS[month - 1])
        }
        _ => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use usher_ticket::ItemId;

    use super::*;
    use crate::catalogue::Kind;

    const NONE: Shown<'static> = Shown {
        order: None,
        completed: false,
        back: None,
    };
    const DONE: Shown<'static> = Shown {
        completed: true,
        ..NONE
    };
    const BACK: Shown<'static> = Shown {
        back: Some("http://sale/"),
        ..NONE
    };

    fn concert() -> Item {
        Item {
            id: ItemId::new("concert").unwrap(),
            name: "Rock & <Roll>".to_owned(),
            description: Some("Loud <and> late".to_owned()),
            price_cents: 4505,
            initial_stock: 5,
            kind: Kind::Ticket,
            image: None,
        }
    }

    #[test]
    fn item_page_escapes_and_offers_the_form() {
        let page = item(&concert(), "EUR", 3, &NONE);
        assert!(page.contains("Rock &amp; &lt;Roll&gt;"), "{page}");
        assert!(page.contains("Loud &lt;and&gt; late"), "{page}");
        assert!(page.contains("€45.05"));
        assert!(page.contains("3 left"));
        assert!(page.contains("<form method=post action=\"/items/concert/buy\">"));
        assert!(page.contains("<meta name=viewport"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("<img"));
        let pictured = Item {
            image: Some(crate::Image {
                bytes: Default::default(),
                content_type: "image/png",
            }),
            ..concert()
        };
        let page = item(&pictured, "EUR", 3, &BACK);
        assert!(page.contains("<img class=picture src=\"/static/items/concert\" alt=\"\">"));
        assert!(
            page.contains("<a href=\"http://sale/\">Back to the sale</a>"),
            "{page}"
        );
    }

    #[test]
    fn item_page_without_stock_or_after_completion_has_no_form() {
        assert!(!item(&concert(), "EUR", 0, &NONE).contains("<form"));
        assert!(!item(&concert(), "EUR", 3, &DONE).contains("<form"));
    }

    #[test]
    fn price_formats_cents_with_the_currency() {
        assert_eq!(price(0, "EUR"), "€0.00");
        assert_eq!(price(999, "USD"), "$9.99");
        assert_eq!(price(4500, "CHF"), "45.00 CHF");
        assert_eq!(price(4500, "JPY"), "¥4500");
        assert_eq!(price(4500, "ISK"), "4500 ISK");
        assert_eq!(price(4500, "KWD"), "4.500 KWD");
    }

    #[test]
    fn dates_read_as_a_person_writes_them() {
        assert_eq!(
            readable("2026-12-07T17:25:14Z"),
            "7 December 2026, 17:25 UTC"
        );
        assert_eq!(readable("garbage"), "garbage");
    }
}
