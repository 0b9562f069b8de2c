//! The point reader against parquet-rs's Arrow reader: for segments as the builder writes them,
//! any rows read value by value must equal the same rows decoded by the Arrow reader.

use super::point::{self, PointPlan, RowsWanted};
use super::scan::RowConditions;
use super::write::write_segment_file;
use crate::parquet_codec;
use bytes::Bytes;
use glasshouse_model::{
    Body, Candidate, Gunshot, Incident, Kind, Observation, PlateRead, Position, SensorReading, Timestamp, VideoEvent, VideoLabel,
};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::PageIndexPolicy;
use proptest::prelude::*;

/// A small deterministic generator (splitmix64): tests need thousands of varied rows per case,
/// which proptest's strategies would make slowly; proptest chooses the seed.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn plate(&mut self) -> String {
        (0..2 + self.below(6)).map(|_| b"ABCDEFGHJKLMNPRSTUVXYZ0123456789"[self.below(32) as usize] as char).collect()
    }
    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.below(options.len() as u64) as usize]
    }
}

/// `n` observations of `kind`; `unique_devices` gives every row a long device id of its own,
/// which overflows a column chunk's dictionary so parquet-rs falls back to plain pages.
fn observations(kind: Kind, n: usize, seed: u64, unique_devices: bool) -> Vec<Observation> {
    let mut mix = Mix(seed);
    let start = Timestamp::parse_rfc3339("2026-10-01T00:00:00Z").expect("constant").0;
    (0..n)
        .map(|i| {
            let reader = mix.below(40);
            let at = start + mix.below(86_400_000_000) as i64;
            let body = match kind {
                Kind::PlateRead => {
                    let mut read = PlateRead {
                        plate: mix.plate(),
                        region: mix.chance(30).then(|| mix.pick(&["FI", "US-NY", "EE"]).to_owned()),
                        confidence: mix.chance(80).then(|| mix.below(101) as f32 / 100.0),
                        candidates: (0..if mix.chance(25) { 1 + mix.below(3) } else { 0 })
                            .map(|_| Candidate { plate: mix.plate(), confidence: mix.chance(50).then(|| mix.below(100) as f32 / 100.0) })
                            .collect(),
                        direction: mix.chance(40).then(|| mix.pick(&["approaching", "receding"]).to_owned()),
                        vehicle_make: mix.chance(20).then(|| mix.pick(&["volvo", "toyota", "skoda", "ford"]).to_owned()),
                        vehicle_color: mix.chance(20).then(|| mix.pick(&["red", "white", "black"]).to_owned()),
                        vehicle_body: mix.chance(10).then(|| mix.pick(&["sedan", "van"]).to_owned()),
                        image_ref: mix.chance(15).then(|| format!("img/{}/{}.jpg", reader, mix.next())),
                        ..PlateRead::default()
                    };
                    // A classifier's confidence comes only with its answer.
                    let mut confidence =
                        |attribute: &Option<String>| attribute.as_ref().and_then(|_| mix.chance(70).then(|| mix.below(101) as f32 / 100.0));
                    read.vehicle_make_confidence = confidence(&read.vehicle_make);
                    read.vehicle_color_confidence = confidence(&read.vehicle_color);
                    read.vehicle_body_confidence = confidence(&read.vehicle_body);
                    Body::PlateRead(read)
                }
                Kind::SensorReading => Body::SensorReading(SensorReading {
                    quantity: mix.pick(&["gamma_dose_rate", "co", "pm2_5"]).to_owned(),
                    value: (mix.below(1_000_000) as f64) / 1000.0 - 10.0,
                    unit: mix.pick(&["uSv/h", "ppm", "ug/m3"]).to_owned(),
                }),
                Kind::Gunshot => Body::Gunshot(Gunshot {
                    rounds: 1 + mix.below(30) as u32,
                    confidence: mix.chance(70).then(|| mix.below(101) as f32 / 100.0),
                    bearing_deg: mix.chance(50).then(|| mix.below(3600) as f64 / 10.0),
                }),
                Kind::Incident => Body::Incident(Incident {
                    incident_id: format!("C-{}", mix.below(500)),
                    type_code: mix.pick(&["ASSAULT", "THEFT", "SHOTS_FIRED"]).to_owned(),
                    priority: mix.chance(60).then(|| 1 + mix.below(5) as u8),
                    status: mix.chance(50).then(|| mix.pick(&["open", "closed"]).to_owned()),
                    address: mix.chance(70).then(|| format!("{} Esplanadi", mix.below(200))),
                }),
                Kind::VideoEvent => Body::VideoEvent(VideoEvent {
                    label: [VideoLabel::Vehicle, VideoLabel::Person, VideoLabel::Crowd][mix.below(3) as usize],
                    count: 1 + mix.below(4_000_000_000) as u32,
                }),
            };
            Observation {
                id: format!("obs-{seed}-{i}"),
                device_id: if unique_devices {
                    format!("mobile-unit-{i:08}-{:016x}-{:016x}", mix.next(), mix.next())
                } else {
                    format!("alpr-{reader}")
                },
                observed_at: Timestamp(at),
                received_at: Timestamp(at + mix.below(5_000) as i64 * 1000),
                position: Position {
                    lat: 60.1 + reader as f64 * 0.001 + if mix.chance(20) { mix.below(1000) as f64 * 1e-7 } else { 0.0 },
                    lon: 24.9 + reader as f64 * 0.002,
                    heading_deg: mix.chance(30).then(|| mix.below(360) as f64),
                    accuracy_m: mix.chance(10).then(|| mix.below(50) as f64),
                },
                body,
            }
        })
        .collect()
}

/// A written segment: its bytes, its metadata with page indexes, and every row in file order as
/// the Arrow reader decodes it.
struct Written {
    _dir: tempfile::TempDir,
    bytes: Bytes,
    metadata: ArrowReaderMetadata,
    rows: Vec<Observation>,
    groups: Vec<(usize, usize, usize)>,
}

fn write(kind: Kind, rows: &[Observation]) -> Written {
    let dir = tempfile::tempdir().expect("temporary directory");
    let refs: Vec<&Observation> = rows.iter().collect();
    let meta = write_segment_file(dir.path(), format!("kind={}/seg.parquet", kind.as_str()), kind, &refs).expect("segment written");
    let bytes = Bytes::from(std::fs::read(dir.path().join(&meta.path)).expect("segment read"));
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
    let metadata = ArrowReaderMetadata::load(&bytes, options).expect("metadata");
    let mut decoded = Vec::new();
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes.clone(), metadata.clone()).build().expect("reader");
    for batch in reader {
        parquet_codec::decode(kind, &batch.expect("batch"), |o| {
            decoded.push(o);
            true
        })
        .expect("decoded");
    }
    let mut groups = Vec::new();
    let mut first = 0;
    for (i, group) in metadata.metadata().row_groups().iter().enumerate() {
        let end = first + group.num_rows() as usize;
        groups.push((i, first, end));
        first = end;
    }
    Written { _dir: dir, bytes, metadata, rows: decoded, groups }
}

impl Written {
    fn read(&self, kind: Kind, rows: &[u32], plates: Option<&[&str]>, filter: Option<&RowConditions>) -> Vec<Observation> {
        let plan = PointPlan::of(self.metadata.metadata()).expect("the builder's segments are readable value by value");
        let wanted = RowsWanted { kind, rows, plates, groups: &self.groups, filter };
        point::read_rows(&plan, &self.bytes, self.metadata.metadata(), &wanted).expect("no damage").expect("every page readable")
    }
}

fn picks(seed: u64, rows: usize, count: usize) -> Vec<u32> {
    let mut mix = Mix(seed ^ 0xA5A5);
    let mut picked: Vec<u32> = (0..count).map(|_| mix.below(rows as u64) as u32).collect();
    picked.sort_unstable();
    picked
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn plate_reads_read_value_by_value_equal_the_arrow_readers(seed in any::<u64>(), n in 1usize..9_000, count in 1usize..80) {
        let written = write(Kind::PlateRead, &observations(Kind::PlateRead, n, seed, false));
        let rows = picks(seed, n, count);
        let mut expected: Vec<Observation> = rows.iter().map(|r| written.rows[*r as usize].clone()).collect();
        expected.dedup_by(|a, b| a.id == b.id);
        prop_assert_eq!(&written.read(Kind::PlateRead, &rows, None, None), &expected);

        // With the plates told (as the index tells them), and with some rows found through an OCR
        // candidate's key: the row keeps its own plate.
        let keys: Vec<String> = rows
            .iter()
            .map(|r| {
                let read = written.rows[*r as usize].plate_read().expect("a plate read");
                read.candidates.first().map_or(read.plate.clone(), |c| c.plate.clone())
            })
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        prop_assert_eq!(&written.read(Kind::PlateRead, &rows, Some(&keys), None), &expected);

        // A time window: only the rows inside it.
        let start = Timestamp::parse_rfc3339("2026-10-01T06:00:00Z").expect("constant");
        let window = RowConditions { from: Some(start), to: Some(Timestamp(start.0 + 6 * 3_600_000_000)), ..RowConditions::default() };
        let inside: Vec<Observation> = expected.iter().filter(|o| window.keeps(o.observed_at.0, o.position.lat, o.position.lon)).cloned().collect();
        prop_assert_eq!(&written.read(Kind::PlateRead, &rows, None, Some(&window)), &inside);
    }

    #[test]
    fn every_kind_reads_back_value_by_value(seed in any::<u64>(), n in 1usize..5_000) {
        for kind in [Kind::SensorReading, Kind::Gunshot, Kind::Incident, Kind::VideoEvent] {
            let written = write(kind, &observations(kind, n, seed, false));
            let rows = picks(seed, n, 40);
            let mut expected: Vec<Observation> = rows.iter().map(|r| written.rows[*r as usize].clone()).collect();
            expected.dedup_by(|a, b| a.id == b.id);
            prop_assert_eq!(&written.read(kind, &rows, None, None), &expected, "{:?}", kind);
        }
    }
}

#[test]
fn plain_pages_after_a_dictionary_overflows_and_later_row_groups_read_back() {
    // 70,000 rows make three row groups; unique long device ids overflow each chunk's dictionary
    // (1 MB) part way, so its later pages are plain.
    let n = 70_000;
    let written = write(Kind::PlateRead, &observations(Kind::PlateRead, n, 7, true));
    assert!(written.groups.len() >= 3, "{} row groups", written.groups.len());
    let device = written.metadata.metadata().row_group(0).column(1);
    assert!(
        device.encodings().any(|e| e == parquet::basic::Encoding::PLAIN) && device.dictionary_page_offset().is_some(),
        "the device column falls back from its dictionary: {:?}",
        device.encodings().collect::<Vec<_>>()
    );
    let mut rows = picks(7, n, 400);
    rows.extend([0, (n - 1) as u32, 32_767, 32_768]);
    rows.sort_unstable();
    rows.dedup();
    let expected: Vec<Observation> = rows.iter().map(|r| written.rows[*r as usize].clone()).collect();
    assert_eq!(written.read(Kind::PlateRead, &rows, None, None), expected);
}

#[test]
fn rows_of_pruned_row_groups_are_not_read() {
    let n = 40_000;
    let written = write(Kind::PlateRead, &observations(Kind::PlateRead, n, 11, false));
    let plan = PointPlan::of(written.metadata.metadata()).expect("readable");
    let only_second: Vec<(usize, usize, usize)> = written.groups[1..2].to_vec();
    let rows = [5u32, 32_770, 39_000];
    let wanted = RowsWanted { kind: Kind::PlateRead, rows: &rows, plates: None, groups: &only_second, filter: None };
    let found = point::read_rows(&plan, &written.bytes, written.metadata.metadata(), &wanted).expect("no damage").expect("readable");
    assert_eq!(found, [written.rows[32_770].clone(), written.rows[39_000].clone()]);
}

#[test]
fn damaged_pages_give_errors_or_values_never_a_panic() {
    // Parquet pages carry no checksum of their own, so a damaged byte may also read as another
    // value; what must never happen is a panic or a read outside the file.
    let n = 3_000;
    let written = write(Kind::PlateRead, &observations(Kind::PlateRead, n, 5, false));
    let plan = PointPlan::of(written.metadata.metadata()).expect("readable");
    let rows = picks(5, n, 30);
    let data_end =
        written.metadata.metadata().row_group(0).columns().iter().map(|c| c.byte_range().0 + c.byte_range().1).max().expect("columns");
    let mut mix = Mix(99);
    let (mut errors, mut reads) = (0, 0);
    for _ in 0..400 {
        let mut bytes = written.bytes.to_vec();
        let at = 4 + mix.below(data_end - 4) as usize;
        bytes[at] ^= 1 << mix.below(8);
        if mix.chance(30) {
            bytes[at + 1] = mix.below(256) as u8;
        }
        let wanted = RowsWanted { kind: Kind::PlateRead, rows: &rows, plates: None, groups: &written.groups, filter: None };
        match point::read_rows(&plan, &bytes, written.metadata.metadata(), &wanted) {
            Ok(_) => reads += 1,
            Err(_) => errors += 1,
        }
    }
    assert!(errors > 0, "some damage is detected ({reads} reads went through)");
}
