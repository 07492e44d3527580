//! `chatpulse replay`: produces recorded chat logs (any importable format) to `twitch.chat.raw` as
//! tagged IRC lines with their original times, in real time, accelerated, or as fast as possible,
//! with progress on stderr about every second.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::input;
use super::kafka_args::KafkaArgs;
use super::serve_args::ServeArgs;
use crate::chat::import::{import, Format, ImportOptions};
use crate::http::Stateless;
use crate::ingest::pace::{Pacer, Speed};
use crate::ingest::record::sent_ts_ms;
use crate::ingest::{
    register_metrics, start_producer, IngestMetrics, ProducerOptions, RawLine, DEFAULT_TOPIC,
};
use crate::metrics::Metrics;
use crate::time::civil::format_timestamp_ms;

/// Arguments of `chatpulse replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to replay, in order (gzip is detected); `-` reads standard input.
    #[arg(required = true)]
    files: Vec<String>,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The topic to produce to.
    #[arg(long, default_value = DEFAULT_TOPIC)]
    topic: String,
    /// Replay speed relative to the original times: `1x` is real time, `10x` ten times faster.
    #[arg(long, default_value = "1x", conflicts_with = "as_fast_as_possible")]
    speed: Speed,
    /// Do not wait between lines at all (backfills and benchmarks).
    #[arg(long)]
    as_fast_as_possible: bool,
    #[command(flatten)]
    import: input::ImportArgs,
    /// Partitions of the topic when replay creates it.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[command(flatten)]
    serve: ServeArgs,
    /// Lines buffered between the reader and the producer.
    #[arg(long, default_value_t = 10_000)]
    buffer: usize,
}

/// Runs `chatpulse replay`; fails if a line could not be delivered.
pub fn run(args: Args) -> Result<ExitCode> {
    let options = args.import.options()?;
    let speed = if args.as_fast_as_possible {
        Speed::AsFastAsPossible
    } else {
        args.speed
    };
    let mut producer_options = ProducerOptions::new(args.kafka.settings()?, &args.topic);
    producer_options.capacity = args.buffer;
    producer_options.partitions = args.partitions;
    producer_options.replication_factor = args.kafka.replication_factor;

    // Files are read on their own thread; the async side paces and produces.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RawLine>>(1024);
    let (files, format) = (args.files.clone(), args.import.format);
    let reader = std::thread::spawn(move || read_files(&files, format, &options, &tx));

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let served = Arc::new(Metrics::new());
    let metrics = register_metrics(served.registry())?;
    let _server = args
        .serve
        .start(Some(runtime.handle()), served, Arc::new(Stateless))?;
    let totals = runtime.block_on(async {
        let (queue, handle) = start_producer(producer_options, metrics.clone()).await?;
        let mut pacer = Pacer::new(speed);
        let mut progress = Progress::new();
        let started = Instant::now();
        while let Some(line) = rx.recv().await {
            let line = line?;
            let ts = sent_ts_ms(&line.line);
            let wait = pacer.wait(ts, started.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            queue.send(line).await?;
            progress.line(ts, &metrics);
        }
        drop(queue);
        let stats = handle.await.context("the producer task failed")?;
        progress.report(&metrics);
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Progress on stderr about every second: lines, rate, and where the replay is in event time.
struct Progress {
    started: Instant,
    last_report: Instant,
    lines: u64,
    event_ms: Option<i64>,
}

impl Progress {
    fn new() -> Progress {
        let now = Instant::now();
        Progress {
            started: now,
            last_report: now,
            lines: 0,
            event_ms: None,
        }
    }

    fn line(&mut self, event_ms: Option<i64>, metrics: &IngestMetrics) {
        self.lines += 1;
        self.event_ms = event_ms.or(self.event_ms);
        if self.last_report.elapsed() >= Duration::from_secs(1) {
            self.last_report = Instant::now();
            self.report(metrics);
        }
    }

    fn report(&self, metrics: &IngestMetrics) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let at = self
            .event_ms
            .map_or_else(|| "-".to_owned(), format_timestamp_ms);
        eprintln!(
            "replay: {} lines sent, {} acknowledged, {:.0} lines/s, event time {at}",
            self.lines,
            metrics.totals().produced,
            self.lines as f64 / secs
        );
    }
}
