//! The write-ahead log: an append-only sequence of framed, checksummed records.
//!
//! Every record gets a log sequence number (LSN), starting at 1. Records live in files named after
//! the LSN of their first record, rotated at a size limit. A frame is
//! `len: u32 LE | crc32c(lsn ‖ payload): u32 LE | lsn: u64 LE | payload`; the checksum covers the LSN so
//! a frame copied to the wrong place is caught too.
//!
//! Durability is the caller's contract: [`Wal::commit`] returns only after the bytes are on disk
//! (with [`FsyncPolicy::Always`]). [`committer`] runs group commit on its own thread: it takes every
//! request waiting, writes them all and syncs once, so the cost of one fsync is shared by the group.
//!
//! Recovery ([`Wal::open`]) scans every file that holds a record above the caller's starting point,
//! and always the newest. A torn or corrupt tail in the newest file (a crash in the middle of a write)
//! is truncated at the last whole frame; corruption anywhere else is an error, because it means the
//! disk lost bytes we had synced.
//!
//! A record's [`Position`] (its file and offset) lets a caller that keeps its own index read it back
//! later with a [`WalReader`], without holding it in memory.
#![deny(missing_docs)]

pub mod committer;
pub mod files;
mod frame;
pub mod metrics;

pub use committer::{Acknowledgements, CommitOutcome, CommitRequest, Committed, Committer, DurableGroup, Record, committer};

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tracing::warn;

/// A log sequence number: the position of a record in the log, from 1.
pub type Lsn = u64;

/// Largest payload one frame may carry. Ingest records are far smaller (16 KiB); this bounds what
/// recovery will try to allocate when a length field is garbage.
pub const PAYLOAD_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Default size at which a file is closed and a new one started.
pub const FILE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
/// Write buffer in front of the file; a group usually fits in one write(2).
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;
const FILE_SUFFIX: &str = ".wal";

/// When appended bytes are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `fdatasync` after every group, before anyone is told their records are durable. The server's
    /// default: an acknowledged record survives power loss.
    Always,
    /// Never sync; the OS writes back when it likes. Survives a process crash (the bytes are in the
    /// page cache) but not power loss. For bulk loads that can be rerun, and benchmarks.
    Never,
}

/// Where and how the log is kept.
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// Directory holding the log files; created if missing.
    pub dir: PathBuf,
    /// Rotation size for one file.
    pub file_bytes_max: u64,
    /// When appended bytes are forced to disk.
    pub fsync: FsyncPolicy,
}

impl WalConfig {
    /// A log in `dir` with the default rotation size and [`FsyncPolicy::Always`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalConfig { dir: dir.into(), file_bytes_max: FILE_BYTES_DEFAULT, fsync: FsyncPolicy::Always }
    }
}

/// What went wrong with the log. A caller retries nothing here: a WAL error means the disk failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O call failed.
    #[error("wal i/o on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A frame that was already synced no longer checks out.
    #[error("wal file {path} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What failed to check out.
        reason: String,
    },
    /// A payload over [`PAYLOAD_BYTES_MAX`].
    #[error("payload is {size_bytes} bytes, limit is {PAYLOAD_BYTES_MAX}")]
    TooLarge {
        /// The payload size.
        size_bytes: usize,
    },
    /// An earlier write failed; the log refuses further appends rather than risk a gap.
    #[error("wal stopped after an earlier write failure")]
    Stopped,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io { path: path.to_owned(), source }
}

/// Where a record's frame starts: the file (named by the LSN of its first record) and the byte
/// offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The first LSN of the file.
    pub file: Lsn,
    /// The frame's offset in that file.
    pub offset: u64,
}

/// An open log, positioned for appends after the last whole record.
pub struct Wal {
    config: WalConfig,
    writer: BufWriter<File>,
    path: PathBuf,
    /// The first LSN of the file being appended to.
    file_first_lsn: Lsn,
    file_bytes: u64,
    next_lsn: Lsn,
}

impl Wal {
    /// Opens (or creates) the log, calling `replay` with every record whose LSN is above `after`,
    /// in order. A torn tail is truncated first.
    pub fn open(config: WalConfig, after: Lsn, mut replay: impl FnMut(Lsn, &[u8])) -> Result<Wal, WalError> {
        Wal::open_positioned(config, after, |_, lsn, payload| replay(lsn, payload))
    }

    /// [`Wal::open`], telling `replay` where each record is. A file whose records all lie at or
    /// below `after` (the next file starts at or below `after + 1`) is not read at all, so opening
    /// from a recent point costs the newest file, not the whole history.
    pub fn open_positioned(config: WalConfig, after: Lsn, mut replay: impl FnMut(Position, Lsn, &[u8])) -> Result<Wal, WalError> {
        fs::create_dir_all(&config.dir).map_err(io_error(&config.dir))?;
        let files = list_files(&config.dir)?;
        let mut next_lsn = after + 1;
        let last_index = files.len().checked_sub(1);
        for (index, (first_lsn, path)) in files.iter().enumerate() {
            if *first_lsn > next_lsn && next_lsn > after + 1 {
                return Err(WalError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    reason: format!("gap: expected lsn {next_lsn}, file starts at {first_lsn}"),
                });
            }
            let is_last = Some(index) == last_index;
            if !is_last && after > 0 && files[index + 1].0 <= after + 1 {
                continue;
            }
            let file = *first_lsn;
            let (end, last_lsn) = scan_file(path, is_last, |offset, lsn, payload| {
                if lsn > after {
                    replay(Position { file, offset }, lsn, payload);
                }
            })?;
            if let Some(lsn) = last_lsn {
                next_lsn = next_lsn.max(lsn + 1);
            } else {
                next_lsn = next_lsn.max(*first_lsn);
            }
            if is_last {
                let len = fs::metadata(path).map_err(io_error(path))?.len();
                if end < len {
                    warn!(file = %path.display(), valid_bytes = end, dropped_bytes = len - end, "wal tail torn, truncating");
                    let file = OpenOptions::new().write(true).open(path).map_err(io_error(path))?;
                    file.set_len(end).map_err(io_error(path))?;
                    file.sync_all().map_err(io_error(path))?;
                }
            }
        }
        let (file_first_lsn, path, file_bytes) = match files.last() {
            Some((first, path)) => (*first, path.clone(), fs::metadata(path).map_err(io_error(path))?.len()),
            None => (next_lsn, file_path(&config.dir, next_lsn), 0),
        };
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_error(&path))?;
        if file_bytes == 0 {
            sync_dir(&config.dir)?;
        }
        Ok(Wal { writer: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file), path, file_first_lsn, file_bytes, next_lsn, config })
    }

    /// The LSN the next appended record will get.
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// Appends one record to the buffer; it is durable only after [`Wal::commit`].
    pub fn append(&mut self, payload: &[u8]) -> Result<Lsn, WalError> {
        self.append_positioned(payload).map(|(lsn, _)| lsn)
    }

    /// [`Wal::append`], also telling where the record is.
    pub fn append_positioned(&mut self, payload: &[u8]) -> Result<(Lsn, Position), WalError> {
        if payload.len() > PAYLOAD_BYTES_MAX {
            return Err(WalError::TooLarge { size_bytes: payload.len() });
        }
        if self.file_bytes >= self.config.file_bytes_max {
            self.rotate()?;
        }
        let position = Position { file: self.file_first_lsn, offset: self.file_bytes };
        let lsn = self.next_lsn;
        let header = frame::header(lsn, payload);
        self.writer.write_all(&header).map_err(io_error(&self.path))?;
        self.writer.write_all(payload).map_err(io_error(&self.path))?;
        self.file_bytes += (header.len() + payload.len()) as u64;
        self.next_lsn += 1;
        Ok((lsn, position))
    }

    /// Writes the buffer and, under [`FsyncPolicy::Always`], syncs it to disk.
    pub fn commit(&mut self) -> Result<(), WalError> {
        self.writer.flush().map_err(io_error(&self.path))?;
        if self.config.fsync == FsyncPolicy::Always {
            self.writer.get_ref().sync_data().map_err(io_error(&self.path))?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), WalError> {
        // The old file is synced before the new one exists, so only the newest file can be torn.
        self.writer.flush().map_err(io_error(&self.path))?;
        self.writer.get_ref().sync_all().map_err(io_error(&self.path))?;
        let path = file_path(&self.config.dir, self.next_lsn);
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_error(&path))?;
        sync_dir(&self.config.dir)?;
        self.writer = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        self.path = path;
        self.file_first_lsn = self.next_lsn;
        self.file_bytes = 0;
        Ok(())
    }
}

/// Deletes the files whose records all have LSN ≤ `through` (they have been flushed to the cold
/// store). The newest file is never deleted: appends continue there.
pub fn remove_through(dir: &Path, through: Lsn) -> Result<usize, WalError> {
    let files = list_files(dir)?;
    let mut removed = 0;
    for pair in files.windows(2) {
        let (_, path) = &pair[0];
        let (next_first, _) = pair[1];
        if next_first <= through + 1 {
            fs::remove_file(path).map_err(io_error(path))?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// The log's files in `dir`, oldest first, each with the LSN of its first record. Files are named by
/// that LSN and only the oldest are ever removed, so the list is always one unbroken run; a reader
/// beside the writer (a backup) uses it to know which records a set of files covers.
pub fn files(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, WalError> {
    list_files(dir)
}

fn file_path(dir: &Path, first_lsn: Lsn) -> PathBuf {
    dir.join(format!("{first_lsn:020}{FILE_SUFFIX}"))
}

fn list_files(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, WalError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(FILE_SUFFIX)) else { continue };
        if let Ok(first_lsn) = stem.parse::<Lsn>() {
            files.push((first_lsn, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

/// Reads records back by [`Position`], checking each frame's checksum and LSN. It keeps the last
/// file it read open, so reading records in order costs one open per file.
pub struct WalReader {
    dir: PathBuf,
    open: Option<(Lsn, File)>,
}

impl WalReader {
    /// A reader of the log in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> WalReader {
        WalReader { dir: dir.into(), open: None }
    }

    /// The payload of the record at `position`, which must be record `lsn`. Only bytes that were
    /// written out ([`Wal::commit`]) can be read.
    pub fn read(&mut self, position: Position, lsn: Lsn) -> Result<Vec<u8>, WalError> {
        use std::os::unix::fs::FileExt;
        let path = file_path(&self.dir, position.file);
        if self.open.as_ref().map(|(file, _)| *file) != Some(position.file) {
            let file = File::open(&path).map_err(io_error(&path))?;
            self.open = Some((position.file, file));
        }
        let (_, file) = self.open.as_ref().expect("opened above");
        let corrupt = |reason: String| WalError::Corrupt { path: path.clone(), offset: position.offset, reason };
        let mut header = [0u8; frame::HEADER_BYTES];
        file.read_exact_at(&mut header, position.offset).map_err(io_error(&path))?;
        let (payload_len, crc, stored_lsn) = frame::parse_header(&header);
        if stored_lsn != lsn {
            return Err(corrupt(format!("expected record {lsn}, found {stored_lsn}")));
        }
        if payload_len as usize > PAYLOAD_BYTES_MAX {
            return Err(corrupt(format!("frame length {payload_len} is over the limit")));
        }
        let mut payload = vec![0u8; payload_len as usize];
        file.read_exact_at(&mut payload, position.offset + frame::HEADER_BYTES as u64).map_err(io_error(&path))?;
        if frame::checksum(lsn, &payload) != crc {
            return Err(corrupt("checksum mismatch".into()));
        }
        Ok(payload)
    }
}

/// Reads every whole frame of one file, telling `each` its offset. Returns the offset after the last
/// good frame and its LSN. A bad frame ends a tail file quietly (the caller truncates) and fails any
/// other file.
fn scan_file(path: &Path, is_tail: bool, mut each: impl FnMut(u64, Lsn, &[u8])) -> Result<(u64, Option<Lsn>), WalError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let len = file.seek(SeekFrom::End(0)).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(0)).map_err(io_error(path))?;
    let mut reader = io::BufReader::with_capacity(WRITE_BUFFER_BYTES, file);
    let mut offset = 0u64;
    let mut last_lsn = None;
    let mut header = [0u8; frame::HEADER_BYTES];
    let mut payload = Vec::new();
    while offset < len {
        let fail = |reason: String| -> Result<(u64, Option<Lsn>), WalError> {
            if is_tail { Ok((offset, last_lsn)) } else { Err(WalError::Corrupt { path: path.to_owned(), offset, reason }) }
        };
        if len - offset < frame::HEADER_BYTES as u64 {
            return fail("partial frame header".into());
        }
        reader.read_exact(&mut header).map_err(io_error(path))?;
        let (payload_len, crc, lsn) = frame::parse_header(&header);
        if payload_len as usize > PAYLOAD_BYTES_MAX || offset + (frame::HEADER_BYTES + payload_len as usize) as u64 > len {
            return fail(format!("frame length {payload_len} runs past the end"));
        }
        payload.resize(payload_len as usize, 0);
        reader.read_exact(&mut payload).map_err(io_error(path))?;
        if frame::checksum(lsn, &payload) != crc {
            return fail("checksum mismatch".into());
        }
        if let Some(previous) = last_lsn
            && lsn != previous + 1
        {
            return fail(format!("lsn {lsn} follows {previous}"));
        }
        each(offset, lsn, &payload);
        last_lsn = Some(lsn);
        offset += (frame::HEADER_BYTES + payload.len()) as u64;
    }
    Ok((offset, last_lsn))
}

#[cfg(test)]
mod tests;
