//! `usher keys`: the operator's side of the ticket crate's key files.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use std::time::{Duration, UNIX_EPOCH};

use usher_ticket::{KeyFile, KeyFileError, KeyId, Keyring, ServerId};
use usher_wire::Rfc3339;

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
            save(KeyFile::Master(ring), &out, force)?;
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
            save(KeyFile::Server(ring.derive_server(&server)), &out, force)?;
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
                Ok(fields) => {
                    let fields = readable_times(serde_json::to_value(&fields)?);
                    writeln!(stdout, "{}", serde_json::to_string_pretty(&fields)?)?;
                }
                Err(refusal) => bail!("{} ({refusal})", refusal.code()),
            }
        }
    }
    Ok(())
}

fn load(path: &std::path::Path) -> Result<KeyFile> {
    Ok(KeyFile::load(path)?)
}

/// Writes `file` to `out`; a file already there is kept unless `force`, and the refusal names
/// the flag.
fn save(file: KeyFile, out: &std::path::Path, force: bool) -> Result<()> {
    match file.save(out, force) {
        Err(KeyFileError::Exists(path)) => bail!(
            "{} exists; pass --force to replace it (tokens sealed under the keys it holds \
             will no longer verify)",
            path.display()
        ),
        other => Ok(other?),
    }
}

/// A token's times as RFC 3339 (UTC), as an operator reads them: `not_before` and
/// `not_after` (Unix seconds) and `arrived_at_ms` (Unix ms, renamed `arrived_at`).
fn readable_times(mut fields: serde_json::Value) -> serde_json::Value {
    let Some(map) = fields.as_object_mut() else {
        return fields;
    };
    let rfc3339 = |at: std::time::SystemTime| serde_json::Value::from(Rfc3339(at).to_string());
    for key in ["not_before", "not_after"] {
        if let Some(secs) = map.get(key).and_then(serde_json::Value::as_u64) {
            map.insert(
                key.to_owned(),
                rfc3339(UNIX_EPOCH + Duration::from_secs(secs)),
            );
        }
    }
    if let Some(ms) = map.remove("arrived_at_ms").and_then(|v| v.as_u64()) {
        let at = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms));
        map.insert("arrived_at".to_owned(), at.to_string().into());
    }
    fields
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
    use super::{readable_times, token_part};

    #[test]
    fn token_part_takes_the_ticket_out_of_a_url() {
        assert_eq!(token_part("abc"), "abc");
        assert_eq!(token_part(" abc\n"), "abc");
        assert_eq!(token_part("http://h:1/t/abc/items/x"), "abc");
        assert_eq!(token_part("http://h:1/t/abc?x"), "abc");
    }

    #[test]
    fn token_times_are_printed_as_rfc3339() {
        let fields = serde_json::json!({
            "kind": "queue", "not_before": 1_798_761_600_u64, "not_after": 1_798_761_630_u64,
            "arrived_at_ms": 1_798_761_600_250_u64, "place": 7,
        });
        let readable = readable_times(fields);
        assert_eq!(readable["not_before"], "2027-01-01T00:00:00Z");
        assert_eq!(readable["not_after"], "2027-01-01T00:00:30Z");
        assert_eq!(readable["arrived_at"], "2027-01-01T00:00:00.250Z");
        assert!(readable.get("arrived_at_ms").is_none());
        assert_eq!(readable["place"], 7);
    }
}
