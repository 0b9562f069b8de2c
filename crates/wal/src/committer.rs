//! Group commit on a dedicated thread, with idempotent appends.
//!
//! Requests queue on a bounded channel; a full queue is the caller's signal to push back (HTTP 503)
//! instead of buffering without limit. The thread takes every waiting request, drops records whose
//! idempotency key it has seen, appends the rest, commits once, and hands the durable records
//! downstream together with the callers' acknowledgements. The consumer applies the group (the hot
//! path puts it in the searchable window) and only then acknowledges, so a caller that hears
//! "durable" can already read what it wrote. Groups go downstream in commit order, even those of
//! duplicates only, so a duplicate is acknowledged after the group that first held its record.
//! A failed write stops the log for good: every later request gets [`WalError::Stopped`], because
//! accepting records after a lost write could leave a hole.

use crate::{Lsn, Wal, WalError};
use std::collections::HashSet;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use tracing::error;

/// Requests merged into one commit at most; bounds the latency of the last request in a group.
pub const GROUP_REQUESTS_MAX: usize = 256;

/// One record to append: its idempotency key, its bytes, and the decoded value to pass downstream.
pub struct Record<T> {
    /// Records with a key seen before are acknowledged as duplicates and not appended again.
    pub key: u128,
    /// The bytes written to the log.
    pub payload: Vec<u8>,
    /// Handed downstream once durable.
    pub item: T,
}

/// A batch from one caller and how to tell it the outcome.
pub struct CommitRequest<T> {
    /// The records, in order.
    pub records: Vec<Record<T>>,
    /// Called once, after the records are durable (or the write failed).
    pub ack: Ack,
}

/// What happened to a request's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitOutcome {
    /// Newly appended and durable.
    pub appended: usize,
    /// Already in the log (same key); durable from an earlier request.
    pub duplicates: usize,
    /// The LSN of the last record appended, if any.
    pub last_lsn: Option<Lsn>,
}

/// Durable records handed downstream, in LSN order.
pub type Committed<T> = Vec<(Lsn, T)>;

type Ack = Box<dyn FnOnce(Result<CommitOutcome, WalError>) + Send>;

/// One commit's durable records and the acknowledgements of the requests it held.
pub struct DurableGroup<T> {
    /// The newly appended records, in LSN order (empty when the group held only duplicates).
    pub records: Committed<T>,
    /// Send these once the records are applied downstream.
    pub acks: Acknowledgements,
}

/// The acknowledgements of one commit, owed to its callers.
#[must_use = "the callers wait until their acknowledgements are sent"]
pub struct Acknowledgements(Vec<(Ack, CommitOutcome)>);

impl Acknowledgements {
    /// Tells every caller of the commit its outcome.
    pub fn send(self) {
        for (ack, outcome) in self.0 {
            ack(Ok(outcome));
        }
    }
}

/// What the committer knows of the keys already durable: asked before a group is appended, told
/// of each append. A plain set of every key is enough for tests and small logs; the server keeps
/// only the keys not yet in its segments and asks the segments for the rest.
pub trait Seen<T>: Send {
    /// For each record, whether one with its key is already durable.
    fn held(&mut self, records: &[(u128, &T)]) -> Vec<bool>;
    /// A record with this key was appended at `lsn`.
    fn insert(&mut self, key: u128, lsn: Lsn);
    /// The append of this key was lost with a failed write.
    fn remove(&mut self, key: u128);
}

impl<T> Seen<T> for HashSet<u128> {
    fn held(&mut self, records: &[(u128, &T)]) -> Vec<bool> {
        records.iter().map(|(key, _)| self.contains(key)).collect()
    }

    fn insert(&mut self, key: u128, _: Lsn) {
        HashSet::insert(self, key);
    }

    fn remove(&mut self, key: u128) {
        HashSet::remove(self, &key);
    }
}

/// The sending side of the committer.
pub struct Committer<T> {
    sender: SyncSender<CommitRequest<T>>,
}

impl<T> Clone for Committer<T> {
    fn clone(&self) -> Self {
        Committer { sender: self.sender.clone() }
    }
}

impl<T> Committer<T> {
    /// Queues a request without waiting. Returns it back when the queue is full (push back) or the
    /// committer has stopped.
    pub fn try_submit(&self, request: CommitRequest<T>) -> Result<(), CommitRequest<T>> {
        self.sender.try_send(request).map_err(|e| match e {
            TrySendError::Full(r) | TrySendError::Disconnected(r) => r,
        })
    }

    /// Queues a request, waiting for room (bulk loads, where waiting is the right push back).
    pub fn submit(&self, request: CommitRequest<T>) -> Result<(), CommitRequest<T>> {
        self.sender.send(request).map_err(|e| e.0)
    }
}

/// Starts the group-commit thread. `seen` knows the keys already durable (from recovery);
/// `queue_requests_max` bounds waiting requests; `downstream` receives each durable group and
/// sends its acknowledgements once it has applied it. The thread ends when every [`Committer`] is
/// dropped.
pub fn committer<T: Send + 'static>(
    wal: Wal,
    seen: impl Seen<T> + 'static,
    queue_requests_max: usize,
    downstream: SyncSender<DurableGroup<T>>,
) -> (Committer<T>, JoinHandle<()>) {
    let (sender, receiver) = sync_channel(queue_requests_max);
    let handle = std::thread::Builder::new()
        .name("wal-commit".into())
        .spawn(move || run(wal, seen, receiver, downstream))
        .expect("spawn wal-commit thread");
    (Committer { sender }, handle)
}

fn run<T>(mut wal: Wal, mut seen: impl Seen<T>, receiver: Receiver<CommitRequest<T>>, downstream: SyncSender<DurableGroup<T>>) {
    let mut stopped = false;
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_REQUESTS_MAX {
            match receiver.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        if stopped {
            for request in group {
                (request.ack)(Err(WalError::Stopped));
            }
            continue;
        }
        let mut outcomes = Vec::with_capacity(group.len());
        let mut acks = Vec::with_capacity(group.len());
        let mut durable: Committed<T> = Vec::new();
        let mut new_keys = HashSet::new();
        let mut failure = None;
        // One question for the whole group; keys repeated within it are caught by `new_keys`.
        let held = {
            let asked: Vec<(u128, &T)> = group.iter().flat_map(|r| r.records.iter().map(|record| (record.key, &record.item))).collect();
            seen.held(&asked)
        };
        let mut held = held.into_iter();
        for request in group {
            let mut outcome = CommitOutcome::default();
            for record in request.records {
                let already = held.next().unwrap_or(false);
                if failure.is_some() {
                    continue;
                }
                if already || new_keys.contains(&record.key) {
                    outcome.duplicates += 1;
                    continue;
                }
                match wal.append(&record.payload) {
                    Ok(lsn) => {
                        seen.insert(record.key, lsn);
                        new_keys.insert(record.key);
                        outcome.appended += 1;
                        outcome.last_lsn = Some(lsn);
                        durable.push((lsn, record.item));
                    }
                    Err(e) => failure = Some(e),
                }
            }
            outcomes.push(outcome);
            acks.push(request.ack);
        }
        if failure.is_none() {
            let started = std::time::Instant::now();
            match wal.commit() {
                Ok(()) => crate::metrics::committed(durable.len(), started.elapsed()),
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => {
                error!(error = %e, "wal write failed; refusing further appends");
                stopped = true;
                for key in new_keys {
                    seen.remove(key);
                }
                let message = e.to_string();
                for ack in acks {
                    ack(Err(WalError::Io { path: "wal".into(), source: std::io::Error::other(message.clone()) }));
                }
            }
            None => {
                let group = DurableGroup { records: durable, acks: Acknowledgements(acks.into_iter().zip(outcomes).collect()) };
                if let Err(closed) = downstream.send(group) {
                    error!("wal downstream closed; records are durable and will be replayed on restart");
                    closed.0.acks.send();
                }
            }
        }
    }
}
