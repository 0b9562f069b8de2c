//! Hotlist matching throughput on one core: a 1M-entry list, exact or misread-tolerant (one substitution
//! besides confusable glyphs), reads with five candidates each (the top reading and four
//! alternatives), every reading checked; with the alerts raised, and the matching alone.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

fn list(policy: MatchPolicy, k: Option<u8>) -> HotlistIndex {
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
    let mut plates = Plates(0x9e37_79b9_7f4a_7c15);
    let entries = (0..ENTRIES)
        .map(|i| {
            NewHotlistEntry { plate: plates.next(), region: None, reason: "stolen_vehicle".into(), expires_at }
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

fn matching(c: &mut Criterion) {
    glasshouse_engine::rules::misread::set_huge_page_advice(advise_huge_pages);
    let reads = reads();
    let mut group = c.benchmark_group("hotlist_match_1m_entries_5_candidates");
    group.throughput(Throughput::Elements(READS as u64));
    group.sample_size(10);
    for (name, policy, k) in [("exact", MatchPolicy::Exact, None), ("lenient_1_substitution", MatchPolicy::MisreadTolerant, Some(1))] {
        let index = list(policy, k);
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
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
