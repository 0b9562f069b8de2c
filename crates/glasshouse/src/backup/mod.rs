//! Backup and restore of a data directory, consistent while a server writes to it.
//!
//! Nothing here stops or asks the server. A backup first *pins* every file it will copy, with a hard
//! link into a staging folder inside the data directory (a link keeps the bytes even when the server
//! deletes or replaces the name), then streams the pinned files into one archive. The pins are taken
//! in an order that makes the copy consistent:
//! - **State that points into a log** is pinned first: the engine's rule state names a WAL position,
//!   each sink's cursor a place in the alert log. A log is copied after the state, so it reaches at
//!   least as far. The token file and its pending changes are read together under the token lock.
//! - **The segments and the WAL.** The segment manifest is read, then the WAL's files are pinned,
//!   then the manifest's segments. A record the manifest does not hold is in the WAL files pinned
//!   after it. If a flush removed a WAL file in between, or a compaction or a purge a segment, the
//!   step is taken again.
//! - **Append-only logs** (`*.wal`, `*.ndjson`) are copied to the length they have when they are
//!   read, so each copy is a prefix of the live log. A record cut in half at the end is what a crash
//!   leaves, and each log's recovery truncates it; NDJSON copies end at their last whole line.
//! - **The audit log is copied last.** Every action is logged before it takes effect, so every
//!   effect the copy holds has its entry.
//!
//! Derived indexes (the audit and alert logs' `index/` folders) are left out: the first start
//! rebuilds them from their logs.

mod archive;
mod restore;

pub use archive::{Written, write_file};
pub use restore::restore;

use anyhow::{Context, bail};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Where a backup stages its pins, inside the data directory (hard links need the same file system).
const STAGING_DIR: &str = "backup-staging";
/// Held while a backup runs, so two never share the staging folder.
const BACKUP_LOCK: &str = "backup.lock";
/// How often the segments-and-WAL step is retried when the server keeps changing them under it.
const PIN_ATTEMPTS_MAX: usize = 50;

/// Who ran a command on the host, for the audit log: the login name, or the user id.
pub fn host_actor() -> glasshouse_app::Actor {
    let login = ["LOGNAME", "USER"].iter().find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    // SAFETY: getuid has no preconditions and cannot fail.
    let login = login.unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }));
    glasshouse_app::Actor::new(format!("host:{login}"), "host").via(glasshouse_app::Component::Cli, None)
}

/// Leaves the backup's entry for the server to log (it holds the audit log while it runs; a
/// stopped one logs it at its next start).
pub fn log_backup(data_dir: &Path, out: &Path, written: &Written) -> anyhow::Result<()> {
    let actor = host_actor();
    let entry = glasshouse_audit::pending::PendingEntry {
        actor: actor.name,
        role: actor.role,
        action: glasshouse_audit::Action::DataBackedUp.as_str().into(),
        outcome: "ok".into(),
        details: serde_json::json!({
            "archive": out.display().to_string(),
            "archive_bytes": written.bytes,
            "archive_sha256": written.sha256,
            "files": written.manifest.files.len(),
            "data_bytes": written.manifest.bytes(),
            "point": written.manifest.point,
        }),
        at: chrono::Utc::now().to_rfc3339(),
    };
    glasshouse_audit::pending::leave(data_dir, &entry).context("leaving the backup's entry for the audit log")
}

/// How a pinned file may change between its pin and its copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Growth {
    /// Never changes once pinned (segments, images, files replaced whole by rename).
    Fixed,
    /// Only appended to (WAL files): copied to its length when read.
    Appends,
    /// Appended to a line at a time (NDJSON): copied to its last whole line when read.
    Lines,
}

#[derive(Debug)]
enum Source {
    /// A hard link (or, across file systems, a copy) in the staging folder.
    Staged(PathBuf),
    /// Bytes read at pin time.
    Bytes(Vec<u8>),
}

#[derive(Debug)]
struct Pinned {
    /// Path relative to the data directory, as it goes into the archive.
    relative: PathBuf,
    source: Source,
    growth: Growth,
    mode: u32,
}

/// Every file of a data directory pinned for a backup, in the order they are to be copied.
pub struct Snapshot {
    staging: PathBuf,
    entries: Vec<Pinned>,
    /// Every record acknowledged before this moment is in the snapshot.
    pub point: chrono::DateTime<chrono::Utc>,
    /// The segment manifest's flushed WAL position; the WAL files pinned reach past it.
    pub flushed_lsn: u64,
    _lock: File,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // The links are only pins; removing them never touches the server's files.
        let _ = fs::remove_dir_all(&self.staging);
    }
}

impl Snapshot {
    /// Bytes pinned, as sized at pin time (appended logs may add some by the time they are read).
    pub fn bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match &e.source {
                Source::Staged(path) => fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                Source::Bytes(bytes) => bytes.len() as u64,
            })
            .sum()
    }
}

/// What a path in the data directory is, for the backup.
#[derive(Debug, PartialEq, Eq)]
enum Role {
    /// Not copied: locks, temporaries, derived indexes, the backup's own staging.
    Skipped,
    /// The segment store and the WAL: pinned together, against the manifest.
    SegmentsOrWal,
    /// The audit log's entries and checkpoints: copied last.
    Audit,
    /// The token file and its pending changes: read together under the token lock.
    Accounts,
    /// An append-only log of another store.
    Log,
    /// State and settings: pinned first.
    State,
}

fn role_of(relative: &Path) -> Role {
    let text = relative.to_string_lossy();
    let name = relative.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy()).unwrap_or_default();
    let skipped_name = name == "LOCK" || name.ends_with(".lock") || name.ends_with(".next") || name.ends_with(".tmp");
    if skipped_name || first == STAGING_DIR || text.starts_with("audit/index/") || text.starts_with("alerts/index/") {
        return Role::Skipped;
    }
    match first.as_ref() {
        "segments" | "wal" => Role::SegmentsOrWal,
        "audit" => Role::Audit,
        _ if matches!(text.as_ref(), "tokens.json" | "account-changes.ndjson" | "second-factor.json") => Role::Accounts,
        _ if name.ends_with(".wal") || name.ends_with(".ndjson") => Role::Log,
        _ => Role::State,
    }
}

fn growth_of(relative: &Path) -> Growth {
    match relative.extension().and_then(|e| e.to_str()) {
        Some("wal") => Growth::Appends,
        Some("ndjson") => Growth::Lines,
        _ => Growth::Fixed,
    }
}

/// Every regular file under `root`, relative to it, in a stable order.
fn walk(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let entries = match fs::read_dir(root.join(&relative)) {
            Ok(entries) => entries,
            // A folder the server removed (a retired outbox) while we walked.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Pins a file into `staging`; `Ok(None)` when the server removed it before the pin.
fn pin_file(data_dir: &Path, staging: &Path, relative: &Path) -> io::Result<Option<Pinned>> {
    let original = data_dir.join(relative);
    let staged = staging.join(relative);
    if let Some(parent) = staged.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::hard_link(&original, &staged) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // Another file system under the data directory: a copy made now pins the bytes as well.
        Err(_) => match fs::copy(&original, &staged) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        },
    }
    let mode = mode_of(&staged)?;
    Ok(Some(Pinned { relative: relative.to_owned(), source: Source::Staged(staged), growth: growth_of(relative), mode }))
}

fn mode_of(path: &Path) -> io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(path)?.permissions().mode() & 0o7777)
}

/// Pins every file of `data_dir` for a backup (see the module documentation for the order).
pub fn pin(data_dir: &Path) -> anyhow::Result<Snapshot> {
    if !data_dir.join("wal").is_dir() && !data_dir.join("audit").is_dir() {
        bail!("{} is not a Glasshouse data directory (no wal/ or audit/ in it)", data_dir.display());
    }
    let lock_path = data_dir.join(BACKUP_LOCK);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        bail!("another backup of {} is running", data_dir.display());
    }
    let staging = data_dir.join(STAGING_DIR);
    if staging.exists() {
        // Left by a backup that was killed: only links, never the server's own names.
        fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let mut snapshot = Snapshot { staging, entries: Vec::new(), point: chrono::Utc::now(), flushed_lsn: 0, _lock: lock };

    let files = walk(data_dir).with_context(|| format!("listing {}", data_dir.display()))?;
    let of_role = |role: Role| files.iter().filter(move |f| role_of(f) == role);
    for relative in of_role(Role::State) {
        let pinned = pin_file(data_dir, &snapshot.staging, relative).with_context(|| format!("pinning {}", relative.display()))?;
        snapshot.entries.extend(pinned);
    }
    snapshot.entries.extend(read_accounts(data_dir)?);
    pin_segments_and_wal(data_dir, &mut snapshot)?;
    for role in [Role::Log, Role::Audit] {
        // Listed again: a log may have started a new file since the walk.
        for relative in walk(data_dir)?.iter().filter(|f| role_of(f) == role) {
            let pinned = pin_file(data_dir, &snapshot.staging, relative).with_context(|| format!("pinning {}", relative.display()))?;
            snapshot.entries.extend(pinned);
        }
    }
    Ok(snapshot)
}

/// The token file, its pending changes and the second-factor enrolments, read under the lock the CLI
/// and the server take to change them, so the three agree.
fn read_accounts(data_dir: &Path) -> anyhow::Result<Vec<Pinned>> {
    let lock_path = data_dir.join("tokens.lock");
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
    lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    let mut pinned = Vec::new();
    for name in ["tokens.json", "account-changes.ndjson", "second-factor.json"] {
        let path = data_dir.join(name);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => file.read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        pinned.push(Pinned { relative: PathBuf::from(name), source: Source::Bytes(bytes), growth: Growth::Fixed, mode: mode_of(&path)? });
    }
    Ok(pinned)
}

/// Pins the segment manifest, the WAL files that hold every record after it, and the manifest's
/// segments; again from the start whenever the server removed one of them in between.
fn pin_segments_and_wal(data_dir: &Path, snapshot: &mut Snapshot) -> anyhow::Result<()> {
    let segments = data_dir.join("segments");
    let wal = data_dir.join("wal");
    let kept = snapshot.entries.len();
    for _ in 0..PIN_ATTEMPTS_MAX {
        snapshot.entries.truncate(kept);
        let _ = fs::remove_dir_all(snapshot.staging.join("segments"));
        let _ = fs::remove_dir_all(snapshot.staging.join("wal"));
        let manifest = glasshouse_store::segments::read_manifest(&segments)?;
        let flushed = manifest.as_ref().map_or(0, |m| m.flushed_lsn);
        let point = chrono::Utc::now();
        let wal_files = if wal.is_dir() { glasshouse_wal::files(&wal)? } else { Vec::new() };
        if wal_files.first().is_some_and(|(first, _)| *first > flushed + 1) {
            continue; // a flush removed WAL files after the manifest was read
        }
        let mut complete = true;
        for (_, path) in &wal_files {
            let relative = path.strip_prefix(data_dir).expect("listed under the data directory");
            match pin_file(data_dir, &snapshot.staging, relative)? {
                Some(pinned) => snapshot.entries.push(pinned),
                None => complete = false,
            }
        }
        let Some(manifest) = manifest else {
            if !complete {
                continue;
            }
            snapshot.point = point;
            return Ok(());
        };
        let segment_files = manifest.files.iter().map(|f| Path::new("segments").join(f));
        for relative in segment_files {
            match pin_file(data_dir, &snapshot.staging, &relative)? {
                Some(pinned) => snapshot.entries.push(pinned),
                None => complete = false,
            }
        }
        if !complete {
            continue;
        }
        // Derived, and it checks itself against the manifest when loaded.
        let dictionary = Path::new("segments").join(glasshouse_store::segments::DICTIONARY_FILE);
        snapshot.entries.extend(pin_file(data_dir, &snapshot.staging, &dictionary)?);
        let manifest_path = Path::new("segments").join(glasshouse_store::segments::MANIFEST_FILE);
        let mode = mode_of(&data_dir.join(&manifest_path)).unwrap_or(0o644);
        snapshot.entries.push(Pinned { relative: manifest_path, source: Source::Bytes(manifest.bytes), growth: Growth::Fixed, mode });
        snapshot.point = point;
        snapshot.flushed_lsn = flushed;
        return Ok(());
    }
    bail!("the segments kept changing under the backup ({PIN_ATTEMPTS_MAX} attempts); try again when the server is less busy")
}

#[cfg(test)]
mod tests;
