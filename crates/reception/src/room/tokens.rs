//! The keys a waiting room seals and opens queue tokens with, replaced whole on SIGHUP.

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use usher_ticket::{
    Epoch, Issuer, IssuerId, Keyring, QueueContext, QueueOpener, QueueSealer, QueueSpec,
    QueueToken, Rejection,
};

/// Sealing and opening queue tokens under one keyring.
#[derive(Debug)]
struct Keys {
    sealer: QueueSealer,
    opener: QueueOpener,
}

/// Sealing under the current keyring's active key; opening under any key it holds, for this
/// run's issuer and the earlier runs' ones the line's store remembers.
#[derive(Debug)]
pub(super) struct Tokens {
    keys: RwLock<Arc<Keys>>,
    /// Issuers whose tokens are honoured: this run's and the previous runs' (from the store).
    honoured: Vec<IssuerId>,
}

impl Tokens {
    pub(super) fn new(keyring: &Keyring, issuer: &Arc<Issuer>, honoured: Vec<IssuerId>) -> Tokens {
        Tokens {
            keys: RwLock::new(Arc::new(Keys::new(keyring, issuer, &honoured))),
            honoured,
        }
    }

    /// New keys (SIGHUP).
    pub(super) fn reload(&self, keyring: &Keyring, issuer: &Arc<Issuer>) {
        let keys = Arc::new(Keys::new(keyring, issuer, &self.honoured));
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// A sealed token for `spec`; `None` (logged) if sealing failed, and the place then
    /// becomes a no-show.
    pub(super) fn seal(&self, spec: &QueueSpec<'_>) -> Option<String> {
        let keys = Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner));
        keys.sealer
            .seal_to_string(spec)
            .inspect_err(|e| tracing::error!(error = %e, "sealing a queue token failed"))
            .ok()
    }

    /// Opens a token `client` presents for `item` at `wall` in the sale of `epoch`, which
    /// keeps a place at most `max_age`.
    pub(super) fn verify(
        &self,
        token: &str,
        (client, item): (IpAddr, &str),
        (wall, epoch, max_age): (SystemTime, Epoch, Duration),
    ) -> Result<QueueToken, Rejection> {
        let context = QueueContext::new(wall, client, epoch, item, max_age);
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.opener.verify(token, &context)
    }
}

impl Keys {
    fn new(keyring: &Keyring, issuer: &Arc<Issuer>, honoured: &[IssuerId]) -> Keys {
        let mut opener = keyring.queue_opener();
        for id in honoured {
            // At most state::MAX_ISSUERS, far under the opener's limit.
            let _ = opener.admit_issuer(*id);
        }
        Keys {
            sealer: keyring.queue_sealer(Arc::clone(issuer)),
            opener,
        }
    }
}
