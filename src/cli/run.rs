//! `chatpulse run`: runs a topology on Kafka as one instance of its consumer group, with RocksDB state
//! in `--state-dir`, until SIGTERM or SIGINT, then stops consuming, commits and exits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::avro::SinkEncoders;
use crate::kafka::runner::{run as run_topology, RunControl, RunOptions};
use crate::store::rocks::{RocksBackend, RocksOptions};
use crate::topology::Topology;

/// Arguments of `chatpulse run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topology file.
    #[arg(long)]
    topology: PathBuf,
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    brokers: String,
    /// RocksDB state directory (kept across restarts: only the changelog tail is restored).
    #[arg(long, env = "CHATPULSE_STATE_DIR", default_value = "./chatpulse-state")]
    state_dir: PathBuf,
    /// This instance's id, unique among the application's instances.
    #[arg(long, env = "CHATPULSE_INSTANCE_ID")]
    instance_id: Option<String>,
    /// A librdkafka property, `key=value` (repeatable): security.protocol, sasl.*, ssl.*.
    #[arg(short = 'X', long = "kafka-option", value_name = "KEY=VALUE")]
    kafka_options: Vec<String>,
    /// Replication factor of the topics chatpulse creates (-1: the broker's default).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    replication_factor: i32,
    /// Block cache shared by all stores, in MiB.
    #[arg(long, default_value_t = 64)]
    block_cache_mib: u64,
    /// How long the final commit may take at shutdown, in seconds.
    #[arg(long, default_value_t = 30)]
    shutdown_timeout_s: u64,
    /// Schema Registry URL for Avro sinks: `http(s)://host:port`, or `mock://NAME` for an
    /// in-process registry. Required only when the topology has `format = "avro"` sinks.
    #[arg(long, env = "CHATPULSE_SCHEMA_REGISTRY_URL")]
    schema_registry: Option<String>,
}

/// Runs `chatpulse run`.
pub fn run(args: Args) -> Result<ExitCode> {
    let topology = Topology::load(&args.topology)?;
    SinkEncoders::require_registry(&topology, args.schema_registry.as_deref())?;
    let kafka = super::kafka_args::kafka_settings(&args.brokers, &args.kafka_options)?;
    let stores = topology.stores();
    let store_refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let rocks = RocksOptions {
        block_cache_bytes: args.block_cache_mib * 1024 * 1024,
        ..RocksOptions::default()
    };
    let backend = RocksBackend::open(&args.state_dir, &store_refs, &rocks)
        .with_context(|| format!("cannot open state dir {}", args.state_dir.display()))?;
    let control = RunControl::new();
    spawn_signal_handler(control.clone());
    let instance_id = args
        .instance_id
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let stats = run_topology(
        topology,
        RunOptions {
            kafka,
            instance_id,
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout_s),
            replication_factor: args.replication_factor,
            schema_registry: args.schema_registry,
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

/// SIGTERM and SIGINT trigger a clean stop.
fn spawn_signal_handler(control: std::sync::Arc<RunControl>) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("signal runtime");
        rt.block_on(super::signal::terminated());
        tracing::info!("signal received: stopping after a final commit");
        control.stop();
    });
}
