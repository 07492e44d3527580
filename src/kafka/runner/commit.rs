//! The commit protocol of a run. At least once: outputs, dead letters, late records and changelog
//! data first; flush markers only once the broker acknowledged all of them; then RocksDB; then the
//! input offsets. A failed delivery stops the commit before any marker, so a restart re-produces.
//! A partition's first flush after a restore re-states the keys of changelog records the restore
//! left unapplied. Exactly once: the same records, markers and offsets in one transaction; a failed
//! step aborts it and rewinds every task to the local state ([`Engine::rewind`]).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::{Producer, PurgeConfig};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{Engine, EngineConsumer, MarkerOffsets};
use crate::kafka::KafkaError;
use crate::store::changelog::{changelog_topic, ChangelogRecord, Marker};
use crate::topology::persist::apply_commit;
use crate::topology::task::{Commit, TaskOutput};

/// How long a commit waits for the broker to acknowledge what it produced.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

impl Engine {
    /// Flushes every task (or only `only`), waits for the broker, writes state, commits offsets.
    pub(super) fn commit(
        &mut self,
        consumer: &EngineConsumer,
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
            for (topic, offset) in self.input_positions(commit) {
                offsets.add_partition_offset(topic, *p, Offset::Offset(offset))?;
            }
        }
        let markers = if self.in_transaction {
            for (p, commit) in &pending {
                self.send_markers(*p, commit)?;
            }
            self.producer.client.send_offsets_to_transaction(
                &offsets,
                &consumer.group_metadata().ok_or_else(|| {
                    KafkaError::Delivery(1, "the consumer has no group metadata".into())
                })?,
                Duration::from_secs(30),
            )?;
            self.producer.client.commit_transaction(DELIVERY_TIMEOUT)?;
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
            self.producer.client.begin_transaction()?;
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

    /// Each input topic with the offset `commit` resumes it at.
    fn input_positions<'a>(&'a self, commit: &'a Commit) -> impl Iterator<Item = (&'a str, i64)> {
        self.input_topics.iter().map(|(source, topic)| {
            let offset = match *source {
                0 => commit.input_offset,
                n => commit.more_offsets.get(n - 1).copied().unwrap_or(0),
            };
            (topic.as_str(), offset)
        })
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
                self.producer
                    .send_changelog(&topic, partition, key, value.as_deref())?;
            }
        }
        Ok(())
    }

    /// Produces the flush marker of `commit` to each store's changelog partition `partition`.
    fn send_markers(&self, partition: i32, commit: &Commit) -> Result<(), KafkaError> {
        let record = ChangelogRecord::marker(&Marker {
            generation: commit.generation,
            input_offset: commit.input_offset,
            more_offsets: commit.more_offsets.clone(),
            watermark_ms: commit.watermark_ms,
        });
        let value = record.value.unwrap_or_default();
        for (store_index, store) in self.stores.iter().enumerate() {
            let topic = changelog_topic(&self.topology.application_id, store);
            self.metrics
                .records_produced
                .with_label_values(&[&topic])
                .inc();
            self.producer
                .send_marker(&topic, store_index, partition, &record.key, &value)?;
        }
        Ok(())
    }

    /// Waits until the broker acknowledged (or refused) everything produced so far, then
    /// [`Engine::take_deliveries`].
    fn await_deliveries(&mut self) -> Result<MarkerOffsets, KafkaError> {
        if let Err(e) = self.producer.client.flush(DELIVERY_TIMEOUT) {
            let e = KafkaError::Delivery(
                self.producer.client.in_flight_count().max(1) as usize,
                format!("not acknowledged within {DELIVERY_TIMEOUT:?} ({e})"),
            );
            self.control.set_producer_error(Some(e.to_string()));
            return Err(e);
        }
        self.take_deliveries()
    }

    /// The offsets of the markers delivered since the last call, or the first delivery failure.
    fn take_deliveries(&mut self) -> Result<MarkerOffsets, KafkaError> {
        let (failures, markers) = self.producer.take_log();
        if let Some(first) = failures.first() {
            self.control
                .set_producer_error(Some(format!("delivery failed: {first}")));
            return Err(KafkaError::Delivery(failures.len(), first.clone()));
        }
        Ok(markers)
    }

    /// Exactly-once recovery: aborts the open transaction, rebuilds every task from the local state
    /// (which holds only committed flushes) and seeks the input back to where that state ends.
    pub(super) fn rewind(&mut self, consumer: &EngineConsumer) -> Result<(), KafkaError> {
        // The aborted transaction's records are discarded; their delivery reports must be served
        // before the abort can complete.
        self.producer
            .client
            .purge(PurgeConfig::default().queue().inflight());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.producer.client.in_flight_count() > 0 && Instant::now() < deadline {
            self.producer.client.poll(Duration::from_millis(50));
        }
        self.producer
            .client
            .abort_transaction(Duration::from_secs(30))?;
        self.producer.take_log();
        self.stats.aborts += 1;
        self.metrics.transaction_aborts.inc();
        let now = self.clock.now_ms();
        let partitions: Vec<i32> = self.tasks.keys().copied().collect();
        let mut committed = TopicPartitionList::new();
        for p in &partitions {
            for (_, topic) in &self.input_topics {
                committed.add_partition(topic, *p);
            }
        }
        let committed = consumer.committed_offsets(committed, Duration::from_secs(30))?;
        for p in partitions {
            let (task, checkpoint) = self.task_from_local_state(p, now)?;
            for (source, topic) in &self.input_topics {
                let source = *source;
                let offset = match (&checkpoint, self.topology.tables[source].is_some()) {
                    // A table is read again from its start: its rows restore the table.
                    (_, true) => Offset::Beginning,
                    (Some(_), false) => Offset::Offset(task.next_offset_of(source)),
                    (None, false) => match committed.find_partition(topic, p).map(|e| e.offset()) {
                        Some(Offset::Offset(o)) => Offset::Offset(o),
                        _ => Offset::Beginning,
                    },
                };
                consumer.seek(topic, p, offset, Duration::from_secs(30))?;
                tracing::warn!(partition = p, topic = %topic, offset = ?offset, "transaction aborted: rewound to the last committed state");
            }
            self.tasks.insert(p, task);
        }
        drop(committed);
        self.producer.client.begin_transaction()?;
        Ok(())
    }
}
