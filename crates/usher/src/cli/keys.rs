//! `usher keys`: the operator's side of the ticket crate's key files.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use usher_ticket::{KeyFile, KeyId, Keyring, ServerId};

/// Key management commands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Write a new master keyring with one random key (id 1).
    Generate {
        /// Where to write it (mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Add a new active key to a master keyring; older keys still verify until retired.
    Rotate {
        /// The master keyring.
        #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
        keys: PathBuf,
    },
    /// Remove a key from a master keyring: tokens sealed under it are refused from then on.
    Retire {
        /// The master keyring.
        #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
        keys: PathBuf,
        /// The key id to remove (not the active one).
        #[arg(long)]
        id: u16,
    },
    /// Write the key file one server needs: its own derived keys only, never the master key.
    Derive {
        /// The master keyring.
        #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
        keys: PathBuf,
        /// The server's id, as configured at the reception.
        #[arg(long, value_name = "ID")]
        server: String,
        /// Where to write it (mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print the key ids a key file holds (never the secrets).
    List {
        /// A master keyring or a server key file.
        #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
        keys: PathBuf,
    },
    /// Decrypt a ticket or queue token and print its fields as JSON.
    Inspect {
        /// A master keyring (any token) or a server key file (that server's tickets).
        #[arg(long, env = "USHER_KEYS", value_name = "FILE")]
        keys: PathBuf,
        /// The token, or a whole ticket URL (`…/t/{ticket}/items/{item}`).
        token: String,
    },
}

pub(crate) fn run(command: KeysCommand) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        KeysCommand::Generate { out, force } => {
            let ring = Keyring::generate()?;
            KeyFile::Master(ring).save(&out, force)?;
            writeln!(
                stdout,
                "wrote a new master keyring (key 1 active) to {}",
                out.display()
            )?;
        }
        KeysCommand::Rotate { keys } => {
            let mut ring = load(&keys)?.into_master()?;
            let id = ring.rotate()?;
            KeyFile::Master(ring).save(&keys, true)?;
            writeln!(
                stdout,
                "key {id} is now active in {}; older keys verify until retired. \
                 Derive the servers' key files again.",
                keys.display()
            )?;
        }
        KeysCommand::Retire { keys, id } => {
            let mut ring = load(&keys)?.into_master()?;
            ring.retire(KeyId(id))?;
            KeyFile::Master(ring).save(&keys, true)?;
            writeln!(stdout, "key {id} retired from {}", keys.display())?;
        }
        KeysCommand::Derive {
            keys,
            server,
            out,
            force,
        } => {
            let ring = load(&keys)?.into_master()?;
            let server = ServerId::new(&server).with_context(|| format!("--server {server:?}"))?;
            KeyFile::Server(ring.derive_server(&server)).save(&out, force)?;
            writeln!(stdout, "wrote {server}'s key file to {}", out.display())?;
        }
        KeysCommand::List { keys } => {
            let (kind, server, active, ids) = match load(&keys)? {
                KeyFile::Master(ring) => ("master", None, ring.active(), ring.key_ids().collect()),
                KeyFile::Server(keys) => (
                    "server",
                    Some(keys.server().to_string()),
                    keys.active(),
                    keys.key_ids().collect::<Vec<_>>(),
                ),
            };
            let listing = serde_json::json!({
                "kind": kind, "server": server, "active": active, "keys": ids,
            });
            writeln!(stdout, "{listing}")?;
        }
        KeysCommand::Inspect { keys, token } => {
            let token = token_part(&token);
            let opened = match load(&keys)? {
                KeyFile::Master(ring) => ring.inspect(token),
                KeyFile::Server(keys) => keys.inspect(token),
            };
            match opened {
                Ok(fields) => writeln!(stdout, "{}", serde_json::to_string_pretty(&fields)?)?,
                Err(refusal) => bail!("{} ({refusal})", refusal.code()),
            }
        }
    }
    Ok(())
}

fn load(path: &std::path::Path) -> Result<KeyFile> {
    Ok(KeyFile::load(path)?)
}

/// The ticket part of a ticket URL, or the input itself.
fn token_part(input: &str) -> &str {
    let input = input.trim();
    match input.split_once("/t/") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(rest),
        None => input,
    }
}

#[cfg(test)]
mod tests {
    use super::token_part;

    #[test]
    fn token_part_takes_the_ticket_out_of_a_url() {
        assert_eq!(token_part("abc"), "abc");
        assert_eq!(token_part(" abc\n"), "abc");
        assert_eq!(token_part("http://h:1/t/abc/items/x"), "abc");
        assert_eq!(token_part("http://h:1/t/abc?x"), "abc");
    }
}
