//! `chatpulse run`: runs a topology on Kafka as one instance of its consumer group, with RocksDB state
//! in `--state-dir`, serving metrics, health and interactive queries, until SIGTERM or SIGINT, then
//! stops consuming, commits and exits within `--shutdown-timeout`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::kafka_args::KafkaArgs;
use super::serve_args::{parse_timeout, ServeArgs};
use super::shutdown::on_signal;
use crate::http::RunInstance;
use crate::kafka::instances::InstanceDirectory;
use crate::kafka::membership::default_instance_id;
use crate::kafka::runner::{run as run_topology, RunControl, RunOptions};
use crate::kafka::sink_encoders::SinkEncoders;
use crate::metrics::Metrics;
use crate::store::rocks::{RocksBackend, RocksOptions};
use crate::topology::Topology;

/// Arguments of `chatpulse run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topology file.
    #[arg(long, env = "CHATPULSE_TOPOLOGY")]
    topology: PathBuf,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// RocksDB state directory (kept across restarts: only the changelog tail is restored).
    #[arg(long, env = "CHATPULSE_STATE_DIR", default_value = "./chatpulse-state")]
    state_dir: PathBuf,
    /// This instance's id, unique among the application's instances; it names the instance's
    /// consumer-group client and stays the same across restarts (default: the host name and a hash
    /// of the state dir's path).
    #[arg(long, env = "CHATPULSE_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Block cache shared by all stores, in MiB.
    #[arg(long, env = "CHATPULSE_BLOCK_CACHE_MIB", default_value_t = 64)]
    block_cache_mib: u64,
    /// The URL other instances and clients reach this instance's HTTP server at (for example
    /// `http://chatpulse-2:9464`). When set, the instance publishes its partitions and this URL to
    /// the compacted topic `<application_id>-instances`, and queries for another instance's
    /// partition answer with that instance's URL.
    #[arg(long, env = "CHATPULSE_ADVERTISED_URL", value_name = "URL")]
    advertised_url: Option<String>,
    /// Schema Registry URL for Avro sinks: `http(s)://host:port`, or `mock://NAME` for an
    /// in-process registry. Required only when the topology has `format = "avro"` sinks.
    #[arg(long, env = "CHATPULSE_SCHEMA_REGISTRY_URL")]
    schema_registry: Option<String>,
    /// How long restoring a partition from its changelog may read nothing before the run fails
    /// (time since the last record read, not the restore's whole length), for example `5m`.
    #[arg(long, env = "CHATPULSE_RESTORE_STALL_TIMEOUT", default_value = "5m", value_parser = parse_timeout)]
    restore_stall_timeout: std::time::Duration,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Runs `chatpulse run`.
pub fn run(args: Args) -> Result<ExitCode> {
    let topology = Topology::load(&args.topology)?;
    SinkEncoders::require_registry(&topology, args.schema_registry.as_deref())?;
    let kafka = args.kafka.settings()?;
    let stores = topology.stores();
    let store_refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let rocks = RocksOptions {
        block_cache_bytes: args.block_cache_mib * 1024 * 1024,
        ..RocksOptions::default()
    };
    let backend = RocksBackend::open(&args.state_dir, &store_refs, &rocks)
        .with_context(|| format!("cannot open state dir {}", args.state_dir.display()))?;
    let metrics = Arc::new(Metrics::new());
    let control = RunControl::with_metrics(metrics.clone());
    let instance_id = args
        .instance_id
        .unwrap_or_else(|| default_instance_id(&hostname(), &args.state_dir));
    let directory = match &args.advertised_url {
        Some(url) => Some(InstanceDirectory::start(
            &kafka,
            &topology.application_id,
            &instance_id,
            url,
            args.kafka.replication_factor,
            control.clone(),
        )?),
        None => None,
    };
    let observed = Arc::new(RunInstance {
        control: control.clone(),
        directory,
    });
    let _server = args.serve.start(None, metrics, observed)?;
    let stopper = control.clone();
    on_signal(args.serve.shutdown_timeout, move || stopper.stop());
    let stats = run_topology(
        topology,
        RunOptions {
            kafka,
            instance_id,
            shutdown_timeout: args.serve.shutdown_timeout,
            replication_factor: args.kafka.replication_factor,
            schema_registry: args.schema_registry.clone(),
            restore_stall_timeout: args.restore_stall_timeout,
        },
        Box::new(backend),
        control,
    )?;
    eprintln!(
        "stopped: {} processed, {} produced, {} late, {} dead letters, {} commits",
        stats.processed, stats.produced, stats.late, stats.dead_letters, stats.commits
    );
    Ok(ExitCode::SUCCESS)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "chatpulse".to_owned(), |h| h.trim().to_owned())
}
