//! Settings declared once and read from three places: a server's settings struct derives both
//! `clap::Args` and `serde::Deserialize`, every field an `Option`, so the command line (flags
//! and `USHER_*` variables) is laid over the `--config` file, and what neither gives is left to
//! the library's defaults.

use std::fmt::Display;
use std::marker::PhantomData;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context as _, Result};
use clap::{ArgMatches, Args, FromArgMatches};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Largest settings file read.
const MAX_FILE: usize = 1 << 20;

/// The settings the command line gave. It keeps clap's matches rather than a filled-in `T`, so
/// that [`Flags::over`] can tell a flag that was given from one that was not, for any `T`.
#[derive(Debug, Clone)]
pub(crate) struct Flags<T> {
    matches: ArgMatches,
    settings: PhantomData<T>,
}

impl<T: Args> Args for Flags<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        T::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        T::augment_args_for_update(cmd)
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

impl<T: FromArgMatches> FromArgMatches for Flags<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        // Builds a `T` once so a mismatch is clap's error at parse time, not a surprise later.
        T::from_arg_matches(matches)?;
        Ok(Flags {
            matches: matches.clone(),
            settings: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<T: FromArgMatches + DeserializeOwned + Default> Flags<T> {
    /// The settings file at `path` (or none) with every setting the command line gave laid over
    /// it: clap replaces exactly the fields whose flag or variable was present.
    pub(crate) fn over_file(&self, path: Option<&Path>) -> Result<T> {
        let mut settings: T = read_file(path)?;
        settings
            .update_from_arg_matches(&self.matches)
            .context("cannot apply the command line over the settings file")?;
        Ok(settings)
    }
}

/// Reads a TOML settings file, or the defaults when there is none.
fn read_file<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    // One byte past the limit tells a file that is too large without reading all of it.
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_FILE as u64 + 1),
        &mut text,
    )
    .with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        text.len() <= MAX_FILE,
        "{} is larger than 1 MiB",
        path.display()
    );
    toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// Reads an optional setting from its text with the [`FromStr`] its flag uses, for types that
/// have no serde form of their own (`policy = "p2c"` reads as `--policy p2c` does).
pub(crate) fn from_text<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(deserializer)?;
    text.map(|t| t.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// The settings a command line (`args`, without the program name) lays over a settings file
/// holding `file`: what each server's tests parse, as the command would.
#[cfg(test)]
pub(crate) fn parsed<T>(args: &[&str], file: &str) -> Result<T>
where
    T: Args + FromArgMatches + DeserializeOwned + Default,
{
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("settings.toml");
    std::fs::write(&path, file)?;
    let command = Flags::<T>::augment_args(clap::Command::new("usher"));
    let matches =
        command.try_get_matches_from(std::iter::once("usher").chain(args.iter().copied()))?;
    Flags::<T>::from_arg_matches(&matches)?.over_file(Some(&path))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, PartialEq, Args, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "item")]
        items: Option<Vec<String>>,
        #[arg(skip)]
        margin: Option<f64>,
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        flags: Flags<Settings>,
    }

    fn merged(args: &[&str], file: &str) -> Settings {
        parsed(args, file).unwrap()
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_fills_the_rest() {
        let file = "port = 1\nname = \"file\"\nitem = [\"a\"]\nmargin = 0.5\n";
        assert!(
            toml::from_str::<Settings>(file).is_err(),
            "keys are the field names"
        );
        let file = "port = 1\nname = \"file\"\nitems = [\"a\"]\nmargin = 0.5\n";
        assert_eq!(
            merged(&["--port", "2", "--item", "b", "--item", "c"], file),
            Settings {
                port: Some(2),
                name: Some("file".into()),
                items: Some(vec!["b".into(), "c".into()]),
                margin: Some(0.5),
            }
        );
        assert_eq!(merged(&[], ""), Settings::default());
    }

    #[test]
    fn no_file_is_the_command_line_alone() {
        let cli = Cli::try_parse_from(["test", "--name", "flag"]).unwrap();
        let settings = cli.flags.over_file(None).unwrap();
        assert_eq!(settings.name.as_deref(), Some("flag"));
        assert_eq!(settings.port, None);
    }

    #[test]
    fn text_settings_read_as_their_flags_do() {
        #[derive(Deserialize)]
        struct File {
            #[serde(default, deserialize_with = "from_text")]
            n: Option<u8>,
        }
        assert_eq!(toml::from_str::<File>("n = \"7\"").unwrap().n, Some(7));
        assert_eq!(toml::from_str::<File>("").unwrap().n, None);
        assert!(toml::from_str::<File>("n = \"700\"").is_err());
    }
}
