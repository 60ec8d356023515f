//! Permission tickets (patent fig. 4, ticket part 42): sealed by a reception (Sa35), verified by
//! the content server's gate without calling the reception (Sb32, 0041).
//!
//! Sealed body: `epoch u32 | not_before u32 (unix s) | ttl u16 (s) | binding | item len u8 | item`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::binding::Binding;
use crate::derive::Secret;
use crate::envelope::{Envelope, Header, Reader, SealingKey};
use crate::error::{KeyError, SealError};
use crate::format::{Kind, MAX_RAW};
use crate::ids::{Epoch, IssuerId, ItemId, KeyId, ServerId, TicketId};
use crate::issuer::Issuer;
use crate::rejection::Rejection;
use crate::subkeys::Subkeys;

/// The clock-skew allowance a verifier grants on each side of a window unless told otherwise.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(2);

/// What a reception puts in a ticket.
#[derive(Debug, Clone, Copy)]
pub struct TicketSpec<'a> {
    /// The shop's current epoch, from its latest report.
    pub epoch: Epoch,
    /// When the window opens (whole seconds; the fraction is dropped).
    pub not_before: SystemTime,
    /// How long the window stays open: 1 s to about 18 h, whole seconds.
    pub ttl: Duration,
    /// The client it is issued to.
    pub binding: Binding,
    /// The item it admits to.
    pub item: &'a ItemId,
}

/// A verified ticket (or one opened by an operator with `inspect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    /// Unique id: issuer and serial.
    pub id: TicketId,
    /// The key it was sealed under.
    pub key_id: KeyId,
    /// The shop it admits to.
    pub server: ServerId,
    /// The shop's epoch when it was issued.
    pub epoch: Epoch,
    /// Window start, unix seconds.
    pub not_before: u64,
    /// Window end (exclusive), unix seconds.
    pub not_after: u64,
    /// Who may present it.
    pub binding: Binding,
    /// What it admits to.
    pub item: ItemId,
}

impl Ticket {
    /// When the window closes.
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.not_after)
    }

    /// Reads a ticket's body; the header (naming `server`) has been authenticated with it.
    pub(crate) fn decode(
        header: &Header,
        server: ServerId,
        body: &[u8],
    ) -> Result<Ticket, Rejection> {
        let mut r = Reader(body);
        let fields = (|| {
            let epoch = Epoch(r.u32()?);
            let not_before = u64::from(r.u32()?);
            let ttl = u64::from(r.u16()?);
            let binding = r.binding()?;
            Some((epoch, not_before, ttl, binding, r.final_item()?))
        })();
        let (epoch, not_before, ttl, binding, item) = fields.ok_or(Rejection::Malformed)?;
        Ok(Ticket {
            id: TicketId {
                issuer: header.issuer,
                serial: header.serial,
            },
            key_id: header.key_id,
            server,
            epoch,
            not_before,
            not_after: not_before + ttl,
            binding,
            item,
        })
    }
}

/// Seals tickets for one shop under the active key, for one issuer. Cheap to call from many
/// threads at once: the only shared state is the issuer's atomic counter.
#[derive(Debug)]
pub struct TicketSealer {
    key: SealingKey,
}

impl TicketSealer {
    pub(crate) fn new(
        server: ServerId,
        key_id: KeyId,
        purpose: &Secret,
        issuer: Arc<Issuer>,
    ) -> TicketSealer {
        let scope = server.as_str().as_bytes();
        let key = SealingKey::new(Kind::Ticket, key_id, scope, purpose, issuer)
            .expect("a 32-byte server id fits the header");
        TicketSealer { key }
    }

    /// Seals a ticket and appends its text (base64url, no padding) to `out`. No allocation
    /// beyond `out`'s growth, no system call.
    ///
    /// Sa35: the reception issues the ticket it has a place for.
    pub fn seal(&self, spec: &TicketSpec<'_>, out: &mut String) -> Result<TicketId, SealError> {
        let nbf = spec
            .not_before
            .duration_since(UNIX_EPOCH)
            .map_err(|_| SealError::Window)?
            .as_secs();
        let nbf = u32::try_from(nbf).map_err(|_| SealError::Window)?;
        let ttl = u16::try_from(spec.ttl.as_secs()).map_err(|_| SealError::Window)?;
        if ttl == 0 {
            return Err(SealError::Window);
        }
        let mut fields = [0u8; 10];
        fields[..4].copy_from_slice(&spec.epoch.0.to_be_bytes());
        fields[4..8].copy_from_slice(&nbf.to_be_bytes());
        fields[8..].copy_from_slice(&ttl.to_be_bytes());
        self.key.seal(&fields, &spec.binding, spec.item, out)
    }

    /// [`seal`](Self::seal) into a new string.
    pub fn seal_to_string(&self, spec: &TicketSpec<'_>) -> Result<(String, TicketId), SealError> {
        let mut out = String::with_capacity(128);
        let id = self.seal(spec, &mut out)?;
        Ok((out, id))
    }
}

/// What the gate knows when a client presents a ticket.
#[derive(Debug, Clone, Copy)]
pub struct VerifyContext<'a> {
    /// The gate's clock.
    pub now: SystemTime,
    /// The client's address (the socket peer, or the forwarded address from a trusted proxy).
    pub client: IpAddr,
    /// The shop's current epoch.
    pub epoch: Epoch,
    /// The item in the URL the ticket came with.
    pub item: &'a str,
    /// Allowance for clock skew between reception and shop, on each side of the window.
    pub skew: Duration,
}

impl<'a> VerifyContext<'a> {
    /// A context with the default skew allowance ([`DEFAULT_SKEW`]).
    pub fn new(now: SystemTime, client: IpAddr, epoch: Epoch, item: &'a str) -> Self {
        VerifyContext {
            now,
            client,
            epoch,
            item,
            skew: DEFAULT_SKEW,
        }
    }
}

pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Checks that `now` lies in `[from_ms, until_ms)`, widened by `skew` on both sides.
pub(crate) fn check_window(
    now: SystemTime,
    skew: Duration,
    from_ms: u64,
    until_ms: u64,
) -> Result<(), Rejection> {
    let now = unix_ms(now);
    let skew = u64::try_from(skew.as_millis()).unwrap_or(u64::MAX);
    if now.saturating_add(skew) < from_ms {
        return Err(Rejection::NotYetValid);
    }
    if now >= until_ms.saturating_add(skew) {
        return Err(Rejection::Expired);
    }
    Ok(())
}

/// Verifies one shop's tickets locally (0041: no call to the reception).
#[derive(Debug)]
pub struct TicketOpener {
    server: ServerId,
    subkeys: Subkeys,
}

impl TicketOpener {
    pub(crate) fn new(server: ServerId, subkeys: Subkeys) -> TicketOpener {
        TicketOpener { server, subkeys }
    }

    /// The shop whose tickets this opens.
    pub fn server(&self) -> &ServerId {
        &self.server
    }

    /// Accepts tickets from `issuer` from now on (the reception announces its issuers over the
    /// management channel). Idempotent; bounded by [`crate::MAX_ISSUERS`].
    pub fn admit_issuer(&mut self, issuer: IssuerId) -> Result<(), KeyError> {
        self.subkeys.admit(issuer)
    }

    /// Refuses `issuer`'s tickets from now on.
    pub fn retire_issuer(&mut self, issuer: IssuerId) {
        self.subkeys.retire(issuer);
    }

    /// The issuers accepted now.
    pub fn issuers(&self) -> &[IssuerId] {
        self.subkeys.issuers()
    }

    /// Sb32: decrypts and checks a ticket. Any input of any length yields a result; text longer
    /// than [`crate::MAX_TOKEN_LEN`] is refused before it is decoded.
    ///
    /// Checks, in order: form, server, key id, issuer, seal, epoch, window, item, client.
    pub fn verify(&self, token: &str, ctx: &VerifyContext<'_>) -> Result<Ticket, Rejection> {
        let mut buf = [0u8; MAX_RAW];
        let envelope = Envelope::parse(token.as_bytes(), &mut buf)?;
        if envelope.header.kind == Kind::Ticket
            && envelope.scope() != self.server.as_str().as_bytes()
        {
            return Err(Rejection::WrongServer);
        }
        let opened = self.subkeys.open(envelope)?;
        let ticket = Ticket::decode(&opened.header, self.server, opened.body)?;
        if ticket.epoch != ctx.epoch {
            return Err(Rejection::StaleEpoch);
        }
        check_window(
            ctx.now,
            ctx.skew,
            ticket.not_before * 1000,
            ticket.not_after * 1000,
        )?;
        if ticket.item.as_str() != ctx.item {
            return Err(Rejection::WrongScope);
        }
        if !ticket.binding.admits(ctx.client) {
            return Err(Rejection::WrongClient);
        }
        Ok(ticket)
    }
}
