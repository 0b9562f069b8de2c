//! `glasshouse serve`: the API and the console over a data directory.

use crate::pipeline::{Pipeline, PipelineConfig};
use anyhow::Context;
use clap::{Args, ValueEnum};
use glasshouse_app::Action;
use glasshouse_wal::FsyncPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Where the server keeps its WAL, segments, catalog, alerts and tokens.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// When WAL appends reach the disk: `always` (fsync per group, before acknowledging) or `never`.
    #[arg(long, value_enum, default_value_t = Fsync::Always)]
    pub fsync: Fsync,
    /// Longest an observation waits in memory before it is flushed to a Parquet segment.
    #[arg(long, default_value_t = 10)]
    pub flush_interval_secs: u64,
    /// Also serve analysts' SQL over the Postgres wire protocol here (password: an analyst token).
    #[arg(long)]
    pub pg_listen: Option<SocketAddr>,
    /// An OpenStreetMap PBF whose roads become the console's basemap.
    #[arg(long)]
    pub basemap: Option<PathBuf>,
    /// A JSON file naming where alerts are delivered outside (webhooks, NATS, MQTT); see the README.
    #[arg(long)]
    pub sinks: Option<PathBuf>,
    /// An online MapLibre style URL for the console's map (tiles from a provider); the city's roads
    /// are drawn over it. Without it the console needs no network beyond this server.
    #[arg(long)]
    pub map_style: Option<String>,
    /// Also take observations from this MQTT broker (HOST:PORT), at QoS 1, acknowledged once durable.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Topic filters to subscribe to on the MQTT broker (repeatable). Our observation JSON, one
    /// object per line, or SensorThings observations on `…/Datastreams(<id>)/Observations`.
    #[arg(long = "mqtt-topic", default_values_t = [String::from("glasshouse/observations/#")])]
    pub mqtt_topics: Vec<String>,
    /// The MQTT client id; keep it stable, since the broker keeps the session (and the messages
    /// published while the server is down) under it.
    #[arg(long, default_value = "glasshouse")]
    pub mqtt_client_id: String,
    /// A JSON file mapping SensorThings datastreams to devices:
    /// `{"datastreams": {"17": {"device_id": "rad-3", "quantity": "gamma_dose_rate", "unit": "uSv/h"}}}`.
    #[arg(long)]
    pub mqtt_datastreams: Option<PathBuf>,
    /// Also take observations from this NATS server's JetStream (`nats://HOST:PORT`), through a
    /// durable pull consumer, acknowledged once durable.
    #[arg(long)]
    pub nats: Option<String>,
    /// The JetStream stream to read; created with the subjects below if missing.
    #[arg(long, default_value = "GH_INGEST")]
    pub nats_stream: String,
    /// Subjects to read (repeatable; wildcards allowed).
    #[arg(long = "nats-subject", default_values_t = [String::from("glasshouse.observations.>")])]
    pub nats_subjects: Vec<String>,
    /// The durable consumer's name; keep it stable, since JetStream keeps its position under it.
    #[arg(long, default_value = "glasshouse")]
    pub nats_consumer: String,
    /// Also take vendor export files dropped into this folder (.ndjson/.jsonl, OpenALPR .json,
    /// SharpV .xml); each moves to done/ once durable, or to failed/ with the reason beside it.
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// The server sits behind a reverse proxy that sets `X-Forwarded-For`: failed logons are
    /// throttled by the address the proxy saw, not by the proxy's. Without a proxy, leave it off: a
    /// client could write any address there.
    #[arg(long)]
    pub trust_forwarded_for: bool,
    /// Serve the API and the console over TLS with this PEM certificate chain (leaf first).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Minutes without input after which the console locks itself and asks for the token again
    /// (CJIS asks for a session lock); longer for a video wall nobody touches.
    #[arg(long, default_value_t = IDLE_LOCK_MINUTES_DEFAULT, value_parser = idle_minutes)]
    pub console_idle_lock_minutes: f64,
    /// A witness that cosigns the audit log's checkpoints: `<its verifier key>@<its URL>`
    /// (`glasshouse witness key` prints the key). Repeat for more witnesses.
    #[arg(long = "witness", value_parser = witness_config)]
    pub witnesses: Vec<glasshouse_audit::witnessing::WitnessConfig>,
    /// Seconds between asking the witnesses to cosign the newest checkpoint.
    #[arg(long, default_value_t = 10)]
    pub witness_interval_secs: u64,
}

fn witness_config(text: &str) -> Result<glasshouse_audit::witnessing::WitnessConfig, String> {
    glasshouse_audit::witnessing::WitnessConfig::parse(text)
}

/// The console's idle lock unless configured otherwise.
pub const IDLE_LOCK_MINUTES_DEFAULT: f64 = 30.0;

fn idle_minutes(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(minutes) if minutes > 0.0 && minutes <= 24.0 * 60.0 => Ok(minutes),
        _ => Err(format!("{text:?}: minutes above 0 and at most a day (1440)")),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Fsync {
    Always,
    Never,
}

impl From<Fsync> for FsyncPolicy {
    fn from(f: Fsync) -> Self {
        match f {
            Fsync::Always => FsyncPolicy::Always,
            Fsync::Never => FsyncPolicy::Never,
        }
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args, None))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the server until ctrl-c or SIGTERM. `ready` hears the bound address once listening.
pub async fn serve(
    args: ServeArgs,
    ready: Option<tokio::sync::oneshot::Sender<(SocketAddr, Arc<glasshouse_server::AppState>)>>,
) -> anyhow::Result<()> {
    let _lock = super::lock_data_dir(&args.data_dir)?;
    let basemap = match &args.basemap {
        Some(path) => Some(Arc::new(basemap_geojson(path)?)),
        None => None,
    };
    let sinks = match &args.sinks {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            glasshouse_sinks::delivery::SinksConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    let config = PipelineConfig {
        data_dir: args.data_dir.clone(),
        fsync: args.fsync.into(),
        flush_interval: Duration::from_secs(args.flush_interval_secs.max(1)),
        basemap,
        map_style: args.map_style.clone(),
        sinks,
        trust_forwarded_for: args.trust_forwarded_for,
        console_idle_lock_minutes: args.console_idle_lock_minutes,
        witnesses: args.witnesses.clone(),
        witness_interval: Duration::from_secs(args.witness_interval_secs.max(1)),
    };
    let mqtt = match &args.mqtt {
        Some(address) => {
            let (host, port) = glasshouse_feeds::mqtt::MqttFeed::parse_address(address).map_err(|e| anyhow::anyhow!(e))?;
            let datastreams = match &args.mqtt_datastreams {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    glasshouse_ingest::sources::sensorthings::Datastreams::parse(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => Default::default(),
            };
            Some(glasshouse_feeds::mqtt::MqttFeed {
                host,
                port,
                topics: args.mqtt_topics.clone(),
                client_id: args.mqtt_client_id.clone(),
                datastreams: Arc::new(datastreams),
            })
        }
        None => None,
    };
    let nats = args.nats.as_ref().map(|url| glasshouse_feeds::nats::NatsFeed {
        url: url.clone(),
        stream: args.nats_stream.clone(),
        subjects: args.nats_subjects.clone(),
        consumer: args.nats_consumer.clone(),
        datastreams: mqtt.as_ref().map(|m| m.datastreams.clone()).unwrap_or_default(),
    });
    // A certificate that does not load stops the start, before anything is opened.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(glasshouse_server::tls::server_config(cert, key)?),
        _ => None,
    };
    let pipeline = tokio::task::spawn_blocking(move || Pipeline::start(config)).await??;
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    info!(%address, data_dir = %args.data_dir.display(), tls = tls.is_some(), "serving");
    if tls.is_none() && !address.ip().is_loopback() {
        tracing::warn!(%address, "listening beyond loopback without TLS: tokens and data cross the network in the clear; use --tls-cert and --tls-key");
        eprintln!(
            "warning: listening on {address} without TLS; tokens and data cross the network in the clear (use --tls-cert and --tls-key)"
        );
    }
    let stop_signals = StopSignals::install().context("installing the stop signals' handlers")?;
    println!("glasshouse listening on {}://{address}", if tls.is_some() { "https" } else { "http" });
    let postgres = match args.pg_listen {
        Some(pg_address) => {
            let pg_listener = tokio::net::TcpListener::bind(pg_address).await.with_context(|| format!("binding {pg_address}"))?;
            println!("glasshouse postgres on {}", pg_listener.local_addr()?);
            let pg_tls = tls.as_deref().map(|config| glasshouse_sql::pg::TlsAcceptor::from(glasshouse_server::tls::for_postgres(config)));
            let (engine, state) = (pipeline.sql.clone(), pipeline.state.clone());
            Some(tokio::spawn(async move {
                let (authenticate, audit) = postgres_access(state);
                if let Err(e) = glasshouse_sql::pg::serve(pg_listener, &engine, authenticate, audit, pg_tls).await {
                    tracing::error!(error = %e, "the postgres listener stopped");
                }
            }))
        }
        None => None,
    };
    // The feed starts once the pipeline can take records; it acknowledges nothing that is not durable,
    // so stopping it anywhere is safe.
    let mqtt = mqtt.map(|feed| {
        println!("glasshouse taking MQTT from {}:{} ({})", feed.host, feed.port, feed.topics.join(", "));
        tokio::spawn(glasshouse_feeds::mqtt::run(pipeline.state.app.clone(), feed))
    });
    let nats = nats.map(|feed| {
        println!("glasshouse taking JetStream {} from {} ({})", feed.stream, feed.url, feed.subjects.join(", "));
        tokio::spawn(glasshouse_feeds::nats::run(pipeline.state.app.clone(), feed))
    });
    let spool = args.spool.clone().map(|dir| {
        println!("glasshouse taking files from {}", dir.display());
        tokio::spawn(glasshouse_feeds::spool::run(pipeline.state.app.clone(), dir))
    });
    if let Some(ready) = ready {
        let _ = ready.send((address, pipeline.state.clone()));
    }
    let mut app = glasshouse_server::app(pipeline.state.clone()).layer(tower_http::trace::TraceLayer::new_for_http());
    if tls.is_some() {
        // Browsers that have seen the console over https keep to https for a year.
        app = app.layer(axum::middleware::map_response(|mut response: axum::response::Response| async move {
            let hsts = axum::http::HeaderValue::from_static("max-age=31536000");
            response.headers_mut().insert(axum::http::header::STRICT_TRANSPORT_SECURITY, hsts);
            response
        }));
    }
    // With the peer's address, which the logon throttle counts by.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    // On the signal the live streams end too, so the graceful shutdown has connections to wait for
    // only while requests are in flight.
    let stopping = {
        let state = pipeline.state.clone();
        async move {
            stop_signals.received().await;
            state.closing.close();
        }
    };
    match tls {
        Some(config) => {
            use axum::serve::ListenerExt;
            let listener = glasshouse_server::tls::TlsListener::new(listener, config)?.tap_io(|_| {});
            axum::serve(listener, service).with_graceful_shutdown(stopping).await?;
        }
        None => axum::serve(listener, service).with_graceful_shutdown(stopping).await?,
    }
    if let Some(postgres) = postgres {
        postgres.abort();
    }
    for feed in [mqtt, nats, spool].into_iter().flatten() {
        feed.abort();
    }
    info!("shutting down: flushing the hot window");
    tokio::task::spawn_blocking(move || pipeline.shutdown()).await??;
    Ok(())
}

/// Token check and query log for the Postgres listener: analysts only, each connection's first
/// query logged as its logon, every query logged before it runs.
fn postgres_access(state: Arc<glasshouse_server::AppState>) -> (glasshouse_sql::pg::Authenticate, glasshouse_sql::pg::Audit) {
    use glasshouse_server::{Account, Role};
    let login_state = state.clone();
    let authenticate: glasshouse_sql::pg::Authenticate = Arc::new(move |token: &str| {
        // An account with a second factor signs in here with a session token (POST /v1/sessions).
        let account = match login_state.authenticate(token) {
            Ok(account) => account,
            Err(glasshouse_server::AuthRefusal::SecondFactorRequired) => {
                return Err("this account signs in with a second factor: use a session token from POST /v1/sessions".into());
            }
            Err(glasshouse_server::AuthRefusal::Invalid) => {
                login_state.failed_logons.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err("invalid token".into());
            }
        };
        if account.role != Role::Analyst {
            return Err(format!("role {} may not use SQL", account.role.as_str()));
        }
        let actor = account.actor().via(glasshouse_app::Component::Postgres, None);
        tokio::task::block_in_place(|| login_state.record(&actor, Action::AccountLogon, "ok", serde_json::json!({ "via": "postgres" })))
            .map_err(|e| e.message)?;
        Ok(account.name)
    });
    let audit: glasshouse_sql::pg::Audit = Arc::new(move |name: &str, sql: &str, tables: &[String]| {
        let analyst = Account::new(name, Role::Analyst).actor().via(glasshouse_app::Component::Postgres, None);
        state.log_sql(&analyst, sql, tables, "postgres").map(|_| ()).map_err(|e| e.message)
    });
    (authenticate, audit)
}

/// Ctrl-c and SIGTERM, caught from when this is made. Made before the listening line: a stop sent
/// the moment the server says it listens (a supervisor, a test) must take the graceful path, and
/// until a handler is installed the signal's default action kills the process unflushed.
pub(crate) struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub(crate) fn install() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    /// Resolves at the first of them.
    pub(crate) async fn received(mut self) {
        tokio::select! { _ = self.interrupt.recv() => {}, _ = self.terminate.recv() => {} }
    }
}

/// The road network of an OSM extract as GeoJSON lines.
pub fn basemap_geojson(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let network = glasshouse_sim::network::RoadNetwork::from_osm_pbf(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::to_vec(&network.to_geojson())?)
}
