//! `chatpulse run`: the consume → process → produce loop of a topology on Kafka. A consumer group
//! shares the input partitions among instances; each assigned partition is a [`Task`] restored from
//! its changelog before it processes. At every commit interval the engine runs the protocol of
//! `runner/commit.rs`: outputs and changelog records, then flush markers once the broker has them
//! all, then the state and checkpoint in RocksDB in one batch, and only then the input offsets
//! (at-least-once). With `exactly_once_v2` the same steps run inside a Kafka transaction.

mod commit;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Message};

use super::group_watch::{rank, stranded, GroupView, GroupWatch};
use super::membership::member_prefix;
use super::restore::{restore_partition_observed, RestoreProgress};
use super::sink_encoders::{output_dead_letter, SinkEncoders};
use super::topics::{ensure_topics, partition_count, TopicPlan};
use super::{KafkaError, KafkaSettings};
use crate::metrics::{consumer_lag, Metrics};
use crate::store::changelog::changelog_topic;
use crate::store::{Checkpoint, StateBackend};
use crate::time::clock::{Clock, SystemClock};
use crate::topology::query::{key_partition, QueryAnswer};
use crate::topology::spec::ProcessingGuarantee;
use crate::topology::task::{DeadLetter, LateRecord, StateChange, Task, TaskOutput};
use crate::topology::Topology;

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

/// What a delivery report is about.
#[derive(Debug)]
enum Delivery {
    Output,
    Changelog,
    Marker { store: usize, partition: i32 },
}

#[derive(Default)]
struct DeliveryLog {
    failures: Vec<String>,
    markers: HashMap<(usize, i32), i64>,
}

struct EngineProducerContext {
    log: Arc<Mutex<DeliveryLog>>,
}

impl ClientContext for EngineProducerContext {}

impl ProducerContext for EngineProducerContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Box<Delivery>) {
        let mut log = self.log.lock().expect("delivery log");
        match result {
            Err((e, _)) => log.failures.push(e.to_string()),
            Ok(msg) => {
                if let Delivery::Marker { store, partition } = *opaque {
                    log.markers.insert((store, partition), msg.offset());
                }
            }
        }
    }
}

/// The shared engine: tasks, producer, state. The poll loop and the rebalance callback both use it,
/// always on the poll thread.
struct Engine {
    topology: Arc<Topology>,
    options: RunOptions,
    stores: Vec<String>,
    producer: BaseProducer<EngineProducerContext>,
    deliveries: Arc<Mutex<DeliveryLog>>,
    backend: Box<dyn StateBackend>,
    tasks: BTreeMap<i32, Task>,
    input_topic: String,
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
    /// `chatpulse_records_consumed_total` per partition, looked up once.
    consumed_counters: BTreeMap<i32, prometheus::IntCounter>,
    last_store_stats: Option<Instant>,
    /// librdkafka's statistics are on, so a partition whose consumer lag is not known yet (just
    /// assigned) counts as having records waiting: see [`Task::records_waiting`].
    lag_from_statistics: bool,
}

impl Engine {
    fn send(&self, record: BaseRecord<'_, [u8], [u8], Box<Delivery>>) -> Result<(), KafkaError> {
        let mut record = record;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    // The local queue is full: serve delivery reports, then retry.
                    self.producer.poll(Duration::from_millis(10));
                    record = r;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    fn emit(&mut self, out: TaskOutput) -> Result<(), KafkaError> {
        self.stats.processed += out.processed;
        self.control
            .processed
            .fetch_add(out.processed, Ordering::Relaxed);
        self.stats.windows_closed += out.windows_closed;
        self.metrics.windows_closed.inc_by(out.windows_closed);
        let now_ms = self.clock.now_ms();
        let topology = self.topology.clone();
        for o in &out.outputs {
            let topic = &topology.sinks[o.sink].topic;
            let value = match self.encoders.encode(o) {
                Ok(value) => value,
                Err(e) => {
                    self.send_dead_letter(&output_dead_letter(topic, o, &e))?;
                    continue;
                }
            };
            self.metrics
                .records_produced
                .with_label_values(&[topic])
                .inc();
            self.metrics
                .end_to_end_latency
                .with_label_values(&[topic])
                .observe(now_ms.saturating_sub(o.ts_ms).max(0) as f64 / 1000.0);
            self.send(
                BaseRecord::with_opaque_to(topic, Box::new(Delivery::Output))
                    .key(o.key.as_bytes())
                    .payload(&value[..])
                    .timestamp(o.ts_ms),
            )?;
            self.stats.produced += 1;
        }
        for d in &out.dead_letters {
            self.send_dead_letter(d)?;
        }
        for l in &out.late {
            self.stats.late += 1;
            self.metrics
                .late_records
                .with_label_values(&[&l.late.processor])
                .inc();
            self.metrics
                .records_produced
                .with_label_values(&[&self.topology.late_topic])
                .inc();
            self.send_late(&self.topology.late_topic, l)?;
        }
        // Serve delivery reports after sends only: polling for every input record cost a sixth of
        // the CPU in clock reads. Commits wait for outstanding deliveries themselves.
        if !out.is_empty() {
            self.producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    fn send_dead_letter(&mut self, d: &DeadLetter) -> Result<(), KafkaError> {
        let offset = d.offset.to_string();
        let partition = d.partition.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "chatpulse.error",
                value: Some(d.reason.as_bytes()),
            })
            .insert(Header {
                key: "chatpulse.source.topic",
                value: Some(d.source_topic.as_bytes()),
            })
            .insert(Header {
                key: "chatpulse.source.partition",
                value: Some(partition.as_bytes()),
            })
            .insert(Header {
                key: "chatpulse.source.offset",
                value: Some(offset.as_bytes()),
            });
        let mut record = BaseRecord::with_opaque_to(&self.dlq_topic, Box::new(Delivery::Output))
            .payload(&d.value[..])
            .headers(headers);
        if let Some(k) = &d.key {
            record = record.key(&k[..]);
        }
        tracing::warn!(topic = %d.source_topic, partition = d.partition, offset = d.offset, reason = %d.reason, "dead letter");
        self.stats.dead_letters += 1;
        self.metrics.dlq_records.inc();
        self.metrics
            .records_produced
            .with_label_values(&[&self.dlq_topic])
            .inc();
        self.send(record)
    }

    fn send_late(&self, topic: &str, l: &LateRecord) -> Result<(), KafkaError> {
        let watermark = l.late.watermark_ms.to_string();
        let (partition, offset) = (l.late.partition.to_string(), l.late.offset.to_string());
        let mut headers = OwnedHeaders::new();
        for (key, value) in [
            ("chatpulse.processor", l.late.processor.as_str()),
            ("chatpulse.watermark", watermark.as_str()),
            ("chatpulse.source.partition", partition.as_str()),
            ("chatpulse.source.offset", offset.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(Delivery::Output))
            .payload(&l.value[..])
            .timestamp(l.late.ts_ms)
            .headers(headers);
        if let Some(k) = &l.key {
            record = record.key(&k[..]);
        }
        self.send(record)
    }

    fn process(&mut self, msg: &BorrowedMessage<'_>) -> Result<(), KafkaError> {
        let partition = msg.partition();
        let now = self.clock.now_ms();
        let Some(task) = self.tasks.get_mut(&partition) else {
            // A record of a partition no longer assigned (between revoke and the next poll).
            return Ok(());
        };
        if msg.offset() < task.next_offset() {
            return Ok(());
        }
        let rec = crate::topology::InputRecord {
            source: 0,
            partition,
            offset: msg.offset(),
            record_ts_ms: msg.timestamp().to_millis(),
            key: msg.key(),
            value: msg.payload().unwrap_or(&[]),
        };
        let started = Instant::now();
        let mut out = TaskOutput::default();
        task.process(&rec, now, &mut out);
        self.metrics
            .processing_latency
            .observe(started.elapsed().as_secs_f64());
        let input_topic = &self.input_topic;
        self.consumed_counters
            .entry(partition)
            .or_insert_with(|| {
                self.metrics
                    .records_consumed
                    .with_label_values(&[input_topic, &partition.to_string()])
            })
            .inc();
        self.emit(out)
    }

    /// A consume error instead of a record: counted in `chatpulse_consume_errors_total`. When
    /// librdkafka skipped records for it (a batch failing its CRC check or its decompression),
    /// every task's partition is sought back to its next unprocessed record, so they are read
    /// again and no commit passes a record that was neither processed nor dead-lettered. The error
    /// does not say which partition it came from, hence every partition.
    fn consume_error(
        &mut self,
        consumer: &BaseConsumer<RebalanceContext>,
        error: &rdkafka::error::KafkaError,
    ) -> Result<(), KafkaError> {
        let code = error.rdkafka_error_code();
        let kind = code.map_or_else(|| "other".to_owned(), |c| format!("{c:?}"));
        self.metrics
            .consume_errors
            .with_label_values(&[&self.input_topic, &kind])
            .inc();
        if !code.is_some_and(skips_records) {
            tracing::warn!(error = %error, "consume error");
            return Ok(());
        }
        tracing::warn!(
            error = %error,
            "consume error: the consumer skipped records it could not read; reading every \
             partition again from its next unprocessed record"
        );
        let fresh: Vec<i32> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.next_offset() == 0)
            .map(|(p, _)| *p)
            .collect();
        // A task that has processed nothing resumes where the group's offsets say.
        let mut committed = TopicPartitionList::new();
        for p in &fresh {
            committed.add_partition(&self.input_topic, *p);
        }
        if !fresh.is_empty() {
            committed = consumer.committed_offsets(committed, Duration::from_secs(10))?;
        }
        for (p, task) in &self.tasks {
            let offset = match task.next_offset() {
                0 => match committed
                    .find_partition(&self.input_topic, *p)
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(o)) => Offset::Offset(o),
                    _ => Offset::Beginning,
                },
                next => Offset::Offset(next),
            };
            consumer.seek(&self.input_topic, *p, offset, Duration::from_secs(10))?;
        }
        drop(committed);
        Ok(())
    }

    fn punctuate(&mut self) -> Result<(), KafkaError> {
        let now = self.clock.now_ms();
        let mut out = TaskOutput::default();
        for (p, task) in &mut self.tasks {
            // Quiet only when nothing is left to read: a restarted or starved partition's event
            // time must not run ahead of its backlog with the wall clock.
            if self.control.records_waiting(*p, self.lag_from_statistics) {
                task.records_waiting(now);
            }
            task.punctuate(now, &mut out);
        }
        self.emit(out)
    }

    /// Refreshes the state store gauges from RocksDB's properties, at most every 5 seconds.
    fn record_store_stats(&mut self) {
        if self
            .last_store_stats
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        self.last_store_stats = Some(Instant::now());
        match self.backend.stats() {
            Ok(stats) => {
                for s in stats {
                    let bytes = i64::try_from(s.bytes).unwrap_or(i64::MAX);
                    let keys = i64::try_from(s.keys).unwrap_or(i64::MAX);
                    self.metrics
                        .store_bytes
                        .with_label_values(&[&s.store])
                        .set(bytes);
                    self.metrics
                        .store_keys
                        .with_label_values(&[&s.store])
                        .set(keys);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read state store statistics"),
        }
    }

    /// A task for `partition` rebuilt from the local state (every store's entries and the
    /// checkpointed position), and that checkpoint.
    fn task_from_local_state(
        &self,
        partition: i32,
        now: i64,
    ) -> Result<(Task, Option<Checkpoint>), KafkaError> {
        let mut task = Task::new(self.topology.clone(), partition, now);
        for store in &self.stores {
            for (key, value) in self.backend.scan(store, partition)? {
                task.restore_entry(store, &key, &value)?;
            }
        }
        let checkpoint = self.backend.checkpoint(partition)?;
        if let Some(c) = &checkpoint {
            task.restore_position(c.generation, c.input_offset, c.watermark_ms, now);
        }
        Ok((task, checkpoint))
    }

    /// Notes the committed values of `orphaned` keys of `partition`, for its next flush to write
    /// before its own changes. Exactly-once restores never see unapplied records (they are aborted).
    fn restate(
        &mut self,
        partition: i32,
        orphaned: &[(String, Vec<u8>)],
    ) -> Result<(), KafkaError> {
        if orphaned.is_empty() || self.in_transaction {
            self.restated.remove(&partition);
            return Ok(());
        }
        let mut restated = Vec::with_capacity(orphaned.len());
        for store in &self.stores {
            let keys: Vec<&Vec<u8>> = orphaned
                .iter()
                .filter(|(s, _)| s == store)
                .map(|(_, k)| k)
                .collect();
            if keys.is_empty() {
                continue;
            }
            let committed: BTreeMap<Vec<u8>, Vec<u8>> =
                self.backend.scan(store, partition)?.into_iter().collect();
            restated.extend(
                keys.into_iter()
                    .map(|k| (store.clone(), k.clone(), committed.get(k).cloned())),
            );
        }
        tracing::info!(
            partition,
            keys = restated.len(),
            "the changelog holds records of an unfinished flush: the next flush re-states their \
             keys' committed values"
        );
        self.restated.insert(partition, restated);
        Ok(())
    }

    /// Exactly-once recovery: aborts the open transaction, rebuilds every task from the local state
    /// (which holds only committed flushes) and seeks the input back to where that state ends.
    fn rewind(&mut self, consumer: &BaseConsumer<RebalanceContext>) -> Result<(), KafkaError> {
        // The aborted transaction's records are discarded; their delivery reports must be served
        // before the abort can complete.
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
            self.producer.poll(Duration::from_millis(50));
        }
        self.producer.abort_transaction(Duration::from_secs(30))?;
        {
            let mut log = self.deliveries.lock().expect("delivery log");
            log.failures.clear();
            log.markers.clear();
        }
        self.stats.aborts += 1;
        self.metrics.transaction_aborts.inc();
        let now = self.clock.now_ms();
        let partitions: Vec<i32> = self.tasks.keys().copied().collect();
        let mut committed = TopicPartitionList::new();
        for p in &partitions {
            committed.add_partition(&self.input_topic, *p);
        }
        let committed = consumer.committed_offsets(committed, Duration::from_secs(30))?;
        for p in partitions {
            let (task, checkpoint) = self.task_from_local_state(p, now)?;
            let offset = match checkpoint {
                Some(c) => Offset::Offset(c.input_offset),
                None => match committed
                    .find_partition(&self.input_topic, p)
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(o)) => Offset::Offset(o),
                    _ => Offset::Beginning,
                },
            };
            consumer.seek(&self.input_topic, p, offset, Duration::from_secs(30))?;
            self.tasks.insert(p, task);
            tracing::warn!(partition = p, offset = ?offset, "transaction aborted: rewound to the last committed state");
        }
        drop(committed);
        self.producer.begin_transaction()?;
        Ok(())
    }

    /// Restores `partition` from local state and its changelog tail and returns the offset to resume at.
    fn assign(&mut self, partition: i32) -> Result<Option<i64>, KafkaError> {
        let now = self.clock.now_ms();
        let metrics = self.metrics.clone();
        let label = partition.to_string();
        let report = restore_partition_observed(
            &self.options.kafka,
            self.backend.as_mut(),
            &self.topology.application_id,
            &self.stores,
            partition,
            self.options.restore_stall_timeout,
            &mut |p: RestoreProgress<'_>| {
                metrics
                    .restore_records
                    .with_label_values(&[p.store])
                    .inc_by(p.newly_read);
                metrics
                    .restore_remaining
                    .with_label_values(&[p.store, &label])
                    .set(p.remaining);
            },
        )?;
        self.stats.restored_records += report.records_read;
        self.control
            .restored_records
            .fetch_add(report.records_read, Ordering::Relaxed);
        let (task, checkpoint) = self.task_from_local_state(partition, now)?;
        self.restate(partition, &report.orphaned_keys)?;
        let resume = checkpoint.map(|c| c.input_offset);
        tracing::info!(partition, restored = report.records_read, resume = ?resume, open = task.open_entries(), "partition assigned");
        self.tasks.insert(partition, task);
        self.control.forget_lag(partition);
        self.control.assigned.fetch_add(1, Ordering::SeqCst);
        self.control.owned.lock().expect("owned").insert(partition);
        self.metrics.assigned_partitions.inc();
        Ok(resume)
    }
}

/// Whether librdkafka reports `code` for records it skipped (it goes on with the next batch).
fn skips_records(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        code,
        Code::BadMessage | Code::BadCompression | Code::InvalidMessage | Code::InvalidRecord
    )
}

/// How far before a restored position the consumer starts to fetch: librdkafka's producers put
/// at most `batch.num.messages` (default 10,000) records in one batch, so the batch holding the
/// restored position starts at most this far before it.
const BATCH_REWIND: i64 = 10_000;

/// How often an instance holding part of the input asks the coordinator whether it is stranded.
const GROUP_LOOK_INTERVAL: Duration = Duration::from_secs(3);

/// Asks the coordinator (`DescribeGroups`) whether this instance is stranded: see [`super::group_watch`].
/// `Some(rank)` when it is, with `rank` members sorting before it. A failed look counts as "not
/// stranded"; the next one asks again. This instance's member id starts with `member_prefix`: its
/// `group.instance.id` (static member) or `client.id`.
fn look_at_group(
    consumer: &BaseConsumer<RebalanceContext>,
    group: &str,
    member_prefix: &str,
    owned: usize,
    total: usize,
) -> Option<usize> {
    match consumer.fetch_group_list(Some(group), Duration::from_secs(2)) {
        Ok(list) => list
            .groups()
            .iter()
            .filter(|g| g.name() == group)
            .find_map(|g| {
                let view = GroupView {
                    state: g.state(),
                    members: g.members().iter().map(|m| m.id()).collect(),
                };
                tracing::debug!(?view, owned, total, "consumer group");
                stranded(&view, member_prefix, owned, total)
                    .then(|| rank(&view, member_prefix))
                    .flatten()
            }),
        Err(e) => {
            tracing::debug!(error = %e, "cannot describe the consumer group");
            None
        }
    }
}

/// The consumer context: rebalances flush and commit revoked tasks and restore assigned ones.
struct RebalanceContext {
    engine: Arc<Mutex<Option<Engine>>>,
    metrics: Arc<Metrics>,
    input_topic: String,
    control: Arc<RunControl>,
}

impl ClientContext for RebalanceContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        consumer_lag::record(&self.metrics, &statistics, &self.input_topic);
        if let Some(topic) = statistics.topics.get(&self.input_topic) {
            let mut waiting = self.control.waiting.lock().expect("waiting");
            for (id, p) in &topic.partitions {
                if *id < 0 || !p.desired {
                    continue;
                }
                match consumer_lag::records_waiting(p) {
                    Some(w) => waiting.insert(*id, w),
                    None => waiting.remove(id),
                };
            }
        }
    }
}

impl ConsumerContext for RebalanceContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let mut guard = self.engine.lock().expect("engine");
        let Some(engine) = guard.as_mut() else {
            // Shutting down: the final commit is done; just follow the group.
            let _ = match err {
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => consumer.assign(tpl),
                _ => consumer.unassign(),
            };
            return;
        };
        engine.stats.rebalances += 1;
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                let restoring = partitions.len() as i64;
                self.control
                    .restoring
                    .fetch_add(restoring, Ordering::SeqCst);
                self.metrics.restoring_partitions.add(restoring);
                for p in partitions {
                    let assigned = engine.assign(p);
                    self.control.restoring.fetch_sub(1, Ordering::SeqCst);
                    self.metrics.restoring_partitions.dec();
                    match assigned {
                        Ok(Some(offset)) => {
                            // Fetch from up to one producer batch earlier; process() skips the
                            // records before the restored position. tansu 0.6 answers a fetch at
                            // an offset inside a batch with the batches after it only, so the rest
                            // of that batch was never read (the lost minutes of issue 13 points 7
                            // and 8).
                            let _ = tpl.set_partition_offset(
                                &engine.input_topic,
                                p,
                                Offset::Offset(offset.saturating_sub(BATCH_REWIND).max(0)),
                            );
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(partition = p, error = %e, "restore failed");
                            engine.failed.get_or_insert(e);
                        }
                    }
                }
                if let Err(e) = consumer.assign(tpl) {
                    engine.failed.get_or_insert(e.into());
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                self.metrics.rebalances.with_label_values(&["revoke"]).inc();
                if let Err(e) = engine.commit(consumer, Some(&partitions)) {
                    tracing::error!(error = %e, "commit on revoke failed");
                    engine.failed.get_or_insert(e);
                }
                for p in &partitions {
                    engine.restated.remove(p);
                    if engine.tasks.remove(p).is_some() {
                        engine.control.forget_lag(*p);
                        engine.control.assigned.fetch_sub(1, Ordering::SeqCst);
                        engine.control.owned.lock().expect("owned").remove(p);
                        self.metrics.assigned_partitions.dec();
                        let label = p.to_string();
                        let _ = self
                            .metrics
                            .consumer_lag
                            .remove_label_values(&[&engine.input_topic, &label]);
                    }
                }
                tracing::info!(partitions = ?partitions, "partitions revoked");
                if let Err(e) = consumer.unassign() {
                    engine.failed.get_or_insert(e.into());
                }
            }
            other => tracing::error!(error = ?other, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed");
        }
    }
}

/// Shared between a run and its observers (signal handler, HTTP server, tests): a stop flag, live
/// counters, readiness, the process's [`Metrics`] and read-only queries of the tasks' state.
#[derive(Debug, Default)]
pub struct RunControl {
    stop: AtomicBool,
    /// Partitions currently assigned and restored.
    pub assigned: AtomicI64,
    /// Input records processed.
    pub processed: AtomicU64,
    /// Changelog records read while restoring.
    pub restored_records: AtomicU64,
    /// Commits completed.
    pub commits: AtomicU64,
    /// Partitions being restored from their changelogs now.
    pub restoring: AtomicI64,
    owned: Mutex<std::collections::BTreeSet<i32>>,
    /// Per assigned input partition, whether records are waiting to be read (from librdkafka's
    /// statistics); absent until known.
    waiting: Mutex<BTreeMap<i32, bool>>,
    producer_ready: AtomicBool,
    producer_error: Mutex<Option<String>>,
    layout: Mutex<Option<Layout>>,
    engine: Mutex<Weak<Mutex<Option<Engine>>>>,
    metrics: Arc<Metrics>,
}

/// What queries need to know of the running topology.
#[derive(Debug, Clone)]
struct Layout {
    input_partitions: i32,
    stores: Vec<String>,
}

impl RunControl {
    /// A new control with its own [`Metrics`], shared.
    pub fn new() -> Arc<RunControl> {
        Arc::new(RunControl::default())
    }

    /// A new control recording into `metrics` (the process's one registry), shared.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Arc<RunControl> {
        Arc::new(RunControl {
            metrics,
            ..RunControl::default()
        })
    }

    /// The metrics the run records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Asks the run to stop: it stops consuming, commits, and returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The input partitions this instance owns (assigned and restored), in order.
    pub fn owned_partitions(&self) -> Vec<i32> {
        self.owned.lock().expect("owned").iter().copied().collect()
    }

    /// `Ok` when the instance serves: partitions assigned and restored, and the producer works;
    /// otherwise why not (`/readyz`).
    pub fn readiness(&self) -> Result<(), String> {
        if self.is_stopping() {
            return Err("stopping: finishing the final commit".into());
        }
        let restoring = self.restoring.load(Ordering::SeqCst);
        if restoring > 0 {
            return Err(format!(
                "restoring {restoring} partition(s) from their changelogs"
            ));
        }
        if !self.producer_ready.load(Ordering::SeqCst) {
            return Err(
                match &*self.producer_error.lock().expect("producer error") {
                    Some(e) => format!("the producer is failing: {e}"),
                    None => "the producer is not ready yet".into(),
                },
            );
        }
        if self.assigned.load(Ordering::SeqCst) <= 0 {
            return Err("no partitions assigned yet: waiting for the consumer group".into());
        }
        Ok(())
    }

    /// Whether records of input `partition` are waiting to be read; `unknown` when the statistics
    /// have not said yet.
    fn records_waiting(&self, partition: i32, unknown: bool) -> bool {
        self.waiting
            .lock()
            .expect("waiting")
            .get(&partition)
            .copied()
            .unwrap_or(unknown)
    }

    /// Forgets what the statistics said of `partition` (assigned anew, or revoked).
    fn forget_lag(&self, partition: i32) {
        self.waiting.lock().expect("waiting").remove(&partition);
    }

    /// Records whether the producer works (`None`: it delivered everything of the last commit).
    fn set_producer_error(&self, error: Option<String>) {
        self.producer_ready.store(error.is_none(), Ordering::SeqCst);
        *self.producer_error.lock().expect("producer error") = error;
    }

    /// A read-only interactive query of `store` for `key` (a channel), answered from the task that
    /// owns the key's partition (by Kafka's murmur2 partitioner over the input partitions).
    pub fn query(&self, store: &str, key: &str) -> QueryAnswer {
        let unavailable = |reason: &str| QueryAnswer::Unavailable {
            reason: reason.to_owned(),
        };
        let Some(layout) = self.layout.lock().expect("layout").clone() else {
            return unavailable("the topology is not running yet");
        };
        if !layout.stores.iter().any(|s| s == store) {
            return QueryAnswer::UnknownStore {
                stores: layout.stores,
            };
        }
        if let Err(reason) = self.readiness() {
            return QueryAnswer::Unavailable { reason };
        }
        let partition = key_partition(key.as_bytes(), layout.input_partitions);
        let Some(shared) = self.engine.lock().expect("engine handle").upgrade() else {
            return unavailable("the run has ended");
        };
        // The poll loop holds the engine while it processes and commits: wait a little.
        let deadline = Instant::now() + Duration::from_secs(2);
        let guard = loop {
            match shared.try_lock() {
                Ok(guard) => break guard,
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => {
                    return unavailable("the engine is busy (committing or rebalancing): retry")
                }
            }
        };
        let Some(engine) = guard.as_ref() else {
            return unavailable("stopping: finishing the final commit");
        };
        // The key's own partition first; then any other owned task, in case the input was not
        // partitioned by key with murmur2.
        let found = engine
            .tasks
            .get(&partition)
            .and_then(|t| t.query(store, key).map(|v| (partition, v)))
            .or_else(|| {
                engine
                    .tasks
                    .iter()
                    .find_map(|(p, t)| t.query(store, key).map(|v| (*p, v)))
            });
        match found {
            Some((partition, value)) => QueryAnswer::Found { partition, value },
            None if engine.tasks.contains_key(&partition) => QueryAnswer::Empty { partition },
            None => QueryAnswer::NotOwned {
                partition,
                owned: engine.tasks.keys().copied().collect(),
                owner: None,
            },
        }
    }
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
    let partitions = partition_count(&options.kafka, &input_topic, Duration::from_secs(30))?;
    let stores = topology.stores();
    *control.layout.lock().expect("layout") = Some(Layout {
        input_partitions: partitions,
        stores: stores.clone(),
    });
    let rf = options.replication_factor;
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
    let mut others: Vec<String> = topology.sinks.iter().map(|s| s.topic.clone()).collect();
    others.push(topology.dlq_topic());
    others.push(topology.late_topic.clone());
    plans.extend(others.into_iter().map(|name| TopicPlan {
        name,
        partitions,
        replication_factor: rf,
        configs: vec![("retention.ms", "604800000".to_owned())],
    }));
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

    let deliveries = Arc::new(Mutex::new(DeliveryLog::default()));
    let mut producer_config = options.kafka.producer_config();
    let eos = topology.guarantee == ProcessingGuarantee::ExactlyOnceV2;
    if eos {
        producer_config
            .set(
                "transactional.id",
                format!("{}-{}", topology.application_id, options.instance_id),
            )
            // librdkafka requires message.timeout.ms <= transaction.timeout.ms.
            .set("transaction.timeout.ms", "60000")
            .set("message.timeout.ms", "60000");
        for (k, v) in &options.kafka.librdkafka_options {
            producer_config.set(k, v);
        }
    }
    let producer: BaseProducer<EngineProducerContext> =
        producer_config.create_with_context(EngineProducerContext {
            log: deliveries.clone(),
        })?;
    if eos {
        producer.init_transactions(Duration::from_secs(30))?;
        producer.begin_transaction()?;
        tracing::info!("transactional producer ready");
    }
    control.set_producer_error(None);
    let metrics = control.metrics.clone();
    let engine = Engine {
        dlq_topic: topology.dlq_topic(),
        topology: topology.clone(),
        options: options.clone(),
        stores,
        producer,
        deliveries,
        backend,
        tasks: BTreeMap::new(),
        input_topic: input_topic.clone(),
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
    let mut consumer_config = options.kafka.consumer_config(&topology.application_id);
    consumer_config.set("partition.assignment.strategy", "range");
    if eos {
        consumer_config.set("isolation.level", "read_committed");
    }
    // Statistics every second feed the consumer lag gauges (unless the user chose an interval).
    if !options
        .kafka
        .librdkafka_options
        .contains_key("statistics.interval.ms")
    {
        consumer_config.set("statistics.interval.ms", "1000");
    }
    // A client id naming this instance: a dynamic member's id starts with it (see `group_watch`).
    if consumer_config.get("client.id").is_none() {
        consumer_config.set(
            "client.id",
            format!("{}-{}", topology.application_id, options.instance_id),
        );
    }
    // This instance's member id starts with its group.instance.id (when the user made it a static
    // member with `-X group.instance.id=...`) or else its client id.
    let member_prefix = member_prefix(&consumer_config);
    let consumer: BaseConsumer<RebalanceContext> =
        consumer_config.create_with_context(RebalanceContext {
            engine: shared.clone(),
            metrics: metrics.clone(),
            input_topic: input_topic.clone(),
            control: control.clone(),
        })?;
    consumer.subscribe(&[&input_topic])?;
    tracing::info!(group = %topology.application_id, "subscribed; waiting for partitions");

    let commit_every = Duration::from_millis(topology.commit_interval_ms as u64);
    let mut last_commit = Instant::now();
    let mut last_punctuate = Instant::now();
    let mut watch = GroupWatch::new(GROUP_LOOK_INTERVAL, 2);
    let total = partitions.max(0) as usize;
    // Set on each punctuation (every 200 ms): the group watch rides on that timer instead of
    // reading the clock and the owned set for every record.
    let mut punctuated = false;
    let result = loop {
        if control.is_stopping() {
            break Ok(());
        }
        if std::mem::take(&mut punctuated) {
            let owned = control.owned.lock().expect("owned").len();
            if watch.due(Instant::now(), owned, total) {
                let short = look_at_group(
                    &consumer,
                    &topology.application_id,
                    &member_prefix,
                    owned,
                    total,
                );
                if watch.observe(short) {
                    tracing::warn!(
                        owned,
                        partitions = total,
                        "the consumer group is stable but this instance holds fewer partitions \
                         than its share: leaving and re-joining the group so the coordinator \
                         assigns them all"
                    );
                    metrics.rebalances.with_label_values(&["rejoin"]).inc();
                    consumer.unsubscribe();
                    if let Err(e) = consumer.subscribe(&[&input_topic]) {
                        break Err(e.into());
                    }
                }
            }
        }
        let polled = consumer.poll(Duration::from_millis(100));
        let mut guard = shared.lock().expect("engine");
        let engine = guard.as_mut().expect("engine present");
        if let Some(e) = engine.failed.take() {
            break Err(e);
        }
        let step = (|| {
            match polled {
                Some(Ok(msg)) => engine.process(&msg)?,
                Some(Err(e)) => engine.consume_error(&consumer, &e)?,
                None => {}
            }
            if last_punctuate.elapsed() >= Duration::from_millis(200) {
                engine.punctuate()?;
                last_punctuate = Instant::now();
                punctuated = true;
            }
            if last_commit.elapsed() >= commit_every {
                engine.commit(&consumer, None)?;
                last_commit = Instant::now();
            }
            Ok::<(), KafkaError>(())
        })();
        if let Err(e) = step {
            if !engine.in_transaction {
                break Err(e);
            }
            tracing::warn!(error = %e, "exactly-once step failed: aborting the transaction");
            if let Err(e) = engine.rewind(&consumer) {
                break Err(e);
            }
        }
    };
    let mut guard = shared.lock().expect("engine");
    let mut engine = guard.take().expect("engine present");
    drop(guard);
    if result.is_ok() {
        engine.commit(&consumer, None)?;
        tracing::info!(stats = ?engine.stats, "stopped cleanly");
    } else if engine.in_transaction {
        let _ = engine.producer.abort_transaction(Duration::from_secs(10));
    }
    consumer.unsubscribe();
    control.owned.lock().expect("owned").clear();
    metrics.assigned_partitions.set(0);
    result.map(|()| engine.stats)
}
