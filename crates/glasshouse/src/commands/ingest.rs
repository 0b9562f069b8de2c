//! `glasshouse ingest FILE`: bulk-load a file into a data directory (the server must not be running
//! on it; the data directory lock makes sure).

use crate::pipeline::{Pipeline, PipelineConfig};
use anyhow::Context;
use clap::{Args, ValueEnum};
use glasshouse_app::ingest::Taken;
use glasshouse_app::{Ingest, PushBack};
use glasshouse_ingest::{Batch, LineError, decode_ndjson, sources::toronto};
use glasshouse_model::{Device, DeviceType, Timestamp};
use glasshouse_store::CatalogEvent;
use glasshouse_wal::FsyncPolicy;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Records per WAL request during a bulk load.
const BATCH_RECORDS: usize = 10_000;
/// Requests in flight at once, so decoding overlaps the fsync of the previous group.
const IN_FLIGHT_MAX: usize = 4;
/// Errors printed at the end; all of them are in the dead-letter store.
const ERRORS_PRINTED_MAX: usize = 10;

#[derive(Args)]
pub struct IngestArgs {
    /// The file to load.
    pub file: PathBuf,
    /// The data directory to load into.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The file's format.
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    pub format: Format,
    /// Register (or update) the devices in this JSON array first, e.g. the `.devices.json` that
    /// `glasshouse sim --out` writes.
    #[arg(long)]
    pub devices: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One flat JSON observation per line.
    Ndjson,
    /// Toronto Police Service Major Crime Indicators CSV, loaded as `incident` observations.
    TorontoMci,
}

/// What a load took in.
pub struct Totals {
    /// Records stored.
    pub accepted: usize,
    /// Of them, already stored before (not stored again).
    pub duplicates: usize,
    /// Records refused, each in the dead-letter store.
    pub rejected: usize,
    /// The first few refusals, with their lines.
    pub first_errors: Vec<LineError>,
    /// Wall-clock seconds from the first line read to the last record durable.
    pub seconds: f64,
}

pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let _lock = super::lock_data_dir(&args.data_dir)?;
    let pipeline = Pipeline::start(bulk_load_config(&args.data_dir))?;
    if let Some(path) = &args.devices {
        register_devices(&pipeline, path)?;
    }
    if args.format == Format::TorontoMci {
        ensure_toronto_device(&pipeline)?;
    }
    let loaded = load(&pipeline, &args.file, args.format)?;
    pipeline.shutdown()?;
    println!(
        "loaded {}: {} accepted ({} already present), {} rejected, in {:.1} s ({:.0} records/s)",
        args.file.display(),
        loaded.accepted,
        loaded.duplicates,
        loaded.rejected,
        loaded.seconds,
        (loaded.accepted + loaded.rejected) as f64 / loaded.seconds.max(1e-9)
    );
    for e in &loaded.first_errors {
        println!("  line {}: {}", e.line, e.error);
    }
    if loaded.rejected > loaded.first_errors.len() {
        println!("  ... every rejected line is in the dead-letter store ({})", pipeline_dead_letter_path(&args.data_dir).display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The pipeline of a bulk load: no server, no sinks.
pub fn bulk_load_config(data_dir: &Path) -> PipelineConfig {
    PipelineConfig {
        data_dir: data_dir.to_owned(),
        fsync: FsyncPolicy::Always,
        flush_interval: Duration::from_secs(30),
        basemap: None,
        // Alerts raised by a bulk load are delivered by the server, from the log, when it runs.
        sinks: Default::default(),
        map_style: None,
        trust_forwarded_for: false,
        console_idle_lock_minutes: super::serve::IDLE_LOCK_MINUTES_DEFAULT,
        witnesses: Vec::new(),
        witness_interval: Duration::from_secs(10),
    }
}

/// Loads a file through the ingest path (decode → WAL with fsync → hot path), several requests in
/// flight; returns once every record is durable.
pub fn load(pipeline: &Pipeline, path: &Path, format: Format) -> anyhow::Result<Totals> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata()?.len();
    let progress = ProgressBar::with_draw_target(
        Some(size),
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    progress.set_style(ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {per_sec} {msg}").expect("static template"));
    let reader = progress.wrap_read(file);
    let source = format!("file:{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("input"));
    let started = Instant::now();
    let mut totals = Totals { accepted: 0, duplicates: 0, rejected: 0, first_errors: Vec::new(), seconds: 0.0 };
    let mut in_flight: VecDeque<Taken> = VecDeque::new();
    let ingest: &Ingest = &pipeline.state.ingest;
    let mut send = |batch: Batch, totals: &mut Totals| -> anyhow::Result<()> {
        totals.rejected += batch.errors.len();
        let room = ERRORS_PRINTED_MAX.saturating_sub(totals.first_errors.len());
        totals.first_errors.extend(batch.errors.iter().take(room).cloned());
        in_flight.push_back(ingest.take(&source, batch, Timestamp::now(), PushBack::Wait)?);
        while in_flight.len() > IN_FLIGHT_MAX {
            collect(in_flight.pop_front().expect("non-empty"), totals)?;
        }
        Ok(())
    };
    match format {
        Format::Ndjson => load_ndjson(reader, pipeline, &mut |batch| send(batch, &mut totals))?,
        Format::TorontoMci => {
            let registry = pipeline.state.devices();
            let mut batch = Batch::default();
            let mut failure = None;
            toronto::read(reader, &registry, Timestamp::now(), |row| {
                match row {
                    Ok(observation) => batch.observations.push(observation),
                    Err(e) => batch.errors.push(e),
                }
                if batch.observations.len() >= BATCH_RECORDS && failure.is_none() {
                    failure = send(std::mem::take(&mut batch), &mut totals).err();
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
            send(batch, &mut totals)?;
        }
    }
    for pending in in_flight {
        collect(pending, &mut totals)?;
    }
    progress.finish_and_clear();
    totals.seconds = started.elapsed().as_secs_f64();
    Ok(totals)
}

fn pipeline_dead_letter_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("dead_letter.ndjson")
}

fn collect(taken: Taken, totals: &mut Totals) -> anyhow::Result<()> {
    let report = taken.wait()?;
    totals.accepted += report.accepted;
    totals.duplicates += report.duplicates;
    Ok(())
}

fn load_ndjson(reader: impl Read, pipeline: &Pipeline, send: &mut dyn FnMut(Batch) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let registry = pipeline.state.devices();
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut chunk = Vec::with_capacity(4 << 20);
    let mut first_line = 1u64;
    let mut lines = 0u64;
    let mut flush = |chunk: &mut Vec<u8>, first_line: u64| -> anyhow::Result<()> {
        let mut batch = decode_ndjson(chunk, &registry, Timestamp::now())?;
        for e in &mut batch.errors {
            e.line += first_line - 1;
        }
        chunk.clear();
        send(batch)
    };
    loop {
        let read = reader.read_until(b'\n', &mut chunk)?;
        if read == 0 {
            break;
        }
        lines += 1;
        if lines.is_multiple_of(BATCH_RECORDS as u64) {
            flush(&mut chunk, first_line)?;
            first_line = lines + 1;
        }
    }
    flush(&mut chunk, first_line)
}

fn register_devices(pipeline: &Pipeline, path: &std::path::Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let devices: Vec<Device> =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a JSON array of devices", path.display()))?;
    let mut catalog = pipeline.state.catalog.lock().unwrap_or_else(|p| p.into_inner());
    for (index, device) in devices.into_iter().enumerate() {
        device.validate().with_context(|| format!("{} device [{index}] ({})", path.display(), device.id))?;
        if catalog.devices.get(&device.id) == Some(&device) {
            continue;
        }
        catalog.record(CatalogEvent::DeviceUpserted { device, actor: "glasshouse-ingest".into(), at: Timestamp::now() })?;
    }
    pipeline.state.publish_catalog(&catalog);
    Ok(())
}

fn ensure_toronto_device(pipeline: &Pipeline) -> anyhow::Result<()> {
    let mut catalog = pipeline.state.catalog.lock().unwrap_or_else(|p| p.into_inner());
    if catalog.devices.get(toronto::DEVICE_ID).is_some() {
        return Ok(());
    }
    let device = Device {
        name: Some("Toronto Police Service, Major Crime Indicators (open data)".into()),
        ..Device::mobile(toronto::DEVICE_ID, DeviceType::Cad)
    };
    catalog.record(CatalogEvent::DeviceUpserted { device, actor: "glasshouse-ingest".into(), at: Timestamp::now() })?;
    pipeline.state.publish_catalog(&catalog);
    Ok(())
}
