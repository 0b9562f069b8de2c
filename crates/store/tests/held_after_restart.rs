//! Ingest's duplicate check after a restart, at the scale of a few days of a big city: 10M plate
//! reads flushed over ten days (four segments a day, as a day is before compaction), the store
//! opened again from disk, then asked about stored records and new ones. Every stored record must
//! be found (a repeat stored twice), and no new one refused (a real record lost): the id filters
//! answer "maybe" for about one new record in 65,536, and the exact check of the segment's ids
//! must turn each of those into "new".

mod common;

use common::read;
use glasshouse_model::time::MICROS_PER_DAY;
use glasshouse_model::{Observation, Timestamp};
use glasshouse_store::SegmentStore;
use proptest::prelude::*;
use std::sync::OnceLock;

const DAYS: usize = 10;
const PER_DAY: usize = 1_000_000;
const FLUSHES_PER_DAY: usize = 4;

/// The first day: midnight UTC, twenty days back.
fn first_day() -> Timestamp {
    Timestamp(Timestamp::now().plus_secs(-20 * 86_400).0.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY)
}

/// Stored read `i`: its id, and its time, spread over its day.
fn stored_at(first: Timestamp, i: usize) -> Timestamp {
    let (day, within) = (i / PER_DAY, i % PER_DAY);
    Timestamp(first.0 + day as i64 * MICROS_PER_DAY + (within as i64 * (MICROS_PER_DAY - 1)) / PER_DAY as i64)
}

struct Stored {
    _dir: tempfile::TempDir,
    store: SegmentStore,
    first: Timestamp,
}

/// Writes the ten days once, then opens the store again as a restarted node does.
fn stored() -> &'static Stored {
    static STORED: OnceLock<Stored> = OnceLock::new();
    STORED.get_or_init(|| {
        let started = std::time::Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let first = first_day();
        {
            let mut store = SegmentStore::open(dir.path()).unwrap();
            let per_flush = PER_DAY / FLUSHES_PER_DAY;
            for flush in 0..DAYS * FLUSHES_PER_DAY {
                let records: Vec<(u64, Observation)> = (flush * per_flush..(flush + 1) * per_flush)
                    .map(|i| (i as u64 + 1, read(format!("r-{i}"), stored_at(first, i))))
                    .collect();
                store.flush(&records).unwrap();
            }
        }
        let store = SegmentStore::open(dir.path()).unwrap();
        eprintln!("{} reads flushed and the store reopened in {:.0?}", DAYS * PER_DAY, started.elapsed());
        Stored { _dir: dir, store, first }
    })
}

fn ask(store: &SegmentStore, records: &[Observation]) -> Vec<bool> {
    let keyed: Vec<(u128, &Observation)> = records.iter().map(|o| (o.dedup_key(), o)).collect();
    store.held(&keyed).unwrap()
}

/// How many of the ten million records `id_prefix`-`i` (each at stored read `i`'s time) the store
/// says it holds, asked half a million at a time.
fn held_of_ten_million(store: &SegmentStore, first: Timestamp, id_prefix: &str) -> usize {
    let indices: Vec<usize> = (0..DAYS * PER_DAY).collect();
    indices
        .chunks(500_000)
        .map(|chunk| {
            let records: Vec<Observation> = chunk.iter().map(|&i| read(format!("{id_prefix}-{i}"), stored_at(first, i))).collect();
            ask(store, &records).iter().filter(|held| **held).count()
        })
        .sum()
}

#[test]
fn after_a_restart_no_new_record_of_ten_million_is_refused() {
    let s = stored();
    // As many new records as stored ones, at the stored ones' times: each asks its day's filters,
    // so about 150 filter "maybe"s reach the exact check.
    let refused = held_of_ten_million(&s.store, s.first, "n");
    assert_eq!(refused, 0, "new records taken for stored ones");
}

#[test]
fn after_a_restart_every_stored_record_of_ten_million_is_found() {
    let s = stored();
    let found = held_of_ten_million(&s.store, s.first, "r");
    assert_eq!(DAYS * PER_DAY - found, 0, "stored records taken for new ones");
}

/// Stored records a replay repeats: a crash replays the WAL's tail, so its repeats are recent
/// records of a few segments (the store keeps the ids of the segments it checked last, up to a
/// bound, and reads a segment's ids again once they have been dropped).
const REPLAY_SPAN: usize = 50_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Mixed batches, as a replay after a crash sends them: repeats and new records in any order,
    /// new ones at any time of the stored days or after them; each answered for itself.
    #[test]
    fn a_mixed_batch_is_answered_record_by_record(
        from in 0..DAYS * PER_DAY - REPLAY_SPAN,
        asked in proptest::collection::vec((any::<bool>(), 0..REPLAY_SPAN, 0i64..(DAYS as i64 + 1) * MICROS_PER_DAY), 1..300)
    ) {
        let s = stored();
        let records: Vec<Observation> = asked
            .iter()
            .map(|&(repeat, offset, at)| {
                let i = from + offset;
                if repeat { read(format!("r-{i}"), stored_at(s.first, i)) } else { read(format!("new-{i}-{at}"), Timestamp(s.first.0 + at)) }
            })
            .collect();
        let held = ask(&s.store, &records);
        for ((repeat, offset, _), held) in asked.iter().zip(held) {
            prop_assert_eq!(*repeat, held, "record {} (a repeat: {})", from + offset, repeat);
        }
    }
}
