//! Restarts after crashes: `chatpulse run` SIGKILLed and started again on its state dir in quick
//! succession, as an orchestrator restarts a crashing container, with the default instance id and
//! session timeout. The last instance must own every partition and be ready within a bound (the
//! killed members hold the group until their sessions time out: 45 s with librdkafka's default),
//! and the restart-to-ready time of further kill/restart cycles is measured.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine_support::{produce, real_lines, topology_text};
use crate::harness::{brokers, create_topic, free_port, unique};

/// Kill/restart cycles before the instance that must become ready.
const CYCLES: u64 = 10;
/// Restarts whose restart-to-ready time is measured after that.
const MEASURED: usize = 5;
/// How long the last instance may take to own every partition and be ready: well under
/// librdkafka's default 45 s session timeout, which a zombie member made it wait for.
const READY_WITHIN: Duration = Duration::from_secs(25);
const PARTITIONS: usize = 4;

/// `chatpulse run` with the defaults a user gets: no `--instance-id`, no session settings.
fn spawn(topology: &Path, state: &Path, addr: SocketAddr, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .args(["run", "--topology"])
        .arg(topology)
        .args(["--brokers", &brokers(), "--state-dir"])
        .arg(state)
        .args(["--replication-factor", "1"])
        .args(["--metrics-addr", &addr.to_string()])
        .env("CHATPULSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .expect("start chatpulse run")
}

/// One `GET path` (connection closed after the answer): the status and the body.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Whether the instance is ready and owns every partition.
fn ready_with_all(addr: SocketAddr) -> bool {
    let Some((200, _)) = get(addr, "/readyz") else {
        return false;
    };
    let Some((200, body)) = get(addr, "/partitions") else {
        return false;
    };
    let parts: Value = serde_json::from_str(&body).unwrap_or_default();
    parts["partitions"]
        .as_array()
        .is_some_and(|p| p.len() == PARTITIONS)
}

/// Waits (bounded by `limit`) until the instance is ready with every partition; the time it took.
fn time_to_ready(child: &mut Child, addr: SocketAddr, limit: Duration, log: &Path) -> Duration {
    let started = Instant::now();
    while !ready_with_all(addr) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "run exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "not ready with all {PARTITIONS} partitions within {limit:?}; log:\n{}",
                tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

/// The last 60 lines of a log.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn sigkill(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

/// A small seeded generator for the kill delays (xorshift).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_rapid_sigkill_restarts_the_last_instance_owns_every_partition_quickly() {
    let (input, output, app) = (
        unique("restart-in"),
        unique("restart-out"),
        unique("restart-app"),
    );
    create_topic(&input, PARTITIONS as i32).await;
    produce(&input, &real_lines(4_000), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let topology = dir.path().join("topology.toml");
    std::fs::write(&topology, topology_text(&app, &input, &output, "500ms")).unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("run.log");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

    // Each instance is killed 0.5-4 s after it subscribed: some mid-join, some after their first
    // commits, as a crash loop would.
    let mut seed = 0x5eed_0006_u64;
    for cycle in 0..CYCLES {
        let mut child = spawn(&topology, &state, addr, &log);
        let subscribed = Instant::now() + Duration::from_secs(20);
        let marks = |text: &str| text.matches("subscribed; waiting for partitions").count();
        while marks(&std::fs::read_to_string(&log).unwrap_or_default()) <= cycle as usize {
            assert!(
                Instant::now() < subscribed,
                "cycle {cycle}: never subscribed"
            );
            assert!(child.try_wait().unwrap().is_none(), "cycle {cycle}: exited");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(500 + next(&mut seed) % 3_500));
        sigkill(&mut child);
    }
    let mut child = spawn(&topology, &state, addr, &log);
    let first = time_to_ready(&mut child, addr, READY_WITHIN, &log);
    eprintln!(
        "after {CYCLES} rapid SIGKILL/restart cycles: ready with all partitions in {first:?}"
    );

    // Restart-to-ready of an instance killed while running, restarted at once.
    let mut times = Vec::new();
    for _ in 0..MEASURED {
        sigkill(&mut child);
        child = spawn(&topology, &state, addr, &log);
        times.push(time_to_ready(&mut child, addr, READY_WITHIN, &log));
    }
    sigkill(&mut child);
    times.sort();
    eprintln!(
        "restart-to-ready after SIGKILL over {MEASURED} restarts: min {:?}, median {:?}, max {:?}",
        times[0],
        times[MEASURED / 2],
        times[MEASURED - 1]
    );
}
