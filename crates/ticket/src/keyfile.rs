//! Key files: the one place this crate touches the file system.
//!
//! A key file is TOML, written with mode 0600 and refused at load when its group or others may
//! access it or another user owns it. Secrets are 32 bytes in base64url without padding (43 characters).
//!
//! A master keyring (`usher keys generate`; receptions and operators):
//! ```toml
//! format = 1
//! kind = "master"
//! active = 2          # the key id new tokens are sealed with
//!
//! [[keys]]
//! id = 1              # still accepted until retired
//! secret = "…43 characters…"
//!
//! [[keys]]
//! id = 2
//! secret = "…"
//! ```
//! A server's own keys (`usher keys derive --server shop-a`; shops), never the master secret:
//! ```toml
//! format = 1
//! kind = "server"
//! server = "shop-a"
//! active = 2
//!
//! [[keys]]
//! id = 1
//! ticket = "…"        # opens shop-a's tickets
//! management = "…"    # authenticates shop-a on the management channel
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::derive::Secret;
use crate::error::MAX_KEYS;
use crate::ids::{KeyId, ServerId};
use crate::keys::{Keyring, ServerKey, ServerKeys};

/// The format version this code reads and writes.
pub const FORMAT: u32 = 1;
/// Largest key file read; a keyring of [`MAX_KEYS`] keys is a few kilobytes.
pub const MAX_FILE_LEN: u64 = 64 * 1024;

/// Either kind of key file.
#[derive(Debug, Clone)]
pub enum KeyFile {
    /// Master keys (receptions, operators).
    Master(Keyring),
    /// One server's derived keys (shops).
    Server(ServerKeys),
}

/// A key file that could not be read, parsed or written.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Group or others may read the file, so its keys may be known elsewhere.
    #[error("{path}: mode {mode:o} lets others read these keys; run `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another user owns the file, so its keys may be known or replaced by them.
    #[error("{path}: owned by uid {owner}, not by this process's uid {me}")]
    Owner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Who is loading it.
        me: u32,
    },
    /// Larger than any key file.
    #[error("{0}: larger than {MAX_FILE_LEN} bytes, not a key file")]
    TooLarge(PathBuf),
    /// Not valid TOML for this format.
    #[error("not a valid usher key file: {0}")]
    Parse(String),
    /// Valid TOML but not a usable key file.
    #[error("not a valid usher key file: {0}")]
    Invalid(&'static str),
    /// The file exists and overwriting was not asked for.
    #[error("{0} exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// The file holds the other kind of keys.
    #[error("{0}")]
    WrongKind(&'static str),
}

#[derive(Deserialize)]
struct Peek {
    format: u32,
    kind: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MasterRepr {
    format: u32,
    kind: String,
    active: KeyId,
    keys: Vec<MasterKeyRepr>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MasterKeyRepr {
    id: KeyId,
    secret: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerRepr {
    format: u32,
    kind: String,
    server: ServerId,
    active: KeyId,
    keys: Vec<ServerKeyRepr>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerKeyRepr {
    id: KeyId,
    ticket: String,
    management: String,
}

fn secret(text: &str) -> Result<Secret, KeyFileError> {
    Secret::from_text(text).ok_or(KeyFileError::Invalid(
        "a secret is not 32 bytes of base64url without padding",
    ))
}

fn collect<V>(
    entries: impl Iterator<Item = Result<(KeyId, V), KeyFileError>>,
    active: KeyId,
) -> Result<BTreeMap<KeyId, V>, KeyFileError> {
    let mut map = BTreeMap::new();
    for entry in entries {
        let (id, value) = entry?;
        if map.insert(id, value).is_some() {
            return Err(KeyFileError::Invalid("two keys share an id"));
        }
        if map.len() > MAX_KEYS {
            return Err(KeyFileError::Invalid("more than 64 keys"));
        }
    }
    if !map.contains_key(&active) {
        return Err(KeyFileError::Invalid(
            "the active key id is not among the keys",
        ));
    }
    Ok(map)
}

impl KeyFile {
    /// Parses key-file text.
    pub fn from_toml(text: &str) -> Result<KeyFile, KeyFileError> {
        let parse = |e: toml::de::Error| KeyFileError::Parse(e.message().to_owned());
        let peek: Peek = toml::from_str(text).map_err(parse)?;
        if peek.format != FORMAT {
            return Err(KeyFileError::Invalid("unsupported format version"));
        }
        match peek.kind.as_str() {
            "master" => {
                let repr: MasterRepr = toml::from_str(text).map_err(parse)?;
                let keys = repr.keys.iter().map(|k| Ok((k.id, secret(&k.secret)?)));
                let keys = collect(keys, repr.active)?;
                Ok(KeyFile::Master(Keyring::from_parts(keys, repr.active)))
            }
            "server" => {
                let repr: ServerRepr = toml::from_str(text).map_err(parse)?;
                let keys = repr.keys.iter().map(|k| {
                    let pair = ServerKey {
                        ticket: secret(&k.ticket)?,
                        management: secret(&k.management)?,
                    };
                    Ok((k.id, pair))
                });
                let keys = collect(keys, repr.active)?;
                Ok(KeyFile::Server(ServerKeys::from_parts(
                    repr.server,
                    keys,
                    repr.active,
                )))
            }
            _ => Err(KeyFileError::Invalid(
                "kind must be \"master\" or \"server\"",
            )),
        }
    }

    /// The key-file text.
    pub fn to_toml(&self) -> String {
        let text = match self {
            KeyFile::Master(ring) => toml::to_string(&MasterRepr {
                format: FORMAT,
                kind: "master".into(),
                active: ring.active(),
                keys: ring
                    .secrets()
                    .iter()
                    .map(|(&id, s)| MasterKeyRepr {
                        id,
                        secret: s.to_text(),
                    })
                    .collect(),
            }),
            KeyFile::Server(keys) => toml::to_string(&ServerRepr {
                format: FORMAT,
                kind: "server".into(),
                server: *keys.server(),
                active: keys.active(),
                keys: keys
                    .entries()
                    .iter()
                    .map(|(&id, k)| ServerKeyRepr {
                        id,
                        ticket: k.ticket.to_text(),
                        management: k.management.to_text(),
                    })
                    .collect(),
            }),
        };
        let body = text.expect("key files always serialise");
        format!("# usher key file: secret, keep it mode 0600.\n{body}")
    }

    /// Reads a key file, refusing it if group or others may access it or another user owns it.
    pub fn load(path: &Path) -> Result<KeyFile, KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let file = fs::File::open(path).map_err(io)?;
        // Checked on the open file, so the file checked is the file read.
        let meta = file.metadata().map_err(io)?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(KeyFileError::Owner {
                path: path.to_owned(),
                owner: meta.uid(),
                me,
            });
        }
        if meta.len() > MAX_FILE_LEN {
            return Err(KeyFileError::TooLarge(path.to_owned()));
        }
        let mut text = String::new();
        file.take(MAX_FILE_LEN + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        let parsed = KeyFile::from_toml(&text);
        zeroize::Zeroize::zeroize(&mut text);
        parsed
    }

    /// Writes the key file with mode 0600 through a temporary file in the same directory, then
    /// moves it into place atomically; without `overwrite` an existing file is never replaced,
    /// even one created meanwhile.
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<(), KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        if !overwrite && path.exists() {
            return Err(KeyFileError::Exists(path.to_owned()));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // tempfile creates the file 0600 and removes it if anything below fails.
        let mut tmp = tempfile::Builder::new()
            .prefix(".usher-keys")
            .tempfile_in(dir)
            .map_err(io)?;
        let mut text = self.to_toml();
        let written = tmp
            .write_all(text.as_bytes())
            .and_then(|()| tmp.as_file().sync_all());
        zeroize::Zeroize::zeroize(&mut text);
        written.map_err(io)?;
        let persisted = if overwrite {
            tmp.persist(path).map(drop)
        } else {
            tmp.persist_noclobber(path).map(drop)
        };
        persisted.map_err(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                KeyFileError::Exists(path.to_owned())
            } else {
                io(e.error)
            }
        })
    }

    /// The master keyring, or an error naming what the file holds instead.
    pub fn into_master(self) -> Result<Keyring, KeyFileError> {
        match self {
            KeyFile::Master(ring) => Ok(ring),
            KeyFile::Server(_) => Err(KeyFileError::WrongKind(
                "this is a server's key file; this needs the master keyring",
            )),
        }
    }

    /// The server keys, or an error naming what the file holds instead.
    pub fn into_server(self) -> Result<ServerKeys, KeyFileError> {
        match self {
            KeyFile::Server(keys) => Ok(keys),
            KeyFile::Master(_) => Err(KeyFileError::WrongKind(
                "this is a master keyring; servers take their own derived key file",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};

    use super::*;

    #[test]
    fn master_file_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let mut ring = Keyring::generate().unwrap();
        ring.rotate().unwrap();
        KeyFile::Master(ring.clone()).save(&path, false).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = KeyFile::load(&path).unwrap().into_master().unwrap();
        assert_eq!(back.active(), ring.active());
        assert_eq!(back.secrets(), ring.secrets());
    }

    #[test]
    fn save_refuses_to_overwrite_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let file = KeyFile::Master(Keyring::generate().unwrap());
        file.save(&path, false).unwrap();
        assert!(matches!(
            file.save(&path, false),
            Err(KeyFileError::Exists(_))
        ));
        file.save(&path, true).unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn load_refuses_files_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        KeyFile::Master(Keyring::generate().unwrap())
            .save(&path, false)
            .unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = KeyFile::load(&path).unwrap_err();
            assert!(matches!(err, KeyFileError::Permissions { .. }), "{mode:o}");
            assert!(err.to_string().contains("chmod 600"));
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        KeyFile::load(&path).unwrap();
    }

    #[test]
    fn load_refuses_files_another_user_owns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        KeyFile::Master(Keyring::generate().unwrap())
            .save(&path, false)
            .unwrap();
        // Only root can give a file away; elsewhere this case cannot be set up.
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&path, Some(12345), None).unwrap();
            let err = KeyFile::load(&path).unwrap_err();
            assert!(
                matches!(err, KeyFileError::Owner { owner: 12345, .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn server_file_holds_no_master_secret() {
        let ring = Keyring::generate().unwrap();
        let server = ServerId::new("shop-a").unwrap();
        let text = KeyFile::Server(ring.derive_server(&server)).to_toml();
        let master = ring.secrets()[&ring.active()].to_text();
        assert!(!text.contains(&master));
        assert!(text.contains("kind = \"server\""));
        let back = KeyFile::from_toml(&text).unwrap().into_server().unwrap();
        assert_eq!(back.server(), &server);
        assert!(KeyFile::from_toml(&text).unwrap().into_master().is_err());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let good =
            KeyFile::Master(Keyring::single(KeyId(3), Secret::from_bytes([9; 32]))).to_toml();
        assert!(KeyFile::from_toml(&good).is_ok());
        for (bad, why) in [
            (good.replace("format = 1", "format = 2"), "unsupported"),
            (good.replace("active = 3", "active = 4"), "active key"),
            (good.replace("\"master\"", "\"other\""), "kind"),
            (good.replace("id = 3", "id = 3\nextra = 1"), "unknown field"),
            (good.replace("secret = \"", "secret = \"AA"), "32 bytes"),
            ("not toml at all [".to_owned(), "valid"),
        ] {
            let err = KeyFile::from_toml(&bad).unwrap_err().to_string();
            assert!(err.contains(why), "{err} lacks {why}");
        }
        let twice = format!(
            "{good}\n[[keys]]\nid = 3\nsecret = \"{}\"\n",
            Secret::from_bytes([1; 32]).to_text()
        );
        assert!(
            KeyFile::from_toml(&twice)
                .unwrap_err()
                .to_string()
                .contains("share an id")
        );
    }

    #[test]
    fn load_refuses_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        file.write_all(&vec![b'#'; (MAX_FILE_LEN + 1) as usize])
            .unwrap();
        assert!(matches!(
            KeyFile::load(&path),
            Err(KeyFileError::TooLarge(_))
        ));
    }
}
