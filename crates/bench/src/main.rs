//! `glasshouse-bench`: builds a month of simulated plate reads straight into segments, and times
//! the investigation searches over them in-process. `bench/peers.py` runs the same queries (written
//! to `queries.json`) in DuckDB, chdb and PostGIS over the same Parquet files.
//!
//! The generator skips the WAL and the hot path on purpose: it measures the read side at sizes
//! (100M reads) that a live ingest would take far longer to reach. The searches still need an audit
//! receipt, so the run is logged once, as a benchmark, in the directory's own audit log.

mod feeds;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use glasshouse_audit::{Action, Admitted, AuditEvent, AuditLog};
use glasshouse_model::geo::LatLon;
use glasshouse_model::time::MICROS_PER_DAY;
use glasshouse_model::{Body, Observation, PlateRead, Position, Timestamp};
use glasshouse_sql::SqlEngine;
use glasshouse_store::{AreaQuery, PlateMode, PlateQuery, SegmentStore, Shape, Store};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Investigation benchmarks over simulated plate reads. A binary of its own so that a release
/// build for benchmarking needs only the store, not DataFusion and the server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Writes `--reads` plate reads over `--days` days of a grid city into `DATA_DIR/segments`, and
    /// the benchmark's queries into `DATA_DIR/queries.json`.
    Generate(GenerateArgs),
    /// Times the queries of `DATA_DIR/queries.json` and prints medians as JSON.
    Search(SearchArgs),
    /// Measures each source's throughput against a running server (see bench/feeds.sh).
    Feeds(feeds::FeedsArgs),
}

#[derive(Args)]
pub struct GenerateArgs {
    /// A new, empty directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Plate reads in total.
    #[arg(long, default_value_t = 1_000_000)]
    reads: u64,
    /// Days they span (one segment per day).
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Fixed readers on a square grid, 250 m apart.
    #[arg(long, default_value_t = 2_025)]
    readers: u32,
    /// Average reads per vehicle over the period (sets the number of distinct plates).
    #[arg(long, default_value_t = 30)]
    reads_per_vehicle: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
pub struct SearchArgs {
    #[arg(long)]
    data_dir: PathBuf,
    /// Timed runs per query (after one untimed warm-up).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Time only these queries (comma-separated names from the report), e.g. to profile one.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// The queries every engine runs, with their parameters spelled out.
#[derive(Serialize, Deserialize)]
pub struct Queries {
    /// Reads in the data set.
    pub reads: u64,
    /// Exact plates, each with its full history over the period.
    pub exact: Vec<String>,
    /// Wildcard patterns (`?` one character, `*` any run).
    pub wildcard: Vec<String>,
    /// Circles × one hour.
    pub areas: Vec<Area>,
    /// A day for hourly counts per cell.
    pub day: [Timestamp; 2],
    /// Start and end of the whole period.
    pub period: [Timestamp; 2],
}

#[derive(Serialize, Deserialize)]
pub struct Area {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    pub from: Timestamp,
    pub to: Timestamp,
}

const CENTER: (f64, f64) = (60.17, 24.94);
const START: &str = "2026-10-01T00:00:00Z";

fn plate_of(vehicle: u64) -> String {
    // A fixed bijective-enough scramble so neighbouring vehicle numbers get unrelated plates.
    let mut x = vehicle.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5bd1_e995;
    x ^= x >> 29;
    let letters: String = (0..3).map(|i| (b'A' + ((x >> (i * 5)) % 26) as u8) as char).collect();
    format!("{letters}{:04}", (x >> 20) % 10_000)
}

fn reader_position(reader: u32, readers: u32) -> LatLon {
    let side = (readers as f64).sqrt().ceil() as u32;
    let (i, j) = (reader % side, reader / side);
    let half = side as f64 * 250.0 / 2.0;
    let origin = LatLon::new(CENTER.0, CENTER.1);
    let north = origin.destination(0.0, j as f64 * 250.0 - half);
    north.destination(90.0, i as f64 * 250.0 - half)
}

fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let segments_dir = args.data_dir.join("segments");
    anyhow::ensure!(!segments_dir.exists(), "{} already holds segments; use a new directory", segments_dir.display());
    let mut store = SegmentStore::open(&segments_dir).context("opening the segment store")?;
    let start = Timestamp::parse_rfc3339(START).expect("constant");
    let vehicles = (args.reads / args.reads_per_vehicle).max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let per_day = args.reads / u64::from(args.days);
    let started = Instant::now();
    let mut lsn = 0u64;
    let positions: Vec<LatLon> = (0..args.readers).map(|r| reader_position(r, args.readers)).collect();
    // Time spent in the segment builder (sort, encode, Parquet, plate index, fsync), apart from
    // making up the reads: the store's load rate.
    let mut flush_seconds = 0.0;
    for day in 0..args.days {
        let day_start = start.0 + i64::from(day) * MICROS_PER_DAY;
        let count = if day + 1 == args.days { args.reads - per_day * u64::from(args.days - 1) } else { per_day };
        let mut records = Vec::with_capacity(count as usize);
        for _ in 0..count {
            lsn += 1;
            let reader = rng.random_range(0..args.readers);
            let at = Timestamp(day_start + rng.random_range(0..MICROS_PER_DAY));
            let position = positions[reader as usize];
            records.push((
                lsn,
                Observation {
                    id: format!("r{lsn}"),
                    device_id: format!("alpr-{reader}"),
                    observed_at: at,
                    received_at: at,
                    position: Position { lat: position.lat, lon: position.lon, heading_deg: None, accuracy_m: None },
                    body: Body::PlateRead(PlateRead {
                        plate: plate_of(rng.random_range(0..vehicles)),
                        // Readers report confidence in whole percent.
                        confidence: Some(f32::from(rng.random_range(50u8..100)) / 100.0),
                        ..PlateRead::default()
                    }),
                },
            ));
        }
        let writing = Instant::now();
        store.flush(&records).context("writing a day of segments")?;
        flush_seconds += writing.elapsed().as_secs_f64();
        eprintln!("day {}/{}: {} reads, {:.0} s", day + 1, args.days, count, started.elapsed().as_secs_f64());
    }
    // Queries: plates of real vehicles, patterns built from them, circles around random readers.
    let mut queries = Queries {
        reads: args.reads,
        exact: Vec::new(),
        wildcard: Vec::new(),
        areas: Vec::new(),
        day: [Timestamp(start.0 + 10 * MICROS_PER_DAY), Timestamp(start.0 + 11 * MICROS_PER_DAY)],
        period: [start, Timestamp(start.0 + i64::from(args.days) * MICROS_PER_DAY)],
    };
    for _ in 0..20 {
        let plate = plate_of(rng.random_range(0..vehicles));
        queries.wildcard.push(format!("{}?{}*", &plate[..2], &plate[3..5]));
        queries.exact.push(plate);
        let reader = positions[rng.random_range(0..args.readers) as usize];
        let from = Timestamp(start.0 + rng.random_range(0..i64::from(args.days) * 24) * 3_600_000_000);
        queries.areas.push(Area { lat: reader.lat, lon: reader.lon, radius_m: 300.0, from, to: Timestamp(from.0 + 3_600_000_000) });
    }
    queries.wildcard.truncate(5);
    let path = args.data_dir.join("queries.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&queries)?).with_context(|| format!("writing {}", path.display()))?;
    let bytes: u64 = store.segments().iter().map(|s| s.size_bytes + s.index_bytes).sum();
    let parquet: u64 = store.segments().iter().map(|s| s.size_bytes).sum();
    println!(
        "{}",
        serde_json::json!({
            "reads": args.reads,
            "segments": store.segments().len(),
            "parquet_bytes": parquet,
            "index_bytes": bytes - parquet,
            "bytes_per_read": bytes as f64 / args.reads as f64,
            "parquet_bytes_per_read": parquet as f64 / args.reads as f64,
            "seconds": started.elapsed().as_secs_f64(),
            "flush_seconds": flush_seconds,
            "load_reads_per_s": args.reads as f64 / flush_seconds,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Infix patterns from the first five query plates: `ABC1234` gives `*BC?23*` (bench/peers.py
/// builds the same).
fn infix_patterns(plates: &[String]) -> Vec<String> {
    plates.iter().take(5).map(|p| format!("*{}?{}*", &p[1..3], &p[4..6])).collect()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Logs one benchmark query, as every search is logged, outside its timing; an audit failure is
/// reported by the query's first run.
fn admit<Q>(audit: &AuditLog, action: Action, query: Q) -> Result<Admitted<Q>, glasshouse_audit::AuditError> {
    let details = serde_json::json!({ "purpose": "benchmark on simulated data" });
    audit.admit(
        AuditEvent {
            actor: "bench".into(),
            role: "analyst".into(),
            component: glasshouse_audit::Component::System,
            address: None,
            action,
            outcome: "ok".into(),
            details,
        },
        query,
    )
}

fn search(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let path = args.data_dir.join("queries.json");
    let queries: Queries = serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?;
    let store = Store::new(SegmentStore::open(args.data_dir.join("segments"))?);
    let audit = AuditLog::open(&args.data_dir.join("audit"), &args.data_dir.join("audit-keys"))?;
    let time = |run: &mut dyn FnMut() -> anyhow::Result<usize>| -> anyhow::Result<(f64, Vec<f64>, usize)> {
        let t = Instant::now();
        let rows = run()?; // warm-up: footers, indexes, the plate dictionary and page cache
        let first = t.elapsed().as_secs_f64() * 1e3;
        let mut samples = Vec::with_capacity(args.repeat);
        for _ in 0..args.repeat {
            let t = Instant::now();
            run()?;
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok((first, samples, rows))
    };
    let mut report = serde_json::Map::new();
    let period = queries.period;
    let only = args.only.clone();
    let mut per_kind = |name: &str, runs: Vec<Box<dyn FnMut() -> anyhow::Result<usize> + '_>>| -> anyhow::Result<()> {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            return Ok(());
        }
        let (mut medians, mut rows, mut first_ms) = (Vec::new(), 0, None);
        for mut run in runs {
            let (first, samples, n) = time(&mut *run)?;
            first_ms.get_or_insert(first);
            medians.push(median(samples));
            rows += n;
        }
        // `first_ms`: the kind's first query, cold (what a search right after a start costs).
        report.insert(
            name.into(),
            serde_json::json!({ "queries": medians.len(), "median_ms": median(medians.clone()), "max_ms": medians.iter().cloned().fold(0.0, f64::max), "first_ms": first_ms, "rows": rows }),
        );
        Ok(())
    };
    let plate_run = |plate: String, mode: PlateMode| -> Box<dyn FnMut() -> anyhow::Result<usize> + '_> {
        let query = PlateQuery { plate, mode, from: Some(period[0]), to: Some(period[1]), after: None, limit: 1_000_000 };
        let (store, admitted) = (&store, admit(&audit, Action::SearchPlates, query));
        Box::new(move || Ok(store.search_plates(admitted.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?)?.items.len()))
    };
    per_kind("exact_plate", queries.exact.iter().map(|p| plate_run(p.clone(), PlateMode::Exact)).collect())?;
    per_kind("wildcard_plate", queries.wildcard.iter().map(|p| plate_run(p.clone(), PlateMode::Wildcard)).collect())?;
    // DESIGN §9's wildcard row: how many reads match (and as which plates), not the reads; and
    // "for infix patterns too", the same for patterns that fix no prefix, `*BC?23*`.
    let tally_run = |plate: String| -> Box<dyn FnMut() -> anyhow::Result<usize> + '_> {
        let query = PlateQuery { plate, mode: PlateMode::Wildcard, from: Some(period[0]), to: Some(period[1]), after: None, limit: 100 };
        let (store, admitted) = (&store, admit(&audit, Action::SearchPlates, query));
        Box::new(move || Ok(store.tally_plates(admitted.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?)?.reads as usize))
    };
    per_kind("wildcard_count", queries.wildcard.iter().map(|p| tally_run(p.clone())).collect())?;
    per_kind("infix_count", infix_patterns(&queries.exact).into_iter().map(tally_run).collect())?;
    per_kind(
        "tolerant_plate",
        queries
            .exact
            .iter()
            .take(5)
            .map(|p| plate_run(p.clone(), PlateMode::MisreadTolerant { substitutions_max: 1, length_tolerance: false }))
            .collect(),
    )?;
    per_kind(
        "area_300m_1h",
        queries
            .areas
            .iter()
            .map(|a| {
                let query = AreaQuery {
                    shape: Shape::Circle { center: LatLon::new(a.lat, a.lon), radius_m: a.radius_m },
                    kinds: vec![],
                    from: a.from,
                    to: a.to,
                    after: None,
                    limit: 1_000_000,
                };
                let (store, admitted) = (&store, admit(&audit, Action::SearchArea, query));
                Box::new(move || Ok(store.search_area(admitted.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?)?.items.len()))
                    as Box<dyn FnMut() -> anyhow::Result<usize>>
            })
            .collect(),
    )?;
    // The full-scan aggregate runs through the analysts' SQL engine (DataFusion over the same
    // segments), in process like the peers: what `POST /v1/sql` runs, without HTTP and the audit entry.
    let sql = SqlEngine::new(Arc::new(store));
    let runtime = tokio::runtime::Runtime::new()?;
    let hourly = format!(
        "SELECT date_trunc('hour', observed_at) AS h, floor(lat / 0.0045) AS cy, floor(lon / 0.009) AS cx, count(*) \
         FROM plate_reads WHERE observed_at >= '{}' AND observed_at < '{}' GROUP BY 1, 2, 3",
        queries.day[0].to_rfc3339(),
        queries.day[1].to_rfc3339()
    );
    let runtime = &runtime;
    let (sql, hourly) = (&sql, &hourly);
    per_kind(
        "hourly_cells",
        vec![Box::new(move || Ok(runtime.block_on(sql.run(hourly, |_| Ok(())))?.iter().map(|b| b.num_rows()).sum()))],
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        BenchCommand::Generate(args) => generate(args),
        BenchCommand::Search(args) => search(args),
        BenchCommand::Feeds(args) => feeds::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_look_like_plates_and_readers_sit_on_a_grid() {
        let plate = plate_of(42);
        assert_eq!(plate.len(), 7);
        assert!(plate[..3].chars().all(|c| c.is_ascii_uppercase()) && plate[3..].chars().all(|c| c.is_ascii_digit()));
        assert_ne!(plate_of(42), plate_of(43));
        let (a, b) = (reader_position(0, 4), reader_position(1, 4));
        assert!((a.distance_m(&b) - 250.0).abs() < 1.0);
    }
}
