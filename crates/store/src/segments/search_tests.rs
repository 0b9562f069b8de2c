//! The indexed searches against brute force over the same observations.

use super::*;
use crate::search::{AreaQuery, Cursor, PlateMode, PlateQuery, Shape};
use glasshouse_model::geo::LatLon;
use glasshouse_model::{Body, Candidate, Incident, PlateRead, Position};
use proptest::prelude::*;

const START: i64 = 1_764_201_600_000_000; // 2025-11-27T00:00:00Z

fn read(n: usize, plate: &str, candidate: Option<&str>, at_secs: i64, lat: f64, lon: f64) -> Observation {
    Observation {
        id: format!("r{n}"),
        device_id: format!("alpr-{}", n % 7),
        observed_at: Timestamp(START + at_secs * 1_000_000),
        received_at: Timestamp(START + at_secs * 1_000_000),
        position: Position { lat, lon, heading_deg: None, accuracy_m: None },
        body: Body::PlateRead(PlateRead {
            plate: plate.into(),
            candidates: candidate.map(|c| Candidate { plate: c.into(), confidence: Some(0.3) }).into_iter().collect(),
            ..PlateRead::default()
        }),
    }
}

/// Flushes `observations` in `batches` flushes (so several segments per day), the last batch kept
/// back as the hot window.
fn store_with(dir: &Path, observations: &[Observation], batches: usize) -> (SegmentStore, Vec<(Lsn, Observation)>) {
    let mut store = SegmentStore::open(dir).unwrap();
    let records: Vec<(Lsn, Observation)> = observations.iter().cloned().enumerate().map(|(i, o)| (i as Lsn + 1, o)).collect();
    let chunk = records.len().div_ceil(batches.max(1)).max(1);
    let mut chunks: Vec<&[(Lsn, Observation)]> = records.chunks(chunk).collect();
    let hot = chunks.pop().unwrap_or(&[]).to_vec();
    for c in chunks {
        store.flush(c).unwrap();
    }
    (store, hot)
}

fn all_pages(store: &SegmentStore, query: &PlateQuery, hot: &[(Lsn, Observation)]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    let mut query = query.clone();
    loop {
        let page = store.search_plates(&query, hot).unwrap();
        out.extend(page.items.iter().map(|(o, m)| (m.distance, o.id.clone())));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
}

fn brute_force(observations: &[Observation], query: &PlateQuery) -> Vec<(u8, String)> {
    let mut found: Vec<(Cursor, String)> = observations
        .iter()
        .filter(|o| query.in_time(o.observed_at))
        .filter_map(|o| query.match_read(o).map(|m| (Cursor::of(m.distance, o), o.id.clone())))
        .collect();
    found.sort();
    found.into_iter().map(|(c, id)| (c.rank, id)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn plate_searches_find_exactly_what_a_scan_finds(
        plates in proptest::collection::vec(("[0-9A-D]{3,5}", proptest::option::of("[0-9A-D]{3,5}")), 1..80),
        needle in "[0-9A-D]{3,5}",
        pattern in "[0-9A-D?*]{1,5}",
        from_secs in 0i64..80,
        span_secs in 1i64..100,
        batches in 1usize..4,
        limit in 1usize..7,
    ) {
        let observations: Vec<Observation> = plates
            .iter()
            .enumerate()
            .map(|(n, (p, c))| read(n, p, c.as_deref(), n as i64, 60.1 + (n % 5) as f64 * 0.01, 24.9 + (n % 3) as f64 * 0.01))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let (store, hot) = store_with(dir.path(), &observations, batches);
        let modes = [
            (needle.clone(), PlateMode::Exact),
            (pattern, PlateMode::Wildcard),
            (needle.clone(), PlateMode::MisreadTolerant { substitutions_max: 1, length_tolerance: false }),
            (needle, PlateMode::MisreadTolerant { substitutions_max: 1, length_tolerance: true }),
        ];
        for (plate, mode) in modes {
            let query = PlateQuery {
                plate,
                mode,
                from: Some(Timestamp(START + from_secs * 1_000_000)),
                to: Some(Timestamp(START + (from_secs + span_secs) * 1_000_000)),
                after: None,
                limit,
            };
            prop_assert_eq!(all_pages(&store, &query, &hot), brute_force(&observations, &query), "{:?}", query);
            // Counts: over the range (segments it cuts are read) and over all time (whole
            // segments are answered by the index alone).
            let whole = PlateQuery { from: None, to: None, ..query.clone() };
            for query in [&query, &whole] {
                prop_assert_eq!(tally_of(&store, query, &hot), brute_force_tally(&observations, query), "{:?}", query);
            }
        }
    }
}

type Tally = (u64, usize, Vec<(String, u64)>);

fn tally_of(store: &SegmentStore, query: &PlateQuery, hot: &[(Lsn, Observation)]) -> Tally {
    let tally = store.tally_plates(query, hot).unwrap();
    (tally.reads, tally.plates_matched, tally.plates.into_iter().map(|p| (p.plate, p.reads)).collect())
}

fn brute_force_tally(observations: &[Observation], query: &PlateQuery) -> Tally {
    let (mut reads, mut plates) = (0, std::collections::BTreeMap::<String, u64>::new());
    for o in observations.iter().filter(|o| query.in_time(o.observed_at)) {
        let Body::PlateRead(read) = &o.body else { continue };
        let mut texts: Vec<&String> =
            std::iter::once(&read.plate).chain(read.candidates.iter().map(|c| &c.plate)).filter(|p| query.compare(p).is_some()).collect();
        texts.sort();
        texts.dedup();
        reads += u64::from(!texts.is_empty());
        for text in texts {
            *plates.entry(text.clone()).or_default() += 1;
        }
    }
    let matched = plates.len();
    let mut ranked: Vec<(String, u64)> = plates.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(query.limit);
    (reads, matched, ranked)
}

#[test]
fn an_exact_search_reads_only_the_rows_the_index_names() {
    let observations: Vec<Observation> =
        (0..3_000).map(|n| read(n, &format!("P{n:05}"), None, n as i64, 60.1 + (n % 50) as f64 * 0.001, 24.9)).collect();
    let dir = tempfile::tempdir().unwrap();
    let (store, hot) = store_with(dir.path(), &observations, 3);
    let query = PlateQuery { plate: "P00042".into(), mode: PlateMode::Exact, from: None, to: None, after: None, limit: 10 };
    let page = store.search_plates(&query, &hot).unwrap();
    assert_eq!(page.items.iter().map(|(o, _)| o.id.as_str()).collect::<Vec<_>>(), ["r42"]);
    assert_eq!(page.explain.rows_scanned, 1, "{:?}", page.explain);
    assert_eq!((page.explain.segments_scanned, page.explain.segments_pruned), (1, 1));
    // A misread: 0 for O and 8 for B cost nothing; the evidence names them.
    let misread =
        PlateQuery { plate: "PO0O42".into(), mode: PlateMode::MisreadTolerant { substitutions_max: 0, length_tolerance: false }, ..query };
    let page = store.search_plates(&misread, &hot).unwrap();
    let (o, matched) = &page.items[0];
    assert_eq!((o.id.as_str(), matched.distance), ("r42", 0));
    assert_eq!(matched.diffs.iter().filter(|d| d.confusable).count(), 2);
}

#[test]
fn area_searches_prune_row_groups_and_agree_with_a_scan() {
    // A grid of readers, enough rows for several row groups in one segment.
    let rows = 8 * write::ROW_GROUP_ROWS;
    let observations: Vec<Observation> = (0..rows)
        .map(|n| {
            let (i, j) = (n % 40, (n / 40) % 40);
            read(n, &format!("G{:05}", n % 5000), None, (n % 3600) as i64, 60.10 + i as f64 * 0.002, 24.90 + j as f64 * 0.004)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (store, hot) = store_with(dir.path(), &observations, 2);
    let center = LatLon::new(60.104, 24.908);
    let query = AreaQuery {
        shape: Shape::Circle { center, radius_m: 300.0 },
        kinds: vec![],
        from: Timestamp(START + 600_000_000),
        to: Timestamp(START + 1_800_000_000),
        after: None,
        limit: 100_000,
    };
    let page = store.search_area(&query, &hot).unwrap();
    let mut want: Vec<&str> = observations.iter().filter(|o| query.matches(o)).map(|o| o.id.as_str()).collect();
    let mut got: Vec<&str> = page.items.iter().map(|o| o.id.as_str()).collect();
    want.sort_unstable();
    got.sort_unstable();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    assert!(page.explain.row_groups_pruned > 0, "{:?}", page.explain);
    // Page statistics leave most of each row group it does read: pages cover a few readers.
    assert!(page.explain.rows_scanned * 2 < page.explain.row_groups_scanned * write::ROW_GROUP_ROWS, "{:?}", page.explain);

    let polygon: geo::MultiPolygon<f64> = geo::MultiPolygon(vec![geo::Polygon::new(
        geo::LineString::from(vec![(24.90, 60.10), (24.93, 60.10), (24.91, 60.12), (24.90, 60.10)]),
        vec![],
    )]);
    let triangle = AreaQuery { shape: Shape::Polygon(polygon), ..query };
    let page = store.search_area(&triangle, &hot).unwrap();
    let expected = observations.iter().filter(|o| triangle.matches(o)).count();
    assert!(expected > 0);
    assert_eq!(page.items.len(), expected);
}

#[test]
fn compaction_merges_small_segments_without_changing_any_answer() {
    let observations: Vec<Observation> =
        (0..500).map(|n| read(n, &format!("C{:03}", n % 97), None, n as i64 * 10, 60.1 + (n % 9) as f64 * 0.01, 24.9)).collect();
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = store_with(dir.path(), &observations, 6);
    let query = PlateQuery { plate: "C0?1".into(), mode: PlateMode::Wildcard, from: None, to: None, after: None, limit: 1000 };
    let before = all_pages(&store, &query, &[]);
    assert_eq!(store.segments().len(), 5);
    // Same day, still open: the five equal segments are one size class, so they merge.
    let now = Timestamp(START + 3_600_000_000);
    let plans = store.plan_compaction(now);
    assert_eq!(plans.len(), 1);
    let merged = store.build_compacted(&plans[0]).unwrap();
    assert_eq!(store.apply_compactions(vec![(plans[0].clone(), merged)]).unwrap(), 1);
    assert_eq!(store.segments().len(), 1);
    assert_eq!(all_pages(&store, &query, &[]), before);
    let files = |ext: &str| {
        let mut n = 0;
        let mut stack = vec![dir.path().to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == ext) {
                    n += 1;
                }
            }
        }
        n
    };
    assert_eq!((files("parquet"), files("plates")), (1, 1), "replaced files are deleted");
    let reopened = SegmentStore::open(dir.path()).unwrap();
    assert_eq!(all_pages(&reopened, &query, &[]), before);
    assert!(reopened.plan_compaction(now).is_empty());
}

#[test]
fn an_incident_is_found_by_its_dispatch_number_across_segments_and_the_hot_window() {
    let incident = |n: usize, id: &str, status: &str| Observation {
        id: format!("i{n}"),
        device_id: "cad".into(),
        observed_at: Timestamp(START + n as i64 * 60_000_000),
        received_at: Timestamp(START),
        position: Position { lat: 60.17, lon: 24.94, heading_deg: None, accuracy_m: None },
        body: Body::Incident(Incident {
            incident_id: id.into(),
            type_code: "SHOTS".into(),
            priority: Some(1),
            status: Some(status.into()),
            address: None,
        }),
    };
    let observations =
        vec![incident(0, "C-1", "open"), incident(1, "C-2", "open"), incident(2, "C-1", "dispatched"), incident(3, "C-1", "closed")];
    let dir = tempfile::tempdir().unwrap();
    let (store, hot) = store_with(dir.path(), &observations, 2);
    let found: Vec<String> = store.find_incident("C-1", &hot).unwrap().into_iter().map(|o| o.id).collect();
    assert_eq!(found, ["i0", "i2", "i3"]);
    assert!(store.find_incident("C-9", &hot).unwrap().is_empty());
}

/// 300 reads of 131 plates (`Q000X`…), for the plate dictionary's tests.
fn dictionary_reads() -> Vec<Observation> {
    (0..300).map(|n| read(n, &format!("Q{:03}X", n % 131), None, n as i64 * 10, 60.1 + (n % 9) as f64 * 0.01, 24.9)).collect()
}

/// A pattern with no fixed start, which only the plate dictionary answers without a full walk.
fn no_fixed_start() -> PlateQuery {
    PlateQuery { plate: "*1?X".into(), mode: PlateMode::Wildcard, from: None, to: None, after: None, limit: 1000 }
}

/// Segments the plate dictionary in memory covers (`None`: none in memory).
fn dictionary_segments(store: &SegmentStore) -> Option<usize> {
    store.dictionary.lock().unwrap().as_ref().map(|d| d.segments())
}

#[test]
fn patterns_without_a_fixed_start_go_through_the_plate_dictionary() {
    let observations = dictionary_reads();
    let dir = tempfile::tempdir().unwrap();
    // Three segments of 75 reads flushed; the last 75 are flushed below.
    let (mut store, hot) = store_with(dir.path(), &observations, 4);
    let query = no_fixed_start();
    let flushed = &observations[..225];
    let page = store.search_plates(&query, &[]).unwrap();
    assert_eq!(page.explain.index, "plate_dictionary");
    assert_eq!(page.items.len(), brute_force(flushed, &query).len());
    let expected_plates = brute_force_tally(flushed, &query).1;
    assert!(expected_plates > 10);
    assert_eq!(page.explain.dictionary_plates_matched, expected_plates);
    let held = dictionary_segments;
    assert_eq!(held(&store), Some(3));
    let file = dir.path().join("plates.dict");
    assert!(file.exists(), "a first build is written for the next start");

    // A later flush extends it; counts come from the indexes, so they see the new segment too.
    store.flush(&hot).unwrap();
    let tally = store.tally_plates(&query, &[]).unwrap();
    assert_eq!(tally_of(&store, &query, &[]), brute_force_tally(&observations, &query));
    assert_eq!(tally.explain.segments_answered_by_index, 4, "{:?}", tally.explain);
    assert_eq!(held(&store), Some(4));

    // A compaction keeps every row, so the merged segment is covered as its inputs were.
    let plans = store.plan_compaction(Timestamp(START + 2 * 86_400_000_000));
    let merged = store.build_compacted(&plans[0]).unwrap();
    store.apply_compactions(vec![(plans[0].clone(), merged)]).unwrap();
    assert_eq!(held(&store), Some(1));
    assert!(store.dictionary.lock().unwrap().as_ref().unwrap().covers(&store.segments()[0].path));
    assert_eq!(tally_of(&store, &query, &[]), brute_force_tally(&observations, &query));

    // The copy on disk followed the compaction, so a restart loads it rather than building it: a
    // plate slipped into the file (and into no segment) is what the restarted store's dictionary holds.
    let mut on_disk = crate::plate_dictionary::PlateDictionary::from_bytes(&std::fs::read(&file).unwrap()).unwrap();
    assert!(on_disk.covers(&store.segments()[0].path), "the file names the merged segment");
    let planted = crate::plate_index::PlateIndex::from_bytes(&crate::plate_index::build([("ZZ1QX", 0)])).unwrap();
    let mut extra = crate::plate_dictionary::PlateDictionary::default();
    extra.add(&store.segments()[0].path, &planted);
    on_disk.absorb(extra);
    std::fs::write(&file, on_disk.to_bytes()).unwrap();
    drop(store);
    let mut store = SegmentStore::open(dir.path()).unwrap();
    let restarted = store.search_plates(&query, &[]).unwrap();
    assert_eq!(restarted.explain.dictionary_plates_matched, expected_plates + 1, "loaded from the file, planted plate and all");
    assert_eq!(restarted.items.len(), brute_force(&observations, &query).len(), "a plate no segment holds finds no rows");

    // A purge that removes rows drops it: the plates of those rows must not stay in memory.
    let keep = |_: &Observation| crate::retention::Keep::No;
    let plan = store.plan_purge(Kind::PlateRead, 30, Timestamp(START + 1_000 * 1_000_000), &keep).unwrap();
    assert!(!plan.deleted_ids.is_empty());
    store.apply_purge(plan).unwrap();
    assert_eq!(held(&store), None, "a purge drops the dictionary");
    assert!(!file.exists(), "and its copy on disk: purged plates do not outlive their segment in a file");
    let left: Vec<Observation> = observations.iter().filter(|o| o.observed_at.0 >= START + 1_000 * 1_000_000).cloned().collect();
    assert_eq!(tally_of(&store, &query, &[]), brute_force_tally(&left, &query));
    assert_eq!(held(&store), Some(1), "rebuilt from what is left");
    assert!(file.exists(), "and written again");
}

#[test]
fn a_compaction_taking_in_a_segment_the_dictionary_has_not_read_keeps_the_dictionary() {
    let observations = dictionary_reads();
    let dir = tempfile::tempdir().unwrap();
    let (mut store, hot) = store_with(dir.path(), &observations, 4);
    let query = no_fixed_start();
    store.search_plates(&query, &[]).unwrap();
    let held = dictionary_segments;
    assert_eq!(held(&store), Some(3));
    // A fourth segment, flushed after the dictionary was built, merges with the three it read.
    store.flush(&hot).unwrap();
    let plans = store.plan_compaction(Timestamp(START + 2 * 86_400_000_000));
    assert_eq!(plans[0].len(), 4);
    let merged = store.build_compacted(&plans[0]).unwrap();
    store.apply_compactions(vec![(plans[0].clone(), merged)]).unwrap();
    assert_eq!(held(&store), Some(0), "kept (its plates are all in the merged segment), not dropped and built again");
    assert!(dir.path().join("plates.dict").exists());
    assert_eq!(tally_of(&store, &query, &[]), brute_force_tally(&observations, &query));
    assert_eq!(held(&store), Some(1), "the merged segment is read at the next use");
}

#[test]
fn reads_found_through_the_index_come_back_whole_with_or_without_a_time_cut_or_candidates() {
    // Plates as read, several per segment and some read many times; every field must survive the
    // lookup that takes plates from the index instead of the plate column. With OCR candidates in
    // a segment the index keys rows under them too, so there the plate column must be read.
    for with_candidates in [false, true] {
        let observations: Vec<Observation> = (0..2_000)
            .map(|n| {
                let candidate = (with_candidates && n % 3 == 0).then_some("XY123");
                read(n, &format!("AB{:03}C", n % 300), candidate, n as i64 * 7, 60.1 + (n % 40) as f64 * 0.001, 24.9)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let (store, hot) = store_with(dir.path(), &observations, 4);
        let by_id: std::collections::HashMap<&str, &Observation> = observations.iter().map(|o| (o.id.as_str(), o)).collect();
        let mut queries = vec![("AB042C", PlateMode::Exact), ("AB0?1C", PlateMode::Wildcard), ("*12?C", PlateMode::Wildcard)];
        if with_candidates {
            queries.extend([("XY123", PlateMode::Exact), ("XY1*", PlateMode::Wildcard)]);
        }
        // Whole range (rows read without the plate column where no candidates), then a range
        // cutting segments (a row filter on time, so the plate column is read).
        for (from, to) in [(None, None), (Some(Timestamp(START + 3_000 * 1_000_000)), Some(Timestamp(START + 9_000 * 1_000_000)))] {
            for (plate, mode) in &queries {
                let query = PlateQuery { plate: (*plate).into(), mode: mode.clone(), from, to, after: None, limit: 1_000 };
                let page = store.search_plates(&query, &hot).unwrap();
                assert!(!page.items.is_empty(), "{plate} {from:?}");
                assert_eq!(page.items.len(), brute_force(&observations, &query).len(), "{plate} {from:?}");
                for (found, _) in &page.items {
                    assert_eq!(&found, by_id.get(found.id.as_str()).unwrap(), "{plate} {from:?} {with_candidates}");
                }
            }
        }
    }
}
