//! The waiting room on disk: the line's counters, the sale's epoch and the issuers whose queue
//! tokens are honoured, so a restarted reception keeps every place.
//!
//! Kept as a slot file (`slots.rs`): created whole at start-up (temporary file, sync, rename),
//! then each save rewrites the older of its two slots and syncs it. A crash leaves either the
//! old state or the new one, never a mix. A file of the first layout (one JSON document) is
//! read and replaced by a slot file at start-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use std::time::{Duration, UNIX_EPOCH};

use usher_queue::{Counters, PreQueueOrder, SEED_LEN};
use usher_ticket::IssuerId;
use usher_wire::hex;

use super::slots::{self, SlotError, Slots};
use super::store::{Learnt, MAX_LEARNT_ITEMS, PreQueue};

/// Layout version of the file.
const VERSION: u32 = 1;

/// Largest state file read: it holds a few numbers.
const MAX_BYTES: u64 = 64 * 1024;

/// Issuers remembered: each restart adds one, and tokens of the oldest stop being honoured.
pub(crate) const MAX_ISSUERS: usize = 16;

/// What is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Saved {
    version: u32,
    /// The sale's epoch, sealed into every queue token.
    pub(crate) epoch: u32,
    /// The line. `issued` is saved before any place at or above it is handed out.
    pub(crate) counters: Counters,
    /// Issuer ids (hex) of this reception's runs, newest last.
    pub(crate) issuers: Vec<String>,
    /// The session length learnt from the sale so far (see `WaitingRoom::tick`), in ms: the
    /// next run's estimates start from it. Absent until one is learnt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) session_ms: Option<u64>,
    /// The same per item (at most `store::MAX_LEARNT_ITEMS`). Absent until one is learnt.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) session_ms_by_item: BTreeMap<String, u64>,
    /// The pre-queue of a scheduled opening, when the sale has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pre_queue: Option<SavedPreQueue>,
}

/// A pre-queue on disk (see `store::PreQueue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedPreQueue {
    /// The draw's seed, hex.
    pub(crate) seed: String,
    /// When the sale opens, unix ms.
    pub(crate) opens_at_ms: u64,
    pub(crate) order: PreQueueOrder,
    pub(crate) first: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end: Option<u64>,
}

impl SavedPreQueue {
    pub(crate) fn new(pre: &PreQueue) -> SavedPreQueue {
        SavedPreQueue {
            seed: hex::encode(&pre.seed),
            opens_at_ms: usher_wire::clock::unix_ms(pre.opens_at),
            order: pre.order,
            first: pre.first,
            end: pre.end,
        }
    }

    /// The pre-queue, or `None` when the seed is not 32 bytes of hex.
    pub(crate) fn parse(&self) -> Option<PreQueue> {
        Some(PreQueue {
            seed: hex::decode::<SEED_LEN>(&self.seed)?,
            opens_at: UNIX_EPOCH + Duration::from_millis(self.opens_at_ms),
            order: self.order,
            first: self.first,
            end: self.end,
        })
    }
}

impl Saved {
    pub(crate) fn new(
        epoch: u32,
        counters: Counters,
        issuers: &[IssuerId],
        sessions: &Learnt,
        pre_queue: Option<&PreQueue>,
    ) -> Saved {
        Saved {
            version: VERSION,
            epoch,
            counters,
            issuers: issuers.iter().map(ToString::to_string).collect(),
            session_ms: sessions.all_ms,
            session_ms_by_item: sessions.by_item_ms.clone(),
            pre_queue: pre_queue.map(SavedPreQueue::new),
        }
    }

    /// The session lengths learnt, as kept (an item past `store::MAX_LEARNT_ITEMS` is not
    /// taken).
    pub(crate) fn sessions(&self) -> Learnt {
        Learnt {
            all_ms: self.session_ms,
            by_item_ms: self
                .session_ms_by_item
                .iter()
                .take(MAX_LEARNT_ITEMS)
                .map(|(item, &ms)| (item.clone(), ms))
                .collect(),
        }
    }

    /// The issuers, parsed (unparseable entries are refused at load).
    pub(crate) fn issuer_ids(&self) -> Vec<IssuerId> {
        self.issuers
            .iter()
            .filter_map(|s| IssuerId::from_hex(s))
            .collect()
    }
}

/// The state file could not be used. The reception refuses to start rather than lose places.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading failed.
    #[error("cannot read the queue state {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a state file this version understands.
    #[error("the queue state {} is not valid: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another reception holds the state file.
    #[error("another reception uses the queue state {}", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The state file's pre-queue and the settings disagree: drawing it again, or dropping
    /// it, would tell its clients other places than they were told.
    #[error("the queue state {} {message}", path.display())]
    Opening {
        /// The file.
        path: PathBuf,
        /// What disagrees, and what to do.
        message: String,
    },
    /// The system gave no randomness for a new sale's epoch.
    #[error("no randomness for the sale's epoch or draw: {0}")]
    Random(String),
    /// Writing failed.
    #[error("cannot write the queue state {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Locks the state file for this process (a lock file beside it, held while the returned file
/// is open), so that two receptions never write one line's counters.
pub(crate) fn lock(path: &Path) -> Result<std::fs::File, StateError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| StateError::Write {
            path: lock_path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Locked {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StateError::Write {
            path: lock_path,
            source,
        }),
    }
}

/// The saved state, or `None` when there is no file yet.
pub(crate) fn load(path: &Path) -> Result<Option<Saved>, StateError> {
    let read = |source| StateError::Read {
        path: path.to_owned(),
        source,
    };
    let invalid = |message: String| StateError::Invalid {
        path: path.to_owned(),
        message,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read(e)),
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_BYTES + 1), &mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(invalid(format!("larger than {MAX_BYTES} bytes")));
    }
    // A slot file is read slot by slot, so a damaged slot (even one that is not UTF-8) leaves
    // the other.
    let document = if slots::is_slot_file(&bytes) {
        slots::read(&bytes).map_err(|e| invalid(e.to_string()))?
    } else {
        std::str::from_utf8(&bytes).map_err(|e| invalid(e.to_string()))?
    };
    let saved: Saved = serde_json::from_str(document).map_err(|e| invalid(e.to_string()))?;
    if saved.version != VERSION {
        return Err(invalid(format!("layout version {}", saved.version)));
    }
    if saved.issuers.len() > MAX_ISSUERS || saved.issuer_ids().len() != saved.issuers.len() {
        return Err(invalid("bad issuer list".to_owned()));
    }
    if let Some(pre) = &saved.pre_queue {
        let fits = pre
            .end
            .is_none_or(|end| pre.first <= end && end <= saved.counters.issued);
        if pre.parse().is_none() || pre.first > saved.counters.issued || !fits {
            return Err(invalid("bad pre-queue".to_owned()));
        }
    }
    Ok(Some(saved))
}

/// The state file, open for saves.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    slots: Slots,
}

impl StateFile {
    /// Replaces whatever `path` holds with `saved`, atomically and durably (blocking).
    pub(crate) fn create(path: &Path, saved: &Saved) -> Result<StateFile, StateError> {
        let slots = document(saved)
            .and_then(|d| Slots::create(path, &d))
            .map_err(|e| StateError::write(path, e))?;
        Ok(StateFile {
            path: path.to_owned(),
            slots,
        })
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `saved` durably (blocking: call off the async runtime).
    pub(crate) fn save(&mut self, saved: &Saved) -> Result<(), StateError> {
        document(saved)
            .and_then(|d| self.slots.write(&d))
            .map_err(|e| StateError::write(&self.path, e))
    }
}

impl StateError {
    fn write(path: &Path, e: SlotError) -> StateError {
        let source = match e {
            SlotError::Io(e) => e,
            other => std::io::Error::other(other),
        };
        StateError::Write {
            path: path.to_owned(),
            source,
        }
    }
}

fn document(saved: &Saved) -> Result<String, SlotError> {
    Ok(serde_json::to_string(saved)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.json");
        assert_eq!(load(&path).unwrap(), None);
        let counters = Counters {
            issued: 10,
            head: 4,
            open_from: 2,
        };
        let pre = PreQueue {
            seed: [0xa5; SEED_LEN],
            opens_at: UNIX_EPOCH + Duration::from_secs(1_798_135_200),
            order: PreQueueOrder::Arrival,
            first: 2,
            end: Some(9),
        };
        let issuers = [IssuerId(1), IssuerId(u64::MAX)];
        let sessions = Learnt {
            all_ms: Some(1500),
            by_item_ms: [("concert".to_owned(), 900)].into(),
        };
        let saved = Saved::new(7, counters, &issuers, &sessions, Some(&pre));
        let mut file = StateFile::create(&path, &saved).unwrap();
        let back = load(&path).unwrap().unwrap();
        assert_eq!(back, saved);
        let later = Saved::new(8, counters, &issuers, &Learnt::default(), None);
        file.save(&later).unwrap();
        assert_eq!(load(&path).unwrap().unwrap(), later);
        file.save(&saved).unwrap();
        let back = load(&path).unwrap().unwrap();
        assert_eq!(back.issuer_ids(), vec![IssuerId(1), IssuerId(u64::MAX)]);
        assert_eq!(back.sessions(), sessions);
        assert_eq!(back.pre_queue.unwrap().parse(), Some(pre));
    }

    /// Guards the slot's size: the most a state file keeps (every issuer, every learnt item
    /// with the longest id, a pre-queue, counters at their largest) still fits one slot.
    #[test]
    fn the_most_a_state_file_keeps_fits_its_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.json");
        let mut sessions = Learnt {
            all_ms: Some(u64::MAX),
            ..Learnt::default()
        };
        for n in 0..MAX_LEARNT_ITEMS + 5 {
            let item = format!("{n:0>width$}", width = usher_ticket::MAX_ITEM_ID_LEN);
            let item = usher_ticket::ItemId::new(&item).unwrap();
            sessions.learn_item(&item, Duration::from_millis(u64::MAX));
        }
        assert_eq!(sessions.by_item_ms.len(), MAX_LEARNT_ITEMS);
        let pre = PreQueue {
            seed: [0xff; SEED_LEN],
            opens_at: UNIX_EPOCH + Duration::from_millis(u64::MAX / 2),
            order: PreQueueOrder::Random,
            first: u64::MAX,
            end: Some(u64::MAX),
        };
        let counters = Counters {
            issued: u64::MAX,
            head: u64::MAX,
            open_from: u64::MAX,
        };
        let issuers = vec![IssuerId(u64::MAX); MAX_ISSUERS];
        let saved = Saved::new(u32::MAX, counters, &issuers, &sessions, Some(&pre));
        let mut file = StateFile::create(&path, &saved).unwrap();
        file.save(&saved).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().sessions(), sessions);
    }

    #[test]
    fn one_state_file_serves_one_reception_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.json");
        let held = lock(&path).unwrap();
        assert!(matches!(lock(&path), Err(StateError::Locked { .. })));
        drop(held);
        lock(&path).unwrap();
    }

    #[test]
    fn a_damaged_state_file_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.json");
        std::fs::write(&path, b"{\"version\":1,\"epoch\":").unwrap();
        assert!(matches!(load(&path), Err(StateError::Invalid { .. })));
        std::fs::write(&path, vec![b' '; (MAX_BYTES + 10) as usize]).unwrap();
        assert!(matches!(load(&path), Err(StateError::Invalid { .. })));
        let bad = r#"{"version":1,"epoch":1,"counters":{"issued":1,"head":0,"open_from":0},"issuers":["xyz"]}"#;
        std::fs::write(&path, bad).unwrap();
        assert!(matches!(load(&path), Err(StateError::Invalid { .. })));
        let short_seed = r#"{"version":1,"epoch":1,"counters":{"issued":1,"head":0,"open_from":0},"issuers":[],"pre_queue":{"seed":"ab","opens_at_ms":0,"order":"random","first":0}}"#;
        std::fs::write(&path, short_seed).unwrap();
        assert!(matches!(load(&path), Err(StateError::Invalid { .. })));
    }

    /// Guards an upgrade: a reception of an earlier version wrote the state as one JSON
    /// document, and its line must survive the new version's start.
    #[test]
    fn a_state_file_of_the_first_layout_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.json");
        let old = r#"{"version":1,"epoch":5,"counters":{"issued":12,"head":3,"open_from":3},"issuers":["00000000000000ff"]}"#;
        std::fs::write(&path, old).unwrap();
        let saved = load(&path).unwrap().unwrap();
        assert_eq!((saved.epoch, saved.counters.issued), (5, 12));
        assert_eq!(saved.issuer_ids(), vec![IssuerId(0xff)]);
        // Start-up rewrites it as a slot file, holding the same.
        StateFile::create(&path, &saved).unwrap();
        assert!(slots::is_slot_file(&std::fs::read(&path).unwrap()));
        assert_eq!(load(&path).unwrap().unwrap(), saved);
    }

    #[test]
    fn a_slot_file_with_no_whole_slot_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.json");
        let saved = Saved::new(
            1,
            Counters {
                issued: 0,
                head: 0,
                open_from: 0,
            },
            &[IssuerId(1)],
            &Learnt::default(),
            None,
        );
        StateFile::create(&path, &saved).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"epoch\":1", "\"epoch\":2")).unwrap();
        assert!(matches!(load(&path), Err(StateError::Invalid { .. })));
    }
}
