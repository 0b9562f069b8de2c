//! `glasshouse sim`: the synthetic city, written to a file or fed live to a server.

use super::client::{ApiClient, register_city};
use super::wire::{Publisher, SENSOR_TOPIC, Wire};
use anyhow::Context;
use clap::Args;
use glasshouse_model::{LatLon, Timestamp};
use glasshouse_sim::simulator::to_wire_json;
use glasshouse_sim::{City, CityConfig, RoadNetwork, Simulator, SimulatorConfig};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::info;

#[derive(Args, Clone)]
pub struct SimArgs {
    /// The road network: `helsinki` (the OSM extract in ../shared/data) or `grid:COLUMNSxROWS`.
    #[arg(long, default_value = "helsinki")]
    pub city: String,
    /// Path of an OSM PBF to use instead of the default Helsinki extract.
    #[arg(long)]
    pub osm: Option<PathBuf>,
    /// Seed: the same seed gives the same city and the same observations.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Vehicles driving trips.
    #[arg(long, default_value_t = 400)]
    pub vehicles: usize,
    /// Plate readers at intersections.
    #[arg(long, default_value_t = 40)]
    pub readers: usize,
    /// Cameras at intersections.
    #[arg(long, default_value_t = 30)]
    pub cameras: usize,
    /// Radiation sensors (the first one carries the injected anomaly).
    #[arg(long, default_value_t = 8)]
    pub sensors: usize,
    /// Vehicles on the demo hotlist.
    #[arg(long, default_value_t = 6)]
    pub hotlisted: usize,
    /// Write NDJSON here (with `--duration-mins`); devices go to `<out>.devices.json`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Simulated minutes to write with `--out`.
    #[arg(long, default_value_t = 60)]
    pub duration_mins: i64,
    /// Simulated start (RFC 3339) for `--out`; default 2026-11-27T08:00:00Z.
    #[arg(long)]
    pub start: Option<String>,
    /// Feed a server live at this base URL (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    pub server: Option<String>,
    /// Ingest token for `--server`.
    #[arg(long)]
    pub token: Option<String>,
    /// Administrator token: when given, the devices and the demo hotlist are registered first.
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Simulated seconds per wall-clock second when live.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Live runs start this many hours in the past and fast-forward at `--speed`; once simulated
    /// time reaches the present they continue in real time, so no observation is from the future.
    #[arg(long, default_value_t = 24)]
    pub lead_hours: i64,
}

/// Where the repository keeps the shared data, relative to the working directory or the binary.
pub fn default_osm() -> PathBuf {
    let candidates = [
        PathBuf::from("../shared/data/osm/helsinki-central.osm.pbf"),
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/osm/helsinki-central.osm.pbf")),
    ];
    candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| candidates[0].clone())
}

pub fn network(args: &SimArgs) -> anyhow::Result<RoadNetwork> {
    if let Some(spec) = args.city.strip_prefix("grid:") {
        let (columns, rows) = spec.split_once('x').context("grid size is COLUMNSxROWS, e.g. grid:40x40")?;
        let (columns, rows): (usize, usize) = (columns.parse()?, rows.parse()?);
        anyhow::ensure!(columns >= 2 && rows >= 2, "a grid needs at least 2x2 intersections");
        return Ok(RoadNetwork::grid(columns, rows, 150.0, LatLon::new(60.16, 24.93)));
    }
    anyhow::ensure!(args.city == "helsinki", "unknown city {:?}: use helsinki or grid:COLUMNSxROWS", args.city);
    let path = args.osm.clone().unwrap_or_else(default_osm);
    RoadNetwork::from_osm_pbf(&path).with_context(|| format!("reading the road network from {}", path.display()))
}

pub fn build_city(args: &SimArgs) -> anyhow::Result<City> {
    let config = CityConfig {
        seed: args.seed,
        readers: args.readers,
        cameras: args.cameras,
        sensors: args.sensors,
        vehicles: args.vehicles,
        hotlisted: args.hotlisted,
        ..CityConfig::default()
    };
    Ok(City::build(network(args)?, &config))
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let city = build_city(&args)?;
    if let Some(out) = &args.out {
        let start = match &args.start {
            Some(text) => Timestamp::parse_rfc3339(text).context("--start is not RFC 3339")?,
            None => SimulatorConfig::default().start,
        };
        write_file(city, &args, start, out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let server = args.server.clone().context("give --out FILE, or --server URL with --token")?;
    let token = args.token.clone().context("--server needs --token (an ingest token)")?;
    let client = ApiClient::new(&server);
    if let Some(admin) = &args.admin_token {
        register_city(&client, admin, &city, 30)?;
    }
    feed_live(&client, &token, city, &args, None, Arc::new(AtomicBool::new(false)))?;
    Ok(ExitCode::SUCCESS)
}

fn write_file(city: City, args: &SimArgs, start: Timestamp, out: &PathBuf) -> anyhow::Result<()> {
    let devices_path = PathBuf::from(format!("{}.devices.json", out.display()));
    std::fs::write(&devices_path, serde_json::to_vec_pretty(&city.devices)?)?;
    let hotlist: Vec<_> = city.hotlist.iter().map(|l| serde_json::json!({"plate": l.plate, "reason": l.reason})).collect();
    std::fs::write(format!("{}.hotlist.json", out.display()), serde_json::to_vec_pretty(&hotlist)?)?;
    let mut sim = Simulator::new(city, SimulatorConfig { seed: args.seed, start, ..SimulatorConfig::default() });
    let mut writer = BufWriter::new(std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?);
    let mut batch = Vec::new();
    let mut written = 0usize;
    let end = start.plus_secs(args.duration_mins * 60);
    let mut t = start;
    while t < end {
        t = t.plus_secs(300).min(end);
        sim.advance_until(t, &mut batch);
        for o in batch.drain(..) {
            writeln!(writer, "{}", to_wire_json(&o))?;
            written += 1;
        }
    }
    writer.flush()?;
    eprintln!("wrote {written} observations to {} and the devices to {}", out.display(), devices_path.display());
    Ok(())
}

/// Feeds the simulation to a server until `stop` is set: plate reads as OpenALPR webhooks, sensor
/// readings over MQTT when `mqtt` is there, the rest as NDJSON.
pub fn feed_live(
    client: &ApiClient,
    token: &str,
    city: City,
    args: &SimArgs,
    mqtt: Option<Publisher>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let start = Timestamp::now().plus_secs(-args.lead_hours * 3600);
    let listed: std::collections::HashSet<String> = city.hotlist.iter().map(|l| l.plate.clone()).collect();
    let mut sim = Simulator::new(city, SimulatorConfig { seed: args.seed, start, ..SimulatorConfig::default() });
    let wall_start = Instant::now();
    let mut batch = Vec::new();
    let (mut sent, mut last_report) = (0usize, Instant::now());
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let fast_forward = Timestamp(start.0 + (wall_start.elapsed().as_secs_f64() * args.speed * 1e6) as i64);
        let target = fast_forward.min(Timestamp::now());
        sim.advance_until(target, &mut batch);
        if batch.is_empty() {
            continue;
        }
        let wire = Wire::split(batch.drain(..), mqtt.is_some(), &listed);
        for (path, content_type, body) in
            [("/v1/ingest/openalpr", "application/json", wire.openalpr), ("/v1/observations", "application/x-ndjson", wire.ndjson)]
        {
            if body.is_empty() {
                continue;
            }
            let outcome = client.post_ingest(path, content_type, token, body)?;
            sent += outcome["accepted"].as_u64().unwrap_or(0) as usize;
            if outcome["rejected"].as_u64().unwrap_or(0) > 0 {
                tracing::warn!(path, rejected = %outcome["rejected"], "server rejected simulated records");
            }
        }
        if let Some(mqtt) = &mqtt
            && !wire.sensors.is_empty()
        {
            sent += wire.sensors.iter().filter(|&&b| b == b'\n').count();
            mqtt.publish(SENSOR_TOPIC, wire.sensors)?;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            info!(sent, simulated_time = %sim.now(), "simulator feeding");
            last_report = Instant::now();
        }
    }
    Ok(())
}
