//! Accountability: the Merkle audit log, its signed checkpoints, purpose binding and the verifier.
#![deny(missing_docs)]

pub mod merkle;
