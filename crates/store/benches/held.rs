//! Ingest's duplicate check per record against a day of stored reads: the segments' id filters
//! (what the committer asks for a record not appended since the last flush) beside the set of every
//! stored key that the committer held in memory before, the peer on the same keys. Keys are
//! computed before timing: the committer has them in either design.
//!
//! A day of 1M plate reads is flushed in eight rounds, as a day is before compaction merges it, so
//! a record's day has eight segments to ask. Three cases: new records inside the day's time range
//! (a replay with new ids: every filter is asked), new records after the last flush (live traffic:
//! the time ranges answer), and repeats of stored records (a filter's "maybe", then the ids).

#[path = "../tests/common/mod.rs"]
mod common;

use common::read;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glasshouse_model::time::MICROS_PER_DAY;
use glasshouse_model::{Observation, Timestamp};
use glasshouse_store::SegmentStore;
use std::collections::HashSet;
use std::hint::black_box;

const STORED: usize = 1_000_000;
const ROUNDS: usize = 8;
const ASKED: usize = 10_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // A day that starts at midnight UTC, ten days back.
    let day = Timestamp(Timestamp::now().plus_secs(-10 * 86_400).0.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY);
    let at = |i: usize| day.plus_secs((i as i64 * 86_000) / STORED as i64);
    let stored: Vec<(u64, Observation)> = (0..STORED).map(|i| (i as u64 + 1, read(format!("r-{i}"), at(i)))).collect();
    {
        let mut store = SegmentStore::open(dir.path()).unwrap();
        for round in stored.chunks(STORED / ROUNDS) {
            store.flush(round).unwrap();
        }
    }
    let store = SegmentStore::open(dir.path()).unwrap();
    let every_key: HashSet<u128> = stored.iter().map(|(_, o)| o.dedup_key()).collect();
    let replayed: Vec<Observation> = (0..ASKED).map(|i| read(format!("n-{i}"), at(i * (STORED / ASKED)))).collect();
    let live: Vec<Observation> = (0..ASKED).map(|i| read(format!("l-{i}"), day.plus_secs(86_100))).collect();
    let repeats: Vec<&Observation> = stored.iter().step_by(STORED / ASKED).map(|(_, o)| o).collect();
    let mut group = c.benchmark_group("held");
    group.throughput(Throughput::Elements(ASKED as u64));
    for (name, asked) in
        [("new_in_range", replayed.iter().collect::<Vec<_>>()), ("new_after_flush", live.iter().collect()), ("repeats", repeats)]
    {
        // The committer has each record's key before it asks, in either design.
        let asked: Vec<(u128, &Observation)> = asked.into_iter().map(|o| (o.dedup_key(), o)).collect();
        let expected = name == "repeats";
        assert!(store.held(&asked).unwrap().iter().all(|h| *h == expected), "{name}");
        group.bench_function(format!("id_filters/{name}"), |b| b.iter(|| black_box(store.held(black_box(&asked)).unwrap())));
        group.bench_function(format!("every_key_in_memory/{name}"), |b| {
            b.iter(|| black_box(asked.iter().filter(|(key, _)| every_key.contains(key)).count()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
