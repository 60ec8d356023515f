//! The link's opening handshake.

use futures_util::SinkExt as _;
use usher_ticket::IssuerId;
use usher_wire::mgmt::{Down, Up};

use super::config::LinkError;
use super::socket::{Rx, Tx, encode, next};
use crate::Gate;

/// The most issuers one welcome may name. A reception names its own one; the bound keeps a
/// single link from flushing the whole issuer table.
pub const MAX_WELCOME_ISSUERS: usize = 16;

/// The link's opening: the reception's challenge, this gate's hello (an HMAC under its
/// management key over the nonce), and the welcome naming the issuers whose tickets to accept,
/// scoped to `link`.
pub(super) async fn handshake(
    gate: &Gate,
    link: u64,
    tx: &mut Tx,
    rx: &mut Rx,
) -> Result<(), LinkError> {
    let Down::Challenge { nonce } = next(rx).await? else {
        return Err(LinkError::Protocol("expected a challenge".into()));
    };
    let (key_id, mac) = gate
        .hello(nonce.as_bytes())
        .ok_or_else(|| LinkError::Protocol("no management key".into()))?;
    tx.send(encode(&Up::Hello {
        server: gate.config().server.to_string(),
        key_id: key_id.0,
        epoch: gate.epoch().0,
        mac: hex(&mac),
    })?)
    .await?;
    match next(rx).await? {
        Down::Welcome { issuers } => {
            gate.admit_link_issuers(link, &welcomed(&issuers)?);
            Ok(())
        }
        Down::Refused { error, message } => Err(LinkError::refused(error, &message)),
        other => Err(LinkError::Protocol(format!(
            "expected welcome, got {other:?}"
        ))),
    }
}

/// The issuers a welcome names; too many, or one that is not 16 hex digits, ends the link
/// before anything is admitted.
fn welcomed(issuers: &[String]) -> Result<Vec<IssuerId>, LinkError> {
    if issuers.len() > MAX_WELCOME_ISSUERS {
        return Err(LinkError::Protocol(format!(
            "a welcome names {} issuers, at most {MAX_WELCOME_ISSUERS}",
            issuers.len()
        )));
    }
    issuers
        .iter()
        .map(|s| {
            IssuerId::from_hex(s)
                .ok_or_else(|| LinkError::Protocol("a welcome names a malformed issuer".into()))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
