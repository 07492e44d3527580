//! `chatpulse bench`: the broker-side tools of the end-to-end benchmark (`scripts/bench-e2e`): create
//! topics, load chat logs into a topic, a passthrough baseline with `run`'s client settings, a wait
//! for a consumer group to have committed a topic's end, DERIVED stream snapshots for the join rows,
//! the archive offline (`bench archive`, in `bench_archive`) and end-to-end latency under a paced
//! load (`bench latency`, in `bench_latency`).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::BaseRecord;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;

use super::bench_produce::{flush, producer, send};
use super::input;
use crate::chat::import::{import, Format, ImportOptions};
use crate::chat::ChatEvent;
use crate::kafka::topics::{end_offset, ensure_topics, partition_count, TopicPlan};
use crate::kafka::KafkaSettings;
use crate::twitch::helix::derived::DerivedSnapshots;

/// Arguments of `chatpulse bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create topics with `retention.ms`/`retention.bytes` configs (Quix Streams needs them).
    Topics(TopicsArgs),
    /// Import chat logs as tagged IRC lines into a topic, keyed by channel, timestamped by event time.
    Load(LoadArgs),
    /// Consume every record and produce it unchanged, with `chatpulse run`'s client settings.
    Passthrough(PassthroughArgs),
    /// Wait until a consumer group has committed the end of every partition of a topic.
    Wait(WaitArgs),
    /// Write DERIVED `twitch.streams` rows (JSON lines) for IRC chat lines: one live snapshot per
    /// channel per minute of its chat, viewers = 1,000 + 50 × the minute's lines (no Helix poll).
    Snapshots(SnapshotsArgs),
    /// The archive offline: raw chat to Parquet on a local directory, lines/s per core and bytes
    /// stored per raw byte, min/median/max of `--runs`.
    Archive(super::bench_archive::Args),
    /// End-to-end latency under a steady paced load: DERIVED lines (real chat, channel and send
    /// time rewritten, bursts injected) at `--rate` over `--channels`, results timed on arrival.
    Latency(super::bench_latency::Args),
}

/// Arguments of `chatpulse bench topics`.
#[derive(Debug, clap::Args)]
struct TopicsArgs {
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    brokers: String,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// The topics to create (existing ones are kept).
    #[arg(required = true)]
    topics: Vec<String>,
}

/// Arguments of `chatpulse bench load`.
#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    brokers: String,
    /// The topic to load (created with 4 partitions and retention configs if missing).
    #[arg(long)]
    topic: String,
    /// Partitions if the topic is created.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Input format; detected when omitted.
    #[arg(long, value_parser = |s: &str| s.parse::<Format>())]
    format: Option<Format>,
    /// Also write the loaded lines to this file, one per line (an input for `chatpulse process`).
    #[arg(long)]
    lines_out: Option<std::path::PathBuf>,
    /// Log files to load, in order (gzip detected; `-` is stdin).
    #[arg(required = true)]
    files: Vec<String>,
}

/// Arguments of `chatpulse bench passthrough`.
#[derive(Debug, clap::Args)]
struct PassthroughArgs {
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    brokers: String,
    /// The topic to consume.
    #[arg(long)]
    input_topic: String,
    /// The topic to produce to (created like the input if missing, as `run` creates its sinks).
    #[arg(long)]
    output_topic: String,
    /// Stop after this many records, once all are acknowledged and committed.
    #[arg(long)]
    expected: u64,
    /// Consumer group (a fresh one per run by default).
    #[arg(long)]
    group: Option<String>,
    /// Commit (after flushing the producer, as `run` does) every this many milliseconds.
    #[arg(long, default_value_t = 1000)]
    commit_interval_ms: u64,
}

/// Arguments of `chatpulse bench wait`.
#[derive(Debug, clap::Args)]
struct WaitArgs {
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    brokers: String,
    /// The consumer group (a topology's `application_id`).
    #[arg(long)]
    group: String,
    /// The topic whose end it must commit.
    #[arg(long)]
    topic: String,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
    /// How often to ask the broker, in milliseconds.
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
}

/// Arguments of `chatpulse bench snapshots`.
#[derive(Debug, clap::Args)]
struct SnapshotsArgs {
    /// Tagged IRC lines in event-time order (`bench load --lines-out`; gzip detected, `-` is stdin).
    #[arg(long)]
    lines: String,
    /// Where to write the rows, one JSON snapshot per line, sorted by time (`-` is stdout).
    #[arg(long)]
    out: std::path::PathBuf,
}

/// Runs `chatpulse bench`.
pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Topics(a) => {
            create_topics(&KafkaSettings::new(a.brokers), &a.topics, a.partitions)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Load(a) => load(a),
        Command::Passthrough(a) => passthrough(a),
        Command::Wait(a) => wait(a),
        Command::Snapshots(a) => snapshots(a),
        Command::Archive(a) => super::bench_archive::run(a),
        Command::Latency(a) => super::bench_latency::run(a),
    }
}

fn create_topics(kafka: &KafkaSettings, topics: &[String], partitions: i32) -> Result<()> {
    let plans: Vec<TopicPlan> = topics
        .iter()
        .map(|name| TopicPlan {
            name: name.clone(),
            partitions,
            replication_factor: -1,
            configs: vec![
                ("retention.ms", "604800000".to_owned()),
                ("retention.bytes", "-1".to_owned()),
            ],
        })
        .collect();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(ensure_topics(kafka, &plans))?;
    Ok(())
}

fn snapshots(a: SnapshotsArgs) -> Result<ExitCode> {
    use std::io::BufRead;
    let input = input::open(&a.lines, Some(Format::Irc))?;
    let mut derived = DerivedSnapshots::new();
    let mut lines = 0u64;
    for line in input.reader.lines() {
        derived.line(&line.with_context(|| format!("cannot read {}", input.name))?);
        lines += 1;
    }
    let rows = derived.snapshots();
    let out: Box<dyn Write> = if a.out.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&a.out)
                .with_context(|| format!("cannot create {}", a.out.display()))?,
        )
    };
    let mut out = std::io::BufWriter::new(out);
    for row in &rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush().context("cannot write --out")?;
    let channels = rows
        .iter()
        .map(|r| r.channel.as_str())
        .collect::<std::collections::BTreeSet<_>>();
    eprintln!(
        "snapshots: {} rows of {} channels from {lines} lines ({} without channel and tmi-sent-ts)",
        rows.len(),
        channels.len(),
        derived.skipped()
    );
    Ok(ExitCode::SUCCESS)
}

fn load(a: LoadArgs) -> Result<ExitCode> {
    let kafka = KafkaSettings::new(a.brokers);
    create_topics(&kafka, std::slice::from_ref(&a.topic), a.partitions)?;
    let p = producer(&kafka)?;
    let mut lines_out = match &a.lines_out {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => None,
    };
    let start = Instant::now();
    let (mut loaded, mut skipped) = (0u64, 0u64);
    for path in &a.files {
        let input = input::open(path, a.format)?;
        for record in import(input.format, ImportOptions::default(), input.reader) {
            let Ok(line) = record else {
                skipped += 1;
                continue;
            };
            let Ok(event) = ChatEvent::parse(&line.line) else {
                skipped += 1;
                continue;
            };
            let mut r = BaseRecord::to(&a.topic)
                .key(event.channel.as_bytes())
                .payload(line.line.as_bytes());
            if let Some(ts) = event.ts_ms {
                r = r.timestamp(ts);
            }
            send(&p, r)?;
            if let Some(out) = &mut lines_out {
                writeln!(out, "{}", line.line)?;
            }
            loaded += 1;
        }
    }
    flush(&p)?;
    if let Some(out) = &mut lines_out {
        out.flush().context("cannot write --lines-out")?;
    }
    eprintln!(
        "loaded {loaded} records into {} ({skipped} skipped) in {:.1} s",
        a.topic,
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn passthrough(a: PassthroughArgs) -> Result<ExitCode> {
    let kafka = KafkaSettings::new(a.brokers);
    let group = a
        .group
        .unwrap_or_else(|| format!("chatpulse-passthrough-{}", std::process::id()));
    let partitions = partition_count(&kafka, &a.input_topic, Duration::from_secs(30))?;
    create_topics(&kafka, std::slice::from_ref(&a.output_topic), partitions)?;
    let p = producer(&kafka)?;
    let mut config = kafka.consumer_config(&group);
    config.set("partition.assignment.strategy", "range");
    let c: BaseConsumer = config.create()?;
    c.subscribe(&[&a.input_topic])?;
    let commit_every = Duration::from_millis(a.commit_interval_ms);
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let commit = |next: &BTreeMap<i32, i64>| -> Result<()> {
        flush(&p)?;
        let mut tpl = TopicPartitionList::new();
        for (&part, &off) in next {
            tpl.add_partition_offset(&a.input_topic, part, Offset::Offset(off))?;
        }
        if tpl.count() > 0 {
            c.commit(&tpl, CommitMode::Sync)?;
        }
        Ok(())
    };
    let (mut n, mut first, mut last_commit) = (0u64, None, Instant::now());
    let deadline = Instant::now() + Duration::from_secs(600);
    while n < a.expected {
        if Instant::now() > deadline {
            bail!("passthrough: only {n} of {} records in 600 s", a.expected);
        }
        if let Some(msg) = c.poll(Duration::from_millis(100)) {
            let msg = msg?;
            first.get_or_insert_with(Instant::now);
            let mut r = BaseRecord::to(&a.output_topic);
            if let Some(k) = msg.key() {
                r = r.key(k);
            }
            if let Some(v) = msg.payload() {
                r = r.payload(v);
            }
            if let Some(ts) = msg.timestamp().to_millis() {
                r = r.timestamp(ts);
            }
            send(&p, r)?;
            next.insert(msg.partition(), msg.offset() + 1);
            n += 1;
            p.poll(Duration::ZERO);
        }
        if last_commit.elapsed() >= commit_every {
            commit(&next)?;
            last_commit = Instant::now();
        }
    }
    commit(&next)?;
    let s = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!(
        "passthrough: {n} records in {s:.2} s = {:.0} records/s",
        n as f64 / s.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

fn wait(a: WaitArgs) -> Result<ExitCode> {
    let kafka = KafkaSettings::new(a.brokers);
    let c: BaseConsumer = kafka.consumer_config(&a.group).create()?;
    let md = c.fetch_metadata(Some(&a.topic), Duration::from_secs(30))?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .find(|t| t.name() == a.topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if parts.is_empty() {
        bail!("topic {:?} has no partitions: check its name", a.topic);
    }
    let mut ends = Vec::new();
    for &p in &parts {
        ends.push(end_offset(&kafka, &a.topic, p, Duration::from_secs(30))?);
    }
    let mut tpl = TopicPartitionList::new();
    for &p in &parts {
        tpl.add_partition(&a.topic, p);
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(a.timeout_s);
    loop {
        let committed = c.committed_offsets(tpl.clone(), Duration::from_secs(30))?;
        let lag: i64 = parts
            .iter()
            .zip(&ends)
            .map(|(&p, &end)| {
                let done = match committed.find_partition(&a.topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => 0,
                };
                (end - done).max(0)
            })
            .sum();
        drop(committed);
        if lag == 0 {
            eprintln!(
                "group {} committed the end of {} after {:.2} s",
                a.group,
                a.topic,
                start.elapsed().as_secs_f64()
            );
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() > deadline {
            bail!(
                "group {} still lags {lag} records on {} after {} s: check the processor's log",
                a.group,
                a.topic,
                a.timeout_s
            );
        }
        std::thread::sleep(Duration::from_millis(a.interval_ms));
    }
}
