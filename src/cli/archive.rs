//! `chatpulse archive`: writes a raw-chat topic (`twitch.chat.raw`) to Parquet files (zstd) in a
//! local directory or an S3-compatible bucket, exactly once, as one member of its own consumer
//! group, until SIGTERM or SIGINT (then it stores and commits its open batches).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::kafka_args::KafkaArgs;
use super::serve_args::{parse_timeout, ServeArgs};
use super::shutdown::on_signal;
use crate::archive::layout::Layout;
use crate::archive::metrics::ArchiveMetrics;
use crate::archive::parquet_file::Encoding;
use crate::archive::raw_chat::RawChat;
use crate::archive::roll::RollPolicy;
use crate::archive::storage::{self, S3Options};
use crate::archive::{ArchiveOptions, Archiver};
use crate::http::Stateless;
use crate::kafka::archive::{run as run_archive, ArchiveRunOptions};
use crate::metrics::Metrics;

/// Arguments of `chatpulse archive`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where files go: a local directory, or `s3://BUCKET/PREFIX` (credentials from the AWS_*
    /// variables or ~/.aws/credentials).
    #[arg(
        long,
        env = "CHATPULSE_ARCHIVE_ROOT",
        value_name = "DIR|s3://BUCKET/PREFIX"
    )]
    root: String,
    /// The raw-chat topic to archive.
    #[arg(
        long,
        env = "CHATPULSE_ARCHIVE_TOPIC",
        default_value = "twitch.chat.raw"
    )]
    topic: String,
    /// The archive's consumer group (its committed offsets say what is archived).
    #[arg(
        long,
        env = "CHATPULSE_ARCHIVE_GROUP",
        default_value = "chatpulse-archive"
    )]
    group: String,
    /// Add a `channel=<login>/` directory level under `hour=HH/`.
    #[arg(long, env = "CHATPULSE_ARCHIVE_PARTITION_BY_CHANNEL")]
    partition_by_channel: bool,
    /// Roll a partition's batch after this many records.
    #[arg(
        long,
        env = "CHATPULSE_ARCHIVE_MAX_RECORDS",
        default_value_t = 1_000_000
    )]
    max_records: u64,
    /// Roll a partition's batch once its payloads reach this many MiB.
    #[arg(long, env = "CHATPULSE_ARCHIVE_MAX_MIB", default_value_t = 128)]
    max_mib: u64,
    /// Roll a partition's batch before a record whose event time is this far from the batch's
    /// first, for example `1h`.
    #[arg(long, env = "CHATPULSE_ARCHIVE_MAX_EVENT_SPAN", default_value = "1h", value_parser = parse_timeout)]
    max_event_span: Duration,
    /// Roll a batch open this long by the wall clock, so quiet topics land, for example `1m`.
    #[arg(long, env = "CHATPULSE_ARCHIVE_MAX_OPEN", default_value = "1m", value_parser = parse_timeout)]
    max_open: Duration,
    /// Rows of a batch held uncompressed before its files encode a row group (memory: about
    /// 1 KiB per row).
    #[arg(
        long,
        env = "CHATPULSE_ARCHIVE_ROW_GROUP_ROWS",
        default_value_t = 32_768
    )]
    row_group_rows: usize,
    /// zstd level of the Parquet pages (1-22).
    #[arg(long, env = "CHATPULSE_ARCHIVE_ZSTD_LEVEL", default_value_t = 3)]
    zstd_level: i32,
    /// S3 endpoint URL, for MinIO, moto or another S3-compatible store (default: AWS, or
    /// AWS_ENDPOINT_URL).
    #[arg(long, env = "CHATPULSE_S3_ENDPOINT", value_name = "URL")]
    s3_endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, the AWS profile's, or us-east-1).
    #[arg(long, env = "CHATPULSE_S3_REGION")]
    s3_region: Option<String>,
    /// Path-style S3 requests (`ENDPOINT/BUCKET/KEY`), which MinIO and moto need.
    #[arg(long, env = "CHATPULSE_S3_PATH_STYLE")]
    s3_path_style: bool,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Runs `chatpulse archive`.
pub fn run(args: Args) -> Result<ExitCode> {
    let kafka = args.kafka.settings()?;
    let s3 = S3Options {
        endpoint: args.s3_endpoint.clone(),
        region: args.s3_region.clone(),
        path_style: args.s3_path_style,
    };
    let storage = storage::open(&args.root, &s3)
        .with_context(|| format!("cannot open the archive root {}", args.root))?;
    let options = ArchiveOptions {
        group: args.group.clone(),
        layout: Layout {
            topic: args.topic.clone(),
            by_channel: args.partition_by_channel,
        },
        policy: RollPolicy {
            max_records: args.max_records.max(1),
            max_bytes: args.max_mib.max(1) * 1024 * 1024,
            max_event_span_ms: args.max_event_span.as_millis() as i64,
            max_open: args.max_open,
        },
        row_group_rows: args.row_group_rows.max(1),
        encoding: Encoding {
            zstd_level: args.zstd_level,
            ..Encoding::default()
        },
    };
    tracing::info!(root = %storage.describe(), topic = %args.topic, group = %args.group, "archiving");
    let archiver = Archiver::new(Arc::from(storage), Box::new(RawChat), options)
        .context("cannot set up the Parquet writer (check --zstd-level)")?;
    let served = Arc::new(Metrics::new());
    let metrics = ArchiveMetrics::register(served.registry())?;
    let _server = args
        .serve
        .start(None, served.clone(), Arc::new(Stateless))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = stop.clone();
    on_signal(args.serve.shutdown_timeout, move || {
        stopper.store(true, Ordering::SeqCst)
    });
    let stats = run_archive(
        archiver,
        ArchiveRunOptions {
            kafka,
            group: args.group,
            topic: args.topic,
        },
        served,
        metrics,
        stop,
    )?;
    eprintln!(
        "stopped: {} records read, {} batches, {} files, {} bytes stored, {} rebalances",
        stats.records, stats.batches, stats.files, stats.bytes, stats.rebalances
    );
    Ok(ExitCode::SUCCESS)
}
