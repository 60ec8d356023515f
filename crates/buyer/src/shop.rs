//! At the shop: claim the ticket, buy, fetch the receipt and the download.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, SET_COOKIE};
use serde::Deserialize;
use url::Url;

use crate::client::{
    JSON_ACCEPT, JSON_LIMIT, PAGE_ACCEPT, PAGE_LIMIT, location, read_capped, refusal, refusal_from,
    resolve,
};
use crate::{Admitted, Buyer, BuyerError, Step};

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The shop's id for the order.
    pub order_id: String,
    /// The item bought.
    pub item: String,
    /// Where the receipt is (absolute).
    pub receipt_url: Url,
    /// Where what was bought can be fetched, for items that have a download (absolute).
    pub download_url: Option<Url>,
    /// `true` when this buy made the order (`201`), `false` when the shop answered with the order
    /// this session had already made (`200`).
    pub created: bool,
}

/// The shop's answer to a buy.
#[derive(Deserialize)]
struct OrderBody {
    order_id: String,
    item: String,
    receipt_url: String,
    #[serde(default)]
    download_url: Option<String>,
}

impl Buyer {
    /// Opens the ticket URL: the gate must answer `303` to the clean item page with a session
    /// cookie (kept in this buyer's jar), and the clean page must then answer `200`. Returns the
    /// clean page's URL, where [`Buyer::buy`] starts.
    pub async fn claim(&self, admitted: &Admitted) -> Result<Url, BuyerError> {
        let ticket_url = &admitted.url;
        let response = self
            .client
            .get(ticket_url.clone())
            .header(ACCEPT, PAGE_ACCEPT)
            .send()
            .await?;
        if response.status() != StatusCode::SEE_OTHER {
            return Err(refusal(Step::Claim, response).await);
        }
        let page = location(&response, ticket_url)?;
        if !response.headers().contains_key(SET_COOKIE) {
            return Err(BuyerError::BadResponse(
                "the gate's redirect opened no session (no Set-Cookie)".into(),
            ));
        }
        if page.origin() != ticket_url.origin() {
            return Err(BuyerError::BadResponse(
                "the gate redirected to another origin".into(),
            ));
        }
        self.open_page(page).await
    }

    /// Walks straight into a shop's item page, `{shop}/items/{item}`, with no ticket: the
    /// prior art (DNS round robin sends buyers to a shop in turn), which only a shop that lets
    /// walk-ins in accepts. Returns the page's URL, where [`Buyer::buy`] starts. One attempt;
    /// a busy answer (`503`, …) is an error with its status.
    pub async fn walk_in(&self, shop: &Url, item: &str) -> Result<Url, BuyerError> {
        let mut page = shop.clone();
        page.set_query(None);
        page.set_fragment(None);
        page.path_segments_mut()
            .map_err(|()| BuyerError::BadResponse("the shop URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(["items", item]);
        self.open_page(page).await
    }

    /// Opens an item page, which must answer `200`.
    async fn open_page(&self, page: Url) -> Result<Url, BuyerError> {
        let mut response = self
            .client
            .get(page.clone())
            .header(ACCEPT, PAGE_ACCEPT)
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            return Err(refusal(Step::Claim, response).await);
        }
        read_capped(&mut response, PAGE_LIMIT).await?;
        Ok(page)
    }

    /// `POST {item_page}/buy`. A retried buy in the same session gets the same order back with
    /// `created == false`. Fails with [`BuyerError::SoldOut`] on `410`.
    pub async fn buy(&self, item_page: &Url) -> Result<Order, BuyerError> {
        let mut buy_url = item_page.clone();
        buy_url.set_query(None);
        buy_url.set_fragment(None);
        buy_url
            .path_segments_mut()
            .map_err(|()| BuyerError::BadResponse("the item page URL cannot be a base".into()))?
            .pop_if_empty()
            .push("buy");
        let mut response = self
            .client
            .post(buy_url)
            .header(ACCEPT, JSON_ACCEPT)
            .send()
            .await?;
        let status = response.status();
        let body = read_capped(&mut response, JSON_LIMIT).await?;
        let created = match status {
            StatusCode::CREATED => true,
            StatusCode::OK => false,
            StatusCode::GONE => return Err(BuyerError::SoldOut),
            _ => return Err(refusal_from(Step::Buy, status, &body)),
        };
        let order: OrderBody = serde_json::from_slice(&body)
            .map_err(|e| BuyerError::BadResponse(format!("order body: {e}")))?;
        // Links are relative to the shop's base: the item page is `{base}/items/{item}`.
        let base = resolve(item_page, "../")?;
        Ok(Order {
            receipt_url: resolve(&base, &order.receipt_url)?,
            download_url: order
                .download_url
                .as_deref()
                .map(|url| resolve(&base, url))
                .transpose()?,
            order_id: order.order_id,
            item: order.item,
            created,
        })
    }

    /// Fetches the receipt as JSON. Fails with [`BuyerError::BadResponse`] if the receipt names
    /// another order.
    pub async fn receipt(&self, order: &Order) -> Result<serde_json::Value, BuyerError> {
        let mut response = self
            .client
            .get(order.receipt_url.clone())
            .header(ACCEPT, JSON_ACCEPT)
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            return Err(refusal(Step::Receipt, response).await);
        }
        let body = read_capped(&mut response, JSON_LIMIT).await?;
        let receipt: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| BuyerError::BadResponse(format!("receipt body: {e}")))?;
        match receipt.get("order_id") {
            Some(id) if id.as_str() != Some(order.order_id.as_str()) => Err(
                BuyerError::BadResponse("the receipt names another order".into()),
            ),
            _ => Ok(receipt),
        }
    }

    /// Fetches what was bought and returns its size in bytes. The bytes are counted as they
    /// stream and not kept, so a crowd of buyers costs no memory per download.
    pub async fn download(&self, order: &Order) -> Result<u64, BuyerError> {
        let url = order
            .download_url
            .clone()
            .ok_or_else(|| BuyerError::BadResponse("the order has no download".into()))?;
        let mut response = self.client.get(url).send().await?;
        if response.status() != StatusCode::OK {
            return Err(refusal(Step::Download, response).await);
        }
        let mut bytes = 0u64;
        while let Some(chunk) = response.chunk().await? {
            bytes += chunk.len() as u64;
        }
        Ok(bytes)
    }
}
