//! `glasshouse audit`: the verifier key, and offline verification of an exported or live log,
//! optionally requiring k of n witnesses' cosignatures on a checkpoint the log covers.

use super::client::ApiClient;
use crate::pipeline::audit_keys_dir;
use anyhow::{Context, bail};
use clap::Subcommand;
use glasshouse_audit::cosignature::CosignatureVerifier;
use glasshouse_audit::note::NoteVerifier;
use glasshouse_audit::verify::{Witnessed, check_witnessed, verify_export};
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
        /// A witness whose cosignatures count (`glasshouse witness key`). Repeat for more.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of them must have cosigned a checkpoint the log covers; all of them by default.
        #[arg(long)]
        witnesses_required: Option<usize>,
    },
}

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Key { data_dir } => {
            println!("{}", glasshouse_audit::log::verifier_key(&audit_keys_dir(&data_dir))?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { export, url, token, key, checkpoint, save, witnesses, witnesses_required } => {
            let verifier = NoteVerifier::parse(&key).context("--key")?;
            let witness_keys = witnesses
                .iter()
                .map(|w| CosignatureVerifier::parse(w).with_context(|| format!("--witness {w}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let required = witnesses_required.unwrap_or(witness_keys.len());
            if required > witness_keys.len() {
                bail!("--witnesses-required {required} is more than the {} --witness keys given", witness_keys.len());
            }
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
                    let cosigned = live["cosigned"]["note"].as_str().map(str::to_owned);
                    if let Some(path) = &save {
                        std::fs::write(path, &response.body)?;
                        std::fs::write(path.with_extension("checkpoint"), live["note"].as_str().unwrap_or_default())?;
                        if let Some(note) = &cosigned {
                            std::fs::write(path.with_extension("cosigned"), note)?;
                        }
                    }
                    known.extend(cosigned);
                    response.body.into_bytes()
                }
                _ => bail!("give --export FILE or --url URL"),
            };
            // With witnesses, some checkpoint the export must cover carries enough cosignatures:
            // the newest such one is reported, else why the best-cosigned candidate fell short.
            let checked: Vec<_> = known.iter().map(|note| check_witnessed(note, &verifier, &witness_keys, required)).collect();
            let witnessed: Result<Witnessed, String> =
                match checked.iter().filter_map(|c| c.as_ref().ok()).max_by_key(|w| w.checkpoint.size) {
                    Some(best) => Ok(best.clone()),
                    None => Err(checked.into_iter().filter_map(Result::err).max_by_key(|s| s.found).map_or_else(
                        || "no checkpoint to check for cosignatures (use --url, or --checkpoint with a cosigned note)".to_owned(),
                        |s| s.reason,
                    )),
                };
            let report = verify_export(&bytes, &verifier, &known);
            println!(
                "{} entries, {} signed checkpoints, {} inclusion proofs and {} consistency proofs checked",
                report.entries, report.checkpoints, report.inclusions_checked, report.consistencies_checked
            );
            if let Some(latest) = &report.latest {
                println!("newest valid checkpoint: size {}", latest.size);
            }
            if required > 0 {
                match &witnessed {
                    Ok(w) => println!(
                        "cosigned up to size {} by {} of {} witnesses: {}",
                        w.checkpoint.size,
                        w.witnesses.len(),
                        witness_keys.len(),
                        w.witnesses.join(", ")
                    ),
                    Err(why) => {
                        println!("PROBLEM: witnesses: {why}");
                        for problem in &report.problems {
                            println!("PROBLEM: {problem}");
                        }
                        return Ok(ExitCode::FAILURE);
                    }
                }
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
