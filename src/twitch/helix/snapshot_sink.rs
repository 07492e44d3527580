//! Where snapshots go, for `monitor` and `replay --format snapshots` alike: one producer on
//! `twitch.streams` with key = channel, record timestamp = the snapshot's `ts`, and the value in Avro
//! (registry wire format, `avro/stream_snapshot.avsc`) or JSON of the same shape.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::watch;

use super::snapshot::StreamSnapshot;
use super::HelixError;
use crate::avro::registry::{register_with_retry, Backoff};
use crate::avro::{registry_for, value_subject, AvroSchema, ValueEncoder};
use crate::kafka::topics::ensure_topic;
use crate::kafka::{KafkaError, KafkaSettings};

/// The topic snapshots go to unless told otherwise.
pub const DEFAULT_STREAMS_TOPIC: &str = "twitch.streams";

/// The built-in schema of `twitch.streams` values.
pub const SNAPSHOT_SCHEMA: &str = "stream_snapshot";

/// Where and how snapshots are written.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Cluster settings.
    pub kafka: KafkaSettings,
    /// The snapshot topic.
    pub topic: String,
    /// Partitions of the topic when chatpulse creates it.
    pub partitions: i32,
    /// Replication factor of the topic when chatpulse creates it (-1: the broker's default).
    pub replication_factor: i32,
    /// Schema Registry URL (`http(s)://...` or `mock://NAME`): snapshots are Avro
    /// (`avro/stream_snapshot.avsc`, subject `<topic>-value`). None writes JSON.
    pub schema_registry: Option<String>,
}

/// The record value of a snapshot: Avro in the registry wire format, or JSON of the same shape.
pub fn encode_snapshot(
    snapshot: &StreamSnapshot,
    encoder: &ValueEncoder,
) -> Result<Vec<u8>, HelixError> {
    let json = serde_json::to_value(snapshot).expect("snapshots serialize");
    encoder
        .encode(&json)
        .map_err(|e| HelixError::Avro(e.to_string()))
}

/// An idempotent producer of snapshots. [`SnapshotSink::send`] keeps up to `max_in_flight`
/// deliveries outstanding (their order per channel is kept); [`SnapshotSink::flush`] awaits them all.
pub struct SnapshotSink {
    producer: FutureProducer,
    encoder: ValueEncoder,
    topic: String,
    pending: VecDeque<DeliveryFuture>,
    max_in_flight: usize,
    acknowledged: u64,
}

impl SnapshotSink {
    /// Makes sure the topic exists, registers the snapshot schema under `<topic>-value` (waiting out
    /// an unreachable registry until `stop`) and creates the producer; JSON without a registry.
    pub async fn connect(
        options: &SinkOptions,
        stop: &watch::Receiver<bool>,
    ) -> Result<SnapshotSink, HelixError> {
        ensure_topic(
            &options.kafka,
            &options.topic,
            options.partitions,
            options.replication_factor,
        )
        .await?;
        let producer: FutureProducer = options
            .kafka
            .producer_config()
            .create()
            .map_err(KafkaError::from)?;
        let encoder =
            snapshot_encoder(options.schema_registry.as_deref(), &options.topic, stop).await?;
        Ok(SnapshotSink {
            producer,
            encoder,
            topic: options.topic.clone(),
            pending: VecDeque::new(),
            max_in_flight: 1000,
            acknowledged: 0,
        })
    }

    /// At most `n` (at least 1) deliveries outstanding before [`SnapshotSink::send`] waits.
    pub fn with_max_in_flight(mut self, n: usize) -> SnapshotSink {
        self.max_in_flight = n.max(1);
        self
    }

    /// Snapshots Kafka has acknowledged so far.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged
    }

    /// Hands `snapshot` to the producer; waits for the oldest delivery when `max_in_flight` are
    /// outstanding. Fails when a delivery failed.
    pub async fn send(&mut self, snapshot: &StreamSnapshot) -> Result<(), HelixError> {
        self.settle_ready()?;
        while self.pending.len() >= self.max_in_flight {
            self.settle_oldest().await?;
        }
        let value = encode_snapshot(snapshot, &self.encoder)?;
        loop {
            let record = FutureRecord::to(&self.topic)
                .key(&snapshot.channel)
                .payload(&value)
                .timestamp(snapshot.ts);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.pending.push_back(delivery);
                    return Ok(());
                }
                // librdkafka's own queue is full: make room by waiting for the oldest delivery.
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if !self.pending.is_empty() =>
                {
                    self.settle_oldest().await?
                }
                Err((e, _)) => return Err(KafkaError::from(e).into()),
            }
        }
    }

    /// Waits until every snapshot sent is acknowledged; fails on the first that was not.
    pub async fn flush(&mut self) -> Result<(), HelixError> {
        while !self.pending.is_empty() {
            self.settle_oldest().await?;
        }
        Ok(())
    }

    /// Counts the deliveries at the front of the queue that are already done, without waiting.
    fn settle_ready(&mut self) -> Result<(), HelixError> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        while let Some(front) = self.pending.front_mut() {
            let Poll::Ready(result) = Pin::new(front).poll(&mut cx) else {
                return Ok(());
            };
            self.pending.pop_front();
            self.acknowledge(result)?;
        }
        Ok(())
    }

    async fn settle_oldest(&mut self) -> Result<(), HelixError> {
        if let Some(delivery) = self.pending.pop_front() {
            let result = tokio::time::timeout(Duration::from_secs(600), delivery)
                .await
                .map_err(|_| {
                    KafkaError::Delivery(1, "no delivery report within 10 minutes".into())
                })?;
            self.acknowledge(result)?;
        }
        Ok(())
    }

    fn acknowledge(
        &mut self,
        result: <DeliveryFuture as Future>::Output,
    ) -> Result<(), HelixError> {
        match result {
            Ok(Ok(_)) => {
                self.acknowledged += 1;
                Ok(())
            }
            Ok(Err((e, _))) => Err(KafkaError::Delivery(1, e.to_string()).into()),
            Err(_) => Err(KafkaError::Delivery(1, "the producer stopped".into()).into()),
        }
    }
}

/// Registers the snapshot schema under `<topic>-value` (waiting out an unreachable registry until
/// `stop`) and returns the encoder; JSON without a registry.
async fn snapshot_encoder(
    registry: Option<&str>,
    topic: &str,
    stop: &watch::Receiver<bool>,
) -> Result<ValueEncoder, HelixError> {
    let Some(url) = registry else {
        tracing::warn!("no --schema-registry: writing snapshots as JSON, not Avro");
        return Ok(ValueEncoder::Json);
    };
    let schema =
        AvroSchema::builtin(SNAPSHOT_SCHEMA).map_err(|e| HelixError::Avro(e.to_string()))?;
    let registry = registry_for(url).map_err(|e| HelixError::Avro(e.to_string()))?;
    let stopping = || *stop.borrow();
    let id = register_with_retry(
        registry.as_ref(),
        &value_subject(topic),
        &schema.text,
        Backoff::default(),
        &stopping,
        &|| {},
    )
    .await
    .map_err(|e| HelixError::Avro(e.to_string()))?;
    Ok(ValueEncoder::Avro {
        id,
        schema: Box::new(schema),
    })
}
