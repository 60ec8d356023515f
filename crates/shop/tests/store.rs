//! The store's invariants on a real SQLite file: stock never below zero, one order per ticket,
//! stock that survives a restart.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use usher_shop::{BuyError, Catalogue, Store};
use usher_ticket::ItemId;

fn catalogue(stock: u32) -> Catalogue {
    Catalogue::from_toml(&format!(
        r#"
        [[items]]
        id = "concert"
        name = "Concert"
        price_cents = 4500
        stock = {stock}
        kind = "ticket"

        [[items]]
        id = "app"
        name = "App"
        price_cents = 999
        stock = 1000
        kind = "download"
        download_name = "app.txt"
        "#
    ))
    .unwrap()
}

fn concert() -> ItemId {
    ItemId::new("concert").unwrap()
}

fn ticket(n: u32) -> String {
    format!("{n:032x}")
}

async fn stock_of(store: &Store, item: &str) -> u64 {
    store.stock().await.unwrap()[item]
}

async fn open(dir: &Path, stock: u32) -> Store {
    Store::open(dir, &catalogue(stock)).await.unwrap()
}

#[tokio::test]
async fn buy_takes_one_from_stock_and_records_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 5).await;
    assert_eq!(stock_of(&store, "concert").await, 5);

    let bought = store.buy(&ticket(1), &concert()).await.unwrap();
    assert!(bought.created);
    assert_eq!(bought.order.item, concert());
    assert_eq!(bought.order.price_cents, 4500);
    assert_eq!(bought.order.ticket_id, ticket(1));
    assert_eq!(stock_of(&store, "concert").await, 4);
    assert_eq!(stock_of(&store, "app").await, 1000);
    assert_eq!(store.orders_completed().await.unwrap(), 1);
    assert_eq!(
        store.order(&bought.order.id).await.unwrap(),
        Some(bought.order)
    );
}

#[tokio::test]
async fn retried_buy_with_the_same_ticket_returns_the_same_order_without_taking_stock() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 5).await;
    let first = store.buy(&ticket(7), &concert()).await.unwrap();
    let again = store.buy(&ticket(7), &concert()).await.unwrap();
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(again.order, first.order);
    assert_eq!(again.order.receipt_url(), first.order.receipt_url());
    assert_eq!(stock_of(&store, "concert").await, 4);
    assert_eq!(store.orders_completed().await.unwrap(), 1);
}

#[tokio::test]
async fn sold_out_at_zero_and_stock_stays_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 2).await;
    store.buy(&ticket(1), &concert()).await.unwrap();
    store.buy(&ticket(2), &concert()).await.unwrap();
    for n in 3..6 {
        let error = store.buy(&ticket(n), &concert()).await.unwrap_err();
        assert!(matches!(error, BuyError::SoldOut), "{error}");
    }
    assert_eq!(stock_of(&store, "concert").await, 0);
    assert_eq!(store.orders_completed().await.unwrap(), 2);
    // A ticket that already bought still gets its order when stock is gone.
    assert!(!store.buy(&ticket(1), &concert()).await.unwrap().created);
    let report = store.check().await.unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(report.sold["concert"], 2);
}

#[tokio::test]
async fn unknown_item_and_bad_ticket_are_refused_without_an_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 2).await;
    let nope = ItemId::new("nope").unwrap();
    assert!(matches!(
        store.buy(&ticket(1), &nope).await,
        Err(BuyError::UnknownItem)
    ));
    for bad in ["", "has space", &"a".repeat(65)] {
        assert!(matches!(
            store.buy(bad, &concert()).await,
            Err(BuyError::InvalidTicket)
        ));
    }
    assert_eq!(store.orders_completed().await.unwrap(), 0);
    assert_eq!(stock_of(&store, "concert").await, 2);
}

#[tokio::test]
async fn stock_and_orders_survive_reopening_and_are_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 3).await;
    let bought = store.buy(&ticket(1), &concert()).await.unwrap();
    store.close().await;
    drop(store);

    // A restart with the same catalogue (initial stock 3) keeps the stock the database has.
    let store = open(dir.path(), 3).await;
    assert_eq!(stock_of(&store, "concert").await, 2);
    let again = store.buy(&ticket(1), &concert()).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.order, bought.order);
    let receipt = store
        .receipt(
            &bought.order.id,
            bought.order.receipt_url().rsplit('=').next().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(receipt, Some(bought.order));
    store.close().await;
}

#[tokio::test]
async fn receipt_needs_the_right_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 3).await;
    let order = store.buy(&ticket(1), &concert()).await.unwrap().order;
    let secret = order.receipt_url().rsplit('=').next().unwrap().to_owned();
    assert_ne!(secret, order.id);
    assert!(store.receipt(&order.id, &secret).await.unwrap().is_some());
    assert!(store.receipt(&order.id, &order.id).await.unwrap().is_none());
    assert!(store.receipt(&secret, &secret).await.unwrap().is_none());
    assert!(store.receipt(&order.id, "short").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_buys_never_oversell() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 10).await;
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.buy(&ticket(n), &concert()).await })
        })
        .collect();
    let mut tickets = BTreeSet::new();
    let mut sold_out = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(bought) => {
                assert!(bought.created);
                assert!(tickets.insert(bought.order.ticket_id));
            }
            Err(BuyError::SoldOut) => sold_out += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(tickets.len(), 10);
    assert_eq!(sold_out, 40);
    assert_eq!(stock_of(&store, "concert").await, 0);
    let report = store.check().await.unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(report.orders, 10);
    assert_eq!(report.sold["concert"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_ticket_make_one_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 10).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.buy(&ticket(42), &concert()).await.unwrap() })
        })
        .collect();
    let mut ids = BTreeSet::new();
    let mut created = 0;
    for task in tasks {
        let bought = task.await.unwrap();
        created += usize::from(bought.created);
        ids.insert(bought.order.id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(stock_of(&store, "concert").await, 9);
}

/// Set in the child process of [`an_acknowledged_order_survives_kill_9`].
const CHILD_DIR: &str = "USHER_SHOP_TEST_KILL_DIR";
/// What the child prints before the order id.
const ORDER_MARKER: &str = "usher-shop-test-order=";

/// Runs this very test binary as a child that buys and reports the order, then kills it with
/// SIGKILL while it still holds the database open, and reopens the file.
#[tokio::test]
async fn an_acknowledged_order_survives_kill_9() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let store = open(Path::new(&dir), 3).await;
        let order = store.buy(&ticket(9), &concert()).await.unwrap().order;
        let mut out = std::io::stdout().lock();
        // libtest writes its own status on the same line, so the parent looks for the marker.
        writeln!(out, "{ORDER_MARKER}{}", order.id).unwrap();
        out.flush().unwrap();
        // Hold the store open until killed. The parent never writes to our stdin; if the parent
        // dies instead, stdin reaches end of file and this child ends too.
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_acknowledged_order_survives_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let order_id = stdout
        .lines()
        .map(Result::unwrap)
        .find_map(|line| {
            line.split_once(ORDER_MARKER)
                .map(|(_, id)| id.trim().to_owned())
        })
        .expect("the child reports its order");
    child.kill().unwrap();
    child.wait().unwrap();

    let store = open(dir.path(), 3).await;
    let order = store
        .order(&order_id)
        .await
        .unwrap()
        .expect("order on disk");
    assert_eq!(order.ticket_id, ticket(9));
    assert_eq!(stock_of(&store, "concert").await, 2);
    assert!(store.check().await.unwrap().is_consistent());
}
