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
            family: family_byte(&alert.rule),
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
            families: filter.families.iter().map(|f| family_byte(f)).collect(),
            rule_id: filter.rule_id.as_deref().map(key),
            device: filter.device_id.as_deref().map(key),
        }
    }
}

/// The family byte of rule family `rule` ([`OTHER_FAMILY`] for one not in [`RULE_FAMILIES`]).
pub fn family_byte(rule: &str) -> u8 {
    RULE_FAMILIES.iter().position(|f| *f == rule).map_or(OTHER_FAMILY, |i| i as u8)
}

/// An alert not yet closed, as memory keeps it beside its position: what the operator's queue and
/// closing resolved outages need, in two bytes, so a million alerts nobody works cost little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    /// Its status (never closed).
    pub status: AlertStatus,
    /// Its family's byte ([`family_byte`]).
    pub family: u8,
}

impl Open {
    /// The entry for `alert`, or `None` once it is closed.
    pub fn of(alert: &Alert) -> Option<Open> {
        (alert.status != AlertStatus::Closed).then(|| Open { status: alert.status, family: family_byte(&alert.rule) })
    }

    /// Whether it awaits an operator, so a later sighting of the same thing folds into it.
    pub fn awaits_operator(self) -> bool {
        matches!(self.status, AlertStatus::New | AlertStatus::Acknowledged)
    }
}

/// [`key`] of an alert's repeat key (its rule family, list or rule, and plate or device). Equal
/// keys are confirmed on the stored alert before a sighting is folded into it.
pub fn repeat_key_hash(repeat_key: &(String, String, String)) -> u64 {
    let (family, list, subject) = repeat_key;
    key(&format!("{family}\0{list}\0{subject}"))
}

/// The newest alert awaiting an operator for one repeat key, and when it was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Foldable {
    /// Its position in raise order.
    pub position: u32,
    /// Its last sighting.
    pub last_observed_at: Timestamp,
}

/// The seal's format: its header line says it, and a seal of another format is rebuilt from the
/// WAL (format 1 kept every unclosed alert's strings as JSON, rewritten at every seal).
const SEAL_FORMAT: u32 = 2;
const OPEN_BYTES: usize = 6;
const FOLDABLE_BYTES: usize = 20;

/// The seal's header: a JSON line before the binary entries.
#[derive(Debug, Serialize, Deserialize)]
struct SealHeader {
    format: u32,
    alerts: u64,
    keys: u64,
    next_lsn: Lsn,
    open: u64,
    foldable: u64,
}

/// How far the synced files reach, and what memory held at that point.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    /// Summaries (alerts).
    pub alerts: u64,
    /// Id keys.
    pub keys: u64,
    /// The WAL's next LSN when sealed: records from here on are replayed.
    pub next_lsn: Lsn,
    /// Alerts not yet closed, by position.
    pub open: Vec<(u32, Open)>,
    /// Alerts a sighting may fold into, by [`repeat_key_hash`].
    pub foldable: Vec<(u64, Foldable)>,
}

impl Sealed {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let header = SealHeader {
            format: SEAL_FORMAT,
            alerts: self.alerts,
            keys: self.keys,
            next_lsn: self.next_lsn,
            open: self.open.len() as u64,
            foldable: self.foldable.len() as u64,
        };
        let mut out = serde_json::to_vec(&header).expect("serialises");
        out.push(b'\n');
        out.reserve(self.open.len() * OPEN_BYTES + self.foldable.len() * FOLDABLE_BYTES);
        for (position, open) in &self.open {
            out.extend_from_slice(&position.to_le_bytes());
            out.extend_from_slice(&[status_byte(open.status), open.family]);
        }
        for (hash, foldable) in &self.foldable {
            out.extend_from_slice(&hash.to_le_bytes());
            out.extend_from_slice(&foldable.position.to_le_bytes());
            out.extend_from_slice(&foldable.last_observed_at.0.to_le_bytes());
        }
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> io::Result<Sealed> {
        let newline = bytes.iter().position(|b| *b == b'\n').ok_or_else(|| io::Error::other("no header line"))?;
        let header: SealHeader = serde_json::from_slice(&bytes[..newline]).map_err(io::Error::other)?;
        if header.format != SEAL_FORMAT {
            return Err(io::Error::other(format!("seal format {}, not {SEAL_FORMAT}", header.format)));
        }
        let body = &bytes[newline + 1..];
        let open_len = usize::try_from(header.open).ok().and_then(|n| n.checked_mul(OPEN_BYTES));
        let foldable_len = usize::try_from(header.foldable).ok().and_then(|n| n.checked_mul(FOLDABLE_BYTES));
        let (Some(open_len), Some(foldable_len)) = (open_len, foldable_len) else {
            return Err(io::Error::other("entry counts out of range"));
        };
        if open_len.checked_add(foldable_len) != Some(body.len()) {
            return Err(io::Error::other(format!("{} bytes of entries, not the header's counts", body.len())));
        }
        let (open_bytes, foldable_bytes) = body.split_at(open_len);
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let open = open_bytes
            .chunks_exact(OPEN_BYTES)
            .map(|e| {
                let status = *AlertStatus::ALL.get(e[4] as usize).ok_or_else(|| io::Error::other(format!("status byte {}", e[4])))?;
                Ok((u32_at(e, 0), Open { status, family: e[5] }))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let foldable = foldable_bytes
            .chunks_exact(FOLDABLE_BYTES)
            .map(|e| (u64_at(e, 0), Foldable { position: u32_at(e, 8), last_observed_at: Timestamp(u64_at(e, 12) as i64) }))
            .collect();
        Ok(Sealed { alerts: header.alerts, keys: header.keys, next_lsn: header.next_lsn, open, foldable })
    }
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
            Ok(bytes) => Sealed::from_bytes(&bytes).map(Some).map_err(|e| io::Error::other(format!("{}: {e}", path.display()))),
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
    pub fn seal(&mut self, next_lsn: Lsn, open: Vec<(u32, Open)>, foldable: Vec<(u64, Foldable)>) -> io::Result<()> {
        self.summaries.flush()?;
        if self.sync {
            self.summaries.sync_data()?;
            self.keys.sync_data()?;
            File::open(&self.dir).and_then(|d| d.sync_all())?;
        }
        let sealed = Sealed { alerts: self.alerts, keys: self.key_count, next_lsn, open, foldable };
        replace(&self.dir.join("sealed"), &sealed.to_bytes(), Readers::Default)
    }
}
