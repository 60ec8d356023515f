//! Stock and orders in SQLite: every acknowledged order is on disk, stock never goes below zero,
//! and one ticket makes at most one order.
//!
//! Writes go through a pool of one connection, so buys queue in the process instead of spinning on
//! SQLite's lock, and each buy is one `BEGIN IMMEDIATE` transaction, which stays correct even if
//! another process writes the same file. Reads use a second small pool (WAL lets them run beside
//! the writer).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use thiserror::Error;
use usher_ticket::ItemId;

use crate::catalogue::Catalogue;
use crate::order::{Order, is_token, random_token};

/// The database file inside the data directory.
pub const DB_FILE: &str = "shop.db";
/// The longest ticket id accepted, in bytes (a `TicketId` prints as 32).
pub const MAX_TICKET_ID_LEN: usize = 64;
/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: u32 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    kind TEXT NOT NULL,
    download_name TEXT,
    stock INTEGER NOT NULL CHECK (stock >= 0)
) STRICT;
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL UNIQUE,
    item TEXT NOT NULL REFERENCES items (id),
    secret TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;
";

/// Descriptive columns follow the catalogue; stock is seeded once and never reset by a restart.
const SEED: &str = "
INSERT INTO items (id, name, price_cents, kind, download_name, stock) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    name = excluded.name,
    price_cents = excluded.price_cents,
    kind = excluded.kind,
    download_name = excluded.download_name
";

/// The shop's durable state: stock per item and orders.
#[derive(Debug, Clone)]
pub struct Store {
    writer: SqlitePool,
    reader: SqlitePool,
    items: BTreeSet<ItemId>,
}

/// The outcome of a successful buy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bought {
    /// The ticket's order.
    pub order: Order,
    /// `true` if this call made the order; `false` if the ticket already had it (a retry).
    pub created: bool,
}

/// What a consistency check found (see [`Store::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreReport {
    /// Items whose stock is below zero (the schema forbids it, so this should stay empty).
    pub negative_stock: Vec<String>,
    /// Orders in the database.
    pub orders: u64,
    /// Orders per item.
    pub sold: BTreeMap<String, u64>,
    /// Ticket ids that appear on more than one order (the schema forbids it too).
    pub duplicate_tickets: Vec<String>,
}

impl StoreReport {
    /// Whether every invariant holds.
    pub fn is_consistent(&self) -> bool {
        self.negative_stock.is_empty() && self.duplicate_tickets.is_empty()
    }
}

/// The store could not do its job.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The operating system gave no random bytes for an order id or secret.
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
    /// A row holds a value the shop never writes.
    #[error("database holds an invalid {0}")]
    Corrupt(&'static str),
}

/// Why a buy made no order.
#[derive(Debug, Error)]
pub enum BuyError {
    /// The item is not in the catalogue.
    #[error("no such item is on sale")]
    UnknownItem,
    /// The item's stock is zero.
    #[error("the item is sold out")]
    SoldOut,
    /// The ticket id is empty, longer than [`MAX_TICKET_ID_LEN`] or not alphanumeric.
    #[error("the ticket id is not valid")]
    InvalidTicket,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BuyError {
    fn from(error: sqlx::Error) -> Self {
        BuyError::Store(StoreError::Database(error))
    }
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: String,
    ticket_id: String,
    item: String,
    secret: String,
    price_cents: i64,
    created_at_ms: i64,
}

impl Store {
    /// Opens (creating if needed) `data_dir/shop.db` and adds the catalogue's new items with their
    /// initial stock. Items already in the database keep the stock they have.
    pub async fn open(data_dir: &Path, catalogue: &Catalogue) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL on every commit: an acknowledged order survives power loss and kill -9.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&writer).await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        for item in catalogue.items() {
            sqlx::query(SEED)
                .bind(item.id.as_str())
                .bind(&item.name)
                .bind(i64::from(item.price_cents))
                .bind(item.kind.as_str())
                .bind(item.kind.file_name())
                .bind(i64::from(item.initial_stock))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await?;
        let items = catalogue.items().iter().map(|item| item.id).collect();
        Ok(Store {
            writer,
            reader,
            items,
        })
    }

    /// Buys one `item` for the ticket `ticket_id`, or returns the order the ticket already made.
    ///
    /// One transaction: look up the ticket's order; if none, take one from stock (refused at zero)
    /// and insert the order; commit (synced to disk) before answering.
    pub async fn buy(&self, ticket_id: &str, item: &ItemId) -> Result<Bought, BuyError> {
        if !is_ticket_id(ticket_id) {
            return Err(BuyError::InvalidTicket);
        }
        if !self.items.contains(item) {
            return Err(BuyError::UnknownItem);
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(order) = order_for_ticket(&mut tx, ticket_id).await? {
            tx.commit().await?;
            return Ok(Bought {
                order,
                created: false,
            });
        }
        let price: Option<i64> = sqlx::query_scalar(
            "UPDATE items SET stock = stock - 1 WHERE id = ? AND stock > 0 RETURNING price_cents",
        )
        .bind(item.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(price) = price else {
            // Rolled back when `tx` drops; nothing was written.
            return Err(BuyError::SoldOut);
        };
        let order = Order {
            id: random_token().map_err(StoreError::Random)?,
            ticket_id: ticket_id.to_owned(),
            item: *item,
            price_cents: u64::try_from(price).map_err(|_| StoreError::Corrupt("price"))?,
            created_at_ms: now_ms(),
            secret: random_token().map_err(StoreError::Random)?,
        };
        sqlx::query(
            "INSERT INTO orders (id, ticket_id, item, secret, price_cents, created_at_ms)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&order.id)
        .bind(&order.ticket_id)
        .bind(order.item.as_str())
        .bind(&order.secret)
        .bind(price)
        .bind(i64::try_from(order.created_at_ms).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Bought {
            order,
            created: true,
        })
    }

    /// The order with this id, if any. Ids not shaped like an order id are answered without a query.
    pub async fn order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        if !is_token(order_id) {
            return Ok(None);
        }
        let row: Option<OrderRow> = sqlx::query_as(
            "SELECT id, ticket_id, item, secret, price_cents, created_at_ms FROM orders WHERE id = ?",
        )
            .bind(order_id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(Order::try_from).transpose()
    }

    /// The order with this id if `secret` is its secret; `None` alike for a missing order and a
    /// wrong secret, so a caller cannot tell them apart.
    pub async fn receipt(&self, order_id: &str, secret: &str) -> Result<Option<Order>, StoreError> {
        if !is_token(secret) {
            return Ok(None);
        }
        Ok(self
            .order(order_id)
            .await?
            .filter(|order| order.secret_matches(secret)))
    }

    /// The order the ticket made, if it made one.
    pub async fn order_for_ticket(&self, ticket_id: &str) -> Result<Option<Order>, StoreError> {
        if !is_ticket_id(ticket_id) {
            return Ok(None);
        }
        let mut conn = self.reader.acquire().await?;
        order_for_ticket(&mut conn, ticket_id).await
    }

    /// Stock left per catalogue item.
    pub async fn stock(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT id, stock FROM items")
            .fetch_all(&self.reader)
            .await?;
        let mut stock = BTreeMap::new();
        for (id, left) in rows {
            let known = ItemId::new(&id).is_ok_and(|id| self.items.contains(&id));
            if known {
                let left = u64::try_from(left).map_err(|_| StoreError::Corrupt("stock"))?;
                stock.insert(id, left);
            }
        }
        Ok(stock)
    }

    /// Stock left of one item; `None` if it is not in the catalogue.
    pub async fn stock_of(&self, item: &ItemId) -> Result<Option<u64>, StoreError> {
        if !self.items.contains(item) {
            return Ok(None);
        }
        let left: Option<i64> = sqlx::query_scalar("SELECT stock FROM items WHERE id = ?")
            .bind(item.as_str())
            .fetch_optional(&self.reader)
            .await?;
        left.map(|left| u64::try_from(left).map_err(|_| StoreError::Corrupt("stock")))
            .transpose()
    }

    /// How many orders have been made, ever.
    pub async fn orders_completed(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
            .fetch_one(&self.reader)
            .await?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt("order count"))
    }

    /// Checks the invariants the schema is meant to enforce, from the data itself (for tests and
    /// operators).
    pub async fn check(&self) -> Result<StoreReport, StoreError> {
        let negative_stock = sqlx::query_scalar("SELECT id FROM items WHERE stock < 0")
            .fetch_all(&self.reader)
            .await?;
        let duplicate_tickets = sqlx::query_scalar(
            "SELECT ticket_id FROM orders GROUP BY ticket_id HAVING COUNT(*) > 1",
        )
        .fetch_all(&self.reader)
        .await?;
        let sold_rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT item, COUNT(*) FROM orders GROUP BY item")
                .fetch_all(&self.reader)
                .await?;
        let mut sold = BTreeMap::new();
        for (item, count) in sold_rows {
            let count = u64::try_from(count).map_err(|_| StoreError::Corrupt("order count"))?;
            sold.insert(item, count);
        }
        Ok(StoreReport {
            negative_stock,
            orders: sold.values().sum(),
            sold,
            duplicate_tickets,
        })
    }

    /// Closes the database connections; later calls fail. Dropping the store also closes them,
    /// but without waiting.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

async fn order_for_ticket(
    conn: &mut SqliteConnection,
    ticket_id: &str,
) -> Result<Option<Order>, StoreError> {
    let row: Option<OrderRow> = sqlx::query_as(
        "SELECT id, ticket_id, item, secret, price_cents, created_at_ms FROM orders WHERE ticket_id = ?",
    )
        .bind(ticket_id)
        .fetch_optional(conn)
        .await?;
    row.map(Order::try_from).transpose()
}

impl TryFrom<OrderRow> for Order {
    type Error = StoreError;

    fn try_from(row: OrderRow) -> Result<Order, StoreError> {
        Ok(Order {
            item: ItemId::new(&row.item).map_err(|_| StoreError::Corrupt("item id"))?,
            price_cents: u64::try_from(row.price_cents)
                .map_err(|_| StoreError::Corrupt("price"))?,
            created_at_ms: u64::try_from(row.created_at_ms)
                .map_err(|_| StoreError::Corrupt("timestamp"))?,
            id: row.id,
            ticket_id: row.ticket_id,
            secret: row.secret,
        })
    }
}

fn is_ticket_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TICKET_ID_LEN
        && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}
