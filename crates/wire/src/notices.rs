//! Sa35 in batches: the binary frame that carries the notices of tickets issued from a lease.
//!
//! Notices are the one management message sent per ticket, so they travel as a WebSocket
//! *binary* frame in a fixed little-endian layout instead of JSON: no text formatting on the
//! reception's hot side, no parsing of hex on the shop's. Every other message stays JSON.
//!
//! ```text
//! offset  size  field
//! 0       1     kind: b'N'
//! 1       1     version: 1
//! 2       8     batch id (echoed in `noted`)
//! 10      8     lease id
//! 18      2     count (≤ MAX_BATCH)
//! 20      …     count × notice:
//!                 8 issuer, 8 serial (the ticket id), 8 window end (unix ms),
//!                 1 item length (1..=255), item bytes (UTF-8)
//! ```
//! A frame is refused whole if any length disagrees with the bytes present.

use std::fmt;

use crate::mgmt::MAX_BATCH;

const KIND: u8 = b'N';
const VERSION: u8 = 1;
const HEAD: usize = 20;
const FIXED: usize = 25;

/// One ticket issued from a lease, as the frame carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice<'a> {
    /// The ticket id's issuer.
    pub issuer: u64,
    /// The ticket id's serial (the issuer's counter).
    pub serial: u64,
    /// When the ticket's window closes, unix milliseconds.
    pub expires_at_ms: u64,
    /// The item it admits to.
    pub item: &'a str,
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Not a notices frame, or a version this build does not know.
    Kind,
    /// Shorter or longer than its counts say, an empty or non-UTF-8 item, or too many notices.
    Malformed,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::Kind => "not a notices frame of a known version",
            FrameError::Malformed => "malformed notices frame",
        })
    }
}

impl std::error::Error for FrameError {}

/// Writes one frame of `notices` (at most [`MAX_BATCH`]; items of 1 to 255 bytes) into `out`.
///
/// # Panics
/// If there are more than [`MAX_BATCH`] notices or an item is empty or longer than 255 bytes:
/// callers batch by [`MAX_BATCH`] and take items from validated ids.
pub fn encode(out: &mut Vec<u8>, batch: u64, lease: u64, notices: &[Notice<'_>]) {
    assert!(notices.len() <= MAX_BATCH, "notices batched by MAX_BATCH");
    let items: usize = notices.iter().map(|n| n.item.len()).sum();
    out.reserve(HEAD + notices.len() * FIXED + items);
    out.push(KIND);
    out.push(VERSION);
    out.extend_from_slice(&batch.to_le_bytes());
    out.extend_from_slice(&lease.to_le_bytes());
    out.extend_from_slice(&(notices.len() as u16).to_le_bytes());
    for n in notices {
        let len = u8::try_from(n.item.len()).expect("item ids are at most 255 bytes");
        assert!(len > 0, "item ids are never empty");
        out.extend_from_slice(&n.issuer.to_le_bytes());
        out.extend_from_slice(&n.serial.to_le_bytes());
        out.extend_from_slice(&n.expires_at_ms.to_le_bytes());
        out.push(len);
        out.extend_from_slice(n.item.as_bytes());
    }
}

/// A checked frame: its batch, its lease, and its notices in order.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// The batch id, to acknowledge.
    pub batch: u64,
    /// The lease the tickets were issued from.
    pub lease: u64,
    count: usize,
    body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Checks the whole frame (so a bad one changes nothing).
    pub fn decode(bytes: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        if bytes.first() != Some(&KIND) || bytes.get(1) != Some(&VERSION) {
            return Err(FrameError::Kind);
        }
        if bytes.len() < HEAD {
            return Err(FrameError::Malformed);
        }
        let batch = u64_at(bytes, 2);
        let lease = u64_at(bytes, 10);
        let count = usize::from(u16::from_le_bytes([bytes[18], bytes[19]]));
        if count > MAX_BATCH {
            return Err(FrameError::Malformed);
        }
        let body = &bytes[HEAD..];
        let frame = Frame {
            batch,
            lease,
            count,
            body,
        };
        let mut seen = 0;
        let mut rest = body;
        while !rest.is_empty() {
            let (_, after) = next(rest).ok_or(FrameError::Malformed)?;
            rest = after;
            seen += 1;
        }
        if seen != count {
            return Err(FrameError::Malformed);
        }
        Ok(frame)
    }

    /// How many notices the frame holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the frame holds no notice.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The notices, in the order they were written.
    pub fn notices(&self) -> impl Iterator<Item = Notice<'a>> + 'a {
        let mut rest = self.body;
        std::iter::from_fn(move || {
            let (notice, after) = next(rest)?;
            rest = after;
            Some(notice)
        })
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// The first notice of `rest` and what follows it; `None` if it is cut short or bad.
fn next(rest: &[u8]) -> Option<(Notice<'_>, &[u8])> {
    let fixed = rest.get(..FIXED)?;
    let len = usize::from(fixed[24]);
    let item = rest.get(FIXED..FIXED + len)?;
    if len == 0 {
        return None;
    }
    let item = std::str::from_utf8(item).ok()?;
    let notice = Notice {
        issuer: u64_at(fixed, 0),
        serial: u64_at(fixed, 8),
        expires_at_ms: u64_at(fixed, 16),
        item,
    };
    Some((notice, &rest[FIXED + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Notice<'static>> {
        vec![
            Notice {
                issuer: 0xab,
                serial: 1,
                expires_at_ms: 1_800_000_000_000,
                item: "concert",
            },
            Notice {
                issuer: u64::MAX,
                serial: u64::MAX,
                expires_at_ms: 0,
                item: "app",
            },
        ]
    }

    #[test]
    fn a_frame_reads_back_as_written() {
        let mut out = Vec::new();
        encode(&mut out, 7, 9, &sample());
        let frame = Frame::decode(&out).unwrap();
        assert_eq!((frame.batch, frame.lease, frame.len()), (7, 9, 2));
        assert_eq!(frame.notices().collect::<Vec<_>>(), sample());
    }

    #[test]
    fn an_empty_batch_is_a_frame() {
        let mut out = Vec::new();
        encode(&mut out, 1, 2, &[]);
        assert!(Frame::decode(&out).unwrap().is_empty());
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let mut out = Vec::new();
        encode(&mut out, 7, 9, &sample());
        for cut in 0..out.len() {
            assert!(Frame::decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = out.clone();
        longer.push(0);
        assert_eq!(Frame::decode(&longer).unwrap_err(), FrameError::Malformed);
    }

    #[test]
    fn a_wrong_count_an_empty_item_or_bad_utf8_is_refused() {
        let mut out = Vec::new();
        encode(&mut out, 7, 9, &sample());
        let mut count = out.clone();
        count[18] = 3;
        assert_eq!(Frame::decode(&count).unwrap_err(), FrameError::Malformed);
        let mut utf8 = out.clone();
        utf8[HEAD + FIXED] = 0xff;
        assert_eq!(Frame::decode(&utf8).unwrap_err(), FrameError::Malformed);
        let mut too_many = out.clone();
        too_many[18..20].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(Frame::decode(&too_many).unwrap_err(), FrameError::Malformed);
        let mut kind = out;
        kind[1] = 2;
        assert_eq!(Frame::decode(&kind).unwrap_err(), FrameError::Kind);
        assert_eq!(
            Frame::decode(b"{\"type\":1}").unwrap_err(),
            FrameError::Kind
        );
    }
}
