//! The operations server against hostile clients, over real sockets on 127.0.0.1: a client that
//! trickles its request one byte at a time is cut off at the request deadline, 1,000 idle
//! connections neither stop `/healthz` nor cost a thread each, and a process out of file
//! descriptors backs off instead of spinning, then serves again.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatpulse::http::{HttpServer, Limits, Stateless};
use chatpulse::metrics::Metrics;

use crate::ops::try_http_get;

fn start(limits: Limits) -> SocketAddr {
    HttpServer::start_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(Metrics::new()),
        Arc::new(Stateless),
        limits,
    )
    .unwrap()
    .local_addr()
}

/// Whether the server closed `conn`: a read sees the end (or a reset) within `wait`.
fn closed_within(conn: &mut TcpStream, wait: Duration) -> bool {
    conn.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            // A response (408) before the close is fine: read on to the end.
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// `/healthz` answers 200 within `within`.
fn healthz_answers(addr: SocketAddr, within: Duration) {
    let started = Instant::now();
    let (status, body) = try_http_get(addr, "/healthz").expect("GET /healthz");
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < within,
        "/healthz took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_trickling_client_is_cut_off_at_the_request_deadline() {
    let deadline = Duration::from_secs(1);
    let margin = Duration::from_millis(1500);
    let addr = start(Limits {
        request_timeout: deadline,
        ..Limits::default()
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .unwrap();
    // One byte every 300 ms: each read gets a byte well within any per-read timeout.
    let cut_off = loop {
        if started.elapsed() > deadline + margin {
            break false;
        }
        if conn.write_all(b"a").is_err() || closed_within(&mut conn, Duration::from_millis(300)) {
            break true;
        }
    };
    let elapsed = started.elapsed();
    assert!(
        cut_off,
        "the trickling client still holds its connection after {elapsed:?}"
    );
    assert!(
        elapsed >= deadline - Duration::from_millis(100),
        "cut off before the deadline: {elapsed:?}"
    );
    healthz_answers(addr, Duration::from_secs(1));
}

/// The process's thread count (`Threads:` of /proc/self/status).
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line["Threads:".len()..].trim().parse().unwrap()
}

/// This process's (soft, hard) limits on open files, from /proc/self/limits.
fn open_files_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Sets this process's soft limit on open files with util-linux's `prlimit`.
fn set_open_files(soft: u64) {
    let (_, hard) = open_files_limits();
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={}:{hard}", soft.min(hard)))
        .status()
        .expect("prlimit (util-linux) sets the open-files limit");
    assert!(status.success());
}

/// Raises this process's soft limit on open files to `want` (up to the hard limit) when it is lower.
fn ensure_open_files(want: u64) {
    if open_files_limits().0 < want {
        set_open_files(want);
    }
}

/// CPU time this process has used (user + system, every thread), read from `stat`, an open
/// /proc/self/stat (kept open: the test reads it while no descriptor is free).
fn cpu_time(stat: &std::fs::File) -> Duration {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 4096];
    let n = stat.read_at(&mut buf, 0).unwrap();
    let stat = std::str::from_utf8(&buf[..n]).unwrap();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports these in USER_HZ, 100 per second on every platform it runs on.
    Duration::from_millis(ticks * 10)
}

#[test]
fn a_thousand_idle_connections_neither_stop_healthz_nor_cost_a_thread_each() {
    ensure_open_files(4096);
    let addr = start(Limits {
        request_timeout: Duration::from_secs(2),
        max_connections: 128,
        ..Limits::default()
    });
    let before = threads();
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..1000)
        .map(|i| TcpStream::connect(addr).unwrap_or_else(|e| panic!("connection {i}: {e}")))
        .collect();
    for _ in 0..5 {
        healthz_answers(addr, Duration::from_secs(1));
    }
    let during = threads();
    assert!(
        during < before + 16,
        "{before} threads before 1,000 idle connections, {during} with them"
    );
    // Every idle connection is closed: evicted to make room, or at the 2 s request deadline.
    let by = Duration::from_secs(4);
    let still_open = idle
        .iter_mut()
        .map(|c| closed_within(c, by.saturating_sub(started.elapsed())))
        .filter(|closed| !closed)
        .count();
    assert_eq!(
        still_open,
        0,
        "idle connections open after {:?}",
        started.elapsed()
    );
    healthz_answers(addr, Duration::from_secs(1));
}

/// Puts the soft open-files limit back when the test ends, however it ends.
struct RestoreOpenFiles(u64);

impl Drop for RestoreOpenFiles {
    fn drop(&mut self) {
        set_open_files(self.0);
    }
}

#[test]
fn out_of_file_descriptors_the_server_backs_off_and_recovers() {
    let addr = start(Limits {
        request_timeout: Duration::from_secs(30),
        ..Limits::default()
    });
    healthz_answers(addr, Duration::from_secs(1));
    // A low limit, then every descriptor but one taken by files, the last one by a client: the
    // server's accept of that client fails with EMFILE until descriptors come back.
    let _restore = RestoreOpenFiles(open_files_limits().0);
    let stat = std::fs::File::open("/proc/self/stat").unwrap();
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    set_open_files(open_now + 64);
    let mut files = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => files.push(f),
            Err(e) if e.raw_os_error() == Some(24) => break,
            Err(e) => panic!("opening /dev/null: {e}"),
        }
        assert!(files.len() < 10_000, "the limit did not take");
    }
    files.pop();
    let mut client = TcpStream::connect(addr).expect("the last descriptor connects a client");

    // While accept keeps failing, the server waits between attempts instead of spinning a core.
    let (cpu_before, wall_before) = (cpu_time(&stat), Instant::now());
    let mut quiet = Vec::new();
    while wall_before.elapsed() < Duration::from_secs(2) {
        // The wait is the measurement: 2 s of accept failures.
        std::thread::sleep(Duration::from_millis(100));
        quiet.push(std::fs::File::open("/dev/null").is_err());
    }
    let (cpu, wall) = (cpu_time(&stat) - cpu_before, wall_before.elapsed());
    assert!(
        quiet.iter().all(|&full| full),
        "descriptors came back during the measurement: the server did not hit EMFILE"
    );
    assert!(
        cpu < wall / 10,
        "the process used {cpu:?} of CPU in {wall:?} of failing accepts: it spins"
    );

    // Descriptors back: the waiting client is accepted and served within the back-off's 1 s cap.
    drop(files);
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(client, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    client.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    healthz_answers(addr, Duration::from_secs(1));
}
