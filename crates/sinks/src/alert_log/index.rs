//! The alert log's index on disk: one fixed-size summary per alert, in the order alerts were
//! raised, and the keys of every alert id and folded repeat id.
//!
//! A summary says where the alert's latest state is in the log's WAL and carries what the filters
//! of `GET /v1/alerts` test (status, family, raise time, and hashes of the rule and the device), so
//! a page is found by reading summaries and only the alerts it returns. A summary is rewritten in
//! place when its alert changes. The files are derived from the WAL: they are synced and sealed
//! every [`SEAL_EVERY_RECORDS`] WAL records and on close, and opening replays only the WAL after
//! the seal (see the module documentation of `alert_log`).

use glasshouse_engine::{Alert, AlertStatus, RULE_FAMILIES};
use glasshouse_model::Timestamp;
use glasshouse_wal::files::{Readers, replace};
use glasshouse_wal::{Lsn, Position};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// WAL records between two seals: at most this many are replayed when the log opens after a crash.
pub const SEAL_EVERY_RECORDS: u64 = 4_096;

const SUMMARY_BYTES: usize = 64;
const KEY_BYTES: usize = 12;
/// The family byte of a rule not in [`RULE_FAMILIES`].
const OTHER_FAMILY: u8 = u8::MAX;

/// A stable 64-bit hash of an id or name (the first eight bytes of its SHA-256): stored on disk,
/// so it must not change between builds, which the standard library's hasher does not promise.
pub fn key(text: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Where an alert's latest state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// The record's LSN.
    pub lsn: Lsn,
    /// Where its frame starts.
    pub position: Position,
}

/// What the filters test, and where the alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Its latest state in the WAL.
    pub at: Located,
    /// Its status.
    pub status: AlertStatus,
    /// Its family's index in [`RULE_FAMILIES`] ([`OTHER_FAMILY`] if none).
    family: u8,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// [`key`] of its rule id (0: none).
    rule_id: u64,
    /// [`key`] of its device.
    device: u64,
    /// [`key`] of its id.
    pub id: u64,
}

fn status_byte(status: AlertStatus) -> u8 {
    AlertStatus::ALL.iter().position(|s| *s == status).expect("every status is listed") as u8
}

impl Summary {
    /// The summary of `alert`, stored at `at`.
    pub fn of(alert: &Alert, at: Located) -> Summary {
        Summary {
            at,
            status: alert.status,
            family: RULE_FAMILIES.iter().position(|f| *f == alert.rule).map_or(OTHER_FAMILY, |i| i as u8),
            raised_at: alert.raised_at,
            rule_id: alert.rule_id().map_or(0, key),
            device: key(&alert.device_id),
            id: key(&alert.id),
        }
    }

    /// Whether the filter may keep the alert: false only when it certainly does not (the hashes
    /// can collide, so a "may" is confirmed on the alert itself).
    pub fn may_pass(&self, filter: &glasshouse_engine::AlertFilter, hashed: &HashedFilter) -> bool {
        (filter.statuses.is_empty() || filter.statuses.contains(&self.status))
            && (hashed.families.is_empty() || hashed.families.contains(&self.family))
            && hashed.rule_id.is_none_or(|k| k == self.rule_id)
            && hashed.device.is_none_or(|k| k == self.device)
            && filter.raised_from.is_none_or(|from| self.raised_at >= from)
            && filter.raised_to.is_none_or(|to| self.raised_at < to)
    }

    fn to_bytes(self) -> [u8; SUMMARY_BYTES] {
        let mut out = [0u8; SUMMARY_BYTES];
        out[0..8].copy_from_slice(&self.at.lsn.to_le_bytes());
        out[8..16].copy_from_slice(&self.at.position.file.to_le_bytes());
        out[16..24].copy_from_slice(&self.at.position.offset.to_le_bytes());
        out[24] = status_byte(self.status);
        out[25] = self.family;
        out[32..40].copy_from_slice(&self.raised_at.0.to_le_bytes());
        out[40..48].copy_from_slice(&self.rule_id.to_le_bytes());
        out[48..56].copy_from_slice(&self.device.to_le_bytes());
        out[56..64].copy_from_slice(&self.id.to_le_bytes());
        out
    }

    fn from_bytes(bytes: &[u8; SUMMARY_BYTES]) -> io::Result<Summary> {
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let status = *AlertStatus::ALL.get(bytes[24] as usize).ok_or_else(|| io::Error::other(format!("status byte {}", bytes[24])))?;
        Ok(Summary {
            at: Located { lsn: u64_at(0), position: Position { file: u64_at(8), offset: u64_at(16) } },
            status,
            family: bytes[25],
            raised_at: Timestamp(u64_at(32) as i64),
            rule_id: u64_at(40),
            device: u64_at(48),
            id: u64_at(56),
        })
    }
}

/// A filter's names hashed once, for testing summaries.
#[derive(Debug, Default)]
pub struct HashedFilter {
    families: Vec<u8>,
    rule_id: Option<u64>,
    device: Option<u64>,
}

impl HashedFilter {
    /// The hashes of `filter`'s names.
    pub fn of(filter: &glasshouse_engine::AlertFilter) -> HashedFilter {
        HashedFilter {
            families: filter.families.iter().map(|f| RULE_FAMILIES.iter().position(|g| g == f).map_or(OTHER_FAMILY, |i| i as u8)).collect(),
            rule_id: filter.rule_id.as_deref().map(key),
            device: filter.device_id.as_deref().map(key),
        }
    }
}

/// An alert not yet closed: what folding repeats, closing resolved alerts and the queue need,
/// without the alert itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unclosed {
    /// Its position in raise order.
    pub position: u32,
    /// Its status.
    pub status: AlertStatus,
    /// Its rule family.
    pub rule: String,
    /// What makes a later sighting a repeat of it, if anything can.
    pub repeat_key: Option<(String, String, String)>,
    /// When it was last seen.
    pub last_observed_at: Timestamp,
}

impl Unclosed {
    /// The entry for `alert` at `position`, or `None` once it is closed.
    pub fn of(alert: &Alert, position: u32) -> Option<Unclosed> {
        (alert.status != AlertStatus::Closed).then(|| Unclosed {
            position,
            status: alert.status,
            rule: alert.rule.clone(),
            repeat_key: alert.repeat_key(),
            last_observed_at: alert.last_observed_at(),
        })
    }
}

/// How far the synced files reach, and the alerts not yet closed at that point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sealed {
    /// Summaries (alerts).
    pub alerts: u64,
    /// Id keys.
    pub keys: u64,
    /// The WAL's next LSN when sealed: records from here on are replayed.
    pub next_lsn: Lsn,
    /// Alerts not yet closed.
    pub unclosed: Vec<Unclosed>,
}

/// The two index files.
pub struct IndexFiles {
    dir: PathBuf,
    summaries: File,
    keys: File,
    alerts: u64,
    key_count: u64,
    sync: bool,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl IndexFiles {
    /// Opens the files in `dir` cut back to `sealed` (`None`: begun again, empty). `sync` says
    /// whether seals sync (off where the log itself does not).
    pub fn open(dir: &Path, sealed: Option<&Sealed>, sync: bool) -> io::Result<IndexFiles> {
        if sealed.is_none() && dir.exists() {
            fs::remove_dir_all(dir).map_err(at(dir))?;
        }
        fs::create_dir_all(dir).map_err(at(dir))?;
        let open = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path).map_err(at(&path))
        };
        let (summaries, keys) = (open("summaries.bin")?, open("keys.bin")?);
        let (alerts, key_count) = sealed.map_or((0, 0), |s| (s.alerts, s.keys));
        let has = |file: &File| file.metadata().map(|m| m.len());
        if has(&summaries)? < alerts * SUMMARY_BYTES as u64 || has(&keys)? < key_count * KEY_BYTES as u64 {
            return Err(io::Error::other("an index file is shorter than its seal"));
        }
        summaries.set_len(alerts * SUMMARY_BYTES as u64)?;
        keys.set_len(key_count * KEY_BYTES as u64)?;
        Ok(IndexFiles { dir: dir.to_owned(), summaries, keys, alerts, key_count, sync })
    }

    /// The seal, if there is one that parses.
    pub fn read_seal(dir: &Path) -> io::Result<Option<Sealed>> {
        let path = dir.join("sealed");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| io::Error::other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(at(&path)(e)),
        }
    }

    /// Number of alerts.
    pub fn alerts(&self) -> u64 {
        self.alerts
    }

    /// Appends the summary of the next alert; returns its position.
    pub fn push(&mut self, summary: Summary) -> io::Result<u32> {
        let position = self.alerts;
        self.summaries.write_all_at(&summary.to_bytes(), position * SUMMARY_BYTES as u64)?;
        self.alerts += 1;
        Ok(position as u32)
    }

    /// Rewrites the summary at `position`.
    pub fn set(&mut self, position: u32, summary: Summary) -> io::Result<()> {
        self.summaries.write_all_at(&summary.to_bytes(), u64::from(position) * SUMMARY_BYTES as u64)
    }

    /// The summary at `position`.
    pub fn get(&self, position: u32) -> io::Result<Summary> {
        let mut bytes = [0u8; SUMMARY_BYTES];
        self.summaries.read_exact_at(&mut bytes, u64::from(position) * SUMMARY_BYTES as u64)?;
        Summary::from_bytes(&bytes)
    }

    /// The summaries of positions `[from, to)`, read at once.
    pub fn range(&self, from: u32, to: u32) -> io::Result<Vec<Summary>> {
        let mut bytes = vec![0u8; (to - from) as usize * SUMMARY_BYTES];
        self.summaries.read_exact_at(&mut bytes, u64::from(from) * SUMMARY_BYTES as u64)?;
        bytes.chunks_exact(SUMMARY_BYTES).map(|c| Summary::from_bytes(c.try_into().expect("a whole summary"))).collect()
    }

    /// Records that id `key` (an alert's or a folded repeat's) belongs to the alert at `position`.
    pub fn push_key(&mut self, key: u64, position: u32) -> io::Result<()> {
        let mut record = [0u8; KEY_BYTES];
        record[0..8].copy_from_slice(&key.to_le_bytes());
        record[8..12].copy_from_slice(&position.to_le_bytes());
        self.keys.write_all_at(&record, self.key_count * KEY_BYTES as u64)?;
        self.key_count += 1;
        Ok(())
    }

    /// Every id key with its alert's position, in the order recorded.
    pub fn all_keys(&self) -> io::Result<Vec<(u64, u32)>> {
        let mut bytes = vec![0u8; self.key_count as usize * KEY_BYTES];
        self.keys.read_exact_at(&mut bytes, 0)?;
        Ok(bytes
            .chunks_exact(KEY_BYTES)
            .map(|r| (u64::from_le_bytes(r[0..8].try_into().expect("8 bytes")), u32::from_le_bytes(r[8..12].try_into().expect("4 bytes"))))
            .collect())
    }

    /// Syncs both files and records how far they reach.
    pub fn seal(&mut self, next_lsn: Lsn, unclosed: Vec<Unclosed>) -> io::Result<()> {
        self.summaries.flush()?;
        if self.sync {
            self.summaries.sync_data()?;
            self.keys.sync_data()?;
            File::open(&self.dir).and_then(|d| d.sync_all())?;
        }
        let sealed = Sealed { alerts: self.alerts, keys: self.key_count, next_lsn, unclosed };
        replace(&self.dir.join("sealed"), &serde_json::to_vec(&sealed).expect("serialises"), Readers::Default)
    }
}
