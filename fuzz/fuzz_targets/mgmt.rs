//! The management channel's frames, on any input: sealed frames (opened under a fixed link's
//! keys), JSON messages either way (`Up`, `Down`) and the binary notice frame. Nothing may panic;
//! a frame nobody sealed never opens, one sealed opens to its payload; a notice frame that
//! decodes re-encodes to the same bytes, and a JSON message that parses survives a round trip
//! unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_ticket::channel::{self, FrameKind, Side};
use usher_ticket::hello::{Handshake, Nonce};
use usher_ticket::{Epoch, Secret, ServerId};
use usher_wire::mgmt::{Down, Up};
use usher_wire::notices::{self, Frame, Notice};

fuzz_target!(|data: &[u8]| {
    let key = Secret::from_bytes([5; 32]);
    let server = ServerId::new("shop-a").expect("a valid id");
    let (r, s) = (Nonce::from_bytes([1; 32]), Nonce::from_bytes([2; 32]));
    let handshake = Handshake {
        server: &server,
        epoch: Epoch(1),
        reception: &r,
        shop: &s,
    };
    let (mut sealer, _) = channel::channel(&key, &handshake, Side::Reception);
    let (_, mut opener) = channel::channel(&key, &handshake, Side::Shop);
    assert!(
        opener.open(&mut data.to_vec()).is_err(),
        "a frame nobody sealed opened"
    );
    let mut frame = sealer.seal(FrameKind::Notices, data);
    assert_eq!(opener.open(&mut frame), Ok((FrameKind::Notices, data)));
    if let Ok(up) = serde_json::from_slice::<Up>(data) {
        let text = serde_json::to_string(&up).expect("an Up serialises");
        assert_eq!(
            serde_json::from_str::<Up>(&text).expect("and parses back"),
            up
        );
    }
    if let Ok(down) = serde_json::from_slice::<Down>(data) {
        let text = serde_json::to_string(&down).expect("a Down serialises");
        assert_eq!(
            serde_json::from_str::<Down>(&text).expect("and parses back"),
            down
        );
    }
    if let Ok(frame) = Frame::decode(data) {
        let notices: Vec<Notice<'_>> = frame.notices().collect();
        assert_eq!(notices.len(), frame.len());
        let mut again = Vec::new();
        notices::encode(&mut again, frame.batch, frame.lease, &notices);
        assert_eq!(again, data, "a frame that decodes re-encodes to itself");
    }
});
