//! The link's opening handshake.

use futures_util::SinkExt as _;
use usher_ticket::IssuerId;
use usher_ticket::hello::Nonce;
use usher_wire::mgmt::{Down, Up};

use super::config::LinkError;
use super::socket::{Frame, Receiver, Rx, Sender, Tx, frame, plain};
use crate::Gate;

/// The most issuers one welcome may name. A reception names its own one; the bound keeps a
/// single link from flushing the whole issuer table.
pub const MAX_WELCOME_ISSUERS: usize = 16;

/// The link's opening: the reception's challenge; this gate's hello (its own nonce, and an
/// HMAC under its management key over both); then the welcome, the first frame sealed under
/// the link's session keys, which only a reception holding this shop's management key can
/// send. Its issuers are admitted scoped to `link`. Nothing the reception says counts before
/// the welcome verifies.
pub(super) async fn handshake(
    gate: &Gate,
    link: u64,
    mut tx: Tx,
    mut rx: Rx,
) -> Result<(Sender, Receiver, Welcomed), LinkError> {
    let Frame::Plain(Down::Challenge { nonce }) = frame(&mut rx).await? else {
        return Err(LinkError::Protocol("expected a challenge".into()));
    };
    let challenge = Nonce::from_hex(&nonce)
        .ok_or_else(|| LinkError::Protocol("a challenge that is not 64 hex digits".into()))?;
    let ours = Nonce::random().map_err(|_| LinkError::Protocol("no randomness".into()))?;
    let (key_id, mac, (sealer, opener)) = gate
        .hello(&challenge, &ours)
        .ok_or_else(|| LinkError::Protocol("no management key".into()))?;
    tx.send(plain(&Up::Hello {
        server: gate.config().server.to_string(),
        key_id: key_id.0,
        epoch: gate.epoch().0,
        nonce: ours.to_hex(),
        mac: usher_wire::hex::encode(&mac),
    })?)
    .await?;
    let mut receiver = Receiver::new(rx, opener);
    let welcome = receiver.first().await?;
    let Down::Welcome {
        issuers,
        public_url,
    } = welcome
    else {
        return Err(LinkError::Protocol(format!(
            "expected welcome, got {welcome:?}"
        )));
    };
    gate.admit_link_issuers(link, &welcomed(&issuers)?);
    // Only a reception that says its public URL reads `names` (an older one would end the
    // link on a message it does not know).
    let welcomed = Welcomed {
        reads_names: public_url.is_some(),
    };
    if let Some(url) = public_url {
        gate.back_links().learn(&url);
    }
    Ok((Sender::new(tx, sealer), receiver, welcomed))
}

/// What the welcome told of the reception.
#[derive(Debug, Clone, Copy)]
pub(super) struct Welcomed {
    /// It reads `Up::Names`.
    pub(super) reads_names: bool,
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
