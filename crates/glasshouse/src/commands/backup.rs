//! `glasshouse backup` and `glasshouse restore`: a data directory to one file and back, while the
//! server runs (see `crate::backup` for how the copy stays consistent).

use crate::backup;
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct BackupArgs {
    /// The data directory to back up; the server may keep running on it.
    #[arg(long)]
    data_dir: PathBuf,
    /// The archive to write (zstd-compressed tar, mode 0600: it holds personal data and the audit
    /// log's keys). Must not exist.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// An archive written by `glasshouse backup`.
    #[arg(long)]
    from: PathBuf,
    /// The new data directory: must not exist, or be empty.
    #[arg(long)]
    data_dir: PathBuf,
}

fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {per_sec}").expect("static template"));
    bar
}

pub fn run_backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let snapshot = backup::pin(&args.data_dir)?;
    let bar = progress(snapshot.bytes());
    let written = backup::write_file(&snapshot, &args.out, |bytes| bar.inc(bytes))?;
    bar.finish_and_clear();
    drop(snapshot);
    backup::log_backup(&args.data_dir, &args.out, &written)?;
    let manifest = &written.manifest;
    println!(
        "backed up {} files, {} bytes, to {} ({} bytes, sha256 {}); every record acknowledged before {} is in it",
        manifest.files.len(),
        manifest.bytes(),
        args.out.display(),
        written.bytes,
        written.sha256,
        manifest.point
    );
    println!(
        "the audit log records it as {} (the server logs it within seconds, or at its next start)",
        glasshouse_audit::Action::DataBackedUp
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run_restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let file = std::fs::File::open(&args.from).with_context(|| format!("opening {}", args.from.display()))?;
    let bar = progress(file.metadata()?.len());
    let reader = bar.wrap_read(std::io::BufReader::with_capacity(1 << 20, file));
    let report = backup::restore(reader, &args.data_dir, |_| {})?;
    bar.finish_and_clear();
    println!(
        "restored {} files, {} bytes, into {}: the backup of {} (glasshouse {})",
        report.manifest.files.len(),
        report.manifest.bytes(),
        args.data_dir.display(),
        report.manifest.point,
        report.manifest.glasshouse
    );
    println!("{} WAL records after the segments, replayed at the first start", report.wal_records_after_segments);
    println!("audit log verified: {} entries, {} signed checkpoints", report.audit_entries, report.audit_checkpoints);
    println!(
        "the restore is entry {} of the restored log ({}, archive sha256 {})",
        report.restored_entry,
        glasshouse_audit::Action::DataRestored,
        report.archive_sha256
    );
    println!("its verifier key (compare with the one published): {}", report.verifier_key);
    Ok(ExitCode::SUCCESS)
}
