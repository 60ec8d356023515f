//! Queue tokens: a waiting client's sealed place in line, so that a reception keeps O(1) state
//! per waiting client and any reception holding the keyring honours it (Sa56, Sc55).
//!
//! Sealed body: `epoch u32 | place u64 | arrived_at u64 (unix ms) | binding | item len u8 | item`.
//! The header's scope is empty: a queue token belongs to the sale, not to a shop.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::binding::Binding;
use crate::derive::Secret;
use crate::envelope::{Envelope, Header, Reader, SealingKey};
use crate::error::{KeyError, SealError};
use crate::format::{Kind, MAX_RAW};
use crate::ids::{Epoch, IssuerId, ItemId, KeyId, TicketId};
use crate::issuer::Issuer;
use crate::rejection::Rejection;
use crate::subkeys::Subkeys;
use crate::ticket::{DEFAULT_SKEW, check_window, unix_ms};

/// What a reception puts in a queue token.
#[derive(Debug, Clone, Copy)]
pub struct QueueSpec<'a> {
    /// The sale's epoch (changes when the line is reset).
    pub epoch: Epoch,
    /// The place number in the line (1 = first ever issued).
    pub place: u64,
    /// When the client joined.
    pub arrived_at: SystemTime,
    /// The client it is issued to (queue tokens bind wider, see [`crate::BindingPolicy::QUEUE`]).
    pub binding: Binding,
    /// The item the client waits for.
    pub item: &'a ItemId,
}

/// A verified queue token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueToken {
    /// Unique id of this token (issuer and serial).
    pub id: TicketId,
    /// The key it was sealed under.
    pub key_id: KeyId,
    /// The sale's epoch.
    pub epoch: Epoch,
    /// The place in line.
    pub place: u64,
    /// When the client joined, unix milliseconds.
    pub arrived_at_ms: u64,
    /// Who may present it.
    pub binding: Binding,
    /// The item waited for.
    pub item: ItemId,
}

impl QueueToken {
    pub(crate) fn decode(
        header: &Header,
        scope: &[u8],
        body: &[u8],
    ) -> Result<QueueToken, Rejection> {
        if !scope.is_empty() {
            return Err(Rejection::Malformed);
        }
        let mut r = Reader(body);
        let fields = (|| {
            let epoch = Epoch(r.u32()?);
            let place = r.u64()?;
            let arrived_at_ms = r.u64()?;
            let binding = r.binding()?;
            Some((epoch, place, arrived_at_ms, binding, r.final_item()?))
        })();
        let (epoch, place, arrived_at_ms, binding, item) = fields.ok_or(Rejection::Malformed)?;
        Ok(QueueToken {
            id: TicketId {
                issuer: header.issuer,
                serial: header.serial,
            },
            key_id: header.key_id,
            epoch,
            place,
            arrived_at_ms,
            binding,
            item,
        })
    }
}

/// Seals queue tokens under the active key for one issuer.
#[derive(Debug)]
pub struct QueueSealer {
    key: SealingKey,
}

impl QueueSealer {
    pub(crate) fn new(key_id: KeyId, purpose: &Secret, issuer: Arc<Issuer>) -> QueueSealer {
        let key = SealingKey::new(Kind::Queue, key_id, &[], purpose, issuer)
            .expect("an empty scope fits the header");
        QueueSealer { key }
    }

    /// Seals a queue token and appends its text to `out`.
    pub fn seal(&self, spec: &QueueSpec<'_>, out: &mut String) -> Result<TicketId, SealError> {
        let mut fields = [0u8; 20];
        fields[..4].copy_from_slice(&spec.epoch.0.to_be_bytes());
        fields[4..12].copy_from_slice(&spec.place.to_be_bytes());
        fields[12..].copy_from_slice(&unix_ms(spec.arrived_at).to_be_bytes());
        self.key.seal(&fields, &spec.binding, spec.item, out)
    }

    /// [`seal`](Self::seal) into a new string.
    pub fn seal_to_string(&self, spec: &QueueSpec<'_>) -> Result<String, SealError> {
        let mut out = String::with_capacity(128);
        self.seal(spec, &mut out)?;
        Ok(out)
    }
}

/// What the reception knows when a client presents a queue token.
#[derive(Debug, Clone, Copy)]
pub struct QueueContext<'a> {
    /// The reception's clock.
    pub now: SystemTime,
    /// The client's address.
    pub client: IpAddr,
    /// The sale's current epoch.
    pub epoch: Epoch,
    /// The item the client is asking for now.
    pub item: &'a str,
    /// How long a place is kept at most (tokens older than this are `expired`).
    pub max_age: Duration,
    /// Clock-skew allowance between receptions.
    pub skew: Duration,
}

impl<'a> QueueContext<'a> {
    /// A context with the default skew allowance.
    pub fn new(
        now: SystemTime,
        client: IpAddr,
        epoch: Epoch,
        item: &'a str,
        max_age: Duration,
    ) -> Self {
        QueueContext {
            now,
            client,
            epoch,
            item,
            max_age,
            skew: DEFAULT_SKEW,
        }
    }
}

/// Verifies queue tokens sealed by any admitted issuer under any key held.
#[derive(Debug)]
pub struct QueueOpener {
    subkeys: Subkeys,
}

impl QueueOpener {
    pub(crate) fn new(subkeys: Subkeys) -> QueueOpener {
        QueueOpener { subkeys }
    }

    /// Accepts queue tokens from `issuer` (this reception's own, and its peers').
    pub fn admit_issuer(&mut self, issuer: IssuerId) -> Result<(), KeyError> {
        self.subkeys.admit(issuer)
    }

    /// Refuses `issuer`'s queue tokens from now on.
    pub fn retire_issuer(&mut self, issuer: IssuerId) {
        self.subkeys.retire(issuer);
    }

    /// Decrypts and checks a queue token: form, key id, issuer, seal, epoch, age, item, client.
    pub fn verify(&self, token: &str, ctx: &QueueContext<'_>) -> Result<QueueToken, Rejection> {
        let mut buf = [0u8; MAX_RAW];
        let envelope = Envelope::parse(token.as_bytes(), &mut buf)?;
        let opened = self.subkeys.open(envelope)?;
        let queued = QueueToken::decode(&opened.header, opened.scope, opened.body)?;
        if queued.epoch != ctx.epoch {
            return Err(Rejection::StaleEpoch);
        }
        let max_age = u64::try_from(ctx.max_age.as_millis()).unwrap_or(u64::MAX);
        let until = queued.arrived_at_ms.saturating_add(max_age);
        check_window(ctx.now, ctx.skew, queued.arrived_at_ms, until)?;
        if queued.item.as_str() != ctx.item {
            return Err(Rejection::WrongScope);
        }
        if !queued.binding.admits(ctx.client) {
            return Err(Rejection::WrongClient);
        }
        Ok(queued)
    }
}
