//! The stateful rules' state on disk, so that a restart resumes geofence presences and sensor
//! episodes where they were rather than from nothing (a vehicle inside a fence at the stop would
//! otherwise never raise its `exit`, and an open radiation episode would alert a second time).
//!
//! The hot path takes a snapshot every few seconds while records arrive, and at shutdown; a
//! background thread serialises and syncs it (a sync can take tens of milliseconds, which the hot
//! path must not wait out), and at shutdown the last one is written before the process ends. The
//! snapshot names the last log position it reflects; at start the WAL records after it are
//! evaluated again and those up to it only return to the hot window. A crash loses at most the
//! state changes of the records flushed to segments since the last snapshot.

use glasshouse_engine::{Engine, EngineState, StateSnapshot};
use glasshouse_wal::Lsn;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
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
    let bytes = serde_json::to_vec(snapshot).expect("a snapshot serialises");
    glasshouse_wal::files::replace(&path(data_dir), &bytes, glasshouse_wal::files::Readers::Default)
}

/// Tracks what the hot path has evaluated and writes snapshots of its state when they are due.
pub(crate) struct Keeper {
    data_dir: PathBuf,
    interval: Duration,
    evaluated_through: Lsn,
    saved_through: Lsn,
    saved_at: Instant,
    /// The snapshot being written in the background, and the position it reflects.
    writing: Option<(Lsn, JoinHandle<std::io::Result<()>>)>,
}

impl Keeper {
    /// A keeper for a hot path whose state reflects the log up to `evaluated_through`.
    pub(crate) fn new(data_dir: &Path, evaluated_through: Lsn) -> Keeper {
        Keeper::every(data_dir, evaluated_through, SAVE_INTERVAL)
    }

    fn every(data_dir: &Path, evaluated_through: Lsn, interval: Duration) -> Keeper {
        Keeper {
            data_dir: data_dir.to_owned(),
            interval,
            evaluated_through,
            saved_through: evaluated_through,
            saved_at: Instant::now(),
            writing: None,
        }
    }

    /// Notes that the records up to `lsn` have been evaluated.
    pub(crate) fn evaluated(&mut self, lsn: Lsn) {
        self.evaluated_through = self.evaluated_through.max(lsn);
    }

    /// Takes a snapshot if records were evaluated since the last one and it is due (or `now`, at
    /// shutdown, which also waits until it is on disk). `engine` is asked for the current rules
    /// only then: this runs after every group of records. While an earlier snapshot is still being
    /// written, a due one waits for the next call.
    pub(crate) fn save_if_due(&mut self, state: &EngineState, engine: impl FnOnce() -> Arc<Engine>, now: bool) {
        if !now && self.writing.as_ref().is_some_and(|(_, handle)| !handle.is_finished()) {
            return;
        }
        self.finish_writing();
        if self.evaluated_through == self.saved_through || !(now || self.saved_at.elapsed() >= self.interval) {
            return;
        }
        self.saved_at = Instant::now();
        let (snapshot, through) = (state.snapshot(&engine(), self.evaluated_through), self.evaluated_through);
        let data_dir = self.data_dir.clone();
        match std::thread::Builder::new().name("engine-state".into()).spawn(move || save(&data_dir, &snapshot)) {
            Ok(handle) => self.writing = Some((through, handle)),
            Err(e) => error!(error = %e, "no thread to save the rules' state; a restart would resume from the previous snapshot"),
        }
        if now {
            self.finish_writing();
        }
    }

    /// Waits for the background write, if there is one, and records what it saved.
    fn finish_writing(&mut self) {
        let Some((through, handle)) = self.writing.take() else { return };
        match handle.join() {
            Ok(Ok(())) => self.saved_through = self.saved_through.max(through),
            Ok(Err(e)) => error!(error = %e, "saving the rules' state failed; a restart would resume from the previous snapshot"),
            Err(_) => error!("the thread saving the rules' state panicked; a restart would resume from the previous snapshot"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_written_in_the_background_and_the_last_one_at_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let (state, engine) = (EngineState::default(), Arc::new(Engine::default()));
        let mut keeper = Keeper::every(dir.path(), 0, Duration::ZERO);
        keeper.save_if_due(&state, || engine.clone(), false);
        assert!(keeper.writing.is_none(), "nothing evaluated, nothing to save");
        keeper.evaluated(7);
        keeper.save_if_due(&state, || engine.clone(), false);
        let (through, _) = keeper.writing.as_ref().expect("a due snapshot is being written");
        assert_eq!(*through, 7);
        keeper.evaluated(9);
        keeper.save_if_due(&state, || engine.clone(), true);
        assert!(keeper.writing.is_none(), "shutdown waits for the write");
        assert_eq!(keeper.saved_through, 9);
        assert_eq!(load(dir.path()).expect("a snapshot on disk").evaluated_through, 9, "the last snapshot wins");
    }
}
