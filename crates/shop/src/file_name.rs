//! The one rule for a file name the catalogue gives: a download's name, a picture's file.

/// The longest file name a catalogue may give, in bytes.
pub const MAX_FILE_NAME_LEN: usize = 128;

/// A file name that is safe inside a quoted `Content-Disposition` and on every file system,
/// and names nothing outside the catalogue's folder.
pub(crate) fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
