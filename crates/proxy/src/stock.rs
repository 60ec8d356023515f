//! The shop's part of the gate's load reports (Sa31) when the shop is behind `usher gate`:
//! stock per item, either counted down by the gate from a configured number, or read from the
//! shop's own stock URL (`GET /usher/stock` → `{"concert": 12}`) on every tick; and whether the
//! shop answers (the stock read, or a request for its health path, on every tick, with the
//! forwarded requests' outcomes: [`Health`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;
use tokio::sync::watch;
use usher_gate::{AppLoad, Gate};

use crate::completions::Completions;
use crate::health::Health;

/// Units an item with no stock configured is reported to have: as good as unlimited.
pub const UNLIMITED: u64 = 1_000_000_000;
/// Largest stock document read from the shop.
const MAX_DOCUMENT: usize = 1024 * 1024;
/// How long the shop has to answer a stock read.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the stock of each item comes from.
#[derive(Debug, Clone)]
pub struct StockSource {
    /// The items on sale, each with a starting number of units (counted down by completed
    /// orders) or `None` for no limit.
    pub items: BTreeMap<String, Option<u64>>,
    /// The shop's stock document; when set, it is read every tick and wins over the numbers.
    pub url: Option<Uri>,
    /// How often the gate frees what has run out and refreshes its report.
    pub every: Duration,
}

/// Why a stock read failed.
#[derive(Debug, Error)]
enum ReadError {
    #[error("the stock URL did not answer: {0}")]
    Request(#[from] hyper_util::client::legacy::Error),
    #[error("the stock URL answered {0}")]
    Status(http::StatusCode),
    #[error("the stock document could not be read: {0}")]
    Body(String),
    #[error("the stock document is not a JSON object of counts: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the stock URL took longer than {READ_TIMEOUT:?}")]
    Timeout,
}

/// Every `source.every` until `shutdown`: frees what has run out at the gate, checks that the
/// shop answers (`check`, or the stock URL when there is one), and refreshes the shop's part
/// of the gate's reports.
pub async fn keep_load(
    gate: Arc<Gate>,
    source: StockSource,
    completions: Completions,
    health: Health,
    check: Uri,
    mut shutdown: watch::Receiver<bool>,
) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut tick = tokio::time::interval(source.every);
    let mut warned = false;
    let mut last: Option<BTreeMap<String, u64>> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        gate.sweep();
        let seen = gate.stock_mark();
        let stock = match &source.url {
            Some(url) => match read(&client, url).await {
                Ok(stock) => {
                    warned = false;
                    health.checked(true);
                    last = Some(stock.clone());
                    Some(stock)
                }
                Err(e) => {
                    if !warned {
                        tracing::warn!(error = %e, "cannot read the shop's stock; keeping the last");
                        warned = true;
                    }
                    health.checked(false);
                    None
                }
            },
            None => {
                health.checked(answers(&client, &check).await);
                Some(counted(&source.items, &completions))
            }
        };
        // A reading older than a completion is not used for stock; without a fresh one the
        // last stands.
        let fresh = stock.is_some();
        let Some(stock) = stock.or_else(|| last.clone()) else {
            continue;
        };
        let load = AppLoad {
            stock,
            orders_completed: completions.total(),
            memory_bytes: usher_gate::resident_memory().await,
            upstream: Some(health.snapshot(std::time::Instant::now())),
        };
        gate.set_app_load(fresh.then_some(seen), load);
    }
}

/// Whether the shop answers `check` with anything but a 5xx, in time.
async fn answers(client: &Client<HttpConnector, Empty<Bytes>>, check: &Uri) -> bool {
    let Ok(request) = Request::get(check.clone()).body(Empty::new()) else {
        return false;
    };
    matches!(
        tokio::time::timeout(READ_TIMEOUT, client.request(request)).await,
        Ok(Ok(response)) if !response.status().is_server_error()
    )
}

/// Stock kept by the gate: each item's starting units less its completed orders.
fn counted(
    items: &BTreeMap<String, Option<u64>>,
    completions: &Completions,
) -> BTreeMap<String, u64> {
    items
        .iter()
        .map(|(item, units)| {
            let left = units.map_or(UNLIMITED, |n| n.saturating_sub(completions.of(item)));
            (item.clone(), left)
        })
        .collect()
}

/// One read of the shop's stock document.
async fn read(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &Uri,
) -> Result<BTreeMap<String, u64>, ReadError> {
    let request = Request::get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::new())
        .map_err(|e| ReadError::Body(e.to_string()))?;
    let response = tokio::time::timeout(READ_TIMEOUT, client.request(request))
        .await
        .map_err(|_| ReadError::Timeout)??;
    if !response.status().is_success() {
        return Err(ReadError::Status(response.status()));
    }
    let body = tokio::time::timeout(
        READ_TIMEOUT,
        Limited::new(response.into_body(), MAX_DOCUMENT).collect(),
    )
    .await
    .map_err(|_| ReadError::Timeout)?
    .map_err(|e| ReadError::Body(e.to_string()))?;
    Ok(serde_json::from_slice(&body.to_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_stock_counts_down_by_completed_orders_and_never_below_zero() {
        let items = BTreeMap::from([("concert".to_owned(), Some(2)), ("album".to_owned(), None)]);
        let completions = Completions::default();
        assert_eq!(counted(&items, &completions)["concert"], 2);
        let ticket = |serial| usher_ticket::TicketId {
            issuer: usher_ticket::IssuerId(1),
            serial,
        };
        for n in 0..3 {
            completions.add("concert", ticket(n));
        }
        // A second answer completing the same session counts once.
        completions.add("concert", ticket(0));
        assert_eq!(completions.of("concert"), 3);
        let stock = counted(&items, &completions);
        assert_eq!(stock["concert"], 0);
        assert_eq!(stock["album"], UNLIMITED);
    }
}
