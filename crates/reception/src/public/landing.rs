//! `GET /`: the reception's landing page, where every "Start again" link leads. A browser gets
//! the sale's items and what an order for each would meet now (open, a line, sold out, the
//! opening's time); an API client the same as JSON ([`Sale`], also at `GET /api/v1/sale`).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use usher_ticket::ItemId;
use usher_wire::html::escape;
use usher_wire::{ItemState, Rfc3339, Sale, SaleItem};

use super::answer::no_store;
use super::browser::Form;
use super::pages::PAGE_HEADERS;
use crate::outcome::Outcome;
use crate::reception::Reception;

/// Most items listed (a shop reports at most a management message's worth).
const MAX_ITEMS: usize = 200;

/// The sale now, as a newcomer would meet it.
pub(crate) fn sale(reception: &Reception) -> Sale {
    let now = reception.clock.instant();
    let wall = reception.clock.wall();
    let line = reception.room.status(now, wall);
    let opens_at = line
        .opens_in_ms
        .map(|ms| wall + std::time::Duration::from_millis(ms));
    let public_url = &reception.config().public_url;
    let items = reception
        .desk
        .items(MAX_ITEMS)
        .into_iter()
        .filter_map(|id| {
            let item = ItemId::new(&id).ok()?;
            let state = if opens_at.is_some() {
                ItemState::Opening
            } else {
                match reception.desk.survey(&item, now) {
                    Ok(free) if free.is_empty() || line.waiting > 0 => ItemState::Waiting,
                    Ok(_) => ItemState::Open,
                    Err(Outcome::SoldOut) => ItemState::SoldOut,
                    Err(_) => ItemState::Unavailable,
                }
            };
            Some(SaleItem {
                order_url: format!("{public_url}/order/{id}"),
                name: reception.desk.name_of(&id),
                item: id,
                state,
            })
        })
        .collect();
    Sale {
        items,
        waiting: line.waiting,
        opens_at: opens_at.map(Rfc3339),
    }
}

/// `GET /`: the page for a browser, [`Sale`] as JSON for anything else.
pub(super) async fn landing(
    State(reception): State<Arc<Reception>>,
    headers: HeaderMap,
) -> Response {
    let sale = sale(&reception);
    if Form::of(&headers) == Form::Page {
        no_store((StatusCode::OK, PAGE_HEADERS, page(&sale)).into_response())
    } else {
        no_store(axum::Json(sale).into_response())
    }
}

/// `GET /api/v1/sale`.
pub(super) async fn sale_json(State(reception): State<Arc<Reception>>) -> Response {
    no_store(axum::Json(sale(&reception)).into_response())
}

/// The landing page: one line per item, with the link to order it where ordering does
/// something.
fn page(sale: &Sale) -> String {
    let mut rows = String::new();
    for item in &sale.items {
        let name = escape(item.name.as_deref().unwrap_or(&item.item));
        let url = escape(&item.order_url);
        let (state, action) = match item.state {
            ItemState::Open => ("On sale now.", "Order"),
            ItemState::Waiting => ("Every shop is full: you join the line.", "Join the line"),
            ItemState::Opening => ("Not open yet: you can wait for the opening.", "Wait here"),
            ItemState::SoldOut => ("Sold out.", ""),
            ItemState::Unavailable => ("No shop can be reached right now.", ""),
        };
        let link = if action.is_empty() {
            String::new()
        } else {
            format!(" <a class=order href=\"{url}\">{action}</a>")
        };
        rows.push_str(&format!(
            "<li><strong>{name}</strong> <span class=state>{state}</span>{link}</li>\n"
        ));
    }
    let lead = match (&sale.opens_at, sale.waiting) {
        (Some(at), _) => format!("The sale opens at {at}."),
        (None, 0) => "Choose an item to order it.".to_owned(),
        (None, 1) => "1 person is waiting in line.".to_owned(),
        (None, n) => format!("{n} people are waiting in line."),
    };
    let list = if rows.is_empty() {
        "<p>Nothing is on sale yet: no shop has reported what it sells. This page shows the \
         items once one has.</p>"
            .to_owned()
    } else {
        format!("<ul class=items>\n{rows}</ul>")
    };
    let main = format!("<h1>On sale</h1>\n<p class=lead>{lead}</p>\n{list}\n");
    usher_wire::html::page("On sale", "", "", &main)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, state: ItemState) -> SaleItem {
        SaleItem {
            item: id.into(),
            name: None,
            state,
            order_url: format!("http://r.example/order/{id}"),
        }
    }

    #[test]
    fn the_page_links_only_items_an_order_can_get() {
        let sale = Sale {
            items: vec![
                item("concert", ItemState::Open),
                item("app", ItemState::SoldOut),
                item("<b>", ItemState::Waiting),
            ],
            waiting: 2,
            opens_at: None,
        };
        let page = page(&sale);
        assert!(page.contains("href=\"http://r.example/order/concert\">Order</a>"));
        assert!(!page.contains("order/app"), "{page}");
        assert!(page.contains("&lt;b&gt;"));
        assert!(page.contains("2 people are waiting in line."));
    }
}
