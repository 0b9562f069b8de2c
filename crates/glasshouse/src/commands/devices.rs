//! `glasshouse devices import`: a city's device registry, in bulk, into a running server.

use super::client::ApiClient;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum DevicesCommand {
    /// Register or change the devices in a CSV or GeoJSON file, all or nothing (see docs/api.md).
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    /// The file: `.csv`, or GeoJSON (a FeatureCollection of Points).
    pub file: PathBuf,
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// An administrator token.
    #[arg(long)]
    pub token: String,
}

pub fn run(command: DevicesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DevicesCommand::Import(args) => import(args),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let content_type =
        if args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) { "text/csv" } else { "application/geo+json" };
    let response = ApiClient::new(&args.url).send("POST", "/v1/devices/import", &args.token, content_type, body)?;
    if response.status != 200 {
        bail!("{}: {} {}", args.file.display(), response.status, response.body);
    }
    let outcome: serde_json::Value = serde_json::from_str(&response.body).context("the server's answer")?;
    println!("{}: {} devices registered, {} changed", args.file.display(), outcome["created"], outcome["changed"]);
    Ok(ExitCode::SUCCESS)
}
