//! The line kept in this process ([`LineStore`] for one reception): `usher_queue::Line` and the
//! clients waiting at the front behind one mutex, with the counters written to a state file
//! (when configured) so a restart keeps every place.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use usher_queue::{ClaimError, Counters, Estimator, Line, LineConfig, Place, SEED_LEN};
use usher_ticket::{Epoch, IssuerId};

use super::state::{self, MAX_ISSUERS, Saved, StateError, StateFile};
use super::store::{Advanced, Claim, Learnt, LineStore, LineView, PreQueue, Standing, StoreFuture};
use crate::config::OpeningSettings;

/// Most clients kept waiting at the front at once (a few MiB at most).
const MAX_FRONT: usize = 1 << 16;

/// How often the line's counters are written when no join asks for it (only if they changed).
const SAVE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Kept {
    line: Line,
    /// Clients whose turn came but who found no free place: they wait at the front, and keep
    /// their place for a grace period from the last time they were sent back, even after the
    /// line gave up the places of their time (at most [`MAX_FRONT`], oldest dropped first).
    front: BTreeMap<u64, Instant>,
    /// The session lengths learnt so far.
    sessions: Learnt,
    /// The pre-queue of a scheduled opening.
    pre_queue: Option<PreQueue>,
    /// A write is under way: what it makes durable is not known until it lands, so the
    /// opening's draw waits for it.
    writing: bool,
}

/// What a save writes, besides what never changes: compared with the last save's.
type Snapshot = (Counters, Learnt, Option<PreQueue>);

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    grace: Duration,
    epoch: Epoch,
    honoured: Vec<IssuerId>,
    kept: Mutex<Kept>,
    /// Where the counters are written; `None`: in memory only. Only the saver writes (one
    /// save at a time); the mutex moves it to the blocking thread that does.
    file: Option<Arc<Mutex<StateFile>>>,
    /// Places below this number are on disk (`u64::MAX` when nothing is persisted).
    saved: watch::Sender<u64>,
    /// Wakes the saver.
    save_wanted: Notify,
    /// What was last written, so an unchanged line is not written again.
    last_saved: Mutex<Option<Snapshot>>,
    /// Held while the store lives: two receptions never write one state file.
    lock: Mutex<Option<std::fs::File>>,
}

impl MemoryStore {
    /// The line of a sale: restored from `file` when there is one (a damaged file is an error,
    /// never a silent reset), and written back at once with this run's `issuer`, so that its
    /// tokens survive the next restart. Without a file, a new sale epoch. `opening`: the sale's
    /// scheduled opening, whose pre-queue (see [`pre_queue`]) starts at the places issued so
    /// far, with a fresh random seed, unless the file holds one.
    pub(crate) fn open(
        config: LineConfig,
        file: Option<PathBuf>,
        issuer: IssuerId,
        now: Instant,
        opening: Option<&OpeningSettings>,
    ) -> Result<MemoryStore, StateError> {
        let lock = match &file {
            Some(path) => Some(state::lock(path)?),
            None => None,
        };
        let saved = match &file {
            Some(path) => state::load(path)?,
            None => None,
        };
        let grace = config.grace;
        let sessions = saved.as_ref().map(Saved::sessions).unwrap_or_default();
        let (epoch, line, mut honoured) = match &saved {
            Some(s) => {
                let line =
                    Line::restore(s.counters, config, now).map_err(|e| StateError::Invalid {
                        path: file.clone().unwrap_or_default(),
                        message: e.to_string(),
                    })?;
                (Epoch(s.epoch), line, s.issuer_ids())
            }
            None => (Epoch(random_u32()?), Line::new(config), Vec::new()),
        };
        honoured.push(issuer);
        if honoured.len() > MAX_ISSUERS {
            honoured.drain(..honoured.len() - MAX_ISSUERS);
        }
        let issued = line.snapshot().issued;
        let kept = saved
            .as_ref()
            .and_then(|s| s.pre_queue.as_ref())
            .and_then(state::SavedPreQueue::parse);
        let pre_queue =
            pre_queue(kept, opening, issued).map_err(|message| StateError::Opening {
                path: file.clone().unwrap_or_default(),
                message,
            })?;
        let (file, saved_below) = match &file {
            Some(path) => {
                let saved = Saved::new(
                    epoch.0,
                    line.snapshot(),
                    &honoured,
                    &sessions,
                    pre_queue.as_ref(),
                );
                let file = StateFile::create(path, &saved)?;
                (Some(Arc::new(Mutex::new(file))), issued)
            }
            None => (None, u64::MAX),
        };
        Ok(MemoryStore {
            grace,
            epoch,
            honoured,
            kept: Mutex::new(Kept {
                line,
                front: BTreeMap::new(),
                sessions,
                pre_queue,
                writing: false,
            }),
            file,
            saved: watch::Sender::new(saved_below),
            save_wanted: Notify::new(),
            last_saved: Mutex::new(None),
            lock: Mutex::new(lock),
        })
    }

    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The saver: at once when a join hands out a place (one write covers every join since
    /// the last), and every second if the head moved; once more on the way out.
    async fn save_until(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = self.save_wanted.notified() => {}
                () = tokio::time::sleep(SAVE_EVERY) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow_and_update() {
                        break;
                    }
                }
            }
            self.save_logged().await;
        }
        self.save_logged().await;
        // Lets another reception take the state file.
        self.lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    async fn save_logged(&self) {
        if let Err(e) = self.save().await {
            tracing::error!(error = %e, "the waiting room's state was not saved");
        }
    }

    /// Writes the counters if they changed since the last write, then tells the joins that
    /// waited for it. Blocking I/O runs off the runtime.
    pub(crate) async fn save(&self) -> Result<(), StateError> {
        let Some(file) = self.file.clone() else {
            return Ok(());
        };
        let snapshot = {
            let mut kept = self.kept();
            kept.writing = true;
            (kept.line.snapshot(), kept.sessions.clone(), kept.pre_queue)
        };
        let written = self.write(file, snapshot).await;
        self.kept().writing = false;
        written
    }

    /// [`save`](Self::save)'s write of `snapshot`.
    async fn write(
        &self,
        file: Arc<Mutex<StateFile>>,
        snapshot: Snapshot,
    ) -> Result<(), StateError> {
        if self
            .last_saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            == Some(&snapshot)
        {
            return Ok(());
        }
        let (counters, sessions, pre_queue) = &snapshot;
        let saved = Saved::new(
            self.epoch.0,
            *counters,
            &self.honoured,
            sessions,
            pre_queue.as_ref(),
        );
        let issued = counters.issued;
        let state = Some(snapshot);
        let writer = Arc::clone(&file);
        tokio::task::spawn_blocking(move || {
            writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .save(&saved)
        })
        .await
        // The path is looked up only if the write itself failed to run.
        .map_err(|e| StateError::Write {
            path: file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .path()
                .to_owned(),
            source: std::io::Error::other(e),
        })??;
        *self
            .last_saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = state;
        self.saved.send_if_modified(|below| {
            let changed = issued > *below;
            *below = (*below).max(issued);
            changed
        });
        Ok(())
    }
}

impl LineStore for MemoryStore {
    fn epoch(&self) -> Epoch {
        self.epoch
    }

    fn honoured(&self) -> Vec<IssuerId> {
        self.honoured.clone()
    }

    fn join(&self) -> (Place, bool) {
        let (place, first) = {
            let mut kept = self.kept();
            let first = kept.line.waiting() == 0;
            (kept.line.join(), first)
        };
        if place.0 >= *self.saved.borrow() {
            self.save_wanted.notify_one();
        }
        (place, first)
    }

    fn claim(&self, place: Place, now: Instant) -> Claim {
        let mut kept = self.kept();
        if kept.line.is_eligible(place) && kept.line.is_behind(place, now) {
            return Claim::Behind;
        }
        match kept.line.claim(place, now) {
            Ok(()) => {
                kept.front.remove(&place.0);
                Claim::Claimed
            }
            // Waiting at the front since before the line gave up its time's places.
            Err(ClaimError::GivenUp)
                if kept
                    .front
                    .get(&place.0)
                    .is_some_and(|&since| now.saturating_duration_since(since) < self.grace) =>
            {
                kept.front.remove(&place.0);
                Claim::Claimed
            }
            Err(e) => Claim::Refused(e),
        }
    }

    fn hand_back(&self, place: Place, now: Instant) {
        let mut kept = self.kept();
        kept.line.unclaim(place, now);
        kept.front.insert(place.0, now);
        if kept.front.len() > MAX_FRONT {
            kept.front.pop_first();
        }
    }

    fn advance(&self, now: Instant, free: u64) -> Advanced {
        let mut kept = self.kept();
        let grace = self.grace;
        kept.front
            .retain(|_, since| now.saturating_duration_since(*since) < grace);
        let moved = kept.line.advance(now, free);
        Advanced {
            moved,
            head: kept.line.snapshot().head,
            gated: is_gated(&kept.line, now),
        }
    }

    fn admits_newcomer(&self, now: Instant, free: u64) -> bool {
        self.kept().line.admits_newcomer(now, free)
    }

    fn is_gated(&self, now: Instant) -> bool {
        is_gated(&self.kept().line, now)
    }

    fn standing(&self, place: Place, now: Instant, estimator: &Estimator) -> Standing {
        let kept = self.kept();
        Standing {
            ahead: kept.line.ahead(place),
            retry_after: kept.line.retry_after(place, now, estimator),
        }
    }

    fn view(&self, now: Instant) -> LineView {
        let kept = self.kept();
        LineView {
            counters: kept.line.snapshot(),
            waiting: kept.line.waiting(),
            no_show_share: kept.line.no_show_share(),
            heap_bytes: kept.line.heap_bytes(),
            front: kept.front.len(),
            expected_claims: kept.line.expected_claims(now),
        }
    }

    fn sessions(&self) -> Learnt {
        self.kept().sessions.clone()
    }

    fn learn_sessions(&self, learnt: &Learnt) {
        self.kept().sessions.clone_from(learnt);
    }

    fn issued(&self) -> u64 {
        self.kept().line.snapshot().issued
    }

    fn pre_queue(&self) -> Option<PreQueue> {
        self.kept().pre_queue
    }

    fn draw(&self) -> Option<PreQueue> {
        let drawn = {
            let mut kept = self.kept();
            let durable = kept.line.snapshot().issued.min(*self.saved.borrow());
            let writing = kept.writing;
            let pre = kept.pre_queue.as_mut()?;
            if pre.end.is_some() {
                return Some(*pre);
            }
            if writing {
                return None;
            }
            pre.end = Some(durable.max(pre.first));
            *pre
        };
        self.save_wanted.notify_one();
        Some(drawn)
    }

    fn is_saved(&self, place: Place) -> bool {
        *self.saved.borrow() > place.0
    }

    fn saved(&self, place: Place) -> StoreFuture<'_, ()> {
        let mut saved = self.saved.subscribe();
        Box::pin(async move {
            let _ = saved.wait_for(|&below| below > place.0).await;
        })
    }

    fn persist(&self, shutdown: watch::Receiver<bool>) -> StoreFuture<'_, ()> {
        Box::pin(self.save_until(shutdown))
    }
}

/// Someone waits, or an eligible client may still come.
fn is_gated(line: &Line, now: Instant) -> bool {
    line.waiting() > 0 || line.expected_claims(now) > 0.0
}

/// The pre-queue the line keeps: the one in the state file (`kept`), its opening moved as the
/// settings say while it is not drawn; a new one from the `opening` settings; or none. A
/// drawn pre-queue stays as drawn whatever the settings say, unless they name another opening
/// (a new sale needs a new state file). Refused: a pre-queue waiting for its draw with no
/// opening set, since its clients would then lose the draw they were promised.
fn pre_queue(
    kept: Option<PreQueue>,
    opening: Option<&OpeningSettings>,
    issued: u64,
) -> Result<Option<PreQueue>, String> {
    let at = |time| usher_wire::Rfc3339(time);
    // As the state file keeps it.
    let ms = usher_wire::clock::unix_ms;
    match (kept, opening) {
        (Some(pre), Some(o)) if pre.end.is_some() && ms(o.opens_at) != ms(pre.opens_at) => {
            Err(format!(
                "holds a pre-queue drawn at its opening {}, and the settings name another, {}: a \
             new sale needs a new queue state file",
                at(pre.opens_at),
                at(o.opens_at)
            ))
        }
        (Some(pre), _) if pre.end.is_some() => Ok(Some(pre)),
        (Some(pre), Some(o)) => Ok(Some(PreQueue {
            opens_at: o.opens_at,
            order: o.order,
            ..pre
        })),
        (Some(pre), None) => Err(format!(
            "holds a pre-queue waiting for its opening at {}: set opens_at (--opens-at) to open \
             it, or use a new queue state file",
            at(pre.opens_at)
        )),
        (None, Some(o)) => Ok(Some(PreQueue {
            seed: random_seed().map_err(|e| e.to_string())?,
            opens_at: o.opens_at,
            order: o.order,
            first: issued,
            end: None,
        })),
        (None, None) => Ok(None),
    }
}

/// A random seed for a pre-queue's draw.
fn random_seed() -> Result<[u8; SEED_LEN], StateError> {
    let mut seed = [0u8; SEED_LEN];
    getrandom::fill(&mut seed).map_err(|e| StateError::Random(e.to_string()))?;
    Ok(seed)
}

/// A random sale epoch for a line that starts afresh. Without randomness the reception does not
/// start: an epoch from the clock could repeat an earlier sale's, whose tokens would then count.
fn random_u32() -> Result<u32, StateError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| StateError::Random(e.to_string()))?;
    Ok(u32::from_le_bytes(bytes))
}
