//! `chatpulse archive`: writes a raw-chat topic (`twitch.chat.raw`) to Parquet files (zstd) in a
//! local directory or an S3-compatible bucket, exactly once, as one member of its own consumer
//! group, until SIGTERM or SIGINT (then it stores and commits its open batches).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::archive_input::S3Args;
use super::kafka_args::KafkaArgs;
use super::serve_args::{parse_timeout, ServeArgs};
use super::shutdown::on_signal;
use crate::archive::layout::Layout;
use crate::archive::metrics::ArchiveMetrics;
use crate::archive::parquet_file::Encoding;
use crate::archive::raw_chat::RawChat;
use crate::archive::result_rows::ResultRows;
use crate::archive::roll::RollPolicy;
use crate::archive::storage;
use crate::archive::RowFormat;
use crate::archive::{ArchiveOptions, Archiver};
use crate::avro::{registry_for, AvroSchema, RegistryDecoder};
use crate::http::Stateless;
use crate::kafka::archive::{run as run_archive, ArchiveRunOptions};
use crate::metrics::Metrics;
use crate::table::ValueDecoder;

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
    #[command(flatten)]
    s3: S3Args,
    /// Archive a result topic instead of raw chat: its Avro record schema, a shipped name
    /// (`sub_trend`, `engagement`, ...: see avro/) or an .avsc file. One column per field, typed
    /// from it, with the field docs as column docs.
    #[arg(long, env = "CHATPULSE_ARCHIVE_SCHEMA", value_name = "NAME|FILE")]
    schema: Option<String>,
    /// With --schema: the field holding a record's event time (default: window_start, end or ts,
    /// else the Kafka timestamp).
    #[arg(long, env = "CHATPULSE_ARCHIVE_TIME_FIELD")]
    time_field: Option<String>,
    /// With --schema: the Schema Registry URL that decodes Avro values (JSON values need none).
    #[arg(long, env = "CHATPULSE_SCHEMA_REGISTRY_URL")]
    schema_registry: Option<String>,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Runs `chatpulse archive`.
pub fn run(args: Args) -> Result<ExitCode> {
    let kafka = args.kafka.settings()?;
    let storage = storage::open(&args.root, &args.s3.options())
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
    let rows: Box<dyn RowFormat> = match &args.schema {
        None => Box::new(RawChat),
        Some(name) => {
            let schema = if name.ends_with(".avsc") {
                AvroSchema::from_file(std::path::Path::new(name))
            } else {
                AvroSchema::builtin(name)
            }
            .with_context(|| {
                format!("--schema {name}: use a shipped name (avro/NAME.avsc) or an .avsc file")
            })?;
            let decoder = args
                .schema_registry
                .as_deref()
                .map(registry_for)
                .transpose()?
                .map(RegistryDecoder::new)
                .transpose()?
                .map(|d| Box::new(d) as Box<dyn ValueDecoder>);
            Box::new(ResultRows::new(
                &schema.origin,
                &schema.text,
                args.time_field.as_deref(),
                decoder,
            )?)
        }
    };
    let archiver = Archiver::new(Arc::from(storage), rows, options)
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
        "stopped: {} records archived, {} batches, {} files, {} bytes stored, {} rebalances, \
         {} records refused as archived already (fetched again)",
        stats.records, stats.batches, stats.files, stats.bytes, stats.rebalances, stats.redelivered
    );
    Ok(ExitCode::SUCCESS)
}
