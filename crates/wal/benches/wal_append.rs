//! WAL append throughput with group commit: 200-byte records (the size of a plate read in its stored
//! JSON form), committed in groups, with and without fsync.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig};

const RECORD_BYTES: usize = 200;

fn append(c: &mut Criterion) {
    let payload = vec![b'x'; RECORD_BYTES];
    let mut group = c.benchmark_group("wal_append");
    group.sample_size(20);
    for (name, fsync, group_records) in [
        ("group_1000_fsync", FsyncPolicy::Always, 1_000),
        ("group_100_fsync", FsyncPolicy::Always, 100),
        ("group_1000_no_fsync", FsyncPolicy::Never, 1_000),
    ] {
        group.throughput(Throughput::Elements(group_records as u64));
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(WalConfig { fsync, ..WalConfig::new(dir.path()) }, 0, |_, _| {}).unwrap();
        group.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |_| {
                    for _ in 0..group_records {
                        wal.append(&payload).unwrap();
                    }
                    wal.commit().unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
