//! The dead-letter store: every refused record, with its reason, where it came from and when.
//!
//! An append-only NDJSON file. Refused records are rare next to good ones, so a plain file that an
//! operator can also read with `jq` beats an index. Appends are synced: a refused record is evidence
//! that a producer misbehaves, and it must not vanish with a crash.

use crate::decode::LineError;
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
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
}
