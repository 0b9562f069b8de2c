//! The archive: a zstd-compressed tar of the pinned files, closed by `BACKUP.json`, which lists every
//! file with its size and SHA-256 so a restore can tell a whole backup from a damaged or cut one.

use super::{Growth, Snapshot, Source};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The last entry of every archive.
pub const MANIFEST_NAME: &str = "BACKUP.json";
/// Bumped when the layout changes in a way an older restore cannot read.
pub const FORMAT: u32 = 1;
/// zstd's default level: segments are already compressed, the logs' JSON shrinks several times.
const ZSTD_LEVEL: i32 = 3;

/// What `BACKUP.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupManifest {
    /// The archive layout ([`FORMAT`]).
    pub format: u32,
    /// The version of Glasshouse that wrote it.
    pub glasshouse: String,
    /// Every record acknowledged before this moment (RFC 3339) is in the backup.
    pub point: String,
    /// When the last byte was copied.
    pub finished: String,
    /// The segment manifest's flushed WAL position.
    pub flushed_lsn: u64,
    /// Every file, in archive order.
    pub files: Vec<FileRecord>,
}

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    /// Bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
}

impl BackupManifest {
    /// Total bytes of the files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// A reader that hashes what passes through it.
pub(super) struct Hashing<R> {
    pub(super) inner: R,
    pub(super) hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An archive file as written: its manifest, and the file's own size and SHA-256 (what the audit
/// entry names, so an auditor can tell which file a logged backup is).
pub struct Written {
    /// `BACKUP.json`.
    pub manifest: BackupManifest,
    /// Bytes of the archive file.
    pub bytes: u64,
    /// Hex SHA-256 of the archive file.
    pub sha256: String,
}

/// Streams the snapshot into `out` as a compressed archive; `copied` hears the bytes of each file
/// (for a progress bar). Returns the manifest written at the end.
pub fn write_archive(snapshot: &Snapshot, out: impl Write, mut copied: impl FnMut(u64)) -> anyhow::Result<BackupManifest> {
    let encoder = zstd::Encoder::new(out, ZSTD_LEVEL).context("starting the compressor")?;
    let mut builder = tar::Builder::new(encoder);
    let mut files = Vec::with_capacity(snapshot.entries.len());
    for entry in &snapshot.entries {
        let path = entry.relative.to_string_lossy().into_owned();
        let (reader, bytes): (Box<dyn Read>, u64) = match &entry.source {
            Source::Bytes(bytes) => (Box::new(io::Cursor::new(bytes.clone())), bytes.len() as u64),
            Source::Staged(staged) => {
                let mut file = File::open(staged).with_context(|| format!("reading the pin of {path}"))?;
                let bytes = copy_length(&mut file, entry.growth).with_context(|| format!("sizing {path}"))?;
                (Box::new(file.take(bytes)), bytes)
            }
        };
        let mut hashing = Hashing { inner: reader, hash: Sha256::new() };
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes);
        header.set_mode(entry.mode);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, &path, &mut hashing).with_context(|| format!("archiving {path}"))?;
        copied(bytes);
        files.push(FileRecord { path, bytes, sha256: hex::encode(hashing.hash.finalize()) });
    }
    let manifest = BackupManifest {
        format: FORMAT,
        glasshouse: env!("CARGO_PKG_VERSION").to_owned(),
        point: snapshot.point.to_rfc3339(),
        finished: chrono::Utc::now().to_rfc3339(),
        flushed_lsn: snapshot.flushed_lsn,
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest).expect("the manifest serialises");
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, MANIFEST_NAME, text.as_slice()).context("archiving the manifest")?;
    let encoder = builder.into_inner().context("closing the archive")?;
    encoder.finish().context("closing the compressor")?.flush().context("writing the archive")?;
    Ok(manifest)
}

/// How much of a pinned file to copy: all of it, or of an NDJSON log up to its last whole line (the
/// server may be half-way through appending one). The file is left at its start.
fn copy_length(file: &mut File, growth: Growth) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if growth != Growth::Lines || len == 0 {
        return Ok(len);
    }
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    let whole = loop {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(newline) = part.iter().rposition(|&b| b == b'\n') {
            break start + newline as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(whole)
}

/// Writes the archive to `out` through a temporary beside it (mode 0600: it holds personal data and
/// the audit log's keys), renamed into place only once whole and synced.
pub fn write_file(snapshot: &Snapshot, out: &Path, copied: impl FnMut(u64)) -> anyhow::Result<Written> {
    use std::os::unix::fs::OpenOptionsExt;
    if out.exists() {
        anyhow::bail!("{} exists; give a new file name", out.display());
    }
    let mut partial_name = out.file_name().context("--out names a file")?.to_os_string();
    partial_name.push(".partial");
    let partial = out.with_file_name(partial_name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let written = (|| {
        let mut writer = io::BufWriter::with_capacity(1 << 20, HashingWriter { inner: file, hash: Sha256::new(), bytes: 0 });
        let manifest = write_archive(snapshot, &mut writer, copied)?;
        let hashing = writer.into_inner().map_err(|e| e.into_error()).context("writing the archive")?;
        hashing.inner.sync_all().context("syncing the archive")?;
        std::fs::rename(&partial, out).with_context(|| format!("naming {}", out.display()))?;
        glasshouse_wal::files::sync_parent(out).context("syncing the archive's folder")?;
        Ok(Written { manifest, bytes: hashing.bytes, sha256: hex::encode(hashing.hash.finalize()) })
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}
