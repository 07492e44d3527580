//! The commit protocol of a run. At least once: outputs, dead letters, late records and changelog
//! data first; flush markers only once the broker acknowledged all of them; then RocksDB; then the
//! input offsets. A failed delivery stops the commit before any marker, so a restart re-produces.
//! A partition's first flush after a restore re-states the keys of changelog records the restore
//! left unapplied. Exactly once: the same records, markers and offsets in one transaction.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{Delivery, Engine, RebalanceContext};
use crate::kafka::KafkaError;
use crate::store::changelog::{changelog_topic, ChangelogRecord, Marker};
use crate::topology::persist::apply_commit;
use crate::topology::task::{Commit, TaskOutput};

/// How long a commit waits for the broker to acknowledge what it produced.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The changelog offset of each flush marker delivered, by (store index, partition).
type MarkerOffsets = HashMap<(usize, i32), i64>;

impl Engine {
    /// Flushes every task (or only `only`), waits for the broker, writes state, commits offsets.
    pub(super) fn commit(
        &mut self,
        consumer: &BaseConsumer<RebalanceContext>,
        only: Option<&[i32]>,
    ) -> Result<(), KafkaError> {
        let started = Instant::now();
        let partitions: Vec<i32> = match only {
            Some(ps) => ps
                .iter()
                .copied()
                .filter(|p| self.tasks.contains_key(p))
                .collect(),
            None => self.tasks.keys().copied().collect(),
        };
        if partitions.is_empty() {
            return Ok(());
        }
        let mut pending = Vec::new();
        for p in &partitions {
            let mut out = TaskOutput::default();
            let mut commit = self.tasks.get_mut(p).expect("listed").commit(&mut out);
            if let Some(restated) = self.restated.remove(p) {
                // First, so the task's own changes to the same keys win.
                commit.writes.splice(0..0, restated);
            }
            self.emit(out)?;
            self.send_changelog_data(*p, &commit)?;
            pending.push((*p, commit));
        }
        let mut offsets = TopicPartitionList::new();
        for (p, commit) in &pending {
            offsets.add_partition_offset(
                &self.input_topic,
                *p,
                Offset::Offset(commit.input_offset),
            )?;
        }
        let markers = if self.in_transaction {
            for (p, commit) in &pending {
                self.send_markers(*p, commit)?;
            }
            self.producer.send_offsets_to_transaction(
                &offsets,
                &consumer.group_metadata().ok_or_else(|| {
                    KafkaError::Delivery(1, "the consumer has no group metadata".into())
                })?,
                Duration::from_secs(30),
            )?;
            self.producer.commit_transaction(DELIVERY_TIMEOUT)?;
            self.take_deliveries()?
        } else {
            // A marker says "everything before me is complete": it may only follow records the
            // broker has, including the outputs emitted since the previous commit.
            self.await_deliveries()?;
            for (p, commit) in &pending {
                self.send_markers(*p, commit)?;
            }
            self.await_deliveries()?
        };
        self.control.set_producer_error(None);
        for (p, commit) in pending {
            let changelog_offsets = self
                .stores
                .iter()
                .enumerate()
                .filter_map(|(i, s)| markers.get(&(i, p)).map(|o| (s.clone(), *o)))
                .collect();
            apply_commit(self.backend.as_mut(), p, commit, changelog_offsets)?;
        }
        if self.in_transaction {
            self.producer.begin_transaction()?;
        } else {
            consumer.commit(&offsets, CommitMode::Sync)?;
        }
        self.stats.commits += 1;
        self.control.commits.fetch_add(1, Ordering::Relaxed);
        self.metrics.commits.inc();
        self.metrics
            .commit_latency
            .observe(started.elapsed().as_secs_f64());
        self.record_store_stats();
        tracing::debug!(partitions = ?partitions, elapsed_ms = started.elapsed().as_millis() as u64, "committed");
        Ok(())
    }

    /// Produces `commit`'s writes to each store's changelog partition `partition`.
    fn send_changelog_data(&self, partition: i32, commit: &Commit) -> Result<(), KafkaError> {
        for store in &self.stores {
            let topic = changelog_topic(&self.topology.application_id, store);
            let writes: Vec<_> = commit
                .writes
                .iter()
                .filter(|(s, _, _)| s == store)
                .collect();
            self.metrics
                .records_produced
                .with_label_values(&[&topic])
                .inc_by(writes.len() as u64);
            for (_, key, value) in writes {
                let mut record = BaseRecord::with_opaque_to(&topic, Box::new(Delivery::Changelog))
                    .key(&key[..])
                    .partition(partition);
                if let Some(v) = value {
                    record = record.payload(&v[..]);
                }
                self.send(record)?;
            }
        }
        Ok(())
    }

    /// Produces the flush marker of `commit` to each store's changelog partition `partition`.
    fn send_markers(&self, partition: i32, commit: &Commit) -> Result<(), KafkaError> {
        let record = ChangelogRecord::marker(&Marker {
            generation: commit.generation,
            input_offset: commit.input_offset,
            watermark_ms: commit.watermark_ms,
        });
        let value = record.value.unwrap_or_default();
        for (store_index, store) in self.stores.iter().enumerate() {
            let topic = changelog_topic(&self.topology.application_id, store);
            self.metrics
                .records_produced
                .with_label_values(&[&topic])
                .inc();
            self.send(
                BaseRecord::with_opaque_to(
                    &topic,
                    Box::new(Delivery::Marker {
                        store: store_index,
                        partition,
                    }),
                )
                .key(&record.key[..])
                .payload(&value[..])
                .partition(partition),
            )?;
        }
        Ok(())
    }

    /// Waits until the broker acknowledged (or refused) everything produced so far, then
    /// [`Engine::take_deliveries`].
    fn await_deliveries(&mut self) -> Result<MarkerOffsets, KafkaError> {
        if let Err(e) = self.producer.flush(DELIVERY_TIMEOUT) {
            let e = KafkaError::Delivery(
                self.producer.in_flight_count().max(1) as usize,
                format!("not acknowledged within {DELIVERY_TIMEOUT:?} ({e})"),
            );
            self.control.set_producer_error(Some(e.to_string()));
            return Err(e);
        }
        self.take_deliveries()
    }

    /// The offsets of the markers delivered since the last call, or the first delivery failure.
    fn take_deliveries(&mut self) -> Result<MarkerOffsets, KafkaError> {
        let (failures, markers) = {
            let mut log = self.deliveries.lock().expect("delivery log");
            (
                std::mem::take(&mut log.failures),
                std::mem::take(&mut log.markers),
            )
        };
        if let Some(first) = failures.first() {
            self.control
                .set_producer_error(Some(format!("delivery failed: {first}")));
            return Err(KafkaError::Delivery(failures.len(), first.clone()));
        }
        Ok(markers)
    }
}
