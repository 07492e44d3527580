//! The producer of the benchmark tools (`bench load`, `bench latency`): `run`'s client settings,
//! a send that waits while the local queue is full, and a flush that fails when any record could
//! not be delivered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::kafka::KafkaSettings;

/// Counts failed deliveries.
#[derive(Default)]
pub(super) struct CountFailures(AtomicU64);

impl ClientContext for CountFailures {}

impl ProducerContext for CountFailures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::error!(error = %e, "delivery failed");
            }
        }
    }
}

pub(super) fn producer(kafka: &KafkaSettings) -> Result<BaseProducer<CountFailures>> {
    Ok(kafka
        .producer_config()
        .create_with_context(CountFailures::default())?)
}

/// Sends `record`, serving delivery reports while the local queue is full.
pub(super) fn send(
    p: &BaseProducer<CountFailures>,
    record: BaseRecord<'_, [u8], [u8]>,
) -> Result<()> {
    let mut record = record;
    loop {
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                p.poll(Duration::from_millis(10));
                record = r;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Flushes `p` and fails if any delivery failed.
pub(super) fn flush(p: &BaseProducer<CountFailures>) -> Result<()> {
    p.flush(Duration::from_secs(120))?;
    let failed = p.context().0.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} record(s) could not be delivered: check the broker log");
    }
    Ok(())
}
