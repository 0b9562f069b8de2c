//! Entries that a command run on the host leaves for the server to log.
//!
//! A server holds its audit log for as long as it runs, so a command beside it (`glasshouse backup`)
//! cannot append. It leaves its entry in `audit-pending.ndjson` in the data directory instead, and
//! the server logs it within seconds, or at its next start. Both sides take `audit-pending.lock`:
//! the server rewrites the file without what it has logged, and an append must not land in the
//! version being replaced.

use crate::Action;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// The file, in the data directory.
pub const FILE: &str = "audit-pending.ndjson";
const LOCK: &str = "audit-pending.lock";

/// One entry waiting for the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEntry {
    /// Who acted, e.g. `host:backup-operator` (the login on the host).
    pub actor: String,
    /// The role the actor acted in.
    pub role: String,
    /// The action's stored name ([`Action::as_str`]).
    pub action: String,
    /// How it ended.
    pub outcome: String,
    /// What was done.
    pub details: serde_json::Value,
    /// When (RFC 3339), as the command saw it; the log adds its own time.
    pub at: String,
}

impl PendingEntry {
    /// The action, if this version of Glasshouse knows it.
    pub fn action(&self) -> Option<Action> {
        Action::parse(&self.action)
    }
}

fn locked(data_dir: &Path) -> io::Result<File> {
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(data_dir.join(LOCK))?;
    lock.lock()?;
    Ok(lock)
}

/// Leaves `entry` for the server, durably.
pub fn leave(data_dir: &Path, entry: &PendingEntry) -> io::Result<()> {
    let _lock = locked(data_dir)?;
    let mut file = OpenOptions::new().create(true).append(true).open(data_dir.join(FILE))?;
    file.write_all((serde_json::to_string(entry).map_err(io::Error::other)? + "\n").as_bytes())?;
    file.sync_all()
}

/// Entries left since the last call, oldest first: `record` logs each; it and those after the first
/// it refuses stay for the next call. Returns how many were logged.
pub fn drain(data_dir: &Path, mut record: impl FnMut(&PendingEntry) -> bool) -> io::Result<usize> {
    let path = data_dir.join(FILE);
    if !path.exists() {
        return Ok(0);
    }
    let _lock = locked(data_dir)?;
    let text = fs::read_to_string(&path)?;
    // A line torn by a crash mid-append is dropped with the rest of what is rewritten: its command
    // did not finish, and said so.
    let entries: Vec<PendingEntry> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let logged = entries.iter().take_while(|e| record(e)).count();
    let rest: String = entries[logged..].iter().map(|e| serde_json::to_string(e).expect("entries serialise") + "\n").collect();
    glasshouse_wal::files::replace(&path, rest.as_bytes(), glasshouse_wal::files::Readers::Default)?;
    Ok(logged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> PendingEntry {
        PendingEntry {
            actor: "host:ops".into(),
            role: "host".into(),
            action: Action::DataBackedUp.as_str().into(),
            outcome: "ok".into(),
            details: serde_json::json!({ "n": n }),
            at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn entries_are_logged_once_in_order_and_a_refused_one_waits() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..3 {
            leave(dir.path(), &entry(n)).unwrap();
        }
        let mut seen = Vec::new();
        let logged = drain(dir.path(), |e| {
            seen.push(e.details["n"].as_u64().unwrap());
            e.details["n"] != 1
        })
        .unwrap();
        assert_eq!((logged, seen), (1, vec![0, 1]), "the log refused entry 1: it and 2 wait");
        leave(dir.path(), &entry(3)).unwrap();
        let mut seen = Vec::new();
        let logged = drain(dir.path(), |e| {
            seen.push(e.details["n"].as_u64().unwrap());
            true
        })
        .unwrap();
        assert_eq!(logged, 3);
        assert_eq!(seen, vec![1, 2, 3]);
        assert_eq!(drain(dir.path(), |_| panic!("nothing is left")).unwrap(), 0);
        assert_eq!(entry(0).action(), Some(Action::DataBackedUp));
    }
}
