//! `chatpulse run`: the consume → process → produce loop of a topology on Kafka. A consumer group
//! shares the input partitions among instances; each assigned partition is a [`Task`] restored from
//! its changelog before it processes. At every commit interval the engine runs the protocol of
//! `runner/commit.rs`: outputs and changelog records, then flush markers once the broker has them
//! all, then the state and checkpoint in RocksDB in one batch, and only then the input offsets
//! (at-least-once). With `exactly_once_v2` the same steps run inside a Kafka transaction.
//!
//! This file holds the entry ([`run`]), its options and the types the parts share; the parts are
//! `consume` (the loop), `produce` (the producer and the [`Destination`] results go to), `commit`
//! (the commit protocol and exactly-once rewind), `rebalance` (assignment, revocation, restore) and
//! `control` ([`RunControl`]: readiness, queries, metrics).
//!
//! [`Task`]: crate::topology::Task
//! [`Destination`]: crate::topology::route::Destination

mod commit;
mod consume;
mod control;
mod produce;
mod rebalance;

pub use control::RunControl;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;

use super::global_table::GlobalTables;
use super::sink_encoders::SinkEncoders;
use super::topics::{ensure_topics, partition_count, TopicPlan};
use super::{KafkaError, KafkaSettings};
use crate::avro::{registry_for, RegistryDecoder};
use crate::metrics::Metrics;
use crate::store::changelog::changelog_topic;
use crate::store::StateBackend;
use crate::table::{SharedTable, ValueDecoder};
use crate::time::clock::{Clock, SystemClock};
use crate::topology::spec::{ProcessingGuarantee, ValueFormat};
use crate::topology::task::{StateChange, Task};
use crate::topology::Topology;
use control::Layout;
use produce::EngineProducer;

/// How to run a topology on Kafka.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Cluster settings.
    pub kafka: KafkaSettings,
    /// This instance's id (unique per process; part of the transactional id).
    pub instance_id: String,
    /// How long a clean shutdown may take before giving up on the final commit.
    pub shutdown_timeout: Duration,
    /// Replication factor of topics chatpulse creates (-1: the broker's default).
    pub replication_factor: i32,
    /// Schema registry URL (`http(s)://...` or `mock://NAME`); required when a sink is Avro.
    pub schema_registry: Option<String>,
    /// How long restoring a partition may read no changelog record before the run fails
    /// ([`super::restore::DEFAULT_STALL_TIMEOUT`] unless set).
    pub restore_stall_timeout: Duration,
}

/// Counters of a run, for logs, metrics and tests.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Input records processed.
    pub processed: u64,
    /// Results produced to sinks.
    pub produced: u64,
    /// Records sent to the dead-letter topic.
    pub dead_letters: u64,
    /// Records past grace.
    pub late: u64,
    /// Windows closed.
    pub windows_closed: u64,
    /// Commits completed.
    pub commits: u64,
    /// Changelog records read while restoring.
    pub restored_records: u64,
    /// Rebalances seen.
    pub rebalances: u64,
    /// Transactions aborted and rewound (exactly-once only).
    pub aborts: u64,
}

/// The changelog offset of each flush marker delivered, by (store index, partition).
type MarkerOffsets = HashMap<(usize, i32), i64>;

/// The run's consumer: its context restores and commits on rebalance (see `rebalance`).
type EngineConsumer = BaseConsumer<RebalanceContext>;

/// The shared engine: tasks, producer, state. The poll loop and the rebalance callback both use it,
/// always on the poll thread.
struct Engine {
    topology: Arc<Topology>,
    options: RunOptions,
    stores: Vec<String>,
    producer: EngineProducer,
    backend: Box<dyn StateBackend>,
    tasks: BTreeMap<i32, Task>,
    /// The first source's topic (consumer lag and its metrics are read for it).
    input_topic: String,
    /// The topics the group reads, with their source index: every source but global tables.
    input_topics: Vec<(usize, String)>,
    /// Reads the values of Avro sources (with `--schema-registry`).
    avro_decoder: Option<Arc<dyn ValueDecoder>>,
    /// The global tables every task shares, one entry per source.
    globals: Vec<Option<SharedTable>>,
    dlq_topic: String,
    clock: Arc<dyn Clock>,
    stats: RunStats,
    in_transaction: bool,
    failed: Option<KafkaError>,
    control: Arc<RunControl>,
    encoders: SinkEncoders,
    metrics: Arc<Metrics>,
    /// Per partition, the committed `(store, key, value)` of keys its changelog holds unapplied
    /// records of (see [`super::restore::RestoreReport::orphaned_keys`]): the next flush writes
    /// them first, so a restore that reads past those records gets the committed values back.
    restated: BTreeMap<i32, Vec<StateChange>>,
    /// `chatpulse_records_consumed_total` per source and partition, looked up once.
    consumed_counters: BTreeMap<(usize, i32), prometheus::IntCounter>,
    last_store_stats: Option<Instant>,
    /// librdkafka's statistics are on, so a partition whose consumer lag is not known yet (just
    /// assigned) counts as having records waiting: see [`Task::records_waiting`].
    lag_from_statistics: bool,
}

/// The consumer context: rebalances flush and commit revoked tasks and restore assigned ones.
struct RebalanceContext {
    engine: Arc<Mutex<Option<Engine>>>,
    metrics: Arc<Metrics>,
    input_topic: String,
    control: Arc<RunControl>,
}

/// Runs `topology` until `shutdown` is triggered; returns the run's counters.
pub fn run(
    topology: Topology,
    options: RunOptions,
    backend: Box<dyn StateBackend>,
    control: Arc<RunControl>,
) -> Result<RunStats, KafkaError> {
    let topology = Arc::new(topology);
    let source = topology.sources.first().expect("validated: one source");
    let input_topic = source.topic.clone();
    let input_topics: Vec<(usize, String)> = topology
        .sources
        .iter()
        .enumerate()
        .filter(|(i, _)| !topology.tables[*i].as_ref().is_some_and(|t| t.global))
        .map(|(i, s)| (i, s.topic.clone()))
        .collect();
    let partitions = partition_count(&options.kafka, &input_topic, Duration::from_secs(30))?;
    check_co_partitioned(&topology, &options, partitions)?;
    let avro_decoder = avro_decoder(&topology, options.schema_registry.as_deref())?;
    // Global tables are read to their end before the group's first record.
    let (mut global_tables, globals) = GlobalTables::start(
        topology.clone(),
        &options.kafka,
        avro_decoder.clone(),
        options.restore_stall_timeout,
    )?;
    let stores = topology.stores();
    *control.layout.lock().expect("layout") = Some(Layout {
        input_partitions: partitions,
        stores: stores.clone(),
    });
    let plans = topic_plans(&topology, &stores, partitions, options.replication_factor);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(ensure_topics(&options.kafka, &plans))?;
    tracing::info!(topic = %input_topic, partitions, "topics ready");
    // Avro sinks register their schemas before anything is consumed: while the registry is down,
    // this waits, and nothing is processed or committed.
    let encoders = match runtime.block_on(SinkEncoders::prepare(
        &topology,
        options.schema_registry.as_deref(),
        &|| control.is_stopping(),
        &|| control.metrics.registry_errors.inc(),
    )) {
        Ok(encoders) => encoders,
        // Stopped while waiting for the registry: nothing was consumed, so nothing to commit.
        Err(_) if control.is_stopping() => return Ok(RunStats::default()),
        Err(e) => return Err(e.into()),
    };

    let producer = EngineProducer::create(&topology, &options)?;
    let eos = topology.guarantee == ProcessingGuarantee::ExactlyOnceV2;
    control.set_producer_error(None);
    let metrics = control.metrics.clone();
    let engine = Engine {
        dlq_topic: topology.dlq_topic(),
        topology: topology.clone(),
        options: options.clone(),
        stores,
        producer,
        backend,
        tasks: BTreeMap::new(),
        input_topic: input_topic.clone(),
        input_topics: input_topics.clone(),
        avro_decoder,
        globals,
        clock: Arc::new(SystemClock),
        stats: RunStats::default(),
        in_transaction: eos,
        failed: None,
        control: control.clone(),
        encoders,
        metrics: metrics.clone(),
        restated: BTreeMap::new(),
        consumed_counters: BTreeMap::new(),
        last_store_stats: None,
        lag_from_statistics: options
            .kafka
            .librdkafka_options
            .get("statistics.interval.ms")
            .is_none_or(|ms| ms.trim() != "0"),
    };
    let shared = Arc::new(Mutex::new(Some(engine)));
    *control.engine.lock().expect("engine handle") = Arc::downgrade(&shared);
    let (consumer, member_prefix) =
        consume::subscribe(&topology, &options, &shared, &control, &input_topics)?;
    let total = partitions.max(0) as usize;
    let result = consume::consume(
        &shared,
        &consumer,
        &topology,
        &control,
        &member_prefix,
        consume::Inputs {
            topics: &input_topics,
            globals: &mut global_tables,
        },
        total,
    );
    let mut guard = shared.lock().expect("engine");
    let mut engine = guard.take().expect("engine present");
    drop(guard);
    if result.is_ok() {
        engine.commit(&consumer, None)?;
        tracing::info!(stats = ?engine.stats, "stopped cleanly");
    } else if engine.in_transaction {
        let _ = engine
            .producer
            .client
            .abort_transaction(Duration::from_secs(10));
    }
    consumer.unsubscribe();
    control.owned.lock().expect("owned").clear();
    metrics.assigned_partitions.set(0);
    result.map(|()| engine.stats)
}

/// The reader of the topology's Avro sources, when it has any: they need the registry their
/// writers registered the schemas with.
fn avro_decoder(
    topology: &Topology,
    registry: Option<&str>,
) -> Result<Option<Arc<dyn ValueDecoder>>, KafkaError> {
    let Some(avro) = topology
        .sources
        .iter()
        .find(|s| s.format == ValueFormat::Avro)
    else {
        return Ok(None);
    };
    let Some(url) = registry else {
        return Err(KafkaError::Inputs(format!(
            "source {:?} is Avro: pass --schema-registry (the registry its writer registered the schema with)",
            avro.name
        )));
    };
    let registry = registry_for(url).map_err(|e| KafkaError::Inputs(e.to_string()))?;
    let decoder = RegistryDecoder::new(registry)
        .map_err(|e| KafkaError::Inputs(format!("cannot start the registry client: {e}")))?;
    Ok(Some(Arc::new(decoder)))
}

/// Checks that every input topic has the first one's `partitions`: a task reads partition `p` of
/// each (Kafka Streams' co-partitioning), so a chat record and the table rows of its channel meet
/// only when both topics are keyed by channel and split alike. Global tables need not match.
fn check_co_partitioned(
    topology: &Topology,
    options: &RunOptions,
    partitions: i32,
) -> Result<(), KafkaError> {
    let first = &topology.sources[0].topic;
    for (source, table) in topology.sources.iter().zip(&topology.tables).skip(1) {
        if table.as_ref().is_some_and(|t| t.global) {
            // Every task reads all of it: any partition count.
            continue;
        }
        let n = partition_count(&options.kafka, &source.topic, Duration::from_secs(30))?;
        if n != partitions {
            return Err(KafkaError::Inputs(format!(
                "the inputs are not co-partitioned: {first} has {partitions} partitions and {} has {n}. \
                 A task joins partition p of each, so they must match: recreate {} with {partitions} \
                 partitions (kafka-topics --alter --partitions only adds partitions and moves keys), \
                 keyed by channel as monitor and ingest write them",
                source.topic, source.topic
            )));
        }
    }
    Ok(())
}

/// The topics a run of `topology` makes sure of: a compacted changelog per store, the sinks' topics,
/// the dead-letter topic and the late topic, each with `partitions` partitions.
fn topic_plans(topology: &Topology, stores: &[String], partitions: i32, rf: i32) -> Vec<TopicPlan> {
    let mut plans: Vec<TopicPlan> = stores
        .iter()
        .map(|s| TopicPlan {
            name: changelog_topic(&topology.application_id, s),
            partitions,
            replication_factor: rf,
            // Compaction keeps the newest record per key; the lag keeps a restart's worth of
            // history so a key's value as of the last complete flush survives an unfinished one.
            configs: vec![
                ("cleanup.policy", "compact".to_owned()),
                ("min.compaction.lag.ms", "3600000".to_owned()),
            ],
        })
        .collect();
    let mut others: Vec<(String, i32)> = topology
        .sinks
        .iter()
        .map(|s| (s.topic.clone(), s.partitions.unwrap_or(partitions)))
        .collect();
    others.push((topology.dlq_topic(), partitions));
    others.push((topology.late_topic.clone(), partitions));
    plans.extend(others.into_iter().map(|(name, partitions)| TopicPlan {
        name,
        partitions,
        replication_factor: rf,
        configs: vec![("retention.ms", "604800000".to_owned())],
    }));
    plans
}
