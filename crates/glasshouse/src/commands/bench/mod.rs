//! `glasshouse bench city`: the whole-system benchmark of a big city's month.
//!
//! It writes the month as NDJSON ([`glasshouse_sim::month`]), registers the city and its rules (a
//! misread-tolerant national list and the city's own, geofences, thresholds, the correlation rule), and loads the file
//! through the real path (decode → WAL with fsync → rules → segments), as `glasshouse ingest` does.
//! Then it starts the loaded node, one with the same rules and no history, and an empty one, as
//! child processes in turn, for their start-up time and memory, and measures alert latency over HTTP under a steady load. It leaves
//! `queries.json` beside the data, so that `glasshouse-bench search` and `bench/peers.py` time the
//! investigation queries over the same segments (`bench/city.sh` runs all three).

mod latency;
mod node;
mod setup;

use super::ingest::{self, Format};
use crate::pipeline::Pipeline;
use anyhow::Context;
use clap::{Args, Subcommand};
use glasshouse_model::time::MICROS_PER_SEC;
use glasshouse_model::{Kind, Timestamp};
use glasshouse_server::{Role, TokenStore};
use glasshouse_sim::month::{MonthCity, MonthConfig, MonthTotals};
use serde::Serialize;
use serde_json::json;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// A month of a big city through the whole system: ingest with the rules live, alert latency,
    /// memory, disk, and start-up against an empty node (see bench/city.sh).
    City(CityArgs),
}

#[derive(Args)]
pub struct CityArgs {
    /// A new work directory: the month's NDJSON, the loaded node (`node/`), an empty node
    /// (`empty/`), the servers' log and `report.json`.
    #[arg(long)]
    pub work: PathBuf,
    /// Days of the month.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Plate reads a day (NYC: 3.6M).
    #[arg(long, default_value_t = 3_600_000)]
    pub reads_per_day: u64,
    /// Fixed plate readers.
    #[arg(long, default_value_t = 500)]
    pub fixed_readers: usize,
    /// Patrol cars with mobile readers.
    #[arg(long, default_value_t = 50)]
    pub patrol_cars: usize,
    /// Cameras in the registry.
    #[arg(long, default_value_t = 9_000)]
    pub cameras: usize,
    /// Radiation sensors, each reporting once a minute.
    #[arg(long, default_value_t = 200)]
    pub sensors: usize,
    /// Vehicles in the fleet.
    #[arg(long, default_value_t = 1_500_000)]
    pub vehicles: u64,
    /// Entries of the misread-tolerant hotlists: the national list, the city's own vehicles and the
    /// latency probes.
    #[arg(long, default_value_t = 1_000_000)]
    pub hotlist: usize,
    /// Free substitutions on the national list beyond confusable glyphs (the city's own list
    /// allows one).
    #[arg(long, default_value_t = 0)]
    pub national_substitutions: u8,
    /// Of them, plates of the city's own fleet (stolen cars the month reads now and then).
    #[arg(long, default_value_t = 300)]
    pub hotlisted_vehicles: usize,
    /// Geofences watching the patrol cars and hotlisted vehicles.
    #[arg(long, default_value_t = 10_000)]
    pub geofences: usize,
    /// Records a second during the latency run.
    #[arg(long, default_value_t = 50_000)]
    pub latency_rate: u64,
    /// Seconds of the latency run.
    #[arg(long, default_value_t = 60)]
    pub latency_secs: u64,
    /// Starts of each node (loaded and empty, alternately) for the start-up figures.
    #[arg(long, default_value_t = 3)]
    pub starts: usize,
    /// Seed of the city.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Median, 99th percentile and maximum of a sample, in its unit.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut samples: Vec<f64>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Percentiles { samples: samples.len(), p50: at(0.5), p99: at(0.99), max: samples[samples.len() - 1] }
    }
}

#[derive(Serialize)]
struct Report {
    city: serde_json::Value,
    generate_seconds: f64,
    setup: setup::SetupReport,
    load: LoadReport,
    disk: DiskReport,
    start_up: StartUpReport,
    latency: latency::LatencyReport,
}

#[derive(Serialize)]
struct LoadReport {
    records: u64,
    accepted: usize,
    rejected: usize,
    seconds: f64,
    records_per_s: f64,
    plate_reads_per_s: f64,
    /// Alerts stored by the end of the load (repeats folded into their alert are not counted).
    alerts: usize,
    alerts_by_family: serde_json::Map<String, serde_json::Value>,
    /// Repeats folded into an open alert.
    repeats: usize,
    /// The process's high-water resident memory (the generator wrote its file before).
    peak_rss_bytes: u64,
    /// Shutting the pipeline down: flushing the hot window.
    shutdown_seconds: f64,
}

#[derive(Serialize)]
struct DiskReport {
    plate_read_segment_bytes: u64,
    bytes_per_plate_read: f64,
    data_dir_bytes: u64,
    wal_bytes: u64,
}

/// From spawn to listening, and resident memory once listening, of three nodes: the loaded one,
/// one with the same registry and rules but no history, and an empty one.
#[derive(Serialize)]
struct StartUpReport {
    loaded: StartUps,
    rules_only: StartUps,
    empty: StartUps,
}

#[derive(Serialize, Default)]
struct StartUps {
    ms: Vec<f64>,
    median_ms: f64,
    idle_rss_bytes: u64,
}

impl StartUps {
    fn summed(self) -> StartUps {
        StartUps { median_ms: Percentiles::of(self.ms.clone()).p50, ..self }
    }
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::City(args) => city(args),
    }
}

fn city(args: CityArgs) -> anyhow::Result<ExitCode> {
    let node_dir = args.work.join("node");
    anyhow::ensure!(!node_dir.exists(), "{} exists: give a new work directory", node_dir.display());
    std::fs::create_dir_all(&node_dir).with_context(|| format!("creating {}", node_dir.display()))?;
    // The month ends ten minutes ago: nothing is from the future, and the latency run's live
    // records come after it.
    let now_secs = Timestamp::now().0 / MICROS_PER_SEC;
    let start = Timestamp((now_secs - i64::from(args.days) * 86_400 - 600) * MICROS_PER_SEC);
    let config = MonthConfig {
        seed: args.seed,
        start,
        days: args.days,
        reads_per_day: args.reads_per_day,
        fixed_readers: args.fixed_readers,
        patrol_cars: args.patrol_cars,
        cameras: args.cameras,
        sensors: args.sensors,
        vehicles: args.vehicles,
        ..MonthConfig::default()
    };
    let month = MonthCity::new(config);
    let input = args.work.join("city.ndjson");
    let generated = Instant::now();
    let totals = write_month(&month, &input)?;
    let generate_seconds = generated.elapsed().as_secs_f64();
    eprintln!("wrote {} records in {generate_seconds:.0} s", totals.records());

    // Plate reads are kept past the month, so that the hourly purge never races the measurement.
    let retention = json!({ "days": { Kind::PlateRead.as_str(): args.days + 15 } });
    std::fs::write(node_dir.join("retention.json"), retention.to_string())?;
    let latency_requests = (args.latency_secs * 10) as usize;
    let (load, setup) = {
        let _lock = super::lock_data_dir(&node_dir)?;
        let pipeline = Pipeline::start(ingest::bulk_load_config(&node_dir))?;
        let setup = setup::register(&pipeline.state.app, &month, &args, latency_requests)?;
        eprintln!("registered the city and its rules in {:.0} s; loading", setup.seconds);
        let loaded = ingest::load(&pipeline, &input, Format::Ndjson)?;
        let peak_rss_bytes = rss_bytes("/proc/self/status", "VmHWM:")?;
        let (alerts, alerts_by_family, repeats) = count_alerts(&pipeline)?;
        let stopping = Instant::now();
        pipeline.shutdown()?;
        let load = LoadReport {
            records: totals.records(),
            accepted: loaded.accepted,
            rejected: loaded.rejected,
            seconds: loaded.seconds,
            records_per_s: (loaded.accepted + loaded.rejected) as f64 / loaded.seconds,
            plate_reads_per_s: totals.plate_reads as f64 / loaded.seconds,
            alerts,
            alerts_by_family,
            repeats,
            peak_rss_bytes,
            shutdown_seconds: stopping.elapsed().as_secs_f64(),
        };
        (load, setup)
    };
    eprintln!("loaded {} records in {:.0} s ({:.0}/s), {} alerts", load.accepted, load.seconds, load.records_per_s, load.alerts);
    let disk = disk(&node_dir, totals.plate_reads)?;
    write_queries(&month, &node_dir, totals.plate_reads)?;

    // Two baselines: a node with the same registry and rules but no history (what history adds),
    // and an empty one (what the rules add).
    let rules_dir = args.work.join("rules-only");
    std::fs::create_dir_all(&rules_dir)?;
    {
        let _lock = super::lock_data_dir(&rules_dir)?;
        let pipeline = Pipeline::start(ingest::bulk_load_config(&rules_dir))?;
        setup::register(&pipeline.state.app, &month, &args, latency_requests)?;
        pipeline.shutdown()?;
    }
    let empty_dir = args.work.join("empty");
    std::fs::create_dir_all(&empty_dir)?;
    let log = args.work.join("serve.log");
    let mut starts = [StartUps::default(), StartUps::default(), StartUps::default()];
    for _ in 0..args.starts.max(1) {
        for (dir, figures) in [&node_dir, &rules_dir, &empty_dir].into_iter().zip(starts.iter_mut()) {
            let node = node::Node::start(dir, &log)?;
            figures.ms.push(node.started_in.as_secs_f64() * 1e3);
            figures.idle_rss_bytes = node.rss_bytes()?;
            node.stop()?;
        }
    }
    let [loaded, rules_only, empty] = starts.map(StartUps::summed);
    let start_up = StartUpReport { loaded, rules_only, empty };
    eprintln!(
        "start-up: loaded {:.0} ms, rules without history {:.0} ms, empty {:.0} ms; measuring alert latency",
        start_up.loaded.median_ms, start_up.rules_only.median_ms, start_up.empty.median_ms
    );

    let ingest_token = TokenStore::create(&node_dir, "bench-feed", Role::Ingest)?;
    let operator_token = TokenStore::create(&node_dir, "bench-operator", Role::Operator)?;
    let node = node::Node::start(&node_dir, &log)?;
    let readers: Vec<String> = month
        .devices()
        .into_iter()
        .filter(|d| d.device_type == glasshouse_model::DeviceType::PlateReader && !d.mobile)
        .map(|d| d.id)
        .collect();
    let plates = month.fleet_sample(100_000, 0x11fe);
    let probes = setup::probe_plates(latency_requests);
    let load_spec = latency::Load { rate: args.latency_rate, secs: args.latency_secs, readers: &readers, plates: &plates, probes: &probes };
    let latency = latency::run(node.address, &ingest_token, &operator_token, &load_spec)?;
    node.stop()?;

    let report = Report {
        city: json!({
            "days": args.days, "reads_per_day": args.reads_per_day, "fixed_readers": args.fixed_readers,
            "patrol_cars": args.patrol_cars, "cameras": args.cameras, "sensors": args.sensors, "vehicles": args.vehicles,
            "hotlist_entries": args.hotlist, "national_substitutions": args.national_substitutions, "geofences": args.geofences, "records": totals.records(),
            "plate_reads": totals.plate_reads, "mobile_reads": totals.mobile_reads, "sensor_readings": totals.sensor_readings,
            "gunshots": totals.gunshots, "incidents": totals.incidents,
        }),
        generate_seconds,
        setup,
        load,
        disk,
        start_up,
        latency,
    };
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(args.work.join("report.json"), &text)?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn write_month(month: &MonthCity, path: &Path) -> anyhow::Result<MonthTotals> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(4 << 20, file);
    let mut hours = 0u64;
    let totals = month.write(&mut out, |records| {
        hours += 1;
        if hours.is_multiple_of(24 * 5) {
            eprintln!("  day {}: {records} records", hours / 24);
        }
    })?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(totals)
}

/// Alerts stored, by rule family, and the repeats folded into them.
fn count_alerts(pipeline: &Pipeline) -> anyhow::Result<(usize, serde_json::Map<String, serde_json::Value>, usize)> {
    let mut by_family = std::collections::BTreeMap::<&'static str, u64>::new();
    let (mut alerts, mut repeats) = (0, 0);
    pipeline.state.app.alerts.for_each(|alert| {
        alerts += 1;
        repeats += alert.repeats.len();
        let family = if alert.hit.is_some() {
            "hotlist"
        } else if alert.geofence.is_some() {
            "geofence"
        } else if alert.threshold.is_some() {
            "threshold"
        } else if alert.situation.is_some() {
            "situation"
        } else {
            "other"
        };
        *by_family.entry(family).or_default() += 1;
    })?;
    Ok((alerts, by_family.into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect(), repeats))
}

fn disk(data_dir: &Path, plate_reads: u64) -> anyhow::Result<DiskReport> {
    let plate_read_segment_bytes = dir_bytes(&data_dir.join("segments").join(format!("kind={}", Kind::PlateRead.as_str())))?;
    Ok(DiskReport {
        plate_read_segment_bytes,
        bytes_per_plate_read: plate_read_segment_bytes as f64 / plate_reads.max(1) as f64,
        data_dir_bytes: dir_bytes(data_dir)?,
        wal_bytes: dir_bytes(&data_dir.join("wal"))?,
    })
}

fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(0) };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

/// The investigation queries in `glasshouse-bench`'s `queries.json` form: plates of vehicles that
/// drive every day, patterns built from them, 300 m circles around fixed readers for an hour.
fn write_queries(month: &MonthCity, data_dir: &Path, plate_reads: u64) -> anyhow::Result<()> {
    let (start, end) = (month.config().start, month.end());
    let exact = month.frequent_plates(20, 0x9e41);
    let wildcard: Vec<String> = exact.iter().take(5).map(|p| format!("{}?{}*", &p[..2], &p[3..5])).collect();
    let hours = (end.0 - start.0) / (3_600 * MICROS_PER_SEC);
    let readers = month.reader_positions();
    let areas: Vec<_> = (0..20u64)
        .map(|i| {
            let reader = readers[(i as usize * 37) % readers.len()];
            let from = Timestamp(start.0 + ((i as i64 * 7_919) % hours.max(1)) * 3_600 * MICROS_PER_SEC);
            json!({ "lat": reader.lat, "lon": reader.lon, "radius_m": 300.0, "from": from, "to": Timestamp(from.0 + 3_600 * MICROS_PER_SEC) })
        })
        .collect();
    let day_start = Timestamp(start.0 + (end.0 - start.0) / 2 / (86_400 * MICROS_PER_SEC) * 86_400 * MICROS_PER_SEC);
    let queries = json!({
        "reads": plate_reads,
        "exact": exact,
        "wildcard": wildcard,
        "areas": areas,
        "day": [day_start, Timestamp(day_start.0 + 86_400 * MICROS_PER_SEC)],
        "period": [start, end],
    });
    let path = data_dir.join("queries.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&queries)?).with_context(|| format!("writing {}", path.display()))
}

/// A `/proc/.../status` field in bytes.
pub fn rss_bytes(status_path: &str, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(status_path).with_context(|| format!("reading {status_path}"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in {status_path}"))?;
    Ok(kib * 1024)
}
