//! Restore: unpack an archive into a new data directory, and prove it whole before naming it.
//!
//! The files go to a folder beside the target first. Only when every file matches the archive's
//! manifest (size and SHA-256, nothing missing, nothing extra), the WAL reaches the segments, and
//! the audit log verifies is the folder renamed to the target, so a failed restore never leaves a
//! data directory a server could start on.

use super::archive::{BackupManifest, FORMAT, FileRecord, Hashing, MANIFEST_NAME};
use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// What a restore found and checked.
#[derive(Debug)]
pub struct RestoreReport {
    /// The archive's manifest.
    pub manifest: BackupManifest,
    /// WAL records after the segments' flushed position (replayed into the hot window at start).
    pub wal_records_after_segments: u64,
    /// Audit entries verified.
    pub audit_entries: u64,
    /// Signed audit checkpoints verified.
    pub audit_checkpoints: usize,
    /// The audit log's verifier key: compare it with the one published for the node.
    pub verifier_key: String,
    /// Hex SHA-256 of the archive file (the backup's own audit entry names it).
    pub archive_sha256: String,
    /// The sequence number of the restore's entry in the restored audit log.
    pub restored_entry: u64,
}

/// Removes the half-restored folder unless the restore got to the end.
struct Unfinished(Option<PathBuf>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_dir_all(path);
        }
    }
}

/// Restores the archive read from `archive` into `target`, which must not exist or be empty.
/// `copied` hears the bytes of each file (for a progress bar).
pub fn restore(archive: impl Read, target: &Path, mut copied: impl FnMut(u64)) -> anyhow::Result<RestoreReport> {
    if target.exists() && fs::read_dir(target).with_context(|| format!("reading {}", target.display()))?.next().is_some() {
        bail!("{} is not empty; restore into a new folder", target.display());
    }
    let mut partial_name = target.file_name().context("the data directory has a name")?.to_os_string();
    partial_name.push(".restoring");
    let partial = target.with_file_name(partial_name);
    if partial.exists() {
        bail!("{} exists (left by an earlier restore?); remove it first", partial.display());
    }
    fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut unfinished = Unfinished(Some(partial.clone()));

    let mut hashed = Hashing { inner: archive, hash: Sha256::new() };
    let decoder = zstd::Decoder::new(&mut hashed).context("reading the archive")?;
    let mut tar = tar::Archive::new(decoder);
    let mut restored: BTreeMap<String, FileRecord> = BTreeMap::new();
    let mut manifest: Option<BackupManifest> = None;
    for entry in tar.entries().context("reading the archive (not a Glasshouse backup?)")? {
        let mut entry = entry.context("reading the archive (damaged or cut short?)")?;
        let path = entry.path().context("an entry's name")?.into_owned();
        let name = safe_relative(&path)?;
        if manifest.is_some() {
            bail!("the archive holds {name} after its manifest; it is not one backup");
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            bail!("the archive holds {name}, which is not a regular file");
        }
        if name == MANIFEST_NAME {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).context("reading the manifest")?;
            let parsed: BackupManifest = serde_json::from_slice(&text).context("the archive's manifest is unreadable")?;
            if parsed.format != FORMAT {
                bail!("the archive is in format {}, this glasshouse reads format {FORMAT}", parsed.format);
            }
            manifest = Some(parsed);
            continue;
        }
        let mode = entry.header().mode().context("an entry's mode")? & 0o777;
        let record = write_entry(&mut entry, &partial.join(&path), mode).with_context(|| format!("restoring {name}"))?;
        copied(record.bytes);
        if restored.insert(name.clone(), FileRecord { path: name.clone(), ..record }).is_some() {
            bail!("the archive holds {name} twice");
        }
    }
    let Some(manifest) = manifest else { bail!("the archive ends before its manifest: the backup is incomplete") };
    // The rest of the file (tar's closing blocks), so the hash is the whole file's.
    io::copy(&mut tar.into_inner(), &mut io::sink()).context("reading the archive's end")?;
    io::copy(&mut hashed, &mut io::sink()).context("reading the archive's end")?;
    let archive_sha256 = hex::encode(hashed.hash.finalize());
    check_against(&manifest, &restored)?;
    sync_dirs(&partial)?;

    let wal_records_after_segments = check_wal(&partial, manifest.flushed_lsn)?;
    let (audit_entries, audit_checkpoints, verifier_key, restored_entry) = verify_and_log_audit(&partial, &manifest, &archive_sha256)?;
    if target.exists() {
        fs::remove_dir(target).with_context(|| format!("replacing the empty {}", target.display()))?;
    }
    fs::rename(&partial, target).with_context(|| format!("naming {}", target.display()))?;
    glasshouse_wal::files::sync_parent(target).context("syncing the data directory's folder")?;
    unfinished.0 = None;
    Ok(RestoreReport {
        manifest,
        archive_sha256,
        wal_records_after_segments,
        audit_entries,
        audit_checkpoints,
        verifier_key,
        restored_entry,
    })
}

/// The entry's path as a `/`-separated name, refused unless it stays inside the data directory.
fn safe_relative(path: &Path) -> anyhow::Result<String> {
    if path.as_os_str().is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("the archive holds {:?}, a name outside the data directory", path);
    }
    Ok(path.to_string_lossy().into_owned())
}

fn write_entry(entry: &mut impl Read, path: &Path, mode: u32) -> io::Result<FileRecord> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut file = fs::OpenOptions::new().create_new(true).write(true).mode(mode).open(path)?;
    let mut hashing = Hashing { inner: entry, hash: Sha256::new() };
    let bytes = io::copy(&mut hashing, &mut file)?;
    file.sync_all()?;
    Ok(FileRecord { path: String::new(), bytes, sha256: hex::encode(hashing.hash.finalize()) })
}

fn check_against(manifest: &BackupManifest, restored: &BTreeMap<String, FileRecord>) -> anyhow::Result<()> {
    for listed in &manifest.files {
        match restored.get(&listed.path) {
            None => bail!("{} is listed in the manifest but not in the archive", listed.path),
            Some(found) if found != listed => {
                bail!(
                    "{} does not match the manifest ({} bytes, sha256 {}; listed {} bytes, {})",
                    listed.path,
                    found.bytes,
                    found.sha256,
                    listed.bytes,
                    listed.sha256
                )
            }
            Some(_) => {}
        }
    }
    if restored.len() != manifest.files.len() {
        let listed: std::collections::HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        let extra = restored.keys().find(|p| !listed.contains(p.as_str())).expect("more files than listed");
        bail!("{extra} is in the archive but not in its manifest");
    }
    Ok(())
}

/// Syncs every folder, so the names of the files synced survive a power cut.
fn sync_dirs(root: &Path) -> anyhow::Result<()> {
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            }
        }
        fs::File::open(&dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}

/// Opens the restored WAL (truncating a record cut at the copy's end, as a start would) and checks
/// that it holds every record after the segments; returns how many there are.
fn check_wal(data_dir: &Path, flushed_lsn: u64) -> anyhow::Result<u64> {
    let dir = data_dir.join("wal");
    if !dir.is_dir() {
        return Ok(0);
    }
    let files = glasshouse_wal::files(&dir)?;
    if files.first().is_some_and(|(first, _)| *first > flushed_lsn + 1) {
        bail!("the WAL starts after record {}, but the segments hold records only to {flushed_lsn}", files[0].0);
    }
    let mut records = 0;
    let config = glasshouse_wal::WalConfig::new(&dir);
    glasshouse_wal::Wal::open(config, flushed_lsn, |_, _| records += 1).context("opening the restored WAL")?;
    Ok(records)
}

/// Opens the restored audit log (rebuilding its index), verifies its export with its own key (every
/// signature, every entry's inclusion, consistency between checkpoints), then logs the restore in it,
/// after the backup's last entry, so the restored node's history says where it came from. Returns
/// the entries and checkpoints verified, the verifier key and the restore entry's number.
fn verify_and_log_audit(data_dir: &Path, manifest: &BackupManifest, archive_sha256: &str) -> anyhow::Result<(u64, usize, String, u64)> {
    let log = glasshouse_audit::AuditLog::open(&crate::pipeline::audit_dir(data_dir), &crate::pipeline::audit_keys_dir(data_dir))
        .context("opening the restored audit log")?;
    let key = log.verifier_key();
    let verifier = glasshouse_audit::note::NoteVerifier::parse(&key).context("the restored verifier key")?;
    let export = log.export().context("reading the restored audit log")?;
    let report = glasshouse_audit::verify::verify_export(&export, &verifier, &[]);
    if !report.is_ok() {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        bail!("the restored audit log does not verify: {}", problems.join("; "));
    }
    let actor = super::host_actor();
    let receipt = log
        .append(glasshouse_audit::AuditEvent {
            actor: actor.name,
            role: actor.role,
            component: glasshouse_audit::Component::Cli,
            address: None,
            action: glasshouse_audit::Action::DataRestored,
            outcome: "ok".into(),
            details: serde_json::json!({
                "archive_sha256": archive_sha256,
                "backup_point": manifest.point,
                "backup_glasshouse": manifest.glasshouse,
                "files": manifest.files.len(),
                "data_bytes": manifest.bytes(),
            }),
        })
        .context("logging the restore")?;
    Ok((report.entries, report.checkpoints, key, receipt.seq()))
}
