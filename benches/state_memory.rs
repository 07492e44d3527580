//! Engine state under load: the engagement-basic topology run offline with real RocksDB state over
//! real chat (real senders and texts, replayed 10x faster) spread across 10,000 channels for a long
//! event-time span. Prints throughput,
//! CPU per million records, state store size, and peak RSS over time (it must plateau: open windows
//! are bounded by the watermark, RocksDB by its block cache and memtable cap).
//!
//! `cargo bench --bench state_memory` (env `CHATPULSE_DATA_DIR` for the data sets,
//! `STATE_MEMORY_MINUTES` for the replayed span, default 30).

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::ChatEvent;
use chatpulse::store::rocks::{RocksBackend, RocksOptions};
use chatpulse::store::StateBackend;
use chatpulse::topology::offline::RecordSink;
use chatpulse::topology::persist::apply_commit;
use chatpulse::topology::task::{DeadLetter, InputRecord, LateRecord, Task, TaskOutput};
use chatpulse::topology::Topology;
use serde_json::Value;

const CHANNELS: usize = 10_000;

/// Counts results without keeping them.
#[derive(Default)]
struct CountingSink {
    outputs: u64,
}

impl RecordSink for CountingSink {
    fn output(&mut self, _: &str, _: &str, _: &Value, _: i64) -> std::io::Result<()> {
        self.outputs += 1;
        Ok(())
    }
    fn dead_letter(&mut self, _: &str, _: &DeadLetter) -> std::io::Result<()> {
        Ok(())
    }
    fn late(&mut self, _: &str, _: &LateRecord) -> std::io::Result<()> {
        Ok(())
    }
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn main() {
    let data = std::env::var_os("CHATPULSE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/twitch-chat")
        });
    let minutes: i64 = std::env::var("STATE_MEMORY_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let file = data.join("dev_csv_multichannel_2025/chat_logs33.csv.gz");
    let reader = BufReader::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (set CHATPULSE_DATA_DIR)", file.display())),
    ));
    // Real lines (61k messages in 33 minutes); each sender is mapped to one of 10k channels so
    // every channel has state, and the log is replayed back to back to cover `minutes`.
    let base: Vec<(i64, String, String, String)> =
        import(Format::Csv, ImportOptions::default(), reader)
            .filter_map(Result::ok)
            .filter_map(|l| {
                let e = ChatEvent::parse(&l.line).ok()?;
                let chatpulse::chat::EventKind::Message(m) = &e.kind else {
                    return None;
                };
                Some((
                    e.ts_ms?,
                    m.user.login.to_owned(),
                    m.text.to_owned(),
                    e.channel.to_owned(),
                ))
            })
            .collect();
    // 61k real messages span 33 minutes; replayed 10x faster (about 19k messages a minute) and
    // spread round-robin over the channels, every one of the 10k channels has an open window in
    // every minute. Rounds are laid back to back to cover `minutes` of event time.
    const SPEEDUP: i64 = 10;
    let first = base.first().map(|r| r.0).unwrap();
    let span = (base.last().map(|r| r.0).unwrap() - first) / SPEEDUP + 1_000;
    let rounds = ((minutes * 60_000) / span).max(1);
    let mut lines = Vec::with_capacity(base.len() * rounds as usize);
    for round in 0..rounds {
        for (ts, user, text, _) in &base {
            let channel = lines.len() % CHANNELS;
            let ts = first + (ts - first) / SPEEDUP + round * span;
            lines.push(format!("@tmi-sent-ts={ts} :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #ch{channel:05} :{text}"));
        }
    }
    drop(base);

    let topology = Arc::new(
        Topology::parse(
            r#"
application_id = "bench-state-memory"
[[source]]
name = "chat"
topic = "twitch.chat.raw"
[[processor]]
name = "per-minute"
kind = "chat_count"
source = "chat"
sink = "minutes"
window = { kind = "tumbling", size = "1m", grace = "5s" }
[[sink]]
name = "minutes"
topic = "out"
"#,
        )
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let options = RocksOptions::default();
    let mut backend = RocksBackend::open(dir.path(), &["per-minute"], &options).unwrap();
    println!(
        "machine: {} cores; RocksDB cap: block cache {} MiB + memtables {} MiB",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        options.block_cache_bytes >> 20,
        options.memtable_cap_bytes() >> 20
    );
    println!(
        "input: {} records ({} rounds of chat_logs33 at {SPEEDUP}x), {} channels, {} minutes of event time",
        lines.len(),
        rounds,
        CHANNELS,
        rounds * span / 60_000
    );
    let rss_before = status_kib("VmRSS:");
    let mut sink = CountingSink::default();
    let mut task = Task::new(topology.clone(), 0, 0);
    let mut out = TaskOutput::default();
    let sample_every = (lines.len() / 10).max(1);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut commits = 0u64;
    println!("records   peak_rss_mib  rss_mib  open_windows  store_mib  store_keys");
    for (i, line) in lines.iter().enumerate() {
        let rec = InputRecord {
            source: 0,
            partition: 0,
            offset: i as i64,
            record_ts_ms: None,
            key: None,
            value: line.as_bytes(),
        };
        task.process(&rec, 0, &mut out);
        sink.outputs += out.outputs.len() as u64;
        out.outputs.clear();
        if (i + 1) % 100_000 == 0 {
            commit(&mut task, &mut backend, &mut out);
            commits += 1;
        }
        if (i + 1) % sample_every == 0 {
            let stats = backend.stats().unwrap();
            println!(
                "{:>7}   {:>12.1}  {:>7.1}  {:>12}  {:>9.1}  {:>10}",
                i + 1,
                status_kib("VmHWM:") as f64 / 1024.0,
                status_kib("VmRSS:") as f64 / 1024.0,
                task.open_entries(),
                stats.iter().map(|s| s.bytes).sum::<u64>() as f64 / 1_048_576.0,
                stats.iter().map(|s| s.keys).sum::<u64>()
            );
        }
    }
    task.finish(&mut out);
    sink.outputs += out.outputs.len() as u64;
    out.outputs.clear();
    commit(&mut task, &mut backend, &mut out);
    commits += 1;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let records = lines.len() as f64;
    println!(
        "throughput: {:.0} records/s wall, {:.2} CPU s per million records; {} window results, {} commits",
        records / wall,
        cpu * 1e6 / records,
        sink.outputs,
        commits
    );
    println!(
        "memory: RSS before processing {:.1} MiB (the input is held in memory), peak {:.1} MiB",
        rss_before as f64 / 1024.0,
        status_kib("VmHWM:") as f64 / 1024.0
    );
}

/// Flushes the task's state changes to the backend in one batch, with its checkpoint.
fn commit(task: &mut Task, backend: &mut RocksBackend, out: &mut TaskOutput) {
    let commit = task.commit(out);
    apply_commit(backend, 0, commit, Default::default()).unwrap();
}
