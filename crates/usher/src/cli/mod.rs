//! The subcommands.

pub(crate) mod crowd;
pub(crate) mod demo;
pub(crate) mod keys;
pub(crate) mod reception;
pub(crate) mod shop;

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::de::DeserializeOwned;

/// Reads a TOML settings file, or the defaults when there is none.
pub(crate) fn settings_file<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        text.len() <= 1 << 20,
        "{} is larger than 1 MiB",
        path.display()
    );
    toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// Parses an optional duration from a settings file.
pub(crate) fn file_duration(text: Option<&str>, what: &str) -> Result<Option<std::time::Duration>> {
    text.map(|t| usher::serve::duration(t).map_err(|e| anyhow::anyhow!("{what}: {e}")))
        .transpose()
}
