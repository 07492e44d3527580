//! Scale-out and failure: two (or three) `chatpulse run` processes share a 4-partition topic through
//! the consumer group; one is killed with SIGKILL mid-stream (between produce and commit, most
//! likely) and stays dead; the survivors take over every partition, restoring the dead one's state
//! from the changelogs, and the final per-key results equal the offline run (duplicates only
//! re-state equal values). The survivors then stop cleanly on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use serde_json::Value;

use crate::engine_support::{
    add_minute, end_markers, offline_minutes, produce, real_lines, topology_text, Minutes,
};
use crate::harness::{brokers, create_topic, is_unknown_topic, reader, settings, unique};

/// Starts `chatpulse run` of `topology` on `state` as instance `id`, logging to `log`, with quick
/// group timeouts and `extra` arguments.
pub(crate) fn spawn(
    topology: &std::path::Path,
    state: &std::path::Path,
    id: &str,
    log: &std::path::Path,
    extra: &[String],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .args(["run", "--topology"])
        .arg(topology)
        .args(["--brokers", &brokers(), "--state-dir"])
        .arg(state)
        .args(["--instance-id", id, "--replication-factor", "1"])
        // Two instances on one host: each serves its metrics on a free port.
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args([
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
        ])
        .args(extra)
        .env("CHATPULSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start chatpulse run")
}

/// Reads results until every expected key is present, checking duplicates re-state equal values.
fn collect(consumer: &BaseConsumer, expected: &Minutes, deadline: Instant) -> Minutes {
    let mut got = Minutes::new();
    while got.len() < expected.len() && Instant::now() < deadline {
        let msg = match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => msg,
            Some(Err(e)) if is_unknown_topic(&e) => continue,
            Some(Err(e)) => panic!("consume results: {e}"),
            None => continue,
        };
        let v: Value = serde_json::from_slice(msg.payload().unwrap()).unwrap();
        add_minute(&mut got, &v);
    }
    got
}

/// The offsets `group` has committed on the `partitions` partitions of `topic` (0 where none).
pub(crate) fn committed(group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = settings().consumer_config(group).create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let list = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let mut offsets = vec![0i64; partitions as usize];
    for e in list.elements() {
        offsets[e.partition() as usize] = e.offset().to_raw().unwrap_or(0).max(0);
    }
    offsets
}

fn committed_total(group: &str, topic: &str) -> i64 {
    committed(group, topic, 4).iter().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survivor_of_a_sigkill_takes_over_and_results_equal_the_offline_run() {
    takeover(&["a", "b"], After::NoRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_survivors_of_three_take_over_and_results_equal_the_offline_run() {
    takeover(&["a", "b", "c"], After::NoRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_instance_restarted_with_its_state_dir_gives_the_offline_results() {
    takeover(&["a"], After::RestartWithStateDir).await;
}

/// What happens to the killed instance.
#[derive(PartialEq)]
enum After {
    /// It stays dead: the others take over.
    NoRestart,
    /// It is started again on its state dir, as an orchestrator would.
    RestartWithStateDir,
}

/// Starts one `chatpulse run` per name on a 4-partition topic and, once every instance holds
/// partitions and the first has committed records of its own partitions since, SIGKILLs the first
/// mid-stream (most likely between a produce and its commit). Then checks
/// the instances left running: together they hold all four partitions, each once; without a
/// restart they restored the dead one's partitions from the changelogs; the results equal the
/// offline run (duplicates only re-state equal values); each stops cleanly on SIGTERM.
async fn takeover(names: &[&str], after: After) {
    let (input, output, app) = (unique("scale-in"), unique("scale-out"), unique("scale-app"));
    create_topic(&input, 4).await;
    // Kept on failure for the instances' logs; removed at the end of a passing run.
    let kept = tempfile::tempdir().unwrap().keep();
    let dir = KeptDir(kept);
    let topology_file = dir.0.as_path().join("topology.toml");
    std::fs::write(
        &topology_file,
        topology_text(&app, &input, &output, "500ms"),
    )
    .unwrap();
    let topology = chatpulse::topology::Topology::load(&topology_file).unwrap();

    let lines = real_lines(8_000);
    let markers = end_markers(&lines, 4);
    let expected = offline_minutes(&topology, &lines, &markers);
    let (first, rest) = lines.split_at(3_000);
    let (middle, second) = rest.split_at(2_000);

    produce(&input, first, &[]).await;
    let log = |name: &str| dir.0.join(format!("{name}.log"));
    let mut instances: Vec<Instance> = names
        .iter()
        .map(|name| {
            Instance(spawn(
                &topology_file,
                &dir.0.join(format!("state-{name}")),
                name,
                &log(name),
                &[],
            ))
        })
        .collect();

    // Mid-stream: some of the first half is committed, but not all of it.
    let deadline = Instant::now() + Duration::from_secs(90);
    while committed_total(&app, &input) < 1_000 {
        assert!(
            Instant::now() < deadline,
            "the instances committed nothing in 90 s; logs in {}",
            dir.0.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every instance holds partitions (the group has settled): then the first one dies.
    let owned = |name: &str| owned_at_end(&std::fs::read_to_string(log(name)).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(60);
    let held_by_dead = loop {
        let held: Vec<_> = names.iter().map(|n| owned(n)).collect();
        let count: usize = held.iter().map(|h| h.len()).sum();
        if held.iter().all(|h| !h.is_empty()) && count == 4 {
            break held[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the group did not settle on every instance within 60 s; logs in {}",
            dir.0.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The instance about to die processes and commits records of its own partitions after the
    // group settled, so its changelogs hold state no other instance has (the first half may all
    // have been processed before the group settled, by whoever held the partitions then).
    let before = committed(&app, &input, 4);
    produce(&input, middle, &[]).await;
    let ends: Vec<(i32, i64)> = held_by_dead
        .keys()
        .map(|&p| {
            let end = chatpulse::kafka::topics::end_offset(
                &settings(),
                &input,
                p,
                Duration::from_secs(10),
            )
            .unwrap();
            (p, end)
        })
        .filter(|&(p, end)| end > before[p as usize])
        .collect();
    assert!(
        !ends.is_empty(),
        "the middle batch reached none of the partitions of the instance to kill ({held_by_dead:?})"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ends
        .iter()
        .all(|&(p, end)| committed(&app, &input, 4)[p as usize] >= end)
    {
        assert!(
            Instant::now() < deadline,
            "the first instance did not commit its partitions {ends:?} within 60 s; logs in {}",
            dir.0.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then more records, and the kill while they are being processed (most likely between a
    // produce and its commit).
    let (during, second) = second.split_at(500);
    produce(&input, during, &[]).await;
    let mut dead = instances.remove(0);
    dead.0.kill().expect("SIGKILL the first instance");
    dead.0.wait().unwrap();
    // Where each survivor's log stood at the kill: its assignments after that are the takeover.
    let read_log = |name: &str| std::fs::read_to_string(log(name)).unwrap_or_default();
    let at_kill: std::collections::BTreeMap<String, usize> = names[1..]
        .iter()
        .map(|n| (n.to_string(), read_log(n).len()))
        .collect();
    let mut survivors: Vec<String> = names[1..].iter().map(|n| n.to_string()).collect();
    if after == After::RestartWithStateDir {
        // Restarted on its state dir: it restores the changelog tail its RocksDB lacks.
        let name = format!("{}-restarted", names[0]);
        instances.push(Instance(spawn(
            &topology_file,
            &dir.0.join(format!("state-{}", names[0])),
            &name,
            &log(&name),
            &[],
        )));
        survivors.push(name);
    }
    // Otherwise nobody restarts it: the survivors must take over its partitions once the
    // coordinator evicts the dead member (session timeout 6 s), restoring them from the changelogs.
    produce(&input, second, &markers).await;
    let consumer = reader(&output);
    let got = collect(
        &consumer,
        &expected,
        Instant::now() + Duration::from_secs(180),
    );
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "missing results {missing:?}; logs in {}",
        dir.0.as_path().display()
    );
    assert_eq!(
        got, expected,
        "results after the takeover differ from the offline run"
    );

    // The survivors ended up with every partition, each held once, and took over the dead
    // member's partitions by restoring their state from the changelogs.
    // Results can be complete before the group has settled, so this waits for it.
    let held_now = || {
        let mut held: Vec<(i32, u64)> = survivors.iter().flat_map(|n| owned(n)).collect();
        held.sort();
        held
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let held = loop {
        let held = held_now();
        let settled = held.iter().map(|(p, _)| *p).eq(0..4);
        if settled || Instant::now() >= deadline {
            break held;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        held.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [0, 1, 2, 3],
        "the survivors' partitions 60 s after the results (each held once); logs in {}",
        dir.0.display()
    );
    // Changelog records restored for the dead member's partitions by any assignment since the kill
    // (the group may rebalance more than once while it settles; a later assignment of a partition
    // already restored finds its local state current and restores nothing).
    let restored: u64 = survivors
        .iter()
        .flat_map(|n| {
            let text = read_log(n);
            let from = at_kill.get(n).copied().unwrap_or(0);
            assignments(text.get(from..).unwrap_or(""))
        })
        .filter(|(p, _)| held_by_dead.contains_key(p))
        .map(|(_, r)| r)
        .sum();
    assert!(
        after == After::RestartWithStateDir || restored > 0,
        "the survivors took over {held_by_dead:?} without restoring a changelog record; logs in {}",
        dir.0.display()
    );

    // SIGTERM: each survivor commits and exits 0 within its shutdown timeout.
    for (name, instance) in survivors.iter().zip(&mut instances) {
        let status = Command::new("kill")
            .args(["-TERM", &instance.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(40);
        let exit = loop {
            if let Some(s) = instance.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "instance {name} did not stop within 40 s of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            exit.success(),
            "instance {name} exited with {exit}; log {}",
            log(name).display()
        );
        let text = std::fs::read_to_string(log(name)).unwrap();
        assert!(
            text.contains("stopped cleanly"),
            "no clean stop in {name}'s log"
        );
    }
    dir.remove();
}

/// The partitions a log's last rebalance left assigned (eager rebalancing: a revocation takes
/// every partition away), with the changelog records each restored.
fn owned_at_end(log: &str) -> std::collections::BTreeMap<i32, u64> {
    let since = log.rfind("partitions revoked").unwrap_or(0);
    assignments(&log[since..]).into_iter().collect()
}

/// Every "partition assigned" line of an instance's log: (partition, changelog records restored).
fn assignments(log: &str) -> Vec<(i32, u64)> {
    let field = |line: &str, name: &str| -> Option<u64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        let digits: String = line[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    log.lines()
        .filter(|l| l.contains("partition assigned"))
        .filter_map(|l| Some((field(l, "partition")? as i32, field(l, "restored")?)))
        .collect()
}

/// A directory that survives a failing test (its logs explain the failure).
pub(crate) struct KeptDir(pub(crate) std::path::PathBuf);

impl KeptDir {
    pub(crate) fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `chatpulse run` child process, killed if the test ends while it still runs.
pub(crate) struct Instance(pub(crate) Child);

impl Drop for Instance {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
