//! Accountability: the Merkle audit log, its signed checkpoints, purpose binding and the verifier.
//!
//! - [`action`]: the names of the actions the log records.
//! - [`merkle`]: RFC 6962/9162 hashing, the tree, inclusion and consistency proofs.
//! - [`note`]: checkpoints in the C2SP tlog-checkpoint format as Ed25519 signed notes.
//! - [`cosignature`]: witnesses' cosignatures (C2SP tlog-cosignature, Ed25519 cosignature/v1).
//! - [`witness`]: a witness that cosigns only checkpoints extending what it saw (C2SP tlog-witness).
//! - [`witnessing`]: the log's side: asking witnesses, keeping the cosigned checkpoint.
//! - [`keyed`]: HMAC keyed hashes, so entries name plates and free text without revealing them.
//! - [`index`]: where the log's entries and checkpoints are, and its tree's hashes, on disk.
//! - [`log`]: the durable log; an append returns an [`log::AuditReceipt`], which searches demand.
//! - [`verify`]: the offline verifier that names deletions, reorderings, modifications and truncation.
//! - [`purpose`]: the purpose, case number and justification every historical search must carry.
//! - [`book`]: the record book over a WAL that approvals, holds and changes are kept in.
//! - [`approvals`]: supervisor approvals for broad searches, two people always.
//! - [`cases`]: the cases searches name, opened and closed by supervisors.
//! - [`warrants`]: registered warrants, and whether one allows a search.
//! - [`exigency`]: claims of exigency and the supervisor's review of each.
//! - [`pending`]: entries a command on the host leaves for the server to log.
#![deny(missing_docs)]

pub mod action;
pub mod approvals;
pub mod book;
pub mod cases;
pub mod changes;
pub mod cosignature;
pub mod exigency;
pub mod holds;
pub mod index;
pub mod keyed;
pub mod log;
pub mod merkle;
pub mod metrics;
pub mod note;
pub mod pending;
pub mod purpose;
pub mod verify;
pub mod warrants;
pub mod witness;
pub mod witnessing;

pub use action::Action;
pub use log::{Admitted, AuditEntry, AuditError, AuditEvent, AuditLog, AuditReceipt, Component};
pub use purpose::{Purpose, PurposeError, PurposePolicy};
