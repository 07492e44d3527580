//! `chatpulse bench archive`: the archive's throughput per core and size on disk, offline: chat
//! logs are imported as tagged IRC lines, spread over Kafka-like partitions by channel, and written
//! by the [`Archiver`] to a local directory, `--runs` times; prints min/median/max.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;

use super::input;
use crate::archive::layout::Layout;
use crate::archive::parquet_file::Encoding;
use crate::archive::raw_chat::RawChat;
use crate::archive::roll::RollPolicy;
use crate::archive::storage::LocalStorage;
use crate::archive::{ArchiveOptions, ArchiveRecord, Archiver, Committer};
use crate::chat::import::{import, Format, ImportOptions};
use crate::chat::ChatEvent;

/// Arguments of `chatpulse bench archive`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A local directory; each run writes under a fresh `run-N` in it (removed after the run
    /// unless `--keep`).
    #[arg(long)]
    root: std::path::PathBuf,
    /// Runs.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Partitions the lines are spread over by channel, as a keyed producer would.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Add `channel=` directories.
    #[arg(long)]
    partition_by_channel: bool,
    /// zstd level.
    #[arg(long, default_value_t = 3)]
    zstd_level: i32,
    /// Keep each run's files.
    #[arg(long)]
    keep: bool,
    /// Input format; detected when omitted.
    #[arg(long, value_parser = |s: &str| s.parse::<Format>())]
    format: Option<Format>,
    /// Log files (gzip detected).
    #[arg(required = true)]
    files: Vec<String>,
}

struct NoGroup;

impl Committer for NoGroup {
    fn commit(&mut self, _: i32, _: i64) -> Result<(), String> {
        Ok(())
    }
}

/// User plus system CPU time of this process, from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn min_median_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

/// Runs `chatpulse bench archive`.
pub fn run(a: Args) -> Result<ExitCode> {
    let mut records = Vec::new();
    let mut next_offset = vec![0i64; a.partitions.max(1) as usize];
    for path in &a.files {
        let input = input::open(path, a.format)?;
        for line in import(input.format, ImportOptions::default(), input.reader).flatten() {
            let Ok(event) = ChatEvent::parse(&line.line) else {
                continue;
            };
            let hash = event
                .channel
                .bytes()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            let partition = (hash % next_offset.len() as u32) as i32;
            let offset = &mut next_offset[partition as usize];
            records.push(ArchiveRecord {
                key: Some(Bytes::copy_from_slice(event.channel.as_bytes())),
                timestamp_ms: event.ts_ms,
                payload: Bytes::from(line.line),
                partition,
                offset: *offset,
            });
            *offset += 1;
        }
    }
    let raw_bytes: u64 = records.iter().map(|r| r.payload.len() as u64).sum();
    eprintln!(
        "{} lines, {raw_bytes} payload bytes, {} partitions",
        records.len(),
        next_offset.len()
    );
    let (mut wall_rates, mut cpu_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..a.runs.max(1) {
        let dir = a.root.join(format!("run-{run}"));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = Arc::new(LocalStorage::open(&dir)?);
        let options = ArchiveOptions {
            group: "bench".into(),
            layout: Layout {
                topic: "twitch.chat.raw".into(),
                by_channel: a.partition_by_channel,
            },
            policy: RollPolicy {
                max_open: Duration::from_secs(3_600),
                ..RollPolicy::default()
            },
            row_group_rows: 32_768,
            encoding: Encoding {
                zstd_level: a.zstd_level,
                ..Encoding::default()
            },
        };
        let mut archiver = Archiver::new(storage, Box::new(RawChat), options)?;
        for p in 0..next_offset.len() as i32 {
            archiver.assign(p, None)?;
        }
        let (wall, cpu) = (Instant::now(), cpu_time());
        let (mut stored, mut files) = (0u64, 0usize);
        for r in &records {
            for f in archiver.push(r, 0, &mut NoGroup)? {
                stored += f.bytes;
                files += f.files;
            }
        }
        for f in archiver.flush_all(&mut NoGroup)? {
            stored += f.bytes;
            files += f.files;
        }
        let (wall, cpu) = (wall.elapsed(), cpu_time().saturating_sub(cpu));
        let n = records.len() as f64;
        let ratio = stored as f64 / raw_bytes as f64;
        eprintln!(
            "run {run}: {:.3} s wall, {:.2} s CPU, {:.0} lines/s wall, {:.0} lines per CPU second, \
             {files} files, {stored} bytes = {:.1} % of the raw lines ({:.1} bytes per line)",
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            n / wall.as_secs_f64(),
            n / cpu.as_secs_f64().max(0.01),
            ratio * 100.0,
            stored as f64 / n
        );
        wall_rates.push(n / wall.as_secs_f64());
        cpu_rates.push(n / cpu.as_secs_f64().max(0.01));
        ratios.push(ratio * 100.0);
        if !a.keep {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    let (w0, w1, w2) = min_median_max(wall_rates);
    let (c0, c1, c2) = min_median_max(cpu_rates);
    let (r0, r1, r2) = min_median_max(ratios);
    println!("lines/s (wall, one thread): {w0:.0} / {w1:.0} / {w2:.0} (min / median / max)");
    println!("lines per CPU second:       {c0:.0} / {c1:.0} / {c2:.0}");
    println!("stored / raw bytes:         {r0:.2} / {r1:.2} / {r2:.2} %");
    Ok(ExitCode::SUCCESS)
}
