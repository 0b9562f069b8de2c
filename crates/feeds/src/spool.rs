//! A spool folder (`serve --spool DIR`) for vendors that export files: a SharpV dropping XML over
//! FTP, an agent's JSON, our NDJSON.
//!
//! A file is taken once it has stopped changing between two looks (a half-written upload is left
//! alone, and so are names ending `.part` or `.tmp`, and hidden ones). Once its records are durable
//! it moves to `done/`; a file that cannot be read as its format (unknown extension, too large, not
//! the format at all) moves to `failed/` with `<name>.error.txt` beside it saying why. Records
//! refused one by one are dead-lettered as `spool:<name>` and the file still goes to `done/`: its
//! good records are stored. A file that could not be taken for a passing reason (the WAL busy or
//! stopped) stays where it is and is tried again.
//!
//! The folder is polled rather than watched: it is filled by FTP or SMB servers, often on network
//! filesystems where change notifications do not arrive, and a poll sees every writer alike.

use glasshouse_app::{App, ErrorKind, FileFormat, PushBack};
use glasshouse_model::Timestamp;
use glasshouse_model::limits::INGEST_BODY_BYTES_MAX;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{info, warn};

/// How often the folder is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its records are durable; it is in `done/`.
    Done {
        /// Records accepted.
        accepted: usize,
        /// Records refused and dead-lettered.
        rejected: usize,
    },
    /// It could not be read; it is in `failed/` with the reason beside it.
    Failed(String),
    /// It was left for the next look (still growing, or a passing failure).
    Left,
}

/// The folder and what it looked like last time.
pub struct Spool {
    dir: PathBuf,
    last_seen: HashMap<PathBuf, (u64, SystemTime)>,
}

impl Spool {
    /// A spool over `dir`, with `done/` and `failed/` created inside it.
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir.join("done"))?;
        std::fs::create_dir_all(dir.join("failed"))?;
        Ok(Spool { dir: dir.to_owned(), last_seen: HashMap::new() })
    }

    /// Takes every file that has settled since the last look; returns what happened to each.
    pub fn poll(&mut self, app: &App) -> std::io::Result<Vec<(String, Outcome)>> {
        let mut seen_now = HashMap::new();
        let mut settled = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let metadata = entry.metadata()?;
            if !metadata.is_file() || name.starts_with('.') || name.ends_with(".part") || name.ends_with(".tmp") {
                continue;
            }
            let state = (metadata.len(), metadata.modified()?);
            if self.last_seen.get(&entry.path()) == Some(&state) {
                settled.push((name, entry.path()));
            }
            seen_now.insert(entry.path(), state);
        }
        self.last_seen = seen_now;
        settled.sort();
        let mut outcomes = Vec::new();
        for (name, path) in settled {
            let outcome = self.take(app, &name, &path)?;
            if outcome != Outcome::Left {
                self.last_seen.remove(&path);
            }
            outcomes.push((name, outcome));
        }
        Ok(outcomes)
    }

    fn take(&self, app: &App, name: &str, path: &Path) -> std::io::Result<Outcome> {
        let Some(format) = FileFormat::of(name) else {
            return self.fail(name, path, "unknown format: expected .ndjson, .jsonl, .json (OpenALPR) or .xml (SharpV)");
        };
        if std::fs::metadata(path)?.len() > INGEST_BODY_BYTES_MAX as u64 {
            return self.fail(name, path, &format!("file exceeds {INGEST_BODY_BYTES_MAX} bytes; split it"));
        }
        let bytes = std::fs::read(path)?;
        let taken = app.ingest.take_file("spool", name, format, &bytes, &app.devices(), Timestamp::now(), PushBack::Wait);
        match taken.and_then(|taken| taken.wait()) {
            Ok(report) => {
                move_into(path, &self.dir.join("done"), name)?;
                Ok(Outcome::Done { accepted: report.accepted, rejected: report.errors.len() })
            }
            Err(e) if matches!(e.kind, ErrorKind::Invalid | ErrorKind::TooLarge) => self.fail(name, path, &e.message),
            Err(e) => {
                warn!(file = name, error = %e.message, "spool file not taken; it will be tried again");
                Ok(Outcome::Left)
            }
        }
    }

    fn fail(&self, name: &str, path: &Path, reason: &str) -> std::io::Result<Outcome> {
        let failed = self.dir.join("failed");
        let moved = move_into(path, &failed, name)?;
        let report = moved.with_file_name(format!("{}.error.txt", moved.file_name().expect("a file").to_string_lossy()));
        std::fs::write(report, format!("{reason}\n"))?;
        Ok(Outcome::Failed(reason.to_owned()))
    }
}

/// Moves `path` into `dir` under `name`, or `name.1`, `name.2`… when a file of that name is there
/// already (a vendor that reuses names must not overwrite what was taken before).
fn move_into(path: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let mut target = dir.join(name);
    let mut n = 0;
    while target.exists() {
        n += 1;
        target = dir.join(format!("{name}.{n}"));
    }
    std::fs::rename(path, &target)?;
    Ok(target)
}

/// Polls the folder until the task is dropped.
pub async fn run(app: Arc<App>, dir: PathBuf) {
    let mut spool = match Spool::open(&dir) {
        Ok(spool) => spool,
        Err(e) => {
            warn!(dir = %dir.display(), error = %e, "the spool folder cannot be used");
            return;
        }
    };
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let app = app.clone();
        let polled = tokio::task::spawn_blocking(move || {
            let outcomes = spool.poll(&app);
            (spool, outcomes)
        })
        .await;
        let Ok((returned, outcomes)) = polled else { return };
        spool = returned;
        match outcomes {
            Ok(outcomes) => {
                for (file, outcome) in outcomes {
                    info!(file, ?outcome, "spool file");
                }
            }
            Err(e) => warn!(dir = %dir.display(), error = %e, "reading the spool folder failed; it will be tried again"),
        }
    }
}
