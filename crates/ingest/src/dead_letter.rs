//! The dead-letter store: every refused record, with its reason, where it came from and when.
//!
//! An append-only NDJSON file. Refused records are rare next to good ones, so a plain file that an
//! operator can also read with `jq` beats an index. Appends are synced: a refused record is evidence
//! that a producer misbehaves, and it must not vanish with a crash.

use crate::decode::LineError;
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One refused record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When it was refused.
    pub received_at: Timestamp,
    /// Which source refused it: `http`, `file`, `toronto_csv`, ...
    pub source: String,
    /// The line within its request or file.
    pub line: u64,
    /// Why.
    pub error: String,
    /// The record as received (cut to a bound).
    pub raw: String,
}

/// The store; cheap to share behind an `Arc`.
pub struct DeadLetterStore {
    path: PathBuf,
    file: Mutex<File>,
}

impl DeadLetterStore {
    /// Opens or creates the store file.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(DeadLetterStore { path, file: Mutex::new(file) })
    }

    /// Appends refused lines from one request or file and syncs them.
    pub fn append(&self, source: &str, received_at: Timestamp, errors: &[LineError]) -> io::Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::new();
        for e in errors {
            let letter = DeadLetter { received_at, source: source.to_owned(), line: e.line, error: e.error.clone(), raw: e.raw.clone() };
            serde_json::to_writer(&mut buffer, &letter).map_err(io::Error::other)?;
            buffer.push(b'\n');
        }
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(&buffer)?;
        file.sync_data()
    }

    /// The newest `limit` letters, newest first.
    pub fn list(&self, limit: usize) -> io::Result<Vec<DeadLetter>> {
        let reader = BufReader::new(File::open(&self.path)?);
        let mut ring = std::collections::VecDeque::with_capacity(limit.min(10_000));
        for line in reader.lines() {
            let line = line?;
            // A line torn by a crash mid-append is skipped, not fatal to the listing.
            if let Ok(letter) = serde_json::from_str::<DeadLetter>(&line) {
                if ring.len() == limit {
                    ring.pop_front();
                }
                if limit > 0 {
                    ring.push_back(letter);
                }
            }
        }
        Ok(ring.into_iter().rev().collect())
    }

    /// The file backing the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the letters refused before `cutoff`. `receipt` sees what goes (how many, and the
    /// SHA-256 of their lines) and runs before anything is deleted; if it fails, nothing is. The
    /// kept letters are written to a new file that replaces the old one, all under the append lock,
    /// so no letter arriving meanwhile is lost. A torn line left by a crash goes with the purge.
    pub fn purge<E: From<io::Error>>(
        &self,
        cutoff: Timestamp,
        receipt: impl FnOnce(&DeadLetterPurge) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (mut kept, mut hasher, mut deleted) = (Vec::new(), Sha256::new(), 0usize);
        for line in BufReader::new(File::open(&self.path)?).split(b'\n') {
            let line = line?;
            match serde_json::from_slice::<DeadLetter>(&line) {
                Ok(letter) if letter.received_at >= cutoff => {
                    kept.extend_from_slice(&line);
                    kept.push(b'\n');
                }
                _ if line.is_empty() => {}
                _ => {
                    hasher.update(&line);
                    hasher.update(b"\n");
                    deleted += 1;
                }
            }
        }
        if deleted == 0 {
            return Ok(0);
        }
        receipt(&DeadLetterPurge { deleted, lines_sha256: hex::encode(hasher.finalize()) })?;
        glasshouse_wal::files::replace(&self.path, &kept, glasshouse_wal::files::Readers::Default)?;
        *file = OpenOptions::new().append(true).open(&self.path)?;
        Ok(deleted)
    }
}

/// What a dead-letter purge deletes, for its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPurge {
    /// Letters deleted.
    pub deleted: usize,
    /// SHA-256 over their lines as stored, each with its newline.
    pub lines_sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_listed_newest_first_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead_letter.ndjson");
        let store = DeadLetterStore::open(&path).unwrap();
        let errors: Vec<LineError> = (1..=5).map(|line| LineError { line, error: format!("bad {line}"), raw: "{".into() }).collect();
        store.append("http", Timestamp(0), &errors).unwrap();
        drop(store);
        let store = DeadLetterStore::open(&path).unwrap();
        let listed = store.list(3).unwrap();
        assert_eq!(listed.iter().map(|l| l.line).collect::<Vec<_>>(), vec![5, 4, 3]);
        assert_eq!(listed[0].source, "http");
    }

    #[test]
    fn a_purge_deletes_only_letters_refused_before_the_cutoff_after_its_receipt_and_appends_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeadLetterStore::open(dir.path().join("dead.ndjson")).unwrap();
        let error = |raw: &str| LineError { line: 1, error: "bad".into(), raw: raw.into() };
        let (old, new) =
            (Timestamp::parse_rfc3339("2026-10-01T00:00:00Z").unwrap(), Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap());
        store.append("http", old, &[error("OLDPLATE1"), error("OLDPLATE2")]).unwrap();
        store.append("http", new, &[error("NEWPLATE")]).unwrap();
        let cutoff = Timestamp::parse_rfc3339("2026-11-01T00:00:00Z").unwrap();
        let refused: Result<usize, io::Error> = store.purge(cutoff, |_| Err(io::Error::other("audit down")));
        assert!(refused.is_err());
        assert_eq!(store.list(10).unwrap().len(), 3, "nothing goes without its receipt");
        let mut seen = None;
        let deleted = store
            .purge(cutoff, |r| -> Result<(), io::Error> {
                seen = Some(r.clone());
                Ok(())
            })
            .unwrap();
        assert_eq!((deleted, seen.unwrap().deleted), (2, 2));
        store.append("file", new, &[error("LATER")]).unwrap();
        let left: Vec<String> = store.list(10).unwrap().into_iter().map(|l| l.raw).collect();
        assert_eq!(left, ["LATER", "NEWPLATE"]);
        let bytes = std::fs::read(dir.path().join("dead.ndjson")).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("OLDPLATE"), "the purged letters are gone from the file");
    }
}
