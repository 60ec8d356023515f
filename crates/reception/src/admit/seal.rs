//! Sa35: sealing a ticket for the chosen shop and writing its URL (address 41, ticket part 42,
//! content 43 of the patent's fig. 4).

use std::sync::Arc;
use std::time::Duration;

use usher_ticket::{Binding, Issuer, ItemId, Keyring, TicketId, TicketSealer, TicketSpec};
use usher_wire::Clock;
use usher_wire::clock::unix_ms;

use super::conn::Conn;
use super::registry::Slot;
use crate::config::ReceptionConfig;
use crate::outcome::TicketUrl;

/// A sealed ticket, ready to hand out.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub(crate) url: TicketUrl,
    pub(crate) ticket: TicketId,
    /// The end of its window, unix ms (whole seconds, as sealed).
    pub(crate) expires_at_ms: u64,
}

/// The sealing side of the keyring: one sealer per configured shop (in registry order), all for
/// this process's issuer.
#[derive(Debug)]
pub(crate) struct Sealers {
    by_slot: Vec<TicketSealer>,
    ttl: Duration,
}

impl Sealers {
    pub(crate) fn new(
        keyring: &Keyring,
        config: &ReceptionConfig,
        issuer: &Arc<Issuer>,
    ) -> Sealers {
        let by_slot = config
            .shops
            .iter()
            .map(|s| keyring.ticket_sealer(&s.id, Arc::clone(issuer)))
            .collect();
        Sealers {
            by_slot,
            ttl: config.ticket_ttl,
        }
    }

    /// Seals a ticket for `item`, bound to `binding`, at the shop in slot `index` (for the run
    /// of the shop on `conn`, that very connection) and builds its URL.
    pub(crate) fn seal(
        &self,
        index: usize,
        slot: &Slot,
        conn: &Conn,
        item: &ItemId,
        binding: Binding,
        clock: &dyn Clock,
    ) -> Option<Sealed> {
        thread_local! {
            /// The URL is written here, then copied once into its exact-sized header value.
            static URL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let sealer = self.by_slot.get(index)?;
        let not_before = clock.wall();
        let spec = TicketSpec {
            epoch: conn.epoch,
            not_before,
            ttl: self.ttl,
            binding,
            item,
        };
        let (url, ticket) = URL.with_borrow_mut(|url| {
            url.clear();
            url.push_str(&slot.entry.url);
            url.push_str("/t/");
            let ticket = match sealer.seal(&spec, url) {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, "sealing failed");
                    return None;
                }
            };
            url.push_str("/items/");
            url.push_str(item.as_str());
            let url = http::HeaderValue::from_str(url).ok()?;
            Some((TicketUrl::new(url), ticket))
        })?;
        let nbf = unix_ms(not_before) / 1000;
        let expires_at_ms = (nbf + self.ttl.as_secs()) * 1000;
        Some(Sealed {
            url,
            ticket,
            expires_at_ms,
        })
    }
}
