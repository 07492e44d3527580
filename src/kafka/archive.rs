//! The Kafka side of `chatpulse archive`: one member of the archive's consumer group. Its
//! rebalance callback recovers assigned partitions ([`Archiver::assign`]) and stores and commits
//! revoked ones; the poll loop feeds records to the [`Archiver`], which commits each batch's
//! offsets synchronously once its files are durable. Every failure stops the loop (a restart
//! recovers).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Message};

use super::KafkaSettings;
use crate::archive::metrics::ArchiveMetrics;
use crate::archive::{ArchiveError, ArchiveRecord, Archiver, Committer, Flushed};
use crate::metrics::{consumer_lag, Metrics};

/// How far before a committed offset the consumer fetches: tansu 0.6 answers a fetch at an offset
/// inside a producer batch with the batches after it only, so the fetch starts up to one batch
/// (librdkafka's `batch.num.messages`, 10,000) earlier and the [`Archiver`] refuses the records
/// before the committed offset (as it refuses any record delivered again).
const BATCH_REWIND: i64 = 10_000;

/// Why the archive stopped.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveRunError {
    /// Kafka failed.
    #[error("Kafka: {0} (check --brokers and that the cluster is reachable)")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Storing or committing a batch failed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// What the run did, for the last log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Records taken into batches.
    pub records: u64,
    /// Records refused as archived already: fetched from before the committed offset at
    /// assignment, or delivered again by the consumer.
    pub redelivered: u64,
    /// Batches stored and committed.
    pub batches: u64,
    /// Files stored.
    pub files: u64,
    /// Parquet bytes stored.
    pub bytes: u64,
    /// Rebalances.
    pub rebalances: u64,
}

/// How to run one archive member.
#[derive(Debug, Clone)]
pub struct ArchiveRunOptions {
    /// The cluster.
    pub kafka: KafkaSettings,
    /// The consumer group.
    pub group: String,
    /// The topic archived.
    pub topic: String,
}

struct State {
    archiver: Archiver,
    failed: Option<ArchiveRunError>,
    stats: ArchiveStats,
}

struct ArchiveContext {
    state: Arc<Mutex<Option<State>>>,
    topic: String,
    metrics: ArchiveMetrics,
    engine_metrics: Arc<Metrics>,
}

/// Commits through the consumer, synchronously.
struct GroupCommitter<'a> {
    consumer: &'a BaseConsumer<ArchiveContext>,
    topic: &'a str,
}

impl Committer for GroupCommitter<'_> {
    fn commit(&mut self, partition: i32, next_offset: i64) -> Result<(), String> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(self.topic, partition, Offset::Offset(next_offset))
            .map_err(|e| e.to_string())?;
        self.consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| e.to_string())
    }
}

fn log_flushed(topic: &str, metrics: &ArchiveMetrics, stats: &mut ArchiveStats, f: &Flushed) {
    metrics.flushed(topic, f);
    stats.batches += 1;
    stats.files += f.files as u64;
    stats.bytes += f.bytes;
    tracing::info!(
        partition = f.partition,
        start_offset = f.start_offset,
        end_offset = f.end_offset,
        rows = f.rows,
        files = f.files,
        bytes = f.bytes,
        "batch stored and committed"
    );
}

impl ClientContext for ArchiveContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        consumer_lag::record(&self.engine_metrics, &statistics, &self.topic);
    }
}

impl ConsumerContext for ArchiveContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let mut guard = self.state.lock().expect("archive state");
        let Some(state) = guard.as_mut() else {
            // Shut down: the final flush is done; just follow the group.
            let _ = match err {
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => consumer.assign(tpl),
                _ => consumer.unassign(),
            };
            return;
        };
        state.stats.rebalances += 1;
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let committed =
                    match consumer.committed_offsets(tpl.clone(), Duration::from_secs(30)) {
                        Ok(c) => c,
                        Err(e) => {
                            state.failed.get_or_insert(e.into());
                            let _ = consumer.assign(tpl);
                            return;
                        }
                    };
                for p in &partitions {
                    let offset = match committed
                        .find_partition(&self.topic, *p)
                        .map(|e| e.offset())
                    {
                        Some(Offset::Offset(o)) => Some(o),
                        _ => None,
                    };
                    match state.archiver.assign(*p, offset) {
                        Ok(recovery) => {
                            tracing::info!(partition = p, committed = ?offset, recovery = ?recovery, "partition assigned")
                        }
                        Err(e) => {
                            tracing::error!(partition = p, error = %e, "recovery failed");
                            state.failed.get_or_insert(e.into());
                        }
                    }
                    let fetch = match offset {
                        Some(o) => Offset::Offset(o.saturating_sub(BATCH_REWIND).max(0)),
                        None => Offset::Beginning,
                    };
                    let _ = tpl.set_partition_offset(&self.topic, *p, fetch);
                }
                drop(committed);
                if let Err(e) = consumer.assign(tpl) {
                    state.failed.get_or_insert(e.into());
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                for p in &partitions {
                    if state.failed.is_none() {
                        let mut committer = GroupCommitter {
                            consumer,
                            topic: &self.topic,
                        };
                        match state.archiver.flush(*p, &mut committer) {
                            Ok(Some(f)) => {
                                log_flushed(&self.topic, &self.metrics, &mut state.stats, &f)
                            }
                            Ok(None) => {}
                            Err(e) => {
                                tracing::error!(partition = p, error = %e, "flush on revoke failed");
                                state.failed.get_or_insert(e.into());
                            }
                        }
                    }
                    let dropped = state.archiver.revoke(*p);
                    self.metrics.forget(&self.topic, *p);
                    tracing::info!(partition = p, dropped, "partition revoked");
                }
                if let Err(e) = consumer.unassign() {
                    state.failed.get_or_insert(e.into());
                }
            }
            other => tracing::error!(error = ?other, "rebalance error"),
        }
    }
}

fn now_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Runs one archive member until `stop` is set (then stores and commits every open batch) or a
/// step fails.
pub fn run(
    archiver: Archiver,
    options: ArchiveRunOptions,
    engine_metrics: Arc<Metrics>,
    metrics: ArchiveMetrics,
    stop: Arc<AtomicBool>,
) -> Result<ArchiveStats, ArchiveRunError> {
    let started = Instant::now();
    let state = Arc::new(Mutex::new(Some(State {
        archiver,
        failed: None,
        stats: ArchiveStats::default(),
    })));
    let mut config = options.kafka.consumer_config(&options.group);
    if !options
        .kafka
        .librdkafka_options
        .contains_key("statistics.interval.ms")
    {
        config.set("statistics.interval.ms", "5000");
    }
    let consumer: BaseConsumer<ArchiveContext> = config.create_with_context(ArchiveContext {
        state: state.clone(),
        topic: options.topic.clone(),
        metrics: metrics.clone(),
        engine_metrics,
    })?;
    consumer.subscribe(&[&options.topic])?;
    tracing::info!(group = %options.group, topic = %options.topic, "subscribed; waiting for partitions");
    let topic = options.topic.as_str();
    let mut last_gauges = Instant::now();
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let polled = consumer.poll(Duration::from_millis(100));
        let mut guard = state.lock().expect("archive state");
        let s = guard.as_mut().expect("running");
        if let Some(e) = s.failed.take() {
            break Err(e);
        }
        let mut committer = GroupCommitter {
            consumer: &consumer,
            topic,
        };
        let now = now_ms(started);
        match polled {
            Some(Ok(m)) => {
                let record = ArchiveRecord {
                    payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                    key: m.key().map(Bytes::copy_from_slice),
                    timestamp_ms: m.timestamp().to_millis(),
                    partition: m.partition(),
                    offset: m.offset(),
                };
                let refused = s.archiver.redelivered();
                match s.archiver.push(&record, now, &mut committer) {
                    Ok(flushed) => {
                        if s.archiver.redelivered() == refused {
                            s.stats.records += 1;
                        }
                        for f in &flushed {
                            log_flushed(topic, &metrics, &mut s.stats, f);
                        }
                    }
                    Err(e) => break Err(e.into()),
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
            None => {}
        }
        match s.archiver.tick(now, &mut committer) {
            Ok(flushed) => {
                for f in &flushed {
                    log_flushed(topic, &metrics, &mut s.stats, f);
                }
            }
            Err(e) => break Err(e.into()),
        }
        if last_gauges.elapsed() >= Duration::from_secs(1) {
            metrics.buffered(topic, &s.archiver.buffered());
            last_gauges = Instant::now();
        }
    };
    // Store and commit what is open (unless something failed: then a restart recovers it).
    let mut guard = state.lock().expect("archive state");
    let mut s = guard.take().expect("running");
    drop(guard);
    s.stats.redelivered = s.archiver.redelivered();
    if result.is_ok() {
        let mut committer = GroupCommitter {
            consumer: &consumer,
            topic,
        };
        for f in s.archiver.flush_all(&mut committer)? {
            log_flushed(topic, &metrics, &mut s.stats, &f);
        }
    }
    result.map(|()| s.stats)
}
