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

/// Starts the group-commit thread. `seen` holds the keys already durable (from recovery);
/// `queue_requests_max` bounds waiting requests; `downstream` receives each durable group and
/// sends its acknowledgements once it has applied it. The thread ends when every [`Committer`] is
/// dropped.
pub fn committer<T: Send + 'static>(
    wal: Wal,
    seen: HashSet<u128>,
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

fn run<T>(mut wal: Wal, mut seen: HashSet<u128>, receiver: Receiver<CommitRequest<T>>, downstream: SyncSender<DurableGroup<T>>) {
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
        let mut new_keys = Vec::new();
        let mut failure = None;
        for request in group {
            let mut outcome = CommitOutcome::default();
            for record in request.records {
                if failure.is_some() {
                    break;
                }
                if seen.contains(&record.key) {
                    outcome.duplicates += 1;
                    continue;
                }
                match wal.append(&record.payload) {
                    Ok(lsn) => {
                        seen.insert(record.key);
                        new_keys.push(record.key);
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
        if failure.is_none()
            && let Err(e) = wal.commit()
        {
            failure = Some(e);
        }
        match failure {
            Some(e) => {
                error!(error = %e, "wal write failed; refusing further appends");
                stopped = true;
                for key in new_keys {
                    seen.remove(&key);
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
