//! `glasshouse audit`: the verifier key, and offline verification of an exported or live log.

use super::client::ApiClient;
use crate::pipeline::audit_keys_dir;
use anyhow::{Context, bail};
use clap::Subcommand;
use glasshouse_audit::note::NoteVerifier;
use glasshouse_audit::verify::verify_export;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Print the verifier key of a data directory's audit log (publish it; verifiers need it).
    Key {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Verify an audit log: every checkpoint signature, every entry's inclusion, consistency between
    /// checkpoints. Names deleted, reordered and modified entries and a truncated tail.
    Verify {
        /// An export (`GET /v1/audit/export`) to verify offline.
        #[arg(long, conflicts_with = "url")]
        export: Option<PathBuf>,
        /// Or a server to fetch the export and its newest checkpoint from.
        #[arg(long)]
        url: Option<String>,
        /// An auditor token for `--url`.
        #[arg(long)]
        token: Option<String>,
        /// The log's verifier key (`glasshouse audit key`), obtained apart from the log.
        #[arg(long)]
        key: String,
        /// Signed checkpoints saved earlier (files holding the note text); each must still be covered.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// Save what was fetched with `--url` here, for later offline checks.
        #[arg(long, requires = "url")]
        save: Option<PathBuf>,
    },
}

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Key { data_dir } => {
            println!("{}", glasshouse_audit::log::verifier_key(&audit_keys_dir(&data_dir))?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { export, url, token, key, checkpoint, save } => {
            let verifier = NoteVerifier::parse(&key).context("--key")?;
            let mut known = Vec::new();
            for path in &checkpoint {
                known.push(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?);
            }
            let bytes = match (export, url) {
                (Some(path), None) => std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
                (None, Some(url)) => {
                    let token = token.context("--url needs --token (an auditor token)")?;
                    let client = ApiClient::new(&url);
                    let live = client.json("GET", "/v1/audit/checkpoint", &token, &serde_json::Value::Null)?;
                    let response = client.send("GET", "/v1/audit/export", &token, "application/json", Vec::new())?;
                    if response.status != 200 {
                        bail!("GET /v1/audit/export: {} {}", response.status, response.body);
                    }
                    known.push(live["note"].as_str().context("checkpoint note missing")?.to_owned());
                    if let Some(path) = &save {
                        std::fs::write(path, &response.body)?;
                        std::fs::write(path.with_extension("checkpoint"), live["note"].as_str().unwrap_or_default())?;
                    }
                    response.body.into_bytes()
                }
                _ => bail!("give --export FILE or --url URL"),
            };
            let report = verify_export(&bytes, &verifier, &known);
            println!(
                "{} entries, {} signed checkpoints, {} inclusion proofs and {} consistency proofs checked",
                report.entries, report.checkpoints, report.inclusions_checked, report.consistencies_checked
            );
            if let Some(latest) = &report.latest {
                println!("newest valid checkpoint: size {}", latest.size);
            }
            if report.is_ok() {
                println!("ok: the log is intact");
                return Ok(ExitCode::SUCCESS);
            }
            for problem in &report.problems {
                println!("PROBLEM: {problem}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
