//! Produce and delivery: the run's one producer, what each of its delivery reports is about, and the
//! [`Destination`] that puts a task's results, dead letters and late records on it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message};

use super::{Engine, MarkerOffsets, RunOptions, RunStats};
use crate::kafka::sink_encoders::{output_dead_letter, SinkEncoders};
use crate::kafka::KafkaError;
use crate::metrics::Metrics;
use crate::processor::Output;
use crate::topology::route::{route, Destination};
use crate::topology::spec::ProcessingGuarantee;
use crate::topology::task::{DeadLetter, LateRecord, TaskOutput};
use crate::topology::Topology;

/// What a delivery report is about.
#[derive(Debug)]
pub(super) enum Delivery {
    Output,
    Changelog,
    Marker { store: usize, partition: i32 },
}

/// What the delivery reports said since the commit protocol last looked.
#[derive(Default)]
struct DeliveryLog {
    failures: Vec<String>,
    markers: MarkerOffsets,
}

/// The producer context: notes failed deliveries and the changelog offsets of delivered markers.
pub(super) struct EngineProducerContext {
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

/// The run's producer (transactional with `exactly_once_v2`) and the log its delivery reports fill.
pub(super) struct EngineProducer {
    /// The librdkafka producer, for the transaction calls and flushes of the commit protocol.
    pub(super) client: BaseProducer<EngineProducerContext>,
    log: Arc<Mutex<DeliveryLog>>,
}

impl EngineProducer {
    /// The producer of a run of `topology`; with exactly-once, its transactions are initialised
    /// and the first one begun.
    pub(super) fn create(
        topology: &Topology,
        options: &RunOptions,
    ) -> Result<EngineProducer, KafkaError> {
        let log = Arc::new(Mutex::new(DeliveryLog::default()));
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
        let client: BaseProducer<EngineProducerContext> =
            producer_config.create_with_context(EngineProducerContext { log: log.clone() })?;
        if eos {
            client.init_transactions(Duration::from_secs(30))?;
            client.begin_transaction()?;
            tracing::info!("transactional producer ready");
        }
        Ok(EngineProducer { client, log })
    }

    fn send(&self, record: BaseRecord<'_, [u8], [u8], Box<Delivery>>) -> Result<(), KafkaError> {
        let mut record = record;
        loop {
            match self.client.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    // The local queue is full: serve delivery reports, then retry.
                    self.client.poll(Duration::from_millis(10));
                    record = r;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// Produces one changelog record (`None`: a tombstone) to `topic` partition `partition`.
    pub(super) fn send_changelog(
        &self,
        topic: &str,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), KafkaError> {
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(Delivery::Changelog))
            .key(key)
            .partition(partition);
        if let Some(v) = value {
            record = record.payload(v);
        }
        self.send(record)
    }

    /// Produces the flush marker of store `store` to `topic` partition `partition`; its offset is
    /// in the log once delivered.
    pub(super) fn send_marker(
        &self,
        topic: &str,
        store: usize,
        partition: i32,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), KafkaError> {
        self.send(
            BaseRecord::with_opaque_to(topic, Box::new(Delivery::Marker { store, partition }))
                .key(key)
                .payload(value)
                .partition(partition),
        )
    }

    /// The delivery failures and delivered marker offsets since the last call.
    pub(super) fn take_log(&self) -> (Vec<String>, MarkerOffsets) {
        let mut log = self.log.lock().expect("delivery log");
        (
            std::mem::take(&mut log.failures),
            std::mem::take(&mut log.markers),
        )
    }
}

/// The producer as the [`Destination`] of a task's results: each result is encoded by its sink's
/// encoder (one that does not encode becomes a dead letter) and every record counted.
struct ProducerDestination<'a> {
    producer: &'a EngineProducer,
    encoders: &'a SinkEncoders,
    metrics: &'a Metrics,
    stats: &'a mut RunStats,
    dlq_topic: &'a str,
    now_ms: i64,
}

impl Destination for ProducerDestination<'_> {
    type Error = KafkaError;

    fn output(&mut self, topic: &str, o: Output) -> Result<(), KafkaError> {
        let value = match self.encoders.encode(&o) {
            Ok(value) => value,
            Err(e) => {
                let dlq = self.dlq_topic;
                return self.dead_letter(dlq, output_dead_letter(topic, &o, &e));
            }
        };
        self.metrics
            .records_produced
            .with_label_values(&[topic])
            .inc();
        self.metrics
            .end_to_end_latency
            .with_label_values(&[topic])
            .observe(self.now_ms.saturating_sub(o.ts_ms).max(0) as f64 / 1000.0);
        self.producer.send(
            BaseRecord::with_opaque_to(topic, Box::new(Delivery::Output))
                .key(o.key.as_bytes())
                .payload(&value[..])
                .timestamp(o.ts_ms),
        )?;
        self.stats.produced += 1;
        Ok(())
    }

    fn dead_letter(&mut self, topic: &str, d: DeadLetter) -> Result<(), KafkaError> {
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
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(Delivery::Output))
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
            .with_label_values(&[topic])
            .inc();
        self.producer.send(record)
    }

    fn late(&mut self, topic: &str, l: LateRecord) -> Result<(), KafkaError> {
        self.stats.late += 1;
        self.metrics
            .late_records
            .with_label_values(&[&l.late.processor])
            .inc();
        self.metrics
            .records_produced
            .with_label_values(&[topic])
            .inc();
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
        self.producer.send(record)
    }
}

impl Engine {
    /// Counts what `out` says and routes its records onto the producer.
    pub(super) fn emit(&mut self, mut out: TaskOutput) -> Result<(), KafkaError> {
        self.stats.processed += out.processed;
        self.control
            .processed
            .fetch_add(out.processed, Ordering::Relaxed);
        self.stats.windows_closed += out.windows_closed;
        self.metrics.windows_closed.inc_by(out.windows_closed);
        let sent = !out.is_empty();
        let mut to = ProducerDestination {
            producer: &self.producer,
            encoders: &self.encoders,
            metrics: &self.metrics,
            stats: &mut self.stats,
            dlq_topic: &self.dlq_topic,
            now_ms: self.clock.now_ms(),
        };
        route(&self.topology, &mut out, &mut to)?;
        // Serve delivery reports after sends only: polling for every input record cost a sixth of
        // the CPU in clock reads. Commits wait for outstanding deliveries themselves.
        if sent {
            self.producer.client.poll(Duration::ZERO);
        }
        Ok(())
    }
}
