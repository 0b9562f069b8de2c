//! Hotlist matching throughput on one core: a 1M-entry list, exact or misread-tolerant (one substitution
//! besides confusable glyphs), reads with five candidates each (the top reading and four
//! alternatives), every reading checked; with the alerts raised, and the matching alone.
//!
//! The peer, on the same list and reads in the same run: an `fst` map of the entries' canonical keys
//! (confusable glyphs folded, as the engine folds them) searched with a Levenshtein automaton of
//! distance 1 for each reading. Every plate of the bench has seven characters, and between plates of
//! one length a single edit is a substitution, so both answer the same question; the bench checks
//! that they find the same entries.
//!
//! Matching a national list is bounded by memory latency where its index outgrows the cache, so the
//! bench also times dependent random loads in tables of a few sizes: the machine's side of the
//! figures.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fst::{IntoStreamer, Streamer};
use glasshouse_engine::rules::misread::canonical;
use glasshouse_engine::{HotlistIndex, HotlistSource, MatchPolicy, NewHotlist, NewHotlistEntry};
use glasshouse_model::{Body, Candidate, Observation, PlateRead, Position, Timestamp};
use std::hint::black_box;

const ENTRIES: usize = 1_000_000;
const READS: usize = 10_000;

/// A deterministic generator (xorshift) so the bench needs no extra crates.
struct Plates(u64);

impl Plates {
    fn next(&mut self) -> String {
        let mut plate = String::with_capacity(7);
        for i in 0..7 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            // Seven letters or digits, as US state plates: a 1M-entry list (NCIC scale) then covers a
            // realistic sliver of the plate space, so most reads hit nothing.
            let _ = i;
            let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[(self.0 % 36) as usize] as char;
            plate.push(c);
        }
        plate
    }
}

/// The listed plates (the same for every list of the bench).
fn listed_plates() -> Vec<String> {
    let mut plates = Plates(0x9e37_79b9_7f4a_7c15);
    (0..ENTRIES).map(|_| plates.next()).collect()
}

fn list(plates: &[String], policy: MatchPolicy, k: Option<u8>) -> HotlistIndex {
    let now = Timestamp::parse_rfc3339("2026-11-01T00:00:00Z").unwrap();
    let expires_at = Timestamp::parse_rfc3339("2027-06-01T00:00:00Z").unwrap();
    let mut index = HotlistIndex::default();
    let hotlist = NewHotlist {
        name: "bench".into(),
        source: HotlistSource::Ncic,
        match_policy: policy,
        priority: None,
        substitutions_max: k,
        length_tolerance: false,
        region_tolerant: false,
    }
    .into_hotlist("hl".into(), "bench", now)
    .unwrap();
    index.upsert_list(hotlist);
    let entries = plates
        .iter()
        .enumerate()
        .map(|(i, plate)| {
            NewHotlistEntry { plate: plate.clone(), region: None, reason: "stolen_vehicle".into(), expires_at }
                .into_entry(i, "bench", now)
                .unwrap()
        })
        .collect();
    index.add_entries("hl", entries);
    index
}

fn reads() -> Vec<Observation> {
    let mut plates = Plates(0x2545_f491_4f6c_dd1d);
    let at = Timestamp::parse_rfc3339("2026-11-27T20:00:00Z").unwrap();
    (0..READS)
        .map(|i| {
            let top = plates.next();
            let candidates = (0..4).map(|_| Candidate { plate: plates.next(), confidence: Some(0.3) }).collect();
            Observation {
                id: format!("r{i}"),
                device_id: "lpr-1".into(),
                observed_at: at,
                received_at: at,
                position: Position { lat: 60.17, lon: 24.94, heading_deg: None, accuracy_m: None },
                body: Body::PlateRead(PlateRead { plate: top, candidates, ..PlateRead::default() }),
            }
        })
        .collect()
}

/// The binary's huge-page advice, so the bench measures the tables as the server holds them.
fn advise_huge_pages(start: *const u8, bytes: usize) {
    // SAFETY: madvise only changes how the kernel backs a live allocation of the engine's.
    unsafe {
        libc::madvise(start as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE);
    }
}

/// The peer's index: every canonical key of the list, with how many entries share it.
fn peer_map(plates: &[String]) -> fst::Map<Vec<u8>> {
    let mut keys: Vec<String> = plates.iter().map(|p| canonical(p)).collect();
    keys.sort_unstable();
    let mut builder = fst::MapBuilder::memory();
    for run in keys.chunk_by(|a, b| a == b) {
        builder.insert(&run[0], run.len() as u64).unwrap();
    }
    builder.into_map()
}

fn readings(read: &Observation) -> impl Iterator<Item = &str> {
    let plate = read.plate_read().unwrap();
    std::iter::once(plate.plate.as_str()).chain(plate.candidates.iter().map(|c| c.plate.as_str()))
}

/// The canonical keys the peer finds for `reading` within one edit, with their entry counts, and
/// whether each is within one substitution (the engine's lenient list without a length tolerance).
fn peer_matches(map: &fst::Map<Vec<u8>>, reading: &str, each: &mut impl FnMut(&[u8], u64, bool)) {
    let key = canonical(reading);
    let automaton = fst::automaton::Levenshtein::new(&key, 1).unwrap();
    let mut stream = map.search(automaton).into_stream();
    while let Some((found, entries)) = stream.next() {
        let substitution = found.len() == key.len() && found.iter().zip(key.as_bytes()).filter(|(a, b)| a != b).count() <= 1;
        each(found, entries, substitution);
    }
}

/// Dependent loads, each from a random cache line of a `mib` MiB table (a random cycle, so no
/// prefetcher guesses the next): the latency a lookup pays for each miss at that working set.
fn dependent_loads(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, mib: usize) {
    const LOADS: usize = 100_000;
    const WORDS_PER_LINE: usize = 8;
    let lines = mib << 20 >> 6;
    let mut table = vec![0u64; lines * WORDS_PER_LINE];
    advise_huge_pages(table.as_ptr().cast(), table.len() * 8);
    // Sattolo's shuffle: one cycle through every line.
    let mut order: Vec<usize> = (0..lines).collect();
    let mut rng = Plates(0x2545_f491_4f6c_dd1d);
    for i in (1..lines).rev() {
        rng.next();
        order.swap(i, rng.0 as usize % i);
    }
    for i in 0..lines {
        table[order[i] * WORDS_PER_LINE] = (order[(i + 1) % lines] * WORDS_PER_LINE) as u64;
    }
    group.throughput(Throughput::Elements(LOADS as u64));
    group.bench_function(format!("dependent_loads_in_{mib}_mib"), |b| {
        let mut at = 0u64;
        b.iter(|| {
            for _ in 0..LOADS {
                at = table[at as usize];
            }
            black_box(at)
        })
    });
}

fn machine(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory");
    group.sample_size(10);
    for mib in [1, 4, 16, 128] {
        dependent_loads(&mut group, mib);
    }
    group.finish();
}

fn matching(c: &mut Criterion) {
    glasshouse_engine::rules::misread::set_huge_page_advice(advise_huge_pages);
    let reads = reads();
    let plates = listed_plates();
    let map = peer_map(&plates);
    let mut group = c.benchmark_group("hotlist_match_1m_entries_5_candidates");
    group.throughput(Throughput::Elements(READS as u64));
    group.sample_size(10);
    let lists = [("exact", MatchPolicy::Exact, None), ("lenient_1_substitution", MatchPolicy::MisreadTolerant, Some(1))];
    for (name, policy, k) in lists {
        let index = list(&plates, policy, k);
        if name == "lenient_1_substitution" {
            check_against_peer(&index, &reads, &map);
        }
        let mut alerts = Vec::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                alerts.clear();
                for read in &reads {
                    index.evaluate(black_box(read), Timestamp(0), &mut alerts);
                }
                alerts.len()
            })
        });
        eprintln!("{name}: {} alerts per {READS} reads", alerts.len());
        // The matching alone (lookups, verification, the evidence, expiry and region), without
        // making each match an alert (an id hash and a dozen strings): what a read costs when,
        // as in service, few reads hit anything.
        let mut found = Vec::new();
        group.bench_function(format!("{name}_matching_only"), |b| {
            b.iter(|| {
                let mut matched = 0;
                for read in &reads {
                    found.clear();
                    index.matches(black_box(read), &mut found);
                    matched += found.len();
                }
                matched
            })
        });
    }
    group.bench_function("peer_fst_levenshtein_1", |b| {
        b.iter(|| {
            let mut matched = 0;
            for read in &reads {
                for reading in readings(read) {
                    peer_matches(&map, black_box(reading), &mut |_, entries, _| matched += entries);
                }
            }
            matched
        })
    });
    group.finish();
}

/// The engine's lenient list and the peer find the same entries for every read (the engine
/// reports an entry once per read, whichever readings found it).
fn check_against_peer(index: &HotlistIndex, reads: &[Observation], map: &fst::Map<Vec<u8>>) {
    let (mut ours, mut theirs, mut theirs_any) = (0u64, 0u64, 0u64);
    let mut found = Vec::new();
    for read in reads {
        found.clear();
        index.matches(read, &mut found);
        ours += found.len() as u64;
        let mut keys = std::collections::HashMap::new();
        for reading in readings(read) {
            peer_matches(map, reading, &mut |key, entries, substitution| {
                theirs_any += entries;
                if substitution {
                    keys.insert(key.to_vec(), entries);
                }
            });
        }
        theirs += keys.values().sum::<u64>();
    }
    eprintln!(
        "entries matched by {READS} reads: engine {ours}, fst within one substitution {theirs} (one edit, per reading: {theirs_any})"
    );
    assert_eq!(ours, theirs, "the engine and the peer disagree");
}

criterion_group!(benches, machine, matching);
criterion_main!(benches);
