use super::archive::{BackupManifest, write_archive};
use super::*;
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig};

fn wal_config(dir: &Path) -> WalConfig {
    // Small files, so a few records span several and removing the oldest is possible.
    WalConfig { dir: dir.join("wal"), file_bytes_max: 256, fsync: FsyncPolicy::Never }
}

/// A data directory with a WAL of `records` records, a settings file, an NDJSON log whose last line
/// is half-written, and an (empty) audit log with its keys.
fn data_dir(records: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(wal_config(dir.path()), 0, |_, _| {}).unwrap();
    for i in 0..records {
        wal.append(format!("{{\"record\":{i},\"padding\":\"{}\"}}", "x".repeat(40)).as_bytes()).unwrap();
    }
    wal.commit().unwrap();
    fs::write(dir.path().join("retention.json"), b"{\"plate_read_days\":30}").unwrap();
    fs::write(dir.path().join("dead_letter.ndjson"), b"{\"line\":1}\n{\"line\":2}\n{\"li").unwrap();
    glasshouse_audit::AuditLog::open(&dir.path().join("audit"), &dir.path().join("audit-keys")).unwrap();
    dir
}

fn manifest(dir: &Path, flushed_lsn: u64, files: &[&str]) {
    let segments: Vec<_> = files
        .iter()
        .map(|f| {
            serde_json::json!({"path": f, "kind": "plate_read", "min_observed_at": "2026-01-01T00:00:00Z",
                "max_observed_at": "2026-01-01T00:00:00Z", "rows": 1, "bbox": [0.0, 0.0, 0.0, 0.0], "size_bytes": 1})
        })
        .collect();
    fs::create_dir_all(dir.join("segments")).unwrap();
    let text = serde_json::json!({"flushed_lsn": flushed_lsn, "segments": segments}).to_string();
    fs::write(dir.join("segments/manifest.json"), text).unwrap();
}

fn archive_of(dir: &Path) -> (Vec<u8>, BackupManifest) {
    let snapshot = pin(dir).unwrap();
    let mut bytes = Vec::new();
    let manifest = write_archive(&snapshot, &mut bytes, |_| {}).unwrap();
    (bytes, manifest)
}

#[test]
fn paths_are_sorted_into_the_order_that_keeps_the_copy_consistent() {
    let cases = [
        ("engine-state.json", Role::State),
        ("outbox/city/cursor", Role::State),
        ("audit-keys/signing.json", Role::State),
        ("images/ab/abcdef", Role::State),
        ("alerts/00000000000000000001.wal", Role::Log),
        ("outbox/city/dead_letters.ndjson", Role::Log),
        ("dead_letter.ndjson", Role::Log),
        ("tokens.json", Role::Accounts),
        ("account-changes.ndjson", Role::Accounts),
        ("wal/00000000000000000001.wal", Role::SegmentsOrWal),
        ("segments/kind=plate_read/date=2026-01-01/seg-1-2.parquet", Role::SegmentsOrWal),
        ("audit/00000000000000000001.wal", Role::Audit),
        ("audit/index/entries.pos", Role::Skipped),
        ("alerts/index/summaries.bin", Role::Skipped),
        ("LOCK", Role::Skipped),
        ("sharing.json.next", Role::Skipped),
        ("backup-staging/wal/00000000000000000001.wal", Role::Skipped),
    ];
    for (path, role) in cases {
        assert_eq!(role_of(Path::new(path)), role, "{path}");
    }
}

#[test]
fn a_backup_restores_byte_for_byte_and_cuts_a_half_written_line() {
    let dir = data_dir(20);
    fs::create_dir_all(dir.path().join("segments/kind=plate_read")).unwrap();
    fs::write(dir.path().join("segments/kind=plate_read/seg-1-4.parquet"), b"segment bytes").unwrap();
    manifest(dir.path(), 4, &["kind=plate_read/seg-1-4.parquet"]);
    let (bytes, written) = archive_of(dir.path());
    assert_eq!(written.flushed_lsn, 4);
    assert!(!dir.path().join(STAGING_DIR).exists(), "the pins are removed once the snapshot goes");

    let target = tempfile::tempdir().unwrap();
    let restored_dir = target.path().join("restored");
    let report = restore(bytes.as_slice(), &restored_dir, |_| {}).unwrap();
    assert_eq!(report.wal_records_after_segments, 16, "records 5..=20 are only in the WAL");
    assert_eq!(fs::read(restored_dir.join("segments/kind=plate_read/seg-1-4.parquet")).unwrap(), b"segment bytes");
    assert_eq!(fs::read(restored_dir.join("retention.json")).unwrap(), fs::read(dir.path().join("retention.json")).unwrap());
    assert_eq!(fs::read(restored_dir.join("dead_letter.ndjson")).unwrap(), b"{\"line\":1}\n{\"line\":2}\n");
    assert!(!restored_dir.join("LOCK").exists() && !restored_dir.join(BACKUP_LOCK).exists());
    let mut replayed = Vec::new();
    Wal::open(wal_config(&restored_dir), 0, |lsn, _| replayed.push(lsn)).unwrap();
    assert_eq!(replayed, (1..=20).collect::<Vec<_>>());
    let log = glasshouse_audit::AuditLog::open(&restored_dir.join("audit"), &restored_dir.join("audit-keys")).unwrap();
    let entries = log.entries(0, 10).unwrap();
    assert_eq!(entries.len(), 1, "the source log was empty; the restore adds its own entry");
    let entry: serde_json::Value = serde_json::from_slice(&entries[0]).unwrap();
    assert_eq!(entry["action"], "data.restored");
    assert_eq!(entry["details"]["archive_sha256"], report.archive_sha256.as_str());
    assert_eq!(report.archive_sha256, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)), "the hash is the whole file's");
    assert_eq!(
        report.verifier_key,
        glasshouse_audit::log::verifier_key(&dir.path().join("audit-keys")).unwrap(),
        "the restored node signs with the same key"
    );
}

#[test]
fn a_segment_that_stays_missing_is_named_after_the_retries() {
    let dir = data_dir(4);
    manifest(dir.path(), 2, &["kind=plate_read/gone.parquet"]);
    let error = pin(dir.path()).err().expect("no consistent snapshot exists");
    assert!(error.to_string().contains("kept changing"), "{error:#}");
}

#[test]
fn wal_files_removed_past_the_manifest_are_not_taken_for_a_consistent_copy() {
    let dir = data_dir(40);
    let files = glasshouse_wal::files(&dir.path().join("wal")).unwrap();
    assert!(files.len() >= 3, "the records span several files");
    // As if a flush had removed the oldest file after the manifest (flushed to 0) was read.
    fs::remove_file(&files[0].1).unwrap();
    manifest(dir.path(), 0, &[]);
    let error = pin(dir.path()).err().expect("records between the manifest and the WAL are missing");
    assert!(error.to_string().contains("kept changing"), "{error:#}");
}

#[test]
fn restore_refuses_a_damaged_or_cut_archive_and_a_used_folder() {
    let dir = data_dir(8);
    let (bytes, _) = archive_of(dir.path());
    let tar = zstd::decode_all(bytes.as_slice()).unwrap();
    let target = tempfile::tempdir().unwrap();

    let mut tampered = tar.clone();
    let at = tampered.windows(14).position(|w| w == b"plate_read_day").expect("the settings file is in the tar");
    tampered[at] = b'P';
    let tampered = zstd::encode_all(tampered.as_slice(), 3).unwrap();
    let error = restore(tampered.as_slice(), &target.path().join("a"), |_| {}).unwrap_err();
    assert!(error.to_string().contains("retention.json does not match the manifest"), "{error:#}");
    assert!(!target.path().join("a").exists() && !target.path().join("a.restoring").exists(), "nothing is left behind");

    let at = tar.windows(11).position(|w| w == b"BACKUP.json").expect("the manifest entry");
    let cut = zstd::encode_all(&tar[..at - 1], 3).unwrap();
    let error = restore(cut.as_slice(), &target.path().join("b"), |_| {}).unwrap_err();
    assert!(format!("{error:#}").contains("before its manifest") || format!("{error:#}").contains("damaged"), "{error:#}");

    fs::create_dir_all(target.path().join("c")).unwrap();
    fs::write(target.path().join("c/keep.txt"), b"x").unwrap();
    let error = restore(bytes.as_slice(), &target.path().join("c"), |_| {}).unwrap_err();
    assert!(error.to_string().contains("is not empty"), "{error:#}");
    assert_eq!(fs::read(target.path().join("c/keep.txt")).unwrap(), b"x");
}
