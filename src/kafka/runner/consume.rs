//! The consume loop: poll a record, process it on its partition's task and emit what it produced;
//! punctuate every 200 ms, commit every commit interval, and re-join when the group left us short.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::BorrowedMessage;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;

use super::{Engine, EngineConsumer, RebalanceContext, RunControl, RunOptions};
use crate::kafka::global_table::GlobalTables;
use crate::kafka::group_watch::{look_at_group, GroupWatch};
use crate::kafka::membership::member_prefix;
use crate::kafka::KafkaError;
use crate::topology::spec::ProcessingGuarantee;
use crate::topology::{InputRecord, TaskOutput, Topology};

impl Engine {
    fn process(&mut self, msg: &BorrowedMessage<'_>) -> Result<(), KafkaError> {
        let partition = msg.partition();
        let now = self.clock.now_ms();
        let source = match self.input_topics.as_slice() {
            [(only, _)] => *only,
            topics => match topics.iter().find(|(_, t)| t == msg.topic()) {
                Some((source, _)) => *source,
                None => return Ok(()),
            },
        };
        let Some(task) = self.tasks.get_mut(&partition) else {
            // A record of a partition no longer assigned (between revoke and the next poll).
            return Ok(());
        };
        let rec = InputRecord {
            source,
            partition,
            offset: msg.offset(),
            record_ts_ms: msg.timestamp().to_millis(),
            key: msg.key(),
            value: msg.payload().unwrap_or(&[]),
        };
        if msg.offset() < task.next_offset_of(source) {
            // Before the restored position: a stream's record is already in the state; a table's
            // row is read again from the topic's start to restore the table.
            if self.topology.tables[source].is_some() {
                task.restore_table_row(&rec);
                // Restoring is not being quiet: the table holds event time back until it is done.
                task.records_waiting_on(source, now);
            }
            return Ok(());
        }
        let started = Instant::now();
        let mut out = TaskOutput::default();
        task.process(&rec, now, &mut out);
        self.metrics
            .processing_latency
            .observe(started.elapsed().as_secs_f64());
        self.consumed_counters
            .entry((source, partition))
            .or_insert_with(|| {
                self.metrics
                    .records_consumed
                    .with_label_values(&[msg.topic(), &partition.to_string()])
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
        consumer: &EngineConsumer,
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
        // A task that has processed nothing of a source resumes it where the group's offsets say.
        let mut committed = TopicPartitionList::new();
        for (p, task) in &self.tasks {
            for (source, topic) in &self.input_topics {
                if task.next_offset_of(*source) == 0 {
                    committed.add_partition(topic, *p);
                }
            }
        }
        if committed.count() > 0 {
            committed = consumer.committed_offsets(committed, Duration::from_secs(10))?;
        }
        for (p, task) in &self.tasks {
            for (source, topic) in &self.input_topics {
                let offset = match task.next_offset_of(*source) {
                    0 => match committed.find_partition(topic, *p).map(|e| e.offset()) {
                        Some(Offset::Offset(o)) => Offset::Offset(o),
                        _ => Offset::Beginning,
                    },
                    next => Offset::Offset(next),
                };
                consumer.seek(topic, *p, offset, Duration::from_secs(10))?;
            }
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
}

fn topic_refs(topics: &[(usize, String)]) -> Vec<&str> {
    topics.iter().map(|(_, t)| t.as_str()).collect()
}

/// Whether librdkafka reports `code` for records it skipped (it goes on with the next batch).
fn skips_records(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        code,
        Code::BadMessage | Code::BadCompression | Code::InvalidMessage | Code::InvalidRecord
    )
}

/// How often an instance holding part of the input asks the coordinator whether it is stranded.
const GROUP_LOOK_INTERVAL: Duration = Duration::from_secs(3);

/// The run's consumer, subscribed to `input_topics`, and this instance's member id prefix. The
/// range assignor gives one member partition `p` of every input topic (co-partitioning).
pub(super) fn subscribe(
    topology: &Topology,
    options: &RunOptions,
    shared: &Arc<Mutex<Option<Engine>>>,
    control: &Arc<RunControl>,
    input_topics: &[(usize, String)],
) -> Result<(EngineConsumer, String), KafkaError> {
    let input_topic = input_topics[0].1.as_str();
    let mut consumer_config = options.kafka.consumer_config(&topology.application_id);
    consumer_config.set("partition.assignment.strategy", "range");
    if topology.guarantee == ProcessingGuarantee::ExactlyOnceV2 {
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
    let consumer: EngineConsumer = consumer_config.create_with_context(RebalanceContext {
        engine: shared.clone(),
        metrics: control.metrics.clone(),
        input_topic: input_topic.to_owned(),
        control: control.clone(),
    })?;
    consumer.subscribe(&topic_refs(input_topics))?;
    tracing::info!(group = %topology.application_id, "subscribed; waiting for partitions");
    Ok((consumer, member_prefix))
}

/// What the consume loop reads: the group's topics (with their source index) and the global tables.
pub(super) struct Inputs<'a> {
    /// The topics the group reads.
    pub topics: &'a [(usize, String)],
    /// The global tables, polled between records.
    pub globals: &'a mut GlobalTables,
}

/// Consumes until `control` says stop (`Ok`) or a step fails outside a transaction (`Err`). Each
/// step holds the engine; `total` is the input's partition count.
pub(super) fn consume(
    shared: &Mutex<Option<Engine>>,
    consumer: &EngineConsumer,
    topology: &Topology,
    control: &RunControl,
    member_prefix: &str,
    inputs: Inputs<'_>,
    total: usize,
) -> Result<(), KafkaError> {
    let Inputs {
        topics: input_topics,
        globals: global_tables,
    } = inputs;
    let commit_every = Duration::from_millis(topology.commit_interval_ms as u64);
    let mut last_commit = Instant::now();
    let mut last_punctuate = Instant::now();
    let mut watch = GroupWatch::new(GROUP_LOOK_INTERVAL, 2);
    // Set on each punctuation (every 200 ms): the group watch rides on that timer instead of
    // reading the clock and the owned set for every record.
    let mut punctuated = false;
    loop {
        if control.is_stopping() {
            break Ok(());
        }
        if std::mem::take(&mut punctuated) {
            let owned = control.owned.lock().expect("owned").len();
            if watch.due(Instant::now(), owned, total) {
                let short = look_at_group(
                    consumer,
                    &topology.application_id,
                    member_prefix,
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
                    control
                        .metrics
                        .rebalances
                        .with_label_values(&["rejoin"])
                        .inc();
                    consumer.unsubscribe();
                    if let Err(e) = consumer.subscribe(&topic_refs(input_topics)) {
                        break Err(e.into());
                    }
                }
            }
        }
        // The global tables take what arrived (their own locks, not the engine's).
        if let Err(e) = global_tables.poll() {
            break Err(e);
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
                Some(Err(e)) => engine.consume_error(consumer, &e)?,
                None => {}
            }
            if last_punctuate.elapsed() >= Duration::from_millis(200) {
                engine.punctuate()?;
                last_punctuate = Instant::now();
                punctuated = true;
            }
            if last_commit.elapsed() >= commit_every {
                engine.commit(consumer, None)?;
                last_commit = Instant::now();
            }
            Ok::<(), KafkaError>(())
        })();
        if let Err(e) = step {
            if !engine.in_transaction {
                break Err(e);
            }
            tracing::warn!(error = %e, "exactly-once step failed: aborting the transaction");
            if let Err(e) = engine.rewind(consumer) {
                break Err(e);
            }
        }
    }
}
