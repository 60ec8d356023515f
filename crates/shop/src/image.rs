//! An item's picture: a file beside the catalogue (or embedded, for the demo's), read and checked
//! once at start-up, served from memory at `/static/items/{item}`.

use std::io::Read as _;
use std::path::Path;

use axum::body::Bytes;

/// The largest picture accepted, in bytes.
pub const MAX_IMAGE_BYTES: usize = 1 << 20;
/// The most picture bytes one catalogue may hold in all (they stay in memory).
pub const MAX_IMAGES_BYTES: usize = 32 << 20;

/// The demo catalogue's pictures, by the names its file gives them.
const EMBEDDED: [(&str, &[u8]); 2] = [
    ("concert.svg", include_bytes!("images/concert.svg")),
    ("app.svg", include_bytes!("images/app.svg")),
];

/// A picture, in memory, with the type it was recognised as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The file's bytes.
    pub bytes: Bytes,
    /// `image/png`, `image/jpeg`, `image/gif`, `image/webp` or `image/svg+xml`.
    pub content_type: &'static str,
}

/// Where a catalogue's `image` names are looked up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pictures<'a> {
    /// Files in this folder (the catalogue file's).
    Folder(&'a Path),
    /// The pictures built into the binary (the demo catalogue).
    Embedded,
    /// Nowhere: a catalogue given as text names no pictures.
    None,
}

/// Why a picture was refused (the catalogue says which item).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The name is not a plain file name of a known type.
    #[error(
        "image {0:?} must be a file name beside the catalogue (A-Z, a-z, 0-9, '.', '_', '-') ending in .png, .jpg, .jpeg, .gif, .webp or .svg"
    )]
    Name(String),
    /// The file could not be read.
    #[error("cannot read image {name:?}: {source}")]
    Read {
        /// The name as written.
        name: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// Larger than [`MAX_IMAGE_BYTES`].
    #[error("image {0:?} is larger than {MAX_IMAGE_BYTES} bytes")]
    TooLarge(String),
    /// The bytes are not what the name says.
    #[error("image {0:?} is not the kind of picture its name says")]
    Content(String),
    /// A catalogue given as text (not a file) has no folder to find pictures in.
    #[error("image {0:?}: pictures need a catalogue file to be found beside")]
    NoFolder(String),
}

impl Pictures<'_> {
    /// Reads and checks the picture `name`.
    pub(crate) fn load(self, name: &str) -> Result<Image, ImageError> {
        let content_type = content_type(name).ok_or_else(|| ImageError::Name(clip(name)))?;
        let bytes = match self {
            Pictures::Folder(folder) => read(&folder.join(name), name)?,
            Pictures::Embedded => EMBEDDED
                .iter()
                .find(|(embedded, _)| *embedded == name)
                .map(|(_, bytes)| Bytes::from_static(bytes))
                .ok_or_else(|| ImageError::Read {
                    name: clip(name),
                    source: std::io::ErrorKind::NotFound.into(),
                })?,
            Pictures::None => return Err(ImageError::NoFolder(clip(name))),
        };
        if !looks_like(content_type, &bytes) {
            return Err(ImageError::Content(clip(name)));
        }
        Ok(Image {
            bytes,
            content_type,
        })
    }
}

/// The type a picture's name says, for a plain file name of a known kind.
fn content_type(name: &str) -> Option<&'static str> {
    if !crate::file_name::is_safe_file_name(name) {
        return None;
    }
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

/// The bytes begin as their type's files do (an SVG is text with an `<svg` element).
fn looks_like(content_type: &str, bytes: &[u8]) -> bool {
    match content_type {
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xff, 0xd8, 0xff]),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "image/svg+xml" => std::str::from_utf8(bytes).is_ok_and(|text| text.contains("<svg")),
        _ => false,
    }
}

fn read(path: &Path, name: &str) -> Result<Bytes, ImageError> {
    let read_error = |source| ImageError::Read {
        name: clip(name),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    // One byte over the limit is enough to know the file is too large.
    file.take(MAX_IMAGE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge(clip(name)));
    }
    Ok(Bytes::from(bytes))
}

/// A name as written, cut short for an error message.
fn clip(name: &str) -> String {
    name.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_embedded_pictures_are_what_their_names_say() {
        for (name, _) in EMBEDDED {
            let image = Pictures::Embedded.load(name).unwrap();
            assert_eq!(image.content_type, "image/svg+xml");
        }
        assert!(Pictures::Embedded.load("missing.svg").is_err());
    }

    #[test]
    fn a_picture_is_a_plain_name_of_a_known_kind_whose_bytes_agree() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Pictures::Folder(dir.path());
        std::fs::write(dir.path().join("a.png"), b"\x89PNG\r\n\x1a\nrest").unwrap();
        std::fs::write(dir.path().join("b.PNG"), b"<svg></svg>").unwrap();
        std::fs::write(dir.path().join("c.gif"), b"GIF89a...").unwrap();
        std::fs::write(dir.path().join("big.jpg"), vec![0xff; MAX_IMAGE_BYTES + 1]).unwrap();
        assert_eq!(folder.load("a.png").unwrap().content_type, "image/png");
        assert_eq!(folder.load("c.gif").unwrap().content_type, "image/gif");
        assert!(matches!(folder.load("b.PNG"), Err(ImageError::Content(_))));
        assert!(matches!(
            folder.load("big.jpg"),
            Err(ImageError::TooLarge(_))
        ));
        assert!(matches!(
            folder.load("none.png"),
            Err(ImageError::Read { .. })
        ));
        for bad in ["../a.png", "a/b.png", ".png", "a.exe", "a", "a b.png", ""] {
            assert!(
                matches!(folder.load(bad), Err(ImageError::Name(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Pictures::None.load("a.png"),
            Err(ImageError::NoFolder(_))
        ));
    }
}
