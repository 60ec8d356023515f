//! The names buyers know the app's items by, sent up once per management link (`Up::Names`)
//! so the reception's pages say "Concert, 31 December" rather than `concert`.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use usher_wire::mgmt::{MAX_NAME_LEN, MAX_NAMES};

/// The most bytes of JSON the names may take in their message.
pub(crate) const BUDGET: usize = 48 * 1024;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct ItemNames(RwLock<BTreeMap<String, String>>);

impl ItemNames {
    /// The names configured with the items (`usher gate`'s `[[items]]`), until the app says its
    /// own.
    pub(crate) fn configured(items: &[crate::ItemPaths]) -> ItemNames {
        let names = ItemNames::default();
        names.set(
            items
                .iter()
                .filter_map(|item| Some((item.id.clone(), item.name.clone()?))),
        );
        names
    }

    /// Sets the names (id → name): the first [`MAX_NAMES`], each cut to [`MAX_NAME_LEN`]
    /// bytes, and no more than fit [`BUDGET`] bytes of JSON (a management message is at most
    /// 64 KiB, and escaping can double a name).
    pub fn set(&self, names: impl IntoIterator<Item = (String, String)>) {
        let mut spent = 0;
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
            .take_while(|(id, name)| {
                let json = |s: &str| serde_json::to_string(s).map_or(usize::MAX / 4, |j| j.len());
                // Each entry: its id and name as JSON strings, a colon and a comma.
                spent += json(id) + json(name) + 2;
                spent <= BUDGET
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
        names.set((0..MAX_NAMES + 5).map(|i| (format!("item-{i:04}"), "Concert".to_owned())));
        assert_eq!(names.get().len(), MAX_NAMES);
        names.set([("concert".to_owned(), "é".repeat(MAX_NAME_LEN))]);
        let cut = &names.get()["concert"];
        assert!(cut.len() <= MAX_NAME_LEN && cut.starts_with('é'), "{cut}");
        // Escaping doubles a name of quotes: fewer fit, and the message stays within bounds.
        names.set((0..MAX_NAMES).map(|i| (format!("item-{i:04}"), "\"".repeat(MAX_NAME_LEN))));
        let kept = names.get();
        assert!(kept.len() < MAX_NAMES);
        let message = usher_wire::mgmt::Up::Names { names: kept };
        assert!(serde_json::to_vec(&message).unwrap().len() <= usher_wire::mgmt::MAX_MESSAGE_LEN);
    }
}
