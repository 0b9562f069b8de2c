//! Per-sink counters, shared between a sink's worker and the status endpoint.

use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters one worker updates and anyone may read.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    dead_lettered: AtomicU64,
    skipped: AtomicU64,
    next_position: AtomicUsize,
    last_latency_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A snapshot, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SinkStatus {
    /// The sink's name.
    pub name: String,
    /// Where it sends (no secrets).
    pub target: String,
    /// Alerts the far end acknowledged.
    pub delivered: u64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: u64,
    /// Alerts given up on.
    pub dead_lettered: u64,
    /// Alerts this sink's filter left out.
    pub skipped: u64,
    /// Alerts raised but not yet delivered, skipped or given up on.
    pub pending: usize,
    /// How long the last acknowledged delivery took, from its first attempt.
    pub last_latency_ms: u64,
    /// The last failure, if the sink has failed since its last success.
    pub last_error: Option<String>,
}

impl SinkMetrics {
    pub(super) fn delivered(&self, latency_ms: u64) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.last_latency_ms.store(latency_ms, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(super) fn failed(&self, reason: &str) {
        self.failed_attempts.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_owned());
    }

    pub(super) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set_next_position(&self, position: usize) {
        self.next_position.store(position, Ordering::Relaxed);
    }

    /// A snapshot; `raised` is how many alerts the log holds (for `pending`).
    pub fn status(&self, name: &str, target: &str, raised: usize) -> SinkStatus {
        SinkStatus {
            name: name.to_owned(),
            target: target.to_owned(),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed_attempts: self.failed_attempts.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            pending: raised.saturating_sub(self.next_position.load(Ordering::Relaxed)),
            last_latency_ms: self.last_latency_ms.load(Ordering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}
