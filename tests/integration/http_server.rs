//! The operations server against hostile clients, over real sockets on 127.0.0.1: a client that
//! trickles its request one byte at a time is cut off at the request deadline, 1,000 idle
//! connections neither stop `/healthz` nor cost a thread each.

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

/// Raises this process's soft limit on open files to `want` (up to the hard limit) with
/// util-linux's `prlimit`, when it is lower.
fn ensure_open_files(want: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (soft, hard) = (numbers[0], numbers[1]);
    if soft >= want {
        return;
    }
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={}:{hard}", want.min(hard)))
        .status()
        .expect("prlimit (util-linux) raises the open-files limit");
    assert!(status.success());
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
