//! RocksBackend on a real temp dir: round trips, reopen, partition isolation, the dir lock, one
//! write batch per apply, and a seeded model check against MemoryBackend.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use chatpulse::store::{
    Checkpoint, MemoryBackend, RocksBackend, RocksOptions, StateBackend, StoreError, StoreStats,
    StoreWrite,
};

fn open(dir: &Path, stores: &[&str]) -> RocksBackend {
    RocksBackend::open(dir, stores, &RocksOptions::default()).expect("open RocksBackend")
}

fn checkpoint(generation: u64) -> Checkpoint {
    Checkpoint {
        generation,
        more_offsets: Vec::new(),
        input_offset: 1_000 + generation as i64,
        watermark_ms: 1_704_557_984_095 + generation as i64,
        changelog_offsets: BTreeMap::from([
            ("app-counts-changelog".to_owned(), 10 * generation as i64),
            ("app-spikes-changelog".to_owned(), 20 * generation as i64),
        ]),
    }
}

fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
    (k.as_bytes().to_vec(), v.as_bytes().to_vec())
}

#[test]
fn rocks_apply_scan_checkpoint_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path(), &["counts"]);
    assert_eq!(b.checkpoint(0).unwrap(), None);
    assert!(b.scan("counts", 0).unwrap().is_empty());

    let writes = [
        StoreWrite::put("counts", "nymn", "2"),
        StoreWrite::put("counts", "forsen", "1"),
        StoreWrite::put("counts", "nymn", "3"),
        StoreWrite::put("counts", "xqc", "9"),
    ];
    b.apply(0, &writes, &checkpoint(1)).unwrap();
    assert_eq!(
        b.scan("counts", 0).unwrap(),
        vec![kv("forsen", "1"), kv("nymn", "3"), kv("xqc", "9")]
    );
    assert_eq!(b.checkpoint(0).unwrap(), Some(checkpoint(1)));

    b.apply(
        0,
        &[
            StoreWrite::delete("counts", "xqc"),
            StoreWrite::delete("counts", "absent"),
        ],
        &checkpoint(2),
    )
    .unwrap();
    assert_eq!(
        b.scan("counts", 0).unwrap(),
        vec![kv("forsen", "1"), kv("nymn", "3")]
    );
    assert_eq!(b.checkpoint(0).unwrap(), Some(checkpoint(2)));

    // A checkpoint-only apply (nothing changed) still moves the checkpoint.
    b.apply(0, &[], &checkpoint(3)).unwrap();
    assert_eq!(b.checkpoint(0).unwrap(), Some(checkpoint(3)));
}

#[test]
fn rocks_data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut key = b"nymn".to_vec();
    key.extend_from_slice(&1_704_557_940_000i64.to_be_bytes());
    {
        let mut b = open(dir.path(), &["counts"]);
        b.apply(
            2,
            &[StoreWrite::put("counts", key.clone(), "42")],
            &checkpoint(7),
        )
        .unwrap();
    }
    let b = open(dir.path(), &["counts"]);
    assert_eq!(b.scan("counts", 2).unwrap(), vec![(key, b"42".to_vec())]);
    assert_eq!(b.checkpoint(2).unwrap(), Some(checkpoint(7)));
}

#[test]
fn rocks_partitions_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path(), &["counts"]);
    b.apply(0, &[StoreWrite::put("counts", "a", "p0")], &checkpoint(1))
        .unwrap();
    b.apply(
        1,
        &[
            StoreWrite::put("counts", "a", "p1"),
            StoreWrite::put("counts", "b", "p1"),
        ],
        &checkpoint(5),
    )
    .unwrap();
    // The partition after 1 must not leak into its range either.
    b.apply(2, &[StoreWrite::put("counts", "", "p2")], &checkpoint(9))
        .unwrap();
    assert_eq!(b.scan("counts", 0).unwrap(), vec![kv("a", "p0")]);
    assert_eq!(
        b.scan("counts", 1).unwrap(),
        vec![kv("a", "p1"), kv("b", "p1")]
    );

    b.drop_partition(1).unwrap();
    assert!(b.scan("counts", 1).unwrap().is_empty());
    assert_eq!(b.checkpoint(1).unwrap(), None);
    assert_eq!(b.scan("counts", 0).unwrap(), vec![kv("a", "p0")]);
    assert_eq!(b.checkpoint(0).unwrap(), Some(checkpoint(1)));
    assert_eq!(b.scan("counts", 2).unwrap(), vec![kv("", "p2")]);
    assert_eq!(b.checkpoint(2).unwrap(), Some(checkpoint(9)));

    // The dropped partition can be written again.
    b.apply(
        1,
        &[StoreWrite::put("counts", "c", "again")],
        &checkpoint(6),
    )
    .unwrap();
    assert_eq!(b.scan("counts", 1).unwrap(), vec![kv("c", "again")]);
}

#[test]
fn rocks_several_stores_in_one_instance() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path(), &["counts", "spikes", "ad-slots"]);
    let writes = [
        StoreWrite::put("counts", "k", "count"),
        StoreWrite::put("spikes", "k", "spike"),
        StoreWrite::put("ad-slots", "other", "slot"),
    ];
    b.apply(0, &writes, &checkpoint(1)).unwrap();
    assert_eq!(b.scan("counts", 0).unwrap(), vec![kv("k", "count")]);
    assert_eq!(b.scan("spikes", 0).unwrap(), vec![kv("k", "spike")]);
    assert_eq!(b.scan("ad-slots", 0).unwrap(), vec![kv("other", "slot")]);

    let stats = b.stats().unwrap();
    let names: Vec<&str> = stats.iter().map(|s| s.store.as_str()).collect();
    assert_eq!(names, ["counts", "spikes", "ad-slots"]);
    for StoreStats { store, bytes, keys } in &stats {
        assert_eq!(*keys, 1, "{store}");
        assert!(*bytes > 0, "{store}");
    }

    let err = b.apply(
        0,
        &[
            StoreWrite::put("counts", "k", "x"),
            StoreWrite::put("nope", "k", "x"),
        ],
        &checkpoint(2),
    );
    let err = err.unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownStore { ref store, .. } if store == "nope"),
        "{err}"
    );
    assert!(matches!(
        b.scan("__checkpoint", 0),
        Err(StoreError::UnknownStore { .. })
    ));
    // The refused apply changed nothing.
    assert_eq!(b.scan("counts", 0).unwrap(), vec![kv("k", "count")]);
    assert_eq!(b.checkpoint(0).unwrap(), Some(checkpoint(1)));
}

#[test]
fn rocks_reopen_with_another_store_list() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut b = open(dir.path(), &["counts", "old"]);
        b.apply(
            0,
            &[
                StoreWrite::put("counts", "a", "1"),
                StoreWrite::put("old", "a", "o"),
            ],
            &checkpoint(1),
        )
        .unwrap();
    }
    // "old" is no longer declared and "new" is: the new column family is created, the old one kept.
    let mut b = open(dir.path(), &["counts", "new"]);
    assert_eq!(b.scan("counts", 0).unwrap(), vec![kv("a", "1")]);
    assert!(b.scan("new", 0).unwrap().is_empty());
    assert!(matches!(
        b.scan("old", 0),
        Err(StoreError::UnknownStore { .. })
    ));
    b.apply(0, &[StoreWrite::put("new", "n", "1")], &checkpoint(2))
        .unwrap();
    b.drop_partition(0).unwrap();
    drop(b);
    // drop_partition cleared the undeclared store too.
    let b = open(dir.path(), &["old"]);
    assert!(b.scan("old", 0).unwrap().is_empty());
}

#[test]
fn rocks_second_open_of_a_locked_dir_fails() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), &["counts"]);
    let err = RocksBackend::open(dir.path(), &["counts"], &RocksOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::Locked { ref path } if path == dir.path()),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("is locked by another chatpulse process"),
        "{message}"
    );
    assert!(message.contains("--state-dir"), "{message}");
    drop(first);
    // Once the first backend is closed, the dir opens again.
    open(dir.path(), &["counts"]);
}

/// Env var that turns [`lock_holder_child`] into a lock holder for the test below.
const LOCK_HOLDER_DIR: &str = "CHATPULSE_TEST_LOCK_HOLDER_DIR";

/// Run only as a child of `rocks_dir_locked_by_another_process`: opens the dir, says so on stdout,
/// and holds it until its stdin closes.
#[test]
#[ignore = "helper process for rocks_dir_locked_by_another_process"]
fn lock_holder_child() {
    let Ok(dir) = std::env::var(LOCK_HOLDER_DIR) else {
        return;
    };
    let _held = open(Path::new(&dir), &["counts"]);
    println!("chatpulse-lock-held");
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

#[test]
fn rocks_dir_locked_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "store::lock_holder_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOCK_HOLDER_DIR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = stdout.lines();
    let held = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("chatpulse-lock-held"));
    assert!(held, "the child process never opened the dir");

    let err = RocksBackend::open(dir.path(), &["counts"], &RocksOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");

    drop(child.stdin.take());
    for _ in lines {}
    assert!(child.wait().unwrap().success());
    open(dir.path(), &["counts"]);
}

#[test]
fn rocks_apply_of_10k_writes_is_one_write_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path(), &["counts", "spikes"]);
    b.apply(
        0,
        &[StoreWrite::put("counts", "warm", "up")],
        &checkpoint(1),
    )
    .unwrap();
    let before = b.latest_sequence_number();

    let writes: Vec<StoreWrite> = (0..10_000u32)
        .map(|i| {
            let store = if i % 2 == 0 { "counts" } else { "spikes" };
            let mut key = format!("ch{}", i % 97).into_bytes();
            key.extend_from_slice(&i.to_be_bytes());
            StoreWrite::put(store, key, i.to_le_bytes())
        })
        .collect();
    b.apply(3, &writes, &checkpoint(2)).unwrap();

    // One batch in the write-ahead log: the 10,000 writes plus the checkpoint.
    assert_eq!(b.wal_batches_since(before).unwrap(), vec![10_001]);
    assert_eq!(b.scan("counts", 3).unwrap().len(), 5_000);
    assert_eq!(b.scan("spikes", 3).unwrap().len(), 5_000);
}

#[test]
fn rocks_refuses_negative_partitions_and_reserved_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path(), &["counts"]);
    assert!(matches!(
        b.apply(-1, &[], &checkpoint(1)),
        Err(StoreError::NegativePartition(-1))
    ));
    assert!(matches!(
        b.drop_partition(-1),
        Err(StoreError::NegativePartition(-1))
    ));
    let err = b
        .apply(
            0,
            &[StoreWrite::put("counts", vec![0xFF, 0x00], "x")],
            &checkpoint(1),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::ReservedKey { .. }), "{err}");
    assert_eq!(b.checkpoint(0).unwrap(), None);
}

/// xorshift64*: a small seeded generator, so a failing sequence can be replayed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MODEL_STORES: [&str; 2] = ["counts", "spikes"];
const MODEL_PARTITIONS: i32 = 3;

fn assert_same(model: &MemoryBackend, rocks: &RocksBackend, step: usize) {
    for partition in 0..MODEL_PARTITIONS {
        for store in MODEL_STORES {
            assert_eq!(
                model.scan(store, partition).unwrap(),
                rocks.scan(store, partition).unwrap(),
                "step {step}: store {store} partition {partition}"
            );
        }
        assert_eq!(
            model.checkpoint(partition).unwrap(),
            rocks.checkpoint(partition).unwrap(),
            "step {step}"
        );
    }
}

#[test]
fn rocks_matches_memory_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut model = MemoryBackend::new(&MODEL_STORES).unwrap();
    let mut rocks = Some(open(dir.path(), &MODEL_STORES));
    let mut generation = 0;

    for step in 0..400 {
        let partition = rng.below(MODEL_PARTITIONS as u64) as i32;
        match rng.below(20) {
            0 => {
                model.drop_partition(partition).unwrap();
                rocks.as_mut().unwrap().drop_partition(partition).unwrap();
            }
            1 => {
                // Close and reopen: everything applied so far must be on disk.
                drop(rocks.take());
                rocks = Some(open(dir.path(), &MODEL_STORES));
            }
            _ => {
                let writes: Vec<StoreWrite> = (0..rng.below(40))
                    .map(|_| {
                        let store = MODEL_STORES[rng.below(2) as usize];
                        // A few channels and numbers, so keys repeat; numbers may start with 0xFF.
                        let mut key = format!("ch{}", rng.below(5)).into_bytes();
                        let number = [0, 1, 0xFF00, 1 << 63, u64::MAX][rng.below(5) as usize];
                        key.extend_from_slice(&number.to_be_bytes());
                        if rng.below(4) == 0 {
                            StoreWrite::delete(store, key)
                        } else {
                            let len = rng.below(16) as usize;
                            StoreWrite::put(
                                store,
                                key,
                                (0..len).map(|_| rng.next() as u8).collect::<Vec<_>>(),
                            )
                        }
                    })
                    .collect();
                generation += 1;
                let cp = checkpoint(generation);
                model.apply(partition, &writes, &cp).unwrap();
                rocks
                    .as_mut()
                    .unwrap()
                    .apply(partition, &writes, &cp)
                    .unwrap();
            }
        }
        assert_same(&model, rocks.as_ref().unwrap(), step);
    }
    assert!(generation > 300, "the sequence should be mostly applies");
}
