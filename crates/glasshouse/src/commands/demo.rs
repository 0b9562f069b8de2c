//! `glasshouse demo`: a live synthetic city on a fresh data directory, with the console.

use super::client::{ApiClient, register_city};
use super::serve::{Fsync, ServeArgs, basemap_geojson, serve};
use super::sim::{SimArgs, build_city, default_osm, feed_live};
use anyhow::Context;
use clap::Args;
use glasshouse_server::{Role, TokenStore};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The broker the demo's sensors publish to when one answers.
const MQTT_BROKER: &str = "127.0.0.1:1883";

/// A file that marks a directory as the demo's own, so `demo` never deletes anything else.
const DEMO_MARKER: &str = "GLASSHOUSE_DEMO";

#[derive(Args)]
pub struct DemoArgs {
    /// The demo's data directory; recreated on every run (only if the demo made it).
    #[arg(long, default_value = "demo-data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Seed of the simulated city.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Vehicles in the simulated city.
    #[arg(long, default_value_t = 400)]
    pub vehicles: usize,
    /// Where analysts' SQL is served over the Postgres wire protocol.
    #[arg(long, default_value = "127.0.0.1:55432")]
    pub pg_listen: SocketAddr,
    /// Write the demo's tokens as JSON to this file too (for scripts and browser tests).
    #[arg(long)]
    pub tokens_out: Option<PathBuf>,
    /// An online MapLibre style URL for the console's map (see `serve --map-style`).
    #[arg(long)]
    pub map_style: Option<String>,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    prepare_data_dir(&args.data_dir)?;
    let mut tokens = serde_json::Map::new();
    for role in Role::ALL {
        let token = TokenStore::create(&args.data_dir, &format!("demo-{}", role.as_str()), role)?;
        tokens.insert(role.as_str().to_owned(), token.into());
    }
    if let Some(path) = &args.tokens_out {
        std::fs::write(path, serde_json::to_vec_pretty(&tokens)?)?;
    }
    let osm = default_osm();
    let sim_args = SimArgs {
        city: "helsinki".into(),
        osm: Some(osm.clone()),
        seed: args.seed,
        vehicles: args.vehicles,
        readers: 40,
        cameras: 30,
        sensors: 8,
        hotlisted: 4,
        out: None,
        duration_mins: 0,
        start: None,
        server: None,
        token: None,
        admin_token: None,
        speed: args.speed,
        lead_hours: 24,
    };
    let city = build_city(&sim_args)?;
    // Parse the basemap once here so a missing extract fails before the server starts.
    basemap_geojson(&osm)?;
    let mqtt = super::wire::Publisher::connect("127.0.0.1", 1883);
    let serve_args = ServeArgs {
        data_dir: args.data_dir.clone(),
        listen: args.listen,
        fsync: Fsync::Always,
        flush_interval_secs: 10,
        pg_listen: Some(args.pg_listen),
        basemap: Some(osm),
        sinks: None,
        map_style: args.map_style.clone(),
        trust_forwarded_for: false,
        tls_cert: None,
        tls_key: None,
        console_idle_lock_minutes: super::serve::IDLE_LOCK_MINUTES_DEFAULT,
        witnesses: Vec::new(),
        witness_interval_secs: 10,
        // Sensors publish over MQTT when the machine's broker answers (the demo says which).
        mqtt: mqtt.is_some().then(|| MQTT_BROKER.to_owned()),
        mqtt_topics: vec!["glasshouse/observations/#".into()],
        mqtt_client_id: format!("glasshouse-demo-{}", std::process::id()),
        mqtt_datastreams: None,
        nats: None,
        nats_stream: "GH_INGEST".into(),
        nats_subjects: Vec::new(),
        nats_consumer: "glasshouse".into(),
        spool: None,
    };
    let via_mqtt = mqtt.is_some();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder_stop = stop.clone();
    let token_for = |role: &str| tokens[role].as_str().expect("token strings").to_owned();
    let (admin, ingest, supervisor) = (token_for("administrator"), token_for("ingest"), token_for("supervisor"));
    let feeder = std::thread::Builder::new().name("demo-feed".into()).spawn(move || -> anyhow::Result<()> {
        let (address, _state) = ready_rx.blocking_recv().context("the server did not start")?;
        let client = ApiClient::new(&format!("http://{address}"));
        open_demo_cases(&client, &supervisor)?;
        register_city(&client, &admin, &city, 30)?;
        feed_live(&client, &ingest, city, &sim_args, mqtt, feeder_stop)
    })?;
    let address_line = args.listen;
    println!("\nGlasshouse demo: a simulated Helsinki, {} vehicles, speed x{}", args.vehicles, args.speed);
    println!(
        "feeds: plate readers as OpenALPR agents (POST /v1/ingest/openalpr), sensors {}",
        if via_mqtt { "over MQTT (127.0.0.1:1883)" } else { "over HTTP (no MQTT broker on 127.0.0.1:1883)" }
    );
    println!("console: http://{address_line}/  (sign in with a token below; each role sees its own views)");
    for (role, token) in &tokens {
        println!("  {role:<14} {}", token.as_str().unwrap_or_default());
    }
    println!(
        "SQL for analysts (aggregates only, no plates): PGPASSWORD=<analyst token> psql -h {} -p {} -c 'select count(*) from plate_reads'",
        args.pg_listen.ip(),
        args.pg_listen.port()
    );
    let key = glasshouse_audit::log::verifier_key(&crate::pipeline::audit_keys_dir(&args.data_dir))?;
    println!("audit log verifier key: {key}");
    println!("  verify: glasshouse audit verify --url http://{address_line} --token <auditor token> --key {key}");
    println!("map data © OpenStreetMap contributors (ODbL). Press ctrl-c to stop.\n");
    let served = runtime.block_on(serve(serve_args, Some(ready_tx)));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    match feeder.join() {
        Ok(Err(e)) if served.is_ok() => tracing::warn!(error = %format!("{e:#}"), "demo feed stopped"),
        _ => {}
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The cases the demo's investigator can search under, opened by the demo's supervisor as a
/// deployment's supervisors would (a search must name a case the system knows).
const DEMO_CASES: [(&str, &str); 3] = [
    ("HPD-2026-0042", "stolen grey estate car reported near the harbour"),
    ("HPD-2026-0043", "shots fired near the market square"),
    ("HPD-2026-0044", "child reported missing from the central library"),
];

fn open_demo_cases(client: &ApiClient, supervisor: &str) -> anyhow::Result<()> {
    for (number, title) in DEMO_CASES {
        client.json("POST", "/v1/cases", supervisor, &serde_json::json!({ "case_number": number, "title": title }))?;
    }
    Ok(())
}

fn prepare_data_dir(dir: &PathBuf) -> anyhow::Result<()> {
    let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
    if dir.exists() && !empty {
        anyhow::ensure!(dir.join(DEMO_MARKER).exists(), "{} exists and was not made by the demo; choose another --data-dir", dir.display());
        std::fs::remove_dir_all(dir).with_context(|| format!("removing the previous demo data in {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(DEMO_MARKER), "this directory is recreated by `glasshouse demo`\n")?;
    Ok(())
}
