//! The subcommands. Each lives in its own module and returns `anyhow::Result<ExitCode>`.

mod audit;
mod backup;
mod bench;
mod client;
mod demo;
mod devices;
mod ingest;
mod report;
mod serve;
mod sim;
mod token;
mod wire;
mod witness;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Glasshouse: an accountable, real-time domain awareness engine.
#[derive(Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// One command is parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and the console over a data directory.
    Serve(serve::ServeArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// The device registry of a running server.
    Devices {
        #[command(subcommand)]
        command: devices::DevicesCommand,
    },
    /// Bulk-load observations from a file (NDJSON, or a supported CSV export) into a data directory.
    Ingest(ingest::IngestArgs),
    /// Simulate a city: write observations to a file, or feed a server live.
    Sim(sim::SimArgs),
    /// Run the demo: a server on a fresh data directory, fed live by the simulated city.
    Demo(demo::DemoArgs),
    /// Save the transparency report of a running server (HTML with inline charts, or JSON).
    Report(report::ReportArgs),
    /// Benchmarks of the whole system (release builds; see bench/).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Back up a data directory to one file, while the server runs.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data directory, checking it whole first.
    Restore(backup::RestoreArgs),
    /// The audit log: its verifier key, and offline verification.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// An independent witness that cosigns audit log checkpoints (C2SP tlog-witness).
    Witness {
        #[command(subcommand)]
        command: witness::WitnessCommand,
    },
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Token { command } => token::run(command),
        Command::Ingest(args) => ingest::run(args),
        Command::Devices { command } => devices::run(command),
        Command::Sim(args) => sim::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Audit { command } => audit::run(command),
        Command::Witness { command } => witness::run(command),
        Command::Bench { command } => bench::run(command),
        Command::Report(args) => report::run(args),
        Command::Backup(args) => backup::run_backup(args),
        Command::Restore(args) => backup::run_restore(args),
    }
}

/// Takes the data directory's lock, so two processes never write the same WAL.
pub fn lock_data_dir(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => anyhow::bail!("{} is in use by another glasshouse process", data_dir.display()),
    }
}
