//! A book of records kept in their own write-ahead log: approvals, holds and two-person changes are
//! each a book of this kind. A record is stored whole at every step (its full current state), so
//! replay keeps the last version of each id. Every step runs its audit callback under the book's
//! lock before the record is stored: if the audit log cannot be written, nothing is recorded.

use glasshouse_wal::{FsyncPolicy, Wal, WalConfig, WalError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::Mutex;

/// A record a book can keep.
pub trait BookRecord: Serialize + DeserializeOwned + Clone {
    /// Its stable id; later versions replace earlier ones.
    fn id(&self) -> &str;
}

/// Why a book could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// The log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A stored record does not decode (at this LSN).
    #[error("record {0} does not decode")]
    Damaged(u64),
}

/// The records, oldest first, and the log behind them.
pub struct RecordBook<R> {
    state: Mutex<(Wal, Vec<R>)>,
}

impl<R: BookRecord> RecordBook<R> {
    /// Opens the book in `dir`, replaying every stored version.
    pub fn open(dir: &Path) -> Result<RecordBook<R>, BookError> {
        let mut records: Vec<R> = Vec::new();
        let mut damaged = None;
        let wal =
            Wal::open(WalConfig { fsync: FsyncPolicy::Always, ..WalConfig::new(dir) }, 0, |lsn, payload| {
                match serde_json::from_slice::<R>(payload) {
                    Ok(record) => match records.iter_mut().find(|r| r.id() == record.id()) {
                        Some(existing) => *existing = record,
                        None => records.push(record),
                    },
                    Err(_) => damaged = damaged.or(Some(lsn)),
                }
            })?;
        if let Some(lsn) = damaged {
            return Err(BookError::Damaged(lsn));
        }
        Ok(RecordBook { state: Mutex::new((wal, records)) })
    }

    /// Adds a new record once `audit` has logged it.
    pub fn insert<E: From<BookError>>(&self, record: R, audit: impl FnOnce(&R) -> Result<(), E>) -> Result<R, E> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        audit(&record)?;
        store(&mut state.0, &record)?;
        state.1.push(record.clone());
        Ok(record)
    }

    /// Adds a new record once `check` has accepted it beside the records already kept and `audit`
    /// has logged it, all under the book's lock (so two callers cannot both pass a uniqueness check).
    pub fn insert_if<E: From<BookError>>(
        &self,
        record: R,
        check: impl FnOnce(&[R], &R) -> Result<(), E>,
        audit: impl FnOnce(&R) -> Result<(), E>,
    ) -> Result<R, E> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        check(&state.1, &record)?;
        audit(&record)?;
        store(&mut state.0, &record)?;
        state.1.push(record.clone());
        Ok(record)
    }

    /// The newest record `existing` accepts, or else `make()`'s record, stored once `audit` has
    /// logged it; under one lock. The flag is true when the record is new.
    pub fn find_or_insert<E: From<BookError>>(
        &self,
        existing: impl Fn(&R) -> bool,
        make: impl FnOnce() -> R,
        audit: impl FnOnce(&R) -> Result<(), E>,
    ) -> Result<(R, bool), E> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = state.1.iter().rev().find(|r| existing(r)) {
            return Ok((found.clone(), false));
        }
        let record = make();
        audit(&record)?;
        store(&mut state.0, &record)?;
        state.1.push(record.clone());
        Ok((record, true))
    }

    /// Takes one step on the record `id`: `step` checks it and returns the new version (or refuses),
    /// `audit` logs that version, and only then is it stored. `missing` is the error when no record
    /// has that id.
    pub fn update<E: From<BookError>>(
        &self,
        id: &str,
        missing: impl FnOnce() -> E,
        step: impl FnOnce(R) -> Result<R, E>,
        audit: impl FnOnce(&R) -> Result<(), E>,
    ) -> Result<R, E> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let current = state.1.iter().find(|r| r.id() == id).cloned().ok_or_else(missing)?;
        let next = step(current)?;
        audit(&next)?;
        store(&mut state.0, &next)?;
        if let Some(slot) = state.1.iter_mut().find(|r| r.id() == id) {
            *slot = next.clone();
        }
        Ok(next)
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Option<R> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1.iter().find(|r| r.id() == id).cloned()
    }

    /// The records that `keep` accepts, newest first.
    pub fn newest_first(&self, keep: impl Fn(&R) -> bool) -> Vec<R> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1.iter().rev().filter(|r| keep(r)).cloned().collect()
    }
}

fn store<R: Serialize>(wal: &mut Wal, record: &R) -> Result<(), BookError> {
    wal.append(&serde_json::to_vec(record).expect("records serialise"))?;
    wal.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Note {
        id: String,
        text: String,
    }

    impl BookRecord for Note {
        fn id(&self) -> &str {
            &self.id
        }
    }

    fn note(id: &str, text: &str) -> Note {
        Note { id: id.into(), text: text.into() }
    }

    #[derive(Debug, PartialEq)]
    enum Refused {
        Missing,
        Audit,
        Book,
    }

    impl From<BookError> for Refused {
        fn from(_: BookError) -> Self {
            Refused::Book
        }
    }

    #[test]
    fn the_last_version_of_each_record_survives_a_reopen_and_an_unaudited_step_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let book = RecordBook::<Note>::open(dir.path()).unwrap();
            book.insert(note("a", "first"), |_| Ok::<_, Refused>(())).unwrap();
            book.insert(note("b", "other"), |_| Ok::<_, Refused>(())).unwrap();
            book.update("a", || Refused::Missing, |n| Ok(Note { text: "second".into(), ..n }), |_| Ok(())).unwrap();
            let failed = book.update("a", || Refused::Missing, |n| Ok(Note { text: "third".into(), ..n }), |_| Err(Refused::Audit));
            assert_eq!(failed.unwrap_err(), Refused::Audit);
            assert_eq!(book.update("z", || Refused::Missing, Ok, |_| Ok(())).unwrap_err(), Refused::Missing);
            assert_eq!(book.insert(note("c", "never"), |_| Err(Refused::Audit)).unwrap_err(), Refused::Audit);
        }
        let book = RecordBook::<Note>::open(dir.path()).unwrap();
        assert_eq!(book.newest_first(|_| true), [note("b", "other"), note("a", "second")]);
        assert_eq!(book.get("c"), None);
    }

    #[test]
    fn a_damaged_record_is_named_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(WalConfig::new(dir.path()), 0, |_, _| {}).unwrap();
        wal.append(b"{not a note").unwrap();
        wal.commit().unwrap();
        drop(wal);
        assert!(matches!(RecordBook::<Note>::open(dir.path()), Err(BookError::Damaged(1))));
    }
}
