//! `chatpulse replay`: produces recorded chat logs (any importable format) to `twitch.chat.raw` as
//! tagged IRC lines, or recorded snapshot logs to `twitch.streams` as monitor writes them, with their
//! original times (real time, accelerated, or as fast as possible) and progress about every second.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use tokio::sync::watch;

use super::archive_input::ArchiveInputArgs;
use super::input::{self, LogFormat};
use super::kafka_args::KafkaArgs;
use super::serve_args::ServeArgs;
use super::shutdown::on_signal;
use crate::chat::import::{import, Format, ImportOptions};
use crate::http::Stateless;
use crate::ingest::pace::{Pacer, Speed};
use crate::ingest::record::sent_ts_ms;
use crate::ingest::{register_metrics, start_producer, ProducerOptions, RawLine, DEFAULT_TOPIC};
use crate::metrics::Metrics;
use crate::time::civil::format_timestamp_ms;
use crate::twitch::helix::replay::{log_records, replay_snapshots};
use crate::twitch::helix::snapshot_sink::{SinkOptions, SnapshotSink, DEFAULT_STREAMS_TOPIC};

/// Arguments of `chatpulse replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to replay, in order (gzip is detected); `-` reads standard input. A record that cannot
    /// be read is skipped and the replay goes on: chat records are counted in a warning per file,
    /// snapshot records are logged with their file and record number and counted in the final line.
    /// A snapshot CSV whose header lacks ts, channel or viewers stops the replay.
    #[arg(required = true)]
    files: Vec<String>,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The topic to produce to [default: twitch.chat.raw; twitch.streams with --format snapshots].
    #[arg(long)]
    topic: Option<String>,
    /// Replay speed relative to the original times: `1x` is real time, `10x` ten times faster.
    #[arg(long, default_value = "1x", conflicts_with = "as_fast_as_possible")]
    speed: Speed,
    /// Do not wait between lines at all (backfills and benchmarks).
    #[arg(long)]
    as_fast_as_possible: bool,
    /// Input format: a chat log format (irc, irc-logged, overrustle, vod-json, csv, jsonl; detected
    /// from the file name and first line when omitted), or `snapshots`: recorded stream snapshots
    /// (CSV `ts,channel,viewers,followers,game,title,started_at,language`, or JSON lines with those
    /// keys; a row means the channel was live at `ts`) produced to twitch.streams as monitor writes
    /// them, key = channel, record timestamp = `ts`; or `archive`: each file is an `archive --root`
    /// (a directory or `s3://bucket/prefix`) whose raw chat is replayed in event-time order (a
    /// backfill: see --from, --to and --archive-topic).
    #[arg(long)]
    format: Option<LogFormat>,
    #[command(flatten)]
    chat: input::ChatLogArgs,
    #[command(flatten)]
    archive: ArchiveInputArgs,
    /// Schema Registry URL for --format snapshots (`http(s)://host:port`, or `mock://NAME`):
    /// snapshots are Avro (`avro/stream_snapshot.avsc`) registered under `<topic>-value`, as monitor
    /// writes them. Required with --format snapshots unless --json.
    #[arg(long, env = "CHATPULSE_SCHEMA_REGISTRY_URL")]
    schema_registry: Option<String>,
    /// With --format snapshots: write JSON (the same fields) instead of Avro, without a registry.
    #[arg(long)]
    json: bool,
    /// Partitions of the topic when replay creates it.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[command(flatten)]
    serve: ServeArgs,
    /// Lines (or snapshots) buffered between the reader and the producer.
    #[arg(long, default_value_t = 10_000)]
    buffer: usize,
}

/// Runs `chatpulse replay`; fails if a line could not be delivered.
pub fn run(args: Args) -> Result<ExitCode> {
    let speed = if args.as_fast_as_possible {
        Speed::AsFastAsPossible
    } else {
        args.speed
    };
    let format = match args.format {
        Some(LogFormat::Snapshots) => return run_snapshots(args, speed),
        Some(LogFormat::Chat(f)) => Some(f),
        Some(LogFormat::Archive) | None => None,
    };
    if args.json {
        bail!("--json is for --format snapshots; chat lines are produced as they are");
    }
    let options = args.chat.options()?;
    let topic = args.topic.as_deref().unwrap_or(DEFAULT_TOPIC);
    let mut producer_options = ProducerOptions::new(args.kafka.settings()?, topic);
    producer_options.capacity = args.buffer;
    producer_options.partitions = args.partitions;
    producer_options.replication_factor = args.kafka.replication_factor;

    // Files are read on their own thread; the async side paces and produces.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RawLine>>(1024);
    let files = args.files.clone();
    let reader = if args.format == Some(LogFormat::Archive) {
        let archive = args.archive.clone();
        std::thread::spawn(move || read_archives(&files, &archive, &tx))
    } else {
        std::thread::spawn(move || read_files(&files, format, &options, &tx))
    };

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let served = Arc::new(Metrics::new());
    let metrics = register_metrics(served.registry())?;
    let _server = args
        .serve
        .start(Some(runtime.handle()), served, Arc::new(Stateless))?;
    let totals = runtime.block_on(async {
        let (queue, handle) = start_producer(producer_options, metrics.clone()).await?;
        let mut pacer = Pacer::new(speed);
        let mut progress = Progress::new("lines");
        let started = Instant::now();
        let mut sent = 0u64;
        while let Some(line) = rx.recv().await {
            let line = line?;
            let ts = sent_ts_ms(&line.line);
            let wait = pacer.wait(ts, started.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            queue.send(line).await?;
            sent += 1;
            progress.update(sent, ts, || metrics.totals().produced);
        }
        drop(queue);
        let stats = handle.await.context("the producer task failed")?;
        progress.report(metrics.totals().produced);
        anyhow::Ok((metrics.totals(), stats))
    })?;
    reader.join().expect("reader thread")?;
    let (totals, stats) = totals;
    eprintln!(
        "replayed {} line(s): {} produced, {} lost",
        totals.received, totals.produced, totals.dropped
    );
    if totals.produced != totals.received || stats.unflushed > 0 {
        anyhow::bail!(
            "{} line(s) were not delivered: check the broker and rerun",
            totals.received - totals.produced
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `replay --format snapshots`: the files are read on their own thread, the async side paces and
/// produces through monitor's snapshot producer.
fn run_snapshots(args: Args, speed: Speed) -> Result<ExitCode> {
    let schema_registry = match (args.json, &args.schema_registry) {
        (true, _) => None,
        (false, Some(url)) => Some(url.clone()),
        (false, None) => bail!(
            "--format snapshots writes Avro as monitor does: pass --schema-registry URL (or set CHATPULSE_SCHEMA_REGISTRY_URL), or --json"
        ),
    };
    let options = SinkOptions {
        kafka: args.kafka.settings()?,
        topic: args.topic.clone().unwrap_or(DEFAULT_STREAMS_TOPIC.into()),
        partitions: args.partitions,
        replication_factor: args.kafka.replication_factor,
        schema_registry,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(args.buffer.max(1));
    let files = args.files.clone();
    let reader = std::thread::spawn(move || -> Result<()> {
        for path in &files {
            let input = input::open_reader(path)?;
            tracing::info!(file = %path, "replaying snapshots");
            for record in log_records(path, input) {
                if tx.blocking_send(record).is_err() {
                    return Ok(()); // the producer side stopped and says why
                }
            }
        }
        Ok(())
    });

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let _server = args.serve.start(
        Some(runtime.handle()),
        Arc::new(Metrics::new()),
        Arc::new(Stateless),
    )?;
    // A signal ends the wait for an unreachable schema registry.
    let (stop_tx, stop) = watch::channel(false);
    on_signal(args.serve.shutdown_timeout, move || {
        let _ = stop_tx.send(true);
    });
    let mut progress = Progress::new("snapshots");
    let replayed = runtime.block_on(async {
        let mut sink = SnapshotSink::connect(&options, &stop).await?;
        let stats = replay_snapshots(&mut rx, &mut sink, speed, &mut |s| {
            progress.update(s.sent, s.event_ms, || s.acknowledged)
        })
        .await?;
        anyhow::Ok(stats)
    });
    drop(rx); // a reader still sending stops
    let read = reader.join().expect("reader thread");
    let stats = replayed?;
    read?;
    progress.report(stats.acknowledged);
    eprintln!(
        "replayed {} snapshot(s): {} produced, {} record(s) skipped",
        stats.sent, stats.acknowledged, stats.skipped
    );
    if stats.acknowledged != stats.sent {
        bail!(
            "{} snapshot(s) were not delivered: check the broker and rerun",
            stats.sent - stats.acknowledged
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Imports every file in turn and sends its lines (with a channel) to `tx`.
fn read_files(
    files: &[String],
    format: Option<Format>,
    options: &ImportOptions,
    tx: &tokio::sync::mpsc::Sender<Result<RawLine>>,
) -> Result<()> {
    for path in files {
        let input = input::open(path, format)?;
        tracing::info!(file = %input.name, format = %input.format, "replaying");
        let mut errors = 0u64;
        for record in import(input.format, options.clone(), input.reader) {
            let Ok(imported) = record else {
                errors += 1;
                continue;
            };
            let Some(line) = RawLine::new(imported.line, now_ms(), &input.name) else {
                errors += 1;
                continue;
            };
            if tx.blocking_send(Ok(line)).is_err() {
                return Ok(()); // the producer side failed and says why
            }
        }
        if errors > 0 {
            tracing::warn!(file = %input.name, errors, "records skipped: not importable or without a channel");
        }
    }
    Ok(())
}

/// Reads every archive root in turn and sends its lines, in event-time order, to `tx`.
fn read_archives(
    roots: &[String],
    archive: &ArchiveInputArgs,
    tx: &tokio::sync::mpsc::Sender<Result<RawLine>>,
) -> Result<()> {
    for root in roots {
        let mut backfill = archive.open(root)?;
        tracing::info!(root = %root, topic = %archive.archive_topic, "replaying from the archive");
        let mut skipped = 0u64;
        for line in backfill.by_ref() {
            let line = line?;
            let Some(line) = String::from_utf8(line.payload)
                .ok()
                .and_then(|l| RawLine::new(l, now_ms(), root))
            else {
                skipped += 1;
                continue;
            };
            if tx.blocking_send(Ok(line)).is_err() {
                return Ok(()); // the producer side failed and says why
            }
        }
        if skipped > 0 {
            tracing::warn!(root = %root, skipped, "archived records skipped: not UTF-8 or without a channel (as on their first way in, they would go to the dead-letter topic)");
        }
        tracing::info!(root = %root, files = backfill.files_read, "archive read");
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Progress on stderr about every second: records sent, acknowledged, rate, and where the replay is
/// in event time.
struct Progress {
    noun: &'static str,
    started: Instant,
    last_report: Instant,
    sent: u64,
    event_ms: Option<i64>,
}

impl Progress {
    fn new(noun: &'static str) -> Progress {
        let now = Instant::now();
        Progress {
            noun,
            started: now,
            last_report: now,
            sent: 0,
            event_ms: None,
        }
    }

    /// Notes `sent` records so far, the last at `event_ms`; reports (asking for the acknowledged
    /// count) when a second has passed since the last report.
    fn update(&mut self, sent: u64, event_ms: Option<i64>, acknowledged: impl FnOnce() -> u64) {
        self.sent = sent;
        self.event_ms = event_ms.or(self.event_ms);
        if self.last_report.elapsed() >= Duration::from_secs(1) {
            self.last_report = Instant::now();
            self.report(acknowledged());
        }
    }

    fn report(&self, acknowledged: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let at = self
            .event_ms
            .map_or_else(|| "-".to_owned(), format_timestamp_ms);
        eprintln!(
            "replay: {} {} sent, {acknowledged} acknowledged, {:.0} {}/s, event time {at}",
            self.sent,
            self.noun,
            self.sent as f64 / secs,
            self.noun,
        );
    }
}
