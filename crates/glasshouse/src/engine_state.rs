//! The stateful rules' state on disk, so that a restart resumes geofence presences and sensor
//! episodes where they were rather than from nothing (a vehicle inside a fence at the stop would
//! otherwise never raise its `exit`, and an open radiation episode would alert a second time).
//!
//! The hot path writes a snapshot every few seconds while records arrive, and at shutdown. The
//! snapshot names the last log position it reflects; at start the WAL records after it are
//! evaluated again and those up to it only return to the hot window. A crash loses at most the
//! state changes of the records flushed to segments since the last snapshot.

use glasshouse_engine::{Engine, EngineState, StateSnapshot};
use glasshouse_wal::Lsn;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, warn};

/// How often the hot path writes its state while records arrive.
const SAVE_INTERVAL: Duration = Duration::from_secs(5);

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("engine-state.json")
}

/// The last snapshot, if there is one that reads. A snapshot that does not read is reported and
/// ignored: the rules then start from nothing, as before there were snapshots.
pub(crate) fn load(data_dir: &Path) -> Option<StateSnapshot> {
    let path = path(data_dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "the rules' saved state is unreadable; starting without it");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(snapshot) => Some(snapshot),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "the rules' saved state does not decode; starting without it");
            None
        }
    }
}

/// Writes `snapshot` under a temporary name, syncs it and renames it into place, so a crash leaves
/// either the old snapshot or the new one.
fn save(data_dir: &Path, snapshot: &StateSnapshot) -> std::io::Result<()> {
    let path = path(data_dir);
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&serde_json::to_vec(snapshot).expect("a snapshot serialises"))?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)
}

/// Tracks what the hot path has evaluated and writes snapshots of its state when they are due.
pub(crate) struct Keeper {
    data_dir: PathBuf,
    evaluated_through: Lsn,
    saved_through: Lsn,
    saved_at: Instant,
}

impl Keeper {
    /// A keeper for a hot path whose state reflects the log up to `evaluated_through`.
    pub(crate) fn new(data_dir: &Path, evaluated_through: Lsn) -> Keeper {
        Keeper { data_dir: data_dir.to_owned(), evaluated_through, saved_through: evaluated_through, saved_at: Instant::now() }
    }

    /// Notes that the records up to `lsn` have been evaluated.
    pub(crate) fn evaluated(&mut self, lsn: Lsn) {
        self.evaluated_through = self.evaluated_through.max(lsn);
    }

    /// Writes a snapshot if records were evaluated since the last one and it is due (or `now`).
    /// `engine` is asked for the current rules only then: this runs after every group of records.
    pub(crate) fn save_if_due(&mut self, state: &EngineState, engine: impl FnOnce() -> Arc<Engine>, now: bool) {
        if self.evaluated_through == self.saved_through || !(now || self.saved_at.elapsed() >= SAVE_INTERVAL) {
            return;
        }
        self.saved_at = Instant::now();
        match save(&self.data_dir, &state.snapshot(&engine(), self.evaluated_through)) {
            Ok(()) => self.saved_through = self.evaluated_through,
            Err(e) => error!(error = %e, "saving the rules' state failed; a restart would resume from the previous snapshot"),
        }
    }
}
