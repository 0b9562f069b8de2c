//! The audit log's index on disk, so the log holds no entry, checkpoint or hash in memory.
//!
//! The log's WAL stays the one durable record (an entry and its checkpoint are made durable by one
//! fsync). Beside it, in `index/`, fixed-size records say where each entry and checkpoint sits in
//! the WAL, and one file per tree level holds the hashes of the perfect subtrees there, so roots and
//! proofs of any size are a few dozen reads ([`Subtrees`]).
//!
//! These files are derived from the WAL and are not synced on every append. Every
//! [`SEAL_EVERY_ENTRIES`] entries (and when the log is closed) they are synced and a small `sealed`
//! file records how far they reach: entry and checkpoint counts, the WAL's next LSN, and the root.
//! Opening truncates the files to the sealed counts, checks the sealed root against them, and
//! replays only the WAL records after the sealed LSN. A missing, unreadable or disagreeing index is
//! rebuilt from the whole WAL: slow once, never wrong.

use crate::merkle::{Frontier, Hash, Subtrees};
use glasshouse_wal::files::{Readers, replace};
use glasshouse_wal::{Lsn, Position};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Entries between two seals: at most this many entries (and their checkpoints) are replayed from
/// the WAL when the log opens after a crash.
pub const SEAL_EVERY_ENTRIES: u64 = 1_024;

/// Where an entry is: its LSN and position in the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// The record's LSN.
    pub lsn: Lsn,
    /// Where its frame starts.
    pub position: Position,
}

/// A stored checkpoint: the tree size it signs, and where its note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it covers.
    pub size: u64,
    /// Where its signed note is.
    pub at: Located,
}

/// How far the synced index files reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sealed {
    entries: u64,
    checkpoints: u64,
    /// The WAL's next LSN when sealed: records from here on are replayed.
    next_lsn: Lsn,
    root_hex: String,
}

/// A file of fixed-size records, appended through a buffer that reads see too.
struct RecordFile<const N: usize> {
    path: PathBuf,
    file: File,
    /// Records in the file (written out).
    written: u64,
    /// Records appended since the last write-out.
    pending: Vec<u8>,
}

impl<const N: usize> RecordFile<N> {
    fn open(path: PathBuf) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let written = file.metadata()?.len() / N as u64;
        Ok(RecordFile { path, file, written, pending: Vec::new() })
    }

    fn len(&self) -> u64 {
        self.written + (self.pending.len() / N) as u64
    }

    /// Cuts the file to `records` (a torn or unsealed tail).
    fn truncate(&mut self, records: u64) -> io::Result<()> {
        self.pending.clear();
        self.file.set_len(records * N as u64)?;
        self.written = records;
        Ok(())
    }

    fn push(&mut self, record: &[u8; N]) {
        self.pending.extend_from_slice(record);
    }

    fn get(&self, index: u64) -> io::Result<[u8; N]> {
        let mut record = [0u8; N];
        if index < self.written {
            self.file.read_exact_at(&mut record, index * N as u64)?;
        } else {
            let at = ((index - self.written) as usize) * N;
            let bytes = self.pending.get(at..at + N).ok_or_else(|| io::Error::other(format!("record {index} is past the end")))?;
            record.copy_from_slice(bytes);
        }
        Ok(record)
    }

    fn write_out(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.written += (self.pending.len() / N) as u64;
            self.pending.clear();
        }
        Ok(())
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn located_bytes(at: Located) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[0..8].copy_from_slice(&at.lsn.to_le_bytes());
    out[8..16].copy_from_slice(&at.position.file.to_le_bytes());
    out[16..24].copy_from_slice(&at.position.offset.to_le_bytes());
    out
}

fn located_from(bytes: &[u8]) -> Located {
    Located { lsn: u64_at(bytes, 0), position: Position { file: u64_at(bytes, 8), offset: u64_at(bytes, 16) } }
}

/// The index of one audit log (see the module documentation).
pub struct Index {
    dir: PathBuf,
    entries: RecordFile<24>,
    checkpoints: RecordFile<32>,
    levels: Vec<RecordFile<32>>,
    frontier: Frontier,
    entries_at_last_seal: u64,
}

/// An index error: the file and the cause.
#[derive(Debug, thiserror::Error)]
#[error("audit index {path}: {source}")]
pub struct IndexError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> IndexError + '_ {
    move |source| IndexError { path: path.to_owned(), source }
}

impl Index {
    /// Opens the index in `dir` and returns it with the WAL LSN to replay from: after the sealed
    /// point, or from the start (0) when the index had to be begun again.
    pub fn open(dir: &Path) -> Result<(Index, Lsn), IndexError> {
        match Index::open_sealed(dir) {
            Ok(Some(opened)) => return Ok(opened),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "audit index unusable, rebuilding it from the log"),
        }
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(at(dir))?;
        }
        fs::create_dir_all(dir).map_err(at(dir))?;
        let index = Index::open_files(dir, 0)?;
        Ok((index, 0))
    }

    fn open_files(dir: &Path, levels_expected: usize) -> Result<Index, IndexError> {
        let entries_path = dir.join("entries.pos");
        let checkpoints_path = dir.join("checkpoints.pos");
        let entries = RecordFile::open(entries_path.clone()).map_err(at(&entries_path))?;
        let checkpoints = RecordFile::open(checkpoints_path.clone()).map_err(at(&checkpoints_path))?;
        let mut index =
            Index { dir: dir.to_owned(), entries, checkpoints, levels: Vec::new(), frontier: Frontier::default(), entries_at_last_seal: 0 };
        for height in 0..levels_expected {
            index.level_file(height as u32)?;
        }
        Ok(index)
    }

    /// Opens a sealed index, or `None` if there is none yet.
    fn open_sealed(dir: &Path) -> Result<Option<(Index, Lsn)>, IndexError> {
        let sealed_path = dir.join("sealed");
        let bytes = match fs::read(&sealed_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IndexError { path: sealed_path, source: e }),
        };
        let sealed: Sealed =
            serde_json::from_slice(&bytes).map_err(|e| IndexError { path: sealed_path.clone(), source: io::Error::other(e) })?;
        let levels_expected = (64 - sealed.entries.leading_zeros()) as usize;
        let mut index = Index::open_files(dir, levels_expected)?;
        let short = |path: &Path, has: u64, needs: u64| IndexError {
            path: path.to_owned(),
            source: io::Error::other(format!("holds {has} records, the seal says {needs}")),
        };
        if index.entries.len() < sealed.entries {
            return Err(short(&index.entries.path, index.entries.len(), sealed.entries));
        }
        index.entries.truncate(sealed.entries).map_err(at(&dir.join("entries.pos")))?;
        if index.checkpoints.len() < sealed.checkpoints {
            return Err(short(&index.checkpoints.path, index.checkpoints.len(), sealed.checkpoints));
        }
        index.checkpoints.truncate(sealed.checkpoints).map_err(at(&dir.join("checkpoints.pos")))?;
        for (height, level) in index.levels.iter_mut().enumerate() {
            let needs = sealed.entries >> height;
            if level.len() < needs {
                return Err(short(&level.path, level.len(), needs));
            }
            let path = level.path.clone();
            level.truncate(needs).map_err(at(&path))?;
        }
        index.frontier = Frontier::of(&index, sealed.entries).map_err(at(dir))?;
        if hex::encode(index.frontier.root()) != sealed.root_hex {
            return Err(IndexError { path: sealed_path, source: io::Error::other("the stored tree's root is not the sealed root") });
        }
        index.entries_at_last_seal = sealed.entries;
        Ok(Some((index, sealed.next_lsn.saturating_sub(1))))
    }

    fn level_file(&mut self, height: u32) -> Result<&mut RecordFile<32>, IndexError> {
        while self.levels.len() <= height as usize {
            let path = self.dir.join(format!("level-{:02}.hash", self.levels.len()));
            self.levels.push(RecordFile::open(path.clone()).map_err(at(&path))?);
        }
        Ok(&mut self.levels[height as usize])
    }

    /// The tree's right edge (for computing the next root before an append is written).
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Number of entries.
    pub fn entries(&self) -> u64 {
        self.entries.len()
    }

    /// Number of stored checkpoints.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints.len()
    }

    /// Records an entry stored at `at` with leaf hash `leaf`.
    pub fn push_entry(&mut self, at: Located, leaf: Hash) -> Result<(), IndexError> {
        self.entries.push(&located_bytes(at));
        for (height, _, hash) in self.frontier.push(leaf) {
            self.level_file(height)?.push(&hash);
        }
        Ok(())
    }

    /// Records a checkpoint of the tree as it now is, stored at `at`.
    pub fn push_checkpoint(&mut self, at: Located) {
        let mut record = [0u8; 32];
        record[0..8].copy_from_slice(&self.frontier.size().to_le_bytes());
        record[8..32].copy_from_slice(&located_bytes(at));
        self.checkpoints.push(&record);
    }

    /// Where entry `index` is.
    pub fn entry(&self, index: u64) -> Result<Located, IndexError> {
        self.entries.get(index).map(|b| located_from(&b)).map_err(at(&self.entries.path))
    }

    /// Stored checkpoint `index` (in order of size).
    pub fn checkpoint(&self, index: u64) -> Result<StoredCheckpoint, IndexError> {
        let record = self.checkpoints.get(index).map_err(at(&self.checkpoints.path))?;
        Ok(StoredCheckpoint { size: u64_at(&record, 0), at: located_from(&record[8..]) })
    }

    /// The first stored checkpoint whose size is above `size` (the count of stored ones if none).
    pub fn first_checkpoint_above(&self, size: u64) -> Result<u64, IndexError> {
        let (mut low, mut high) = (0, self.checkpoints.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if self.checkpoint(mid)?.size <= size {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        Ok(low)
    }

    /// Writes appended records out to the files (without syncing), and seals when due.
    pub fn write_out(&mut self, next_lsn: Lsn) -> Result<(), IndexError> {
        self.write_files()?;
        if self.entries.len() >= self.entries_at_last_seal + SEAL_EVERY_ENTRIES {
            self.seal(next_lsn)?;
        }
        Ok(())
    }

    fn write_files(&mut self) -> Result<(), IndexError> {
        self.entries.write_out().map_err(at(&self.entries.path))?;
        self.checkpoints.write_out().map_err(at(&self.checkpoints.path))?;
        for level in &mut self.levels {
            let path = level.path.clone();
            level.write_out().map_err(at(&path))?;
        }
        Ok(())
    }

    /// Syncs every file and records how far they reach, so an open replays only what follows.
    pub fn seal(&mut self, next_lsn: Lsn) -> Result<(), IndexError> {
        self.write_files()?;
        let files = [(&self.entries.file, &self.entries.path), (&self.checkpoints.file, &self.checkpoints.path)]
            .into_iter()
            .chain(self.levels.iter().map(|level| (&level.file, &level.path)));
        for (file, path) in files {
            file.sync_data().map_err(at(path))?;
        }
        // The files are new or grown: their directory entries must survive a power cut too.
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(at(&self.dir))?;
        let sealed = Sealed {
            entries: self.entries.len(),
            checkpoints: self.checkpoints.len(),
            next_lsn,
            root_hex: hex::encode(self.frontier.root()),
        };
        let path = self.dir.join("sealed");
        replace(&path, &serde_json::to_vec(&sealed).expect("serialises"), Readers::Default).map_err(at(&path))?;
        self.entries_at_last_seal = sealed.entries;
        Ok(())
    }
}

impl Subtrees for Index {
    type Error = io::Error;

    fn size(&self) -> u64 {
        self.frontier.size()
    }

    fn perfect(&self, height: u32, index: u64) -> Result<Hash, io::Error> {
        let level = self.levels.get(height as usize).ok_or_else(|| io::Error::other(format!("no tree level {height}")))?;
        level.get(index)
    }
}
