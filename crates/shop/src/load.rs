//! The shop's part of the gate's load reports (Sa31): stock left, orders made and memory in
//! use, read on every report tick, which also frees the gate's places that have run out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use usher_gate::{AppLoad, Gate};

use crate::shop::Shop;

/// Every `every` until `shutdown` changes: frees what has run out at the gate and refreshes
/// the shop's part of its reports ([`refresh_load`]).
pub async fn report_load(
    gate: Arc<Gate>,
    shop: Shop,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                gate.sweep();
                refresh_load(&gate, &shop).await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Reads the shop's stock, orders and memory into the gate's next report. The gate's mark is
/// taken first, so a reading that an order overtakes is not used for stock.
pub async fn refresh_load(gate: &Gate, shop: &Shop) {
    let seen = Some(gate.stock_mark());
    let stock = match shop.stock().await {
        Ok(stock) => stock,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read stock");
            return;
        }
    };
    let orders_completed = shop.orders_completed().await.unwrap_or(0);
    let memory_bytes = usher_gate::resident_memory().await;
    gate.set_app_load(
        seen,
        AppLoad {
            stock,
            orders_completed,
            memory_bytes,
            upstream: None,
        },
    );
}
