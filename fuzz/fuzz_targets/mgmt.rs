//! The management channel's frames, on any input: JSON messages either way (`Up`, `Down`) and
//! the binary notice frame. Nothing may panic; a notice frame that decodes re-encodes to the same
//! bytes, and a JSON message that parses survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_wire::mgmt::{Down, Up};
use usher_wire::notices::{self, Frame, Notice};

fuzz_target!(|data: &[u8]| {
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
