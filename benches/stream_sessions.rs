//! `stream_sessions` over 1,000,000 snapshots: 1,000 channels polled once a minute for 1,000
//! minutes, each streaming in four sessions (a `stream_end` every 250 polls). The processor reads
//! each row (already decoded JSON, as the task hands it), event time advances after every row as in
//! a task, and the state is committed (every changed session serialized) every 1,000 rows, about
//! a second of this load at a 1-second commit interval. No chat: this is the snapshot path.
//!
//! The snapshots are DERIVED: `viewers = 100 + (7c + 13i) % 5000`, followers `1000 + i`, two games.
//! `cargo bench --no-default-features --bench stream_sessions` prints min/median/max of 5 runs.

use std::time::Instant;

use chatpulse::processor::state::take_writes;
use chatpulse::processor::stream_sessions::{SessionWindow, StreamSessions, StreamSessionsConfig};
use chatpulse::processor::{Emitter, Processor, RowInput};
use chatpulse::window::EmitMode;
use serde_json::{json, Value};

const CHANNELS: usize = 1_000;
const POLLS: i64 = 1_000;
const COMMIT_EVERY: usize = 1_000;
const T0: i64 = 1_704_067_200_000;

fn rows() -> Vec<(String, i64, Value)> {
    let mut rows = Vec::with_capacity(CHANNELS * POLLS as usize);
    for i in 0..POLLS {
        for c in 0..CHANNELS {
            let channel = format!("channel{c:04}");
            let ts = T0 + i * 60_000 + c as i64 * 50;
            let value = if i % 250 == 249 {
                json!({"channel": channel, "live": false, "viewers": 0, "ts": ts, "event": "stream_end"})
            } else {
                json!({"channel": channel, "live": true, "viewers": 100 + (7 * c as i64 + 13 * i) % 5_000,
                    "followers": 1_000 + i, "game": if i % 250 < 125 { "Just Chatting" } else { "Elden Ring" },
                    "title": "derived", "ts": ts, "event": null})
            };
            rows.push((channel, ts, value));
        }
    }
    rows
}

/// One run: seconds of CPU (wall on an idle core), sessions emitted, bytes committed.
fn run(rows: &[(String, i64, Value)]) -> (f64, usize, usize) {
    let mut p = StreamSessions::new(
        "sessions",
        0,
        SessionWindow {
            gap_ms: 30 * 60_000,
            grace_ms: 5_000,
        },
        EmitMode::Final,
        &StreamSessionsConfig::default(),
    );
    let mut out = Emitter::default();
    let (mut emitted, mut bytes) = (0, 0);
    let started = Instant::now();
    for (n, (key, ts, row)) in rows.iter().enumerate() {
        let input = RowInput {
            partition: 0,
            offset: n as i64,
            ts_ms: *ts,
            key,
            row,
        };
        p.process_row(&input, &mut out);
        p.on_watermark(*ts, &mut out);
        if n % COMMIT_EVERY == COMMIT_EVERY - 1 {
            bytes += take_writes(&mut p)
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
            emitted += out.outputs.len();
            out.outputs.clear();
        }
    }
    p.on_watermark(i64::MAX, &mut out);
    emitted += out.outputs.len();
    (started.elapsed().as_secs_f64(), emitted, bytes)
}

fn main() {
    let rows = rows();
    let mut per_row = Vec::new();
    for i in 0..5 {
        let (secs, emitted, bytes) = run(&rows);
        assert_eq!(emitted, CHANNELS * 4, "four sessions per channel");
        let ns = secs * 1e9 / rows.len() as f64;
        eprintln!(
            "run {}: {} snapshots in {secs:.2} s = {ns:.0} ns/snapshot; {emitted} sessions; {:.0} MB of state written",
            i + 1,
            rows.len(),
            bytes as f64 / 1e6
        );
        per_row.push(ns);
    }
    per_row.sort_by(f64::total_cmp);
    println!(
        "stream_sessions over {} snapshots: min / median / max {:.0} / {:.0} / {:.0} ns per snapshot",
        rows.len(),
        per_row[0],
        per_row[2],
        per_row[4]
    );
}
