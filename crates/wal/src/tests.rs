use super::*;
use proptest::prelude::*;
use std::sync::mpsc;

fn config(dir: &Path) -> WalConfig {
    WalConfig { dir: dir.to_owned(), file_bytes_max: 4096, fsync: FsyncPolicy::Always }
}

fn read_all(dir: &Path, after: Lsn) -> (Wal, Vec<(Lsn, Vec<u8>)>) {
    let mut records = Vec::new();
    let wal = Wal::open(config(dir), after, |lsn, payload| records.push((lsn, payload.to_vec()))).unwrap();
    (wal, records)
}

fn newest_file(dir: &Path) -> PathBuf {
    list_files(dir).unwrap().last().unwrap().1.clone()
}

#[test]
fn records_survive_reopen_in_order_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = read_all(dir.path(), 0);
    for i in 0..500u32 {
        assert_eq!(wal.append(format!("record {i}").as_bytes()).unwrap(), i as u64 + 1);
    }
    wal.commit().unwrap();
    drop(wal);
    assert!(list_files(dir.path()).unwrap().len() > 1, "expected rotation at 4 KiB");
    let (wal, records) = read_all(dir.path(), 0);
    assert_eq!(records.len(), 500);
    assert_eq!(records[499], (500, b"record 499".to_vec()));
    assert_eq!(wal.next_lsn(), 501);
}

#[test]
fn replay_skips_records_at_or_below_after() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = read_all(dir.path(), 0);
    for i in 0..10u8 {
        wal.append(&[i]).unwrap();
    }
    wal.commit().unwrap();
    drop(wal);
    let (_, records) = read_all(dir.path(), 7);
    assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), vec![8, 9, 10]);
}

#[test]
fn positions_read_back_each_record_across_rotations_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = read_all(dir.path(), 0);
    let mut written = Vec::new();
    for i in 0..300u32 {
        let payload = format!("record {i}").into_bytes();
        let (lsn, position) = wal.append_positioned(&payload).unwrap();
        written.push((lsn, position, payload));
    }
    wal.commit().unwrap();
    drop(wal);
    assert!(list_files(dir.path()).unwrap().len() > 1, "expected rotation at 4 KiB");
    let mut replayed = Vec::new();
    Wal::open_positioned(config(dir.path()), 0, |position, lsn, payload| replayed.push((lsn, position, payload.to_vec()))).unwrap();
    assert_eq!(replayed, written);
    let mut reader = WalReader::new(dir.path());
    for (lsn, position, payload) in written.iter().rev() {
        assert_eq!(&reader.read(*position, *lsn).unwrap(), payload);
    }
    let (lsn, position, _) = &written[10];
    let wrong = reader.read(*position, lsn + 1).expect_err("a position holds one record");
    assert!(matches!(wrong, WalError::Corrupt { .. }), "{wrong}");
}

/// 200 records over several files, then a flipped byte in the first record of the oldest file.
/// Returns the files.
fn several_files_the_oldest_damaged(dir: &Path) -> Vec<(Lsn, PathBuf)> {
    let (mut wal, _) = read_all(dir, 0);
    for _ in 0..200 {
        wal.append(&[7u8; 100]).unwrap();
    }
    wal.commit().unwrap();
    drop(wal);
    let files = list_files(dir).unwrap();
    let mut bytes = fs::read(&files[0].1).unwrap();
    bytes[frame::HEADER_BYTES + 3] ^= 0xff;
    fs::write(&files[0].1, &bytes).unwrap();
    files
}

#[test]
fn opening_after_a_point_reads_no_file_wholly_below_it() {
    let dir = tempfile::tempdir().unwrap();
    // Opening from past the damaged file never reads it; opening from the start fails.
    let files = several_files_the_oldest_damaged(dir.path());
    assert!(files.len() > 2);
    let after = files[1].0 + 1;
    let (wal, records) = read_all(dir.path(), after);
    assert_eq!(records.first().map(|r| r.0), Some(after + 1));
    assert_eq!(records.len() as u64, 200 - after);
    assert_eq!(wal.next_lsn(), 201);
    assert!(Wal::open(config(dir.path()), 0, |_, _| {}).is_err());
}

#[test]
fn a_torn_tail_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = read_all(dir.path(), 0);
    wal.append(b"first").unwrap();
    wal.append(b"second").unwrap();
    wal.commit().unwrap();
    drop(wal);
    // A crash mid-write: half a frame at the end.
    let path = newest_file(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(&frame::header(3, b"third")[..10]);
    fs::write(&path, &bytes).unwrap();
    let (mut wal, records) = read_all(dir.path(), 0);
    assert_eq!(records.len(), 2);
    assert_eq!(fs::metadata(&path).unwrap().len(), whole as u64);
    assert_eq!(wal.append(b"third").unwrap(), 3);
    wal.commit().unwrap();
    drop(wal);
    assert_eq!(read_all(dir.path(), 0).1.len(), 3);
}

#[test]
fn a_flipped_byte_in_the_tail_drops_that_record_and_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = read_all(dir.path(), 0);
    for payload in [b"aaaa", b"bbbb", b"cccc"] {
        wal.append(payload).unwrap();
    }
    wal.commit().unwrap();
    drop(wal);
    let path = newest_file(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let second_payload = frame::HEADER_BYTES + 4 + frame::HEADER_BYTES;
    bytes[second_payload] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let (_, records) = read_all(dir.path(), 0);
    assert_eq!(records, vec![(1, b"aaaa".to_vec())]);
}

#[test]
fn corruption_in_an_older_file_is_an_error_not_a_silent_loss() {
    let dir = tempfile::tempdir().unwrap();
    several_files_the_oldest_damaged(dir.path());
    let error = Wal::open(config(dir.path()), 0, |_, _| {}).err().expect("corruption must fail");
    assert!(matches!(error, WalError::Corrupt { offset: 0, .. }), "{error}");
}

#[test]
fn remove_through_keeps_unflushed_records_and_the_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = read_all(dir.path(), 0);
    for i in 0..300u32 {
        wal.append(&i.to_le_bytes().repeat(10)).unwrap();
    }
    wal.commit().unwrap();
    let files_before = list_files(dir.path()).unwrap().len();
    let removed = remove_through(dir.path(), 150).unwrap();
    assert!(removed > 0 && removed < files_before);
    drop(wal);
    let (_, records) = read_all(dir.path(), 150);
    assert_eq!(records.first().unwrap().0, 151);
    assert_eq!(records.len(), 150);
}

#[test]
fn an_oversized_payload_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = read_all(dir.path(), 0);
    let error = wal.append(&vec![0u8; PAYLOAD_BYTES_MAX + 1]).unwrap_err();
    assert!(matches!(error, WalError::TooLarge { .. }));
}

#[test]
fn the_committer_deduplicates_and_forwards_in_order_and_the_consumer_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = read_all(dir.path(), 0);
    let (downstream_tx, downstream_rx) = mpsc::sync_channel(16);
    let seen: HashSet<u128> = [99u128].into_iter().collect();
    let (committer, handle) = committer::<u32>(wal, seen, 8, downstream_tx);
    let (ack_tx, ack_rx) = mpsc::channel();
    let records =
        [1u128, 2, 2, 99, 3].into_iter().map(|key| Record { key, payload: key.to_le_bytes().to_vec(), item: key as u32 }).collect();
    committer.submit(CommitRequest { records, ack: Box::new(move |r| ack_tx.send(r).unwrap()) }).ok().unwrap();
    let forwarded = downstream_rx.recv().unwrap();
    assert_eq!(forwarded.records, vec![(1, 1), (2, 2), (3, 3)]);
    // The caller hears nothing until the consumer has applied the group and sends the acknowledgement.
    assert!(ack_rx.recv_timeout(std::time::Duration::from_millis(50)).is_err(), "acknowledged before the consumer applied it");
    forwarded.acks.send();
    let outcome = ack_rx.recv().unwrap().unwrap();
    assert_eq!(outcome, CommitOutcome { appended: 3, duplicates: 2, last_lsn: Some(3) });

    // A request of duplicates only still goes downstream, so its acknowledgement follows the group
    // that first held the record.
    let (ack_tx, ack_rx) = mpsc::channel();
    let again = vec![Record { key: 2, payload: vec![2], item: 2 }];
    committer.submit(CommitRequest { records: again, ack: Box::new(move |r| ack_tx.send(r).unwrap()) }).ok().unwrap();
    let forwarded = downstream_rx.recv().unwrap();
    assert!(forwarded.records.is_empty());
    forwarded.acks.send();
    assert_eq!(ack_rx.recv().unwrap().unwrap(), CommitOutcome { appended: 0, duplicates: 1, last_lsn: None });
    drop(committer);
    handle.join().unwrap();
    assert_eq!(read_all(dir.path(), 0).1.len(), 3);
}

#[test]
fn with_the_consumer_gone_the_committer_acknowledges_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = read_all(dir.path(), 0);
    let (downstream_tx, downstream_rx) = mpsc::sync_channel::<DurableGroup<u32>>(1);
    drop(downstream_rx);
    let (committer, handle) = committer::<u32>(wal, HashSet::new(), 8, downstream_tx);
    let (ack_tx, ack_rx) = mpsc::channel();
    let records = vec![Record { key: 7, payload: vec![7], item: 7 }];
    committer.submit(CommitRequest { records, ack: Box::new(move |r| ack_tx.send(r).unwrap()) }).ok().unwrap();
    assert_eq!(ack_rx.recv().unwrap().unwrap().appended, 1, "durable, so acknowledged, and replayed at the next start");
    drop(committer);
    handle.join().unwrap();
}

use std::collections::HashSet;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_payloads_round_trip_and_any_cut_recovers_a_prefix(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..40),
        cut_fraction in 0.0f64..1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = WalConfig { dir: dir.path().to_owned(), file_bytes_max: 1 << 30, fsync: FsyncPolicy::Never };
        let mut wal = Wal::open(config.clone(), 0, |_, _| {}).unwrap();
        for p in &payloads {
            wal.append(p).unwrap();
        }
        wal.commit().unwrap();
        drop(wal);
        let path = newest_file(dir.path());
        let len = fs::metadata(&path).unwrap().len();
        let cut = (len as f64 * cut_fraction) as u64;
        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
        let mut recovered = Vec::new();
        Wal::open(config, 0, |_, p| recovered.push(p.to_vec())).unwrap();
        prop_assert!(recovered.len() <= payloads.len());
        prop_assert_eq!(&recovered[..], &payloads[..recovered.len()]);
    }
}
