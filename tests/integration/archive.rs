//! `chatpulse archive` end to end: real chat lines in a tansu topic with several partitions are
//! archived (the binary) to a local directory and to moto's S3 server, read back by pyarrow
//! (`tests/support/read_archive.py`, an independent reader) and compared with the input: every
//! row once, by partition and offset, with its raw line and message id; messages per channel per
//! hour equal a brute-force count. The kill test SIGKILLs the archive ten times (seeded) while it
//! writes to S3 and restarts it: the rows in storage still equal the input exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatpulse::chat::{ChatEvent, EventKind};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde_json::Value;

use crate::engine_support::real_lines;
use crate::harness::{brokers, create_topic, repo_file, settings, unique};
use crate::kills::read_partitions_to_end;
use crate::scale_out::{committed, Instance, KeptDir};
use crate::store::Rng;

pub(crate) const PARTITIONS: i32 = 4;
const KILLS: usize = 10;
/// The seed of the kill moments; a failing run names it so it can be replayed.
const SEED: u64 = 0x5eed_0016;

/// The input as the topic holds it: `(partition, offset)` to the line.
pub(crate) type Input = BTreeMap<(i32, i64), String>;

pub(crate) fn python() -> String {
    std::env::var("CHATPULSE_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("CHATPULSE_TEST_PYTHON is not set: run the tests with `bash scripts/test`, which installs pyarrow")
    })
}

pub(crate) fn s3_endpoint() -> String {
    std::env::var("CHATPULSE_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("CHATPULSE_TEST_S3_ENDPOINT is not set: run the tests with `bash scripts/test`, which starts moto")
    })
}

/// The fake credentials moto accepts, for the archive and the reader alike.
pub(crate) const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
];

/// Creates `bucket` on the S3 server (with boto3, which moto brings).
pub(crate) fn create_bucket(bucket: &str) {
    let status = Command::new(python())
        .args([
            "-c",
            "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1]).create_bucket(Bucket=sys.argv[2])",
            &s3_endpoint(),
            bucket,
        ])
        .envs(AWS_ENV)
        .status()
        .expect("run python");
    assert!(status.success(), "creating bucket {bucket}");
}

/// Produces `lines` keyed by channel, then reads the topic back: what the archive must store.
async fn produce_and_read(topic: &str, lines: &[String]) -> Input {
    produce(topic, lines).await;
    read_all(topic, lines.len())
}

/// Produces `lines` keyed by channel.
async fn produce(topic: &str, lines: &[String]) {
    let producer: FutureProducer = settings().producer_config().create().unwrap();
    let sends = lines.iter().map(|line| {
        let producer = producer.clone();
        async move {
            let channel = ChatEvent::parse(line).unwrap().channel.to_owned();
            producer
                .send(
                    FutureRecord::to(topic).key(&channel).payload(line),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .expect("delivered");
        }
    });
    futures::future::join_all(sends).await;
}

/// Every record of `topic`, which holds `count`.
pub(crate) fn read_all(topic: &str, count: usize) -> Input {
    let input: Input = read_partitions_to_end(topic, PARTITIONS)
        .into_iter()
        .map(|m| {
            let line = String::from_utf8_lossy(m.payload().unwrap()).into_owned();
            ((m.partition(), m.offset()), line)
        })
        .collect();
    assert_eq!(input.len(), count, "the topic holds every line once");
    input
}

/// A `chatpulse archive` child writing `topic` to `root`, logging to `log`.
pub(crate) fn spawn_archive(
    root: &str,
    topic: &str,
    group: &str,
    log: &Path,
    extra: &[&str],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .args([
            "archive", "--root", root, "--topic", topic, "--group", group,
        ])
        .args(["--brokers", &brokers(), "--metrics-addr", "127.0.0.1:0"])
        .args(["--s3-endpoint", &s3_endpoint(), "--s3-path-style"])
        // A killed member holds its partitions for one session: keep it short.
        .args([
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
        ])
        .args(extra)
        .envs(AWS_ENV)
        .env("CHATPULSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start chatpulse archive")
}

pub(crate) fn end_offsets(input: &Input) -> Vec<i64> {
    (0..PARTITIONS)
        .map(|p| {
            input
                .range((p, 0)..(p, i64::MAX))
                .next_back()
                .map_or(0, |((_, o), _)| o + 1)
        })
        .collect()
}

/// Waits (bounded) until `group` has committed every offset of the input.
pub(crate) async fn wait_for_commits(
    group: &str,
    topic: &str,
    ends: &[i64],
    what: &str,
    log: &Path,
) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while committed(group, topic, PARTITIONS) != ends {
        assert!(
            Instant::now() < deadline,
            "{what}: the archive did not commit the whole input within 180 s (committed {:?} of {ends:?}); log {}",
            committed(group, topic, PARTITIONS),
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops `instance` with SIGTERM and checks that it exits cleanly.
pub(crate) fn terminate(mut instance: Instance) {
    let status = Command::new("kill")
        .args(["-TERM", &instance.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(instance.0.wait().unwrap().success(), "the archive's exit");
}

/// Every row pyarrow reads under `root`, and its messages per channel per hour.
fn read_back(root: &str, topic: &str) -> (Vec<Value>, BTreeMap<(String, i64), u64>) {
    let output = Command::new(python())
        .arg(repo_file("tests/support/read_archive.py"))
        .args([root, topic, "--endpoint", &s3_endpoint()])
        .envs(AWS_ENV)
        .output()
        .expect("run read_archive.py");
    assert!(
        output.status.success(),
        "read_archive.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.pop().expect("a summary line");
    let counts = summary["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (c[0].as_str().unwrap().to_owned(), c[1].as_i64().unwrap()),
                c[2].as_u64().unwrap(),
            )
        })
        .collect();
    (lines, counts)
}

/// Messages per channel per hour, counted straight from the lines.
fn brute_force_counts(input: &Input) -> BTreeMap<(String, i64), u64> {
    let mut counts = BTreeMap::new();
    for line in input.values() {
        let event = ChatEvent::parse(line).unwrap();
        if let (EventKind::Message(_), Some(ts)) = (&event.kind, event.ts_ms) {
            *counts
                .entry((event.channel.to_owned(), ts - ts.rem_euclid(3_600_000)))
                .or_insert(0) += 1;
        }
    }
    counts
}

/// The rows equal the input: each `(partition, offset)` once, with its line, message id,
/// channel and event time, in the directory of its event hour (and channel).
fn assert_rows_equal_input(rows: &[Value], input: &Input, by_channel: bool, what: &str) {
    let mut seen = BTreeSet::new();
    for row in rows {
        let key = (
            row["partition"].as_i64().unwrap() as i32,
            row["offset"].as_i64().unwrap(),
        );
        assert!(seen.insert(key), "{what}: row {key:?} stored twice");
        let line = input
            .get(&key)
            .unwrap_or_else(|| panic!("{what}: row {key:?} is not in the input"));
        assert_eq!(row["raw"].as_str(), Some(line.as_str()), "{what}: {key:?}");
        let event = ChatEvent::parse(line).unwrap();
        assert_eq!(
            row["id"].as_str(),
            event.id,
            "{what}: message id of {key:?}"
        );
        assert_eq!(
            row["channel"].as_str(),
            Some(event.channel),
            "{what}: {key:?}"
        );
        assert_eq!(
            row["kind"].as_str(),
            Some(event.kind_name()),
            "{what}: {key:?}"
        );
        let ts = event.ts_ms.unwrap();
        assert_eq!(row["event_time_ms"].as_i64(), Some(ts), "{what}: {key:?}");
        let hour = chatpulse::time::civil::format_timestamp_ms(ts - ts.rem_euclid(3_600_000));
        let dir = format!("dt={}/hour={}/", &hour[..10], &hour[11..13]);
        let path = row["path"].as_str().unwrap();
        assert!(
            path.contains(&dir),
            "{what}: {path} is not under {dir} ({hour})"
        );
        if by_channel {
            assert!(
                path.contains(&format!("/channel={}/", event.channel)),
                "{what}: {path}"
            );
        }
    }
    let missing: Vec<_> = input.keys().filter(|k| !seen.contains(k)).take(5).collect();
    assert!(
        missing.is_empty(),
        "{what}: rows missing, first {missing:?}"
    );
    assert_eq!(seen.len(), input.len(), "{what}");
}

/// Archives 20k real lines to `root` and checks them through pyarrow.
async fn archive_and_check(root_for: impl Fn(&Path) -> String, by_channel: bool, what: &str) {
    let topic = unique("archive-raw");
    let group = unique("archive-group");
    create_topic(&topic, PARTITIONS).await;
    // CSV-derived lines (one tag) and real Twitch lines with all their tags in Twitch's order.
    let mut lines = real_lines(20_000);
    let tagged = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/sample/nymn-2024-01-06.irc.txt"
    ))
    .unwrap();
    lines.extend(tagged.lines().map(str::to_owned));
    let input = produce_and_read(&topic, &lines).await;
    let kept = KeptDir(std::env::temp_dir().join(unique("archive-test")));
    std::fs::create_dir_all(&kept.0).unwrap();
    let root = root_for(&kept.0);
    let log = kept.0.join("archive.log");
    let mut extra = vec!["--max-records", "3000", "--max-open", "500ms"];
    if by_channel {
        extra.push("--partition-by-channel");
    }
    let instance = Instance(spawn_archive(&root, &topic, &group, &log, &extra));
    wait_for_commits(&group, &topic, &end_offsets(&input), what, &log).await;
    terminate(instance);
    let (rows, counts) = read_back(&root, &topic);
    assert_rows_equal_input(&rows, &input, by_channel, what);
    // Most lines are stored without `raw`, and pyarrow's rebuild of them equals the input above.
    let rebuilt = |tagged: bool| {
        rows.iter()
            .filter(|r| r["rebuilt"] == true && (r["channel"] == "nymn") == tagged)
            .count()
    };
    assert!(
        rebuilt(true) >= 790,
        "{what}: {} of 800 rebuilt",
        rebuilt(true)
    );
    assert!(
        rebuilt(false) >= 19_000,
        "{what}: {} rebuilt",
        rebuilt(false)
    );
    assert_eq!(
        counts,
        brute_force_counts(&input),
        "{what}: messages per channel per hour"
    );
    assert!(counts.len() > 10, "{what}: {} channel hours", counts.len());
    kept.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_to_a_local_directory_by_channel_reads_back_as_the_input() {
    archive_and_check(
        |dir: &Path| dir.join("archive").display().to_string(),
        true,
        "local",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_to_s3_reads_back_as_the_input() {
    let bucket = unique("bucket").to_lowercase().replace('_', "-");
    let bucket: String = bucket.chars().take(60).collect();
    create_bucket(&bucket);
    archive_and_check(move |_: &Path| format!("s3://{bucket}/bronze"), false, "s3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_sigkills_while_archiving_to_s3_leave_every_row_once() {
    let topic = unique("archive-kills");
    let group = unique("archive-kills-group");
    let bucket: String = unique("kills").to_lowercase().chars().take(60).collect();
    create_bucket(&bucket);
    create_topic(&topic, PARTITIONS).await;
    let lines = real_lines(usize::MAX);
    let root = format!("s3://{bucket}/bronze");
    let kept = KeptDir(std::env::temp_dir().join(unique("archive-kills")));
    std::fs::create_dir_all(&kept.0).unwrap();
    let log = |i: usize| kept.0.join(format!("archive-{i}.log"));
    // Small batches and a short wall-clock roll: many batches, cut differently in each life.
    let extra = ["--max-records", "1500", "--max-open", "300ms"];
    let total = |c: Vec<i64>| c.iter().sum::<i64>();
    let mut rng = Rng(SEED);
    let mut kills = Vec::new();
    // One chunk of input per life, produced while it runs, so each is killed with records to
    // archive; the rest goes to the last life.
    let chunk = lines.len() / (KILLS + 2);
    let mut rest: &[String] = &lines;
    for i in 0..KILLS {
        let mut instance = Instance(spawn_archive(&root, &topic, &group, &log(i), &extra));
        let before = total(committed(&group, &topic, PARTITIONS));
        let (now, later) = rest.split_at(chunk);
        rest = later;
        produce(&topic, now).await;
        // Killed at a random moment once this life has committed a batch.
        let deadline = Instant::now() + Duration::from_secs(60);
        while total(committed(&group, &topic, PARTITIONS)) <= before {
            assert!(
                Instant::now() < deadline,
                "life {i} committed nothing within 60 s (seed {SEED:#x}); log {}",
                log(i).display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delay = Duration::from_millis(rng.below(400));
        tokio::time::sleep(delay).await;
        instance.0.kill().expect("SIGKILL");
        instance.0.wait().unwrap();
        kills.push((total(committed(&group, &topic, PARTITIONS)), delay));
    }
    eprintln!("{KILLS} kills (committed records, delay after a commit): {kills:?}");
    let last = Instance(spawn_archive(&root, &topic, &group, &log(KILLS), &extra));
    produce(&topic, rest).await;
    let input = read_all(&topic, lines.len());
    let ends = end_offsets(&input);
    wait_for_commits(&group, &topic, &ends, "kills", &log(KILLS)).await;
    terminate(last);
    let (rows, counts) = read_back(&root, &topic);
    assert_rows_equal_input(&rows, &input, false, "after ten SIGKILLs");
    assert_eq!(
        counts,
        brute_force_counts(&input),
        "messages per channel per hour"
    );
    let recovered = (0..=KILLS)
        .map(|i| std::fs::read_to_string(log(i)).unwrap_or_default())
        .filter(|l| l.contains("Abandon"))
        .count();
    eprintln!("{recovered} lives abandoned an uncommitted batch on assignment");
    kept.remove();
}

/// The S3 storage against moto: whole objects (one PUT, and a multipart upload above 16 MiB),
/// listing under the prefix, deletes (a missing object included), and no object outside it.
#[test]
fn s3_storage_puts_lists_and_deletes_whole_objects() {
    use bytes::Bytes;
    use chatpulse::archive::storage::{S3Options, S3Storage, Storage};

    for (k, v) in AWS_ENV {
        std::env::set_var(k, v);
    }
    let bucket: String = unique("storage").to_lowercase().chars().take(60).collect();
    create_bucket(&bucket);
    let options = S3Options {
        endpoint: Some(s3_endpoint()),
        region: None,
        path_style: true,
    };
    let s = S3Storage::open(&format!("{bucket}/pre/fix"), &options).unwrap();
    let big: Vec<u8> = (0..40 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    s.put(
        "t/dt=2025-01-01/hour=00/t+0+0.parquet",
        Bytes::from_static(b"small"),
    )
    .unwrap();
    s.put(
        "t/dt=2025-01-01/hour=00/t+0+9.parquet",
        Bytes::from(big.clone()),
    )
    .unwrap();
    s.put(
        "_chatpulse_archive/t/partition=0.json",
        Bytes::from_static(b"{}"),
    )
    .unwrap();
    assert_eq!(
        s.list("t").unwrap(),
        [
            "t/dt=2025-01-01/hour=00/t+0+0.parquet",
            "t/dt=2025-01-01/hour=00/t+0+9.parquet"
        ]
    );
    assert_eq!(s.list("").unwrap().len(), 3);
    assert_eq!(
        s.get("t/dt=2025-01-01/hour=00/t+0+9.parquet")
            .unwrap()
            .as_deref(),
        Some(&big[..])
    );
    assert_eq!(s.get("t/none.parquet").unwrap(), None);
    s.delete("t/dt=2025-01-01/hour=00/t+0+0.parquet").unwrap();
    s.delete("t/dt=2025-01-01/hour=00/t+0+0.parquet").unwrap();
    assert_eq!(s.list("t").unwrap().len(), 1);
    let outside = S3Storage::open(&bucket, &options).unwrap();
    assert!(outside
        .list("")
        .unwrap()
        .iter()
        .all(|k| k.starts_with("pre/fix/")));
}
