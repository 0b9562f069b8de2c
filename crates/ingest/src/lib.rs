//! Ingest: turning bytes from a source into validated observations, and keeping what was refused.
//!
//! Sources differ in transport (an HTTP body, a file, a CSV export); all of them end in the same
//! [`decode::Batch`]: the good records with their line numbers, and one [`decode::LineError`] per bad
//! record. A bad record never costs the batch: it goes to the [`dead_letter`] store with its reason.
//! This crate knows nothing of the WAL or of rules; the binary wires it to them.
#![deny(missing_docs)]

pub mod dead_letter;
pub mod decode;
pub mod sources;

pub use dead_letter::{DeadLetter, DeadLetterStore};
pub use decode::{Batch, BodyError, LineError, decode_ndjson, gunzip};
