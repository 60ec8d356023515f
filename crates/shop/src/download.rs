//! The file a download item delivers: generated from the item id, the same bytes every time.

use usher_ticket::ItemId;

const LINES: u64 = 64;

/// A text file of about 4 KiB that names the item and carries deterministic filler, so a buyer (or
/// a test) can check that a download arrived whole.
pub(crate) fn body(item: &ItemId) -> Vec<u8> {
    let mut text = format!(
        "usher reference shop: download for item {item}\n\
         This file stands in for what a real shop would deliver. Its lines are derived from the\n\
         item id alone, so every buyer of the item receives the same bytes.\n\n"
    );
    let mut state = item
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    for line in 0..LINES {
        let words: Vec<String> = (0..3)
            .map(|_| {
                state = splitmix(state);
                format!("{state:016x}")
            })
            .collect();
        text.push_str(&format!("{line:04} {}\n", words.join(" ")));
    }
    text.into_bytes()
}

fn splitmix(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn same_item_same_bytes_other_item_other_bytes() {
        let app = ItemId::new("app").unwrap();
        let other = ItemId::new("app2").unwrap();
        let body = body(&app);
        assert_eq!(body, super::body(&app));
        assert_ne!(body, super::body(&other));
        assert!((3000..8000).contains(&body.len()), "{}", body.len());
        assert!(String::from_utf8(body).unwrap().contains("item app\n"));
    }
}
