//! The issuing process: a random id and a counter that is the nonce of every token it seals.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::SealError;
use crate::ids::IssuerId;

/// Serials stop here, far before the counter could wrap and repeat a nonce.
const SERIAL_LIMIT: u64 = 1 << 63;

/// One sealing process. Create one per process run with [`Issuer::random`] and share it (in an
/// `Arc`) among every sealer of that process; never persist or reuse its id, and create it after
/// any `fork` (a forked or cloned process would copy the id and the counter).
#[derive(Debug)]
pub struct Issuer {
    id: IssuerId,
    next: AtomicU64,
}

impl Issuer {
    /// A fresh issuer with a random 64-bit id (one `getrandom` call, at start-up only).
    pub fn random() -> Result<Issuer, getrandom::Error> {
        Ok(Issuer {
            id: IssuerId(getrandom::u64()?),
            next: AtomicU64::new(0),
        })
    }

    /// An issuer with a chosen id, for tests and fuzzing only (feature `testing`): two processes
    /// using the same id would repeat nonces.
    #[cfg(feature = "testing")]
    pub fn fixed_for_tests(id: IssuerId) -> Issuer {
        Issuer {
            id,
            next: AtomicU64::new(0),
        }
    }

    /// This issuer's id, which verifiers must be told about before they accept its tokens.
    pub fn id(&self) -> IssuerId {
        self.id
    }

    /// The next serial: unique for this issuer, so a nonce never repeats under its subkeys.
    pub(crate) fn next_serial(&self) -> Result<u64, SealError> {
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        if serial >= SERIAL_LIMIT {
            // Pin the counter at the limit so that no number of refused calls can wrap it.
            self.next.store(SERIAL_LIMIT, Ordering::Relaxed);
            return Err(SealError::SerialsExhausted);
        }
        Ok(serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "testing")]
    fn serials_are_unique_and_stop_before_wrapping() {
        let issuer = Issuer::fixed_for_tests(IssuerId(1));
        assert_eq!(issuer.next_serial().unwrap(), 0);
        assert_eq!(issuer.next_serial().unwrap(), 1);
        issuer.next.store(SERIAL_LIMIT - 1, Ordering::Relaxed);
        assert_eq!(issuer.next_serial().unwrap(), SERIAL_LIMIT - 1);
        assert_eq!(issuer.next_serial(), Err(SealError::SerialsExhausted));
        assert_eq!(issuer.next_serial(), Err(SealError::SerialsExhausted));
    }

    #[test]
    fn random_issuers_differ() {
        let a = Issuer::random().unwrap().id();
        let b = Issuer::random().unwrap().id();
        assert_ne!(a, b);
    }
}
