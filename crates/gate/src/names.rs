//! The names buyers know the app's items by, sent up once per management link (`Up::Names`)
//! so the reception's pages say "Concert, 31 December" rather than `concert`.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use usher_wire::mgmt::{MAX_NAME_LEN, MAX_NAMES};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct ItemNames(RwLock<BTreeMap<String, String>>);

impl ItemNames {
    /// Sets the names (id → name): the first [`MAX_NAMES`], each cut to [`MAX_NAME_LEN`]
    /// bytes.
    pub fn set(&self, names: impl IntoIterator<Item = (String, String)>) {
        let names = names
            .into_iter()
            .take(MAX_NAMES)
            .map(|(id, name)| {
                let mut end = name.len().min(MAX_NAME_LEN);
                while !name.is_char_boundary(end) {
                    end -= 1;
                }
                (id, name[..end].to_owned())
            })
            .collect();
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = names;
    }

    /// The names as last set.
    pub fn get(&self) -> BTreeMap<String, String> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_cut_on_a_character() {
        let names = ItemNames::default();
        let long = "é".repeat(MAX_NAME_LEN);
        names.set((0..MAX_NAMES + 5).map(|i| (format!("item-{i:04}"), long.clone())));
        let kept = names.get();
        assert_eq!(kept.len(), MAX_NAMES);
        assert!(
            kept.values()
                .all(|n| n.len() <= MAX_NAME_LEN && n.starts_with('é'))
        );
    }
}
