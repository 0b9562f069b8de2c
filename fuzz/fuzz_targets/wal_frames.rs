//! The WAL's frame reader, over a file of any bytes: recovery (which truncates a torn tail of the
//! newest file) and positioned reads of what it replayed.
#![no_main]
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig, WalReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("00000000000000000001.wal"), data).expect("the file");
    let config = WalConfig { dir: dir.path().to_owned(), file_bytes_max: 1 << 20, fsync: FsyncPolicy::Never };
    let mut replayed = Vec::new();
    let Ok(mut wal) = Wal::open_positioned(config.clone(), 0, |position, lsn, payload| replayed.push((position, lsn, payload.to_vec()))) else {
        return;
    };
    for pair in replayed.windows(2) {
        assert_eq!(pair[1].1, pair[0].1 + 1, "LSNs follow one another");
    }
    let mut reader = WalReader::new(dir.path());
    for (position, lsn, payload) in &replayed {
        assert_eq!(reader.read(*position, *lsn).ok().as_ref(), Some(payload), "a replayed record reads back");
    }
    // After recovery the log appends where it ended, and a second open agrees.
    let next = wal.next_lsn();
    assert_eq!(wal.append(b"after").expect("append"), next);
    wal.commit().expect("commit");
    drop(wal);
    let mut again = 0;
    Wal::open(config, 0, |_, _| again += 1).expect("a recovered log opens");
    assert_eq!(again, replayed.len() + 1);
});
