//! The link's opening handshake.

use futures_util::SinkExt as _;
use usher_wire::mgmt::{Down, Up};

use super::config::LinkError;
use super::connection::admit;
use super::socket::{Rx, Tx, encode, next};
use crate::Gate;

/// The link's opening: the reception's challenge, this gate's hello (an HMAC under its
/// management key over the nonce), and the welcome naming the issuers whose tickets to accept.
pub(super) async fn handshake(gate: &Gate, tx: &mut Tx, rx: &mut Rx) -> Result<(), LinkError> {
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
            admit(gate, &issuers);
            Ok(())
        }
        Down::Refused { error, message } => Err(LinkError::refused(error, &message)),
        other => Err(LinkError::Protocol(format!(
            "expected welcome, got {other:?}"
        ))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
