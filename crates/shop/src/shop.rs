//! The handle the router and the gate's load reports share.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::catalogue::Catalogue;
use crate::store::{Store, StoreError};

/// A cheap-to-clone handle on one shop: its catalogue and its store.
#[derive(Debug, Clone)]
pub struct Shop {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    catalogue: Catalogue,
    store: Store,
}

impl Shop {
    /// Opens the store in `data_dir` for `catalogue` and wraps both.
    pub async fn open(data_dir: &Path, catalogue: Catalogue) -> Result<Shop, StoreError> {
        let store = Store::open(data_dir, &catalogue).await?;
        Ok(Shop::new(catalogue, store))
    }

    /// Wraps a store that was opened with this same catalogue.
    pub fn new(catalogue: Catalogue, store: Store) -> Shop {
        Shop {
            inner: Arc::new(Inner { catalogue, store }),
        }
    }

    /// What the shop sells.
    pub fn catalogue(&self) -> &Catalogue {
        &self.inner.catalogue
    }

    /// Stock and orders.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Stock left per item, for the gate's load reports.
    pub async fn stock(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        self.inner.store.stock().await
    }

    /// Orders made so far, for the gate's load reports.
    pub async fn orders_completed(&self) -> Result<u64, StoreError> {
        self.inner.store.orders_completed().await
    }
}
