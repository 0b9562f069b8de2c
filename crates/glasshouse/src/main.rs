//! `glasshouse`: the one binary. Parses the command line, sets up tracing, and runs a command.

mod backup;
mod commands;
mod engine_state;
mod pipeline;
mod seen;
mod sql_service;
mod witnessing;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    glasshouse_engine::rules::misread::set_huge_page_advice(advise_huge_pages);
    let cli = commands::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the kernel to back a misread-tolerant hotlist's tables with 2 MiB pages (a probe lands
/// anywhere in a hundred megabytes, so small pages miss the TLB on nearly every probe); a hint.
fn advise_huge_pages(start: *const u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: madvise only changes how the kernel backs a live allocation the engine owns (it passes
    // whole 2 MiB ranges inside its tables); on failure the pages stay as they are.
    unsafe {
        libc::madvise(start as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, bytes);
}
