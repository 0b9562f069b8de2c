//! `glasshouse witness`: an independent witness for Glasshouse audit logs (and any C2SP log), which
//! anyone can run on another machine, for another organisation. It serves `POST /add-checkpoint`
//! (C2SP `tlog-witness`) and cosigns only checkpoints that extend the last one it cosigned for
//! each log it follows, saying why it refuses anything else.

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::{Args, Subcommand};
use glasshouse_audit::note::NoteVerifier;
use glasshouse_audit::witness::{Refusal, SIZE_CONTENT_TYPE, Witness, load_or_create_cosigner};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Largest request: 63 proof lines and a checkpoint with a few signatures fit in far less.
const REQUEST_BYTES_MAX: usize = 64 * 1024;

#[derive(Subcommand)]
pub enum WitnessCommand {
    /// Print the witness's verifier key (made on first use), for logs and auditors to configure.
    Key(KeyArgs),
    /// Run the witness.
    Serve(WitnessArgs),
}

#[derive(Args)]
pub struct KeyArgs {
    /// Where the witness keeps its key and what it cosigned.
    #[arg(long)]
    state_dir: PathBuf,
    /// Its name, a schema-less URL such as witness.example.org/w1 (needed the first time).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args)]
pub struct WitnessArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7380")]
    listen: String,
    /// A log to follow: its checkpoint verifier key (`glasshouse audit key`). Repeat for more logs.
    #[arg(long = "log-key", required = true)]
    log_keys: Vec<String>,
}

pub fn run(command: WitnessCommand) -> anyhow::Result<ExitCode> {
    match command {
        WitnessCommand::Key(args) => {
            let cosigner = load_or_create_cosigner(&args.state_dir, args.name.as_deref()).context("the witness key")?;
            println!("{}", cosigner.verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Serve(args) => serve(args),
    }
}

fn serve(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    let cosigner = load_or_create_cosigner(&args.key.state_dir, args.key.name.as_deref()).context("the witness key")?;
    let logs = args
        .log_keys
        .iter()
        .map(|k| NoteVerifier::parse(k).with_context(|| format!("--log-key {k}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let witness = Arc::new(Witness::open(cosigner, logs, &args.key.state_dir.join("witness-state.json")).context("the witness's state")?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let stop = super::serve::StopSignals::install()?;
        let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
        let address = listener.local_addr()?;
        println!("glasshouse witness listening on http://{address}");
        println!("{}", witness.verifier_key());
        let app = Router::new()
            .route("/add-checkpoint", post(add_checkpoint))
            .layer(DefaultBodyLimit::max(REQUEST_BYTES_MAX))
            .with_state(witness);
        axum::serve(listener, app).with_graceful_shutdown(stop.received()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `POST /add-checkpoint`: the cosignature, or the refusal with the protocol's status and a reason.
async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "the request is not UTF-8\n").into_response();
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let answer = tokio::task::spawn_blocking(move || witness.add_checkpoint(&text, now)).await;
    match answer {
        Ok(Ok(line)) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], line).into_response(),
        Ok(Err(refusal)) => {
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
            tracing::warn!(status = status.as_u16(), reason = %refusal, "checkpoint not cosigned");
            // A stale old size is answered with this witness's size alone, as the protocol asks.
            if let Refusal::StaleOldSize { latest, .. } = refusal {
                return (status, [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)], format!("{latest}\n")).into_response();
            }
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{refusal}\n")).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}
