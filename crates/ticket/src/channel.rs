//! The management channel after its handshake: every frame either way is sealed (AES-256-GCM)
//! under a key of this link and direction alone, with its sequence number as the nonce, so that
//! nobody on the path (a relay that passed the handshake through, a fake reception, an old
//! recording) can read, alter, reorder, replay, reflect or inject a frame without the link
//! ending.
//!
//! ```text
//! session PRK = HKDF-SHA256 extract(salt = "usher v2 session" | both nonces | id | epoch,
//!                                   ikm  = the shop's management key)
//! down key (reception → shop) = expand(PRK, "usher v2 down"), up key = expand(PRK, "usher v2 up")
//! frame = kind (1 byte) | sequence (8 bytes, big-endian, from 0 per direction)
//!       | AES-256-GCM(direction key, nonce = 0u32 | sequence, aad = kind | sequence, payload)
//! ```
//! The payload is one JSON message ([`FrameKind::Message`]) or one binary notices frame
//! ([`FrameKind::Notices`]). A key serves one direction of one link, and the sequence never
//! repeats within it, so no nonce repeats under a key. AES-GCM rather than an HMAC because the
//! notices of every ticket pass here: measured under `bench/admission-callgrind`, HMAC-SHA256
//! over them cost 1,150 instructions per admission (8 % of the admission), AES-GCM a fraction.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, Tag, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use thiserror::Error;

use crate::derive::Secret;
use crate::hello::Handshake;

const LABEL_SESSION: &[u8] = b"usher v2 session";
const LABEL_DOWN: &[u8] = b"usher v2 down";
const LABEL_UP: &[u8] = b"usher v2 up";
/// Length of a frame's tag.
pub const TAG_LEN: usize = 16;
/// Length of a frame's clear header: kind and sequence number.
const HEADER_LEN: usize = 1 + 8;
/// Bytes a frame adds to its payload: kind, sequence number and tag.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Which end of the link this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The reception: seals what goes down, opens what comes up.
    Reception,
    /// The shop: seals what goes up, opens what comes down.
    Shop,
}

/// What a frame's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// One JSON management message.
    Message = 1,
    /// One binary notices frame.
    Notices = 2,
}

/// Why a frame was not accepted. Any of them ends the link.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelError {
    /// Shorter than a frame's fixed parts.
    #[error("a management frame of {0} bytes is too short")]
    Short(usize),
    /// The frame does not open: altered, replayed out of place, or not sealed under this
    /// link's key.
    #[error("a management frame does not verify")]
    Forged,
    /// Not the next in sequence: replayed, reordered or one was dropped.
    #[error("management frame {got} arrived where {expected} was due")]
    OutOfOrder {
        /// The sequence number due.
        expected: u64,
        /// The one the frame carries.
        got: u64,
    },
    /// Of a kind this version does not know.
    #[error("a management frame of unknown kind {0}")]
    UnknownKind(u8),
}

/// Seals the frames one end sends.
pub struct Sealer {
    key: LessSafeKey,
    next: u64,
}

/// Opens the frames one end receives, in order.
pub struct Opener {
    key: LessSafeKey,
    next: u64,
}

/// The two halves of one end of a link, keyed by `key` (the shop's management key) and
/// everything the handshake agreed on.
pub fn channel(key: &Secret, handshake: &Handshake<'_>, side: Side) -> (Sealer, Opener) {
    let prk = Salt::new(HKDF_SHA256, &handshake.message(LABEL_SESSION)).extract(key.expose());
    let direction = |label: &'static [u8]| -> LessSafeKey {
        let info = [label];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .expect("an AES-256 key is within HKDF-SHA256's output limit");
        LessSafeKey::new(UnboundKey::from(okm))
    };
    let (down, up) = (direction(LABEL_DOWN), direction(LABEL_UP));
    let (send, receive) = match side {
        Side::Reception => (down, up),
        Side::Shop => (up, down),
    };
    (
        Sealer { key: send, next: 0 },
        Opener {
            key: receive,
            next: 0,
        },
    )
}

/// The nonce of frame `seq`: unique per key, since a key serves one direction of one link.
fn nonce(seq: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[NONCE_LEN - 8..].copy_from_slice(&seq.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

impl Sealer {
    /// The next frame carrying `payload`.
    pub fn seal(&mut self, kind: FrameKind, payload: &[u8]) -> Vec<u8> {
        let seq = self.next;
        self.next += 1;
        let mut frame = Vec::with_capacity(payload.len() + OVERHEAD);
        frame.push(kind as u8);
        frame.extend_from_slice(&seq.to_be_bytes());
        frame.extend_from_slice(payload);
        let (header, body) = frame.split_at_mut(HEADER_LEN);
        let tag: Tag = self
            .key
            .seal_in_place_separate_tag(nonce(seq), Aad::from(&*header), body)
            .expect("a management frame is far below AES-GCM's message limit");
        frame.extend_from_slice(tag.as_ref());
        frame
    }
}

impl Opener {
    /// Opens the next frame in place: its kind and payload, or why it is refused. A refused
    /// frame does not move the sequence on.
    pub fn open<'f>(&mut self, frame: &'f mut [u8]) -> Result<(FrameKind, &'f [u8]), ChannelError> {
        if frame.len() < OVERHEAD {
            return Err(ChannelError::Short(frame.len()));
        }
        let (header, sealed) = frame.split_at_mut(HEADER_LEN);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&header[1..]);
        let got = u64::from_be_bytes(seq);
        if got != self.next {
            return Err(ChannelError::OutOfOrder {
                expected: self.next,
                got,
            });
        }
        let kind = header[0];
        let payload = self
            .key
            .open_in_place(nonce(got), Aad::from(&*header), sealed)
            .map_err(|_| ChannelError::Forged)?;
        let kind = match kind {
            1 => FrameKind::Message,
            2 => FrameKind::Notices,
            other => return Err(ChannelError::UnknownKind(other)),
        };
        self.next += 1;
        Ok((kind, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hello::Nonce;
    use crate::{Epoch, ServerId};

    fn ends(shop_nonce: u8) -> ((Sealer, Opener), (Sealer, Opener)) {
        let key = Secret::from_bytes([7; 32]);
        let server = ServerId::new("shop-a").unwrap();
        let (r, s) = (
            Nonce::from_bytes([1; 32]),
            Nonce::from_bytes([shop_nonce; 32]),
        );
        let hs = Handshake {
            server: &server,
            epoch: Epoch(3),
            reception: &r,
            shop: &s,
        };
        (
            channel(&key, &hs, Side::Reception),
            channel(&key, &hs, Side::Shop),
        )
    }

    #[test]
    fn frames_pass_in_order_both_ways() {
        let ((mut r_seal, mut r_open), (mut s_seal, mut s_open)) = ends(2);
        for n in 0..3u8 {
            let down = r_seal.seal(FrameKind::Message, &[n; 5]);
            assert_eq!(down.len(), 5 + OVERHEAD);
            let mut down = down;
            assert_eq!(
                s_open.open(&mut down).unwrap(),
                (FrameKind::Message, &[n; 5][..])
            );
            let mut up = s_seal.seal(FrameKind::Notices, b"");
            assert_eq!(
                r_open.open(&mut up).unwrap(),
                (FrameKind::Notices, &b""[..])
            );
        }
    }

    #[test]
    fn an_altered_frame_is_forged() {
        let ((mut r_seal, _), (_, mut s_open)) = ends(2);
        let frame = r_seal.seal(FrameKind::Message, b"{\"type\":\"ping\",\"id\":1}");
        assert!(
            !frame.windows(4).any(|w| w == b"ping"),
            "the payload is not in the clear"
        );
        for bit in 0..frame.len() * 8 {
            let mut bad = frame.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let refused = s_open.open(&mut bad).unwrap_err();
            // A changed sequence number is out of order; any other change does not open.
            let in_seq = (8..72).contains(&bit);
            assert!(
                refused == ChannelError::Forged || in_seq,
                "bit {bit}: {refused:?}"
            );
        }
        let mut short = frame[..OVERHEAD - 1].to_vec();
        assert_eq!(
            s_open.open(&mut short),
            Err(ChannelError::Short(OVERHEAD - 1))
        );
        // Nothing refused moved the sequence: the real frame still opens.
        assert!(s_open.open(&mut frame.clone()).is_ok());
    }

    #[test]
    fn a_replayed_or_reordered_frame_is_refused() {
        let ((mut r_seal, _), (_, mut s_open)) = ends(2);
        let (first, second) = (
            r_seal.seal(FrameKind::Message, b"a"),
            r_seal.seal(FrameKind::Message, b"b"),
        );
        assert_eq!(
            s_open.open(&mut second.clone()),
            Err(ChannelError::OutOfOrder {
                expected: 0,
                got: 1
            })
        );
        s_open.open(&mut first.clone()).unwrap();
        assert_eq!(
            s_open.open(&mut first.clone()),
            Err(ChannelError::OutOfOrder {
                expected: 1,
                got: 0
            })
        );
        s_open.open(&mut second.clone()).unwrap();
    }

    #[test]
    fn a_frame_is_worthless_in_the_other_direction_or_another_link() {
        let ((mut r_seal, mut r_open), (_, mut s_open)) = ends(2);
        let down = r_seal.seal(FrameKind::Message, b"x");
        // Reflected back to the reception, which opens only what the shop seals.
        assert_eq!(r_open.open(&mut down.clone()), Err(ChannelError::Forged));
        // Another handshake (another shop nonce) is another key.
        let (_, (_, mut other)) = ends(3);
        assert_eq!(other.open(&mut down.clone()), Err(ChannelError::Forged));
        assert!(s_open.open(&mut down.clone()).is_ok());
    }
}
