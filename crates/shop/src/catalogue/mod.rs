//! What the shop sells, read from a TOML file and checked before anything else starts.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use usher_ticket::{InvalidId, ItemId};

use crate::file_name::is_safe_file_name;
use crate::image::{Image, ImageError, MAX_IMAGES_BYTES, Pictures};

/// The most items one catalogue may hold; the shop reports stock per item several times a second.
pub const MAX_ITEMS: usize = 1000;
/// The longest catalogue file accepted, in bytes.
pub const MAX_CATALOGUE_BYTES: usize = 1 << 20;
/// The longest display name, in bytes.
pub const MAX_NAME_LEN: usize = usher_wire::mgmt::MAX_NAME_LEN;
pub use crate::file_name::MAX_FILE_NAME_LEN;
/// The longest description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 2000;

/// The catalogue the demo uses when none is configured.
const DEMO: &str = include_str!("../demo.toml");

/// What buying an item gives the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A right to attend something: the receipt is the proof.
    Ticket,
    /// A file the receipt lets the buyer download.
    Download {
        /// The name the file is saved under (`Content-Disposition`); `[A-Za-z0-9._-]` only.
        file_name: String,
    },
}

impl Kind {
    /// The name stored in the database and written in the catalogue (`ticket`, `download`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::Download { .. } => "download",
        }
    }

    /// The download's file name, for download items.
    pub fn file_name(&self) -> Option<&str> {
        match self {
            Kind::Ticket => None,
            Kind::Download { file_name } => Some(file_name),
        }
    }
}

/// One thing on sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The id in URLs and tickets.
    pub id: ItemId,
    /// The name shown to buyers.
    pub name: String,
    /// A sentence or two for buyers, if any.
    pub description: Option<String>,
    /// The price, in the currency's smallest unit.
    pub price_cents: u32,
    /// The stock the item starts with when the shop's database is first created. A restart never
    /// resets stock to this number; the database's count is the truth.
    pub initial_stock: u32,
    /// What the buyer gets.
    pub kind: Kind,
    /// Its picture, if the catalogue names one (`image = "concert.png"`, beside the file).
    pub image: Option<Image>,
}

/// Every item on sale, validated: ids are well-formed and unique, at most [`MAX_ITEMS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    /// ISO 4217 code of every price (`EUR` unless the file says otherwise).
    currency: String,
    items: Vec<Item>,
    index: HashMap<ItemId, usize>,
}

/// Why a catalogue was refused.
#[derive(Debug, Error)]
pub enum CatalogueError {
    /// The file could not be read.
    #[error("cannot read catalogue {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The text is larger than [`MAX_CATALOGUE_BYTES`].
    #[error("a catalogue is at most {MAX_CATALOGUE_BYTES} bytes")]
    TooLarge,
    /// The text is not TOML of the expected shape (unknown field, unknown kind, wrong type…).
    #[error("catalogue: {0}")]
    Parse(#[from] toml::de::Error),
    /// An item id is not a valid usher item id.
    #[error("catalogue item {id:?}: {source}")]
    BadId {
        /// The id as written.
        id: String,
        /// Why it is invalid.
        #[source]
        source: InvalidId,
    },
    /// Two items share an id.
    #[error("catalogue item {0:?} appears twice")]
    Duplicate(ItemId),
    /// An item is otherwise invalid.
    #[error("catalogue item {id:?}: {problem}")]
    BadItem {
        /// The item.
        id: ItemId,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The catalogue has no items.
    #[error("the catalogue has no items")]
    Empty,
    /// The currency is not an ISO 4217 code.
    #[error("currency {0:?} is not an ISO 4217 code such as \"EUR\" or \"USD\"")]
    Currency(String),
    /// An item's picture could not be used.
    #[error("catalogue item {id:?}: {source}")]
    Image {
        /// The item.
        id: ItemId,
        /// Why.
        #[source]
        source: ImageError,
    },
    /// The pictures together are larger than [`MAX_IMAGES_BYTES`].
    #[error("a catalogue's pictures take at most {MAX_IMAGES_BYTES} bytes in all")]
    ImagesTooLarge,
    /// The catalogue has more than [`MAX_ITEMS`] items.
    #[error("a catalogue holds at most {MAX_ITEMS} items, this one has {0}")]
    TooMany(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default = "default_currency")]
    currency: String,
    items: Vec<ItemFile>,
}

fn default_currency() -> String {
    "EUR".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemFile {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    price_cents: u32,
    stock: u32,
    kind: KindName,
    #[serde(default)]
    download_name: Option<String>,
    #[serde(default)]
    image: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindName {
    Ticket,
    Download,
}

impl Catalogue {
    /// Parses and validates a catalogue written in TOML (`[[items]]` tables). Text has no
    /// folder, so it names no pictures ([`load`](Self::load) a file for those).
    pub fn from_toml(text: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::parse(text, Pictures::None)
    }

    fn parse(text: &str, pictures: Pictures<'_>) -> Result<Catalogue, CatalogueError> {
        if text.len() > MAX_CATALOGUE_BYTES {
            return Err(CatalogueError::TooLarge);
        }
        let file: CatalogueFile = toml::from_str(text)?;
        Catalogue::from_file(file, pictures)
    }

    /// Reads and validates a catalogue file, and the pictures it names beside it.
    pub fn load(path: impl AsRef<Path>) -> Result<Catalogue, CatalogueError> {
        let path = path.as_ref();
        let read_error = |source| CatalogueError::Read {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        // One byte over the limit is enough to know the file is too large.
        file.take(MAX_CATALOGUE_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        let folder = path.parent().unwrap_or(Path::new("."));
        Catalogue::parse(&text, Pictures::Folder(folder))
    }

    /// The embedded demo catalogue: `concert` (a ticket, 50 in stock) and `app` (a download).
    pub fn demo() -> Catalogue {
        match Catalogue::parse(DEMO, Pictures::Embedded) {
            Ok(catalogue) => catalogue,
            // The embedded file is checked by a unit test, so this cannot happen in a release.
            Err(error) => panic!("the embedded demo catalogue is invalid: {error}"),
        }
    }

    /// The ISO 4217 code of every price (`EUR`, `USD`, …).
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The item with this id, if it is on sale.
    pub fn get(&self, id: &ItemId) -> Option<&Item> {
        self.index.get(id).map(|&at| &self.items[at])
    }

    /// Every item, in catalogue order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    fn from_file(file: CatalogueFile, pictures: Pictures<'_>) -> Result<Catalogue, CatalogueError> {
        let currency = file.currency;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CatalogueError::Currency(
                currency.chars().take(20).collect(),
            ));
        }
        if file.items.is_empty() {
            return Err(CatalogueError::Empty);
        }
        if file.items.len() > MAX_ITEMS {
            return Err(CatalogueError::TooMany(file.items.len()));
        }
        let mut items = Vec::with_capacity(file.items.len());
        let mut index = HashMap::with_capacity(file.items.len());
        let mut picture_bytes = 0;
        for raw in file.items {
            let item = Item::from_file(raw, pictures)?;
            picture_bytes += item.image.as_ref().map_or(0, |image| image.bytes.len());
            if picture_bytes > MAX_IMAGES_BYTES {
                return Err(CatalogueError::ImagesTooLarge);
            }
            if index.insert(item.id, items.len()).is_some() {
                return Err(CatalogueError::Duplicate(item.id));
            }
            items.push(item);
        }
        Ok(Catalogue {
            currency,
            items,
            index,
        })
    }
}

impl Item {
    fn from_file(raw: ItemFile, pictures: Pictures<'_>) -> Result<Item, CatalogueError> {
        let id = ItemId::new(&raw.id).map_err(|source| CatalogueError::BadId {
            id: raw.id.chars().take(80).collect(),
            source,
        })?;
        let bad = |problem| CatalogueError::BadItem { id, problem };
        let name = raw.name.trim();
        if !usher_wire::mgmt::is_item_name(name) {
            return Err(bad(
                "name must be 1 to 200 bytes without control characters",
            ));
        }
        let description = raw.description.map(|d| d.trim().to_owned());
        if let Some(d) = &description
            && (d.len() > MAX_DESCRIPTION_LEN || d.chars().any(|c| c.is_control() && c != '\n'))
        {
            return Err(bad(
                "description must be at most 2000 bytes without control characters",
            ));
        }
        let kind = match (raw.kind, raw.download_name) {
            (KindName::Ticket, None) => Kind::Ticket,
            (KindName::Ticket, Some(_)) => {
                return Err(bad("download_name is only for kind = \"download\""));
            }
            (KindName::Download, None) => return Err(bad("a download needs a download_name")),
            (KindName::Download, Some(file_name)) => {
                if !is_safe_file_name(&file_name) {
                    return Err(bad(
                        "download_name must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' or '-', not starting with '.'",
                    ));
                }
                Kind::Download { file_name }
            }
        };
        let image = match raw.image {
            Some(name) => Some(
                pictures
                    .load(&name)
                    .map_err(|source| CatalogueError::Image { id, source })?,
            ),
            None => None,
        };
        Ok(Item {
            id,
            image,
            name: name.to_owned(),
            description: description.filter(|d| !d.is_empty()),
            price_cents: raw.price_cents,
            initial_stock: raw.stock,
            kind,
        })
    }
}

#[cfg(test)]
mod tests;
