//! The bounded path from readers to Kafka: [`LineQueue`] handles put lines on a bounded queue, and one
//! task moves them into an idempotent producer (acks=all) whose delivery reports feed the counters.
//! Live ingestion uses [`LineQueue::offer`], which drops and counts a line when the queue is full so the
//! socket is never blocked; replay uses [`LineQueue::send`], which waits for room instead.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};
use tokio::sync::mpsc;

use super::record::{RawLine, CONNECTION_HEADER, RECEIVED_AT_HEADER};
use super::{IngestError, IngestMetrics};
use crate::kafka::topics::ensure_topic;
use crate::kafka::{KafkaError, KafkaSettings};

/// How to run the producer.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// Cluster settings.
    pub kafka: KafkaSettings,
    /// The topic lines go to.
    pub topic: String,
    /// Lines the queue holds before live lines are dropped.
    pub capacity: usize,
    /// Partitions of the topic when chatpulse creates it.
    pub partitions: i32,
    /// Replication factor of the topic when chatpulse creates it (-1: the broker's default).
    pub replication_factor: i32,
    /// How long the final flush may take when the producer stops.
    pub flush_timeout: Duration,
}

impl ProducerOptions {
    /// Defaults for `kafka` and `topic`: 100,000 lines of buffer, 6 partitions, 60 s final flush.
    pub fn new(kafka: KafkaSettings, topic: impl Into<String>) -> ProducerOptions {
        ProducerOptions {
            kafka,
            topic: topic.into(),
            capacity: 100_000,
            partitions: 6,
            replication_factor: -1,
            flush_timeout: Duration::from_secs(60),
        }
    }
}

/// What the producer did, returned when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerStats {
    /// Lines handed to the producer.
    pub enqueued: u64,
    /// Lines still undelivered when the final flush timed out.
    pub unflushed: u64,
}

/// A handle that queues lines for Kafka; clone it freely. The producer stops when every handle is
/// dropped.
#[derive(Debug, Clone)]
pub struct LineQueue {
    tx: mpsc::Sender<RawLine>,
    metrics: IngestMetrics,
    last_drop_warning_ms: Arc<AtomicI64>,
}

/// Starts the producer: makes sure the topic exists, creates the producer and spawns the task that feeds
/// it. Await the handle, after dropping every [`LineQueue`], to flush and get the stats.
pub async fn start_producer(
    options: ProducerOptions,
    metrics: IngestMetrics,
) -> Result<(LineQueue, tokio::task::JoinHandle<ProducerStats>), IngestError> {
    ensure_topic(
        &options.kafka,
        &options.topic,
        options.partitions,
        options.replication_factor,
    )
    .await?;
    let producer: ThreadedProducer<CountingContext> = options
        .kafka
        .producer_config()
        .create_with_context(CountingContext {
            metrics: metrics.clone(),
        })
        .map_err(KafkaError::from)?;
    let (tx, rx) = mpsc::channel(options.capacity.max(1));
    let handle = tokio::spawn(feed(producer, rx, options));
    Ok((
        LineQueue {
            tx,
            metrics,
            last_drop_warning_ms: Arc::new(AtomicI64::new(i64::MIN)),
        },
        handle,
    ))
}

impl LineQueue {
    /// Queues `line` if there is room; otherwise counts it as dropped, warns at most every 10 s, and
    /// returns false. Never waits.
    pub fn offer(&self, line: RawLine) -> bool {
        self.metrics.received(&line.channel);
        match self.tx.try_send(line) {
            Ok(()) => true,
            Err(
                mpsc::error::TrySendError::Full(line) | mpsc::error::TrySendError::Closed(line),
            ) => {
                self.metrics.dropped(&line.channel);
                self.warn_dropped(line.received_at_ms);
                false
            }
        }
    }

    /// Queues `line`, waiting for room.
    pub async fn send(&self, line: RawLine) -> Result<(), IngestError> {
        self.metrics.received(&line.channel);
        let channel = line.channel.clone();
        self.tx.send(line).await.map_err(|_| {
            self.metrics.dropped(&channel);
            IngestError::ProducerStopped
        })
    }

    /// The counters this queue updates.
    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }

    /// Lines waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    fn warn_dropped(&self, now_ms: i64) {
        let last = self.last_drop_warning_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= 10_000
            && self
                .last_drop_warning_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped_total = self.metrics.totals().dropped,
                capacity = self.tx.max_capacity(),
                "the Kafka buffer is full: dropping chat lines (is the broker slow or away? raise --buffer)"
            );
        }
    }
}

/// Moves queued lines into the producer until every handle is gone, then flushes.
async fn feed(
    producer: ThreadedProducer<CountingContext>,
    mut rx: mpsc::Receiver<RawLine>,
    options: ProducerOptions,
) -> ProducerStats {
    let mut stats = ProducerStats::default();
    while let Some(line) = rx.recv().await {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: RECEIVED_AT_HEADER,
                value: Some(line.received_at_ms.to_string().as_bytes()),
            })
            .insert(Header {
                key: CONNECTION_HEADER,
                value: Some(line.connection.as_bytes()),
            });
        let mut record = BaseRecord::to(&options.topic)
            .key(line.channel.as_str())
            .payload(line.line.as_str())
            .timestamp(line.timestamp_ms())
            .headers(headers);
        // librdkafka's own queue is full while the broker is away: wait for room (our bounded
        // queue then fills and live lines are dropped and counted there).
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => {
                    tracing::warn!(error = %e, channel = %line.channel, "cannot produce a chat line");
                    producer.context().metrics.dropped(&line.channel);
                    break;
                }
            }
        }
        stats.enqueued += 1;
    }
    let timeout = options.flush_timeout;
    let producer = Arc::new(producer);
    let flushing = producer.clone();
    let flushed = tokio::task::spawn_blocking(move || flushing.flush(timeout))
        .await
        .expect("flush task");
    if let Err(e) = flushed {
        stats.unflushed = producer.in_flight_count().max(0) as u64;
        tracing::warn!(error = %e, unflushed = stats.unflushed, "final flush incomplete");
    }
    stats
}

/// Counts delivery reports: acknowledged lines as produced, failed ones as dropped.
struct CountingContext {
    metrics: IngestMetrics,
}

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(msg) => self.metrics.produced(key(msg)),
            Err((e, msg)) => {
                tracing::warn!(error = %e, "a chat line was not delivered: it is lost");
                self.metrics.dropped(key(msg));
            }
        }
    }
}

fn key<'m>(msg: &'m rdkafka::message::BorrowedMessage<'_>) -> &'m str {
    msg.key()
        .and_then(|k| std::str::from_utf8(k).ok())
        .unwrap_or("")
}
