//! Rebalance and restore: the consumer context that restores assigned partitions from local state
//! and changelog, commits and drops revoked ones, and keeps the lag statistics.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;

use super::{Engine, RebalanceContext};
use crate::kafka::restore::{restore_partition_observed, RestoreProgress};
use crate::kafka::KafkaError;
use crate::metrics::consumer_lag;
use crate::store::Checkpoint;
use crate::topology::spec::ValueFormat;
use crate::topology::Task;

impl Engine {
    /// A task for `partition` rebuilt from the local state (every store's entries and the
    /// checkpointed position), and that checkpoint.
    pub(super) fn task_from_local_state(
        &self,
        partition: i32,
        now: i64,
    ) -> Result<(Task, Option<Checkpoint>), KafkaError> {
        let mut task = Task::sharing(self.topology.clone(), partition, now, &self.globals);
        if let Some(decoder) = &self.avro_decoder {
            for (source, spec) in self.topology.sources.iter().enumerate() {
                if spec.format == ValueFormat::Avro {
                    task.set_decoder(source, decoder.clone());
                }
            }
        }
        for store in &self.stores {
            for (key, value) in self.backend.scan(store, partition)? {
                task.restore_entry(store, &key, &value)?;
            }
        }
        let checkpoint = self.backend.checkpoint(partition)?;
        if let Some(c) = &checkpoint {
            task.restore_position(c.generation, c.input_offset, c.watermark_ms, now);
            task.restore_more_offsets(&c.more_offsets);
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

    /// Restores `partition` from local state and its changelog tail and returns the offset to
    /// resume each source at (`None`: where the group's offsets say).
    fn assign(&mut self, partition: i32) -> Result<Vec<(usize, Option<i64>)>, KafkaError> {
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
        let resume: Vec<(usize, Option<i64>)> = self
            .input_topics
            .iter()
            .map(|(s, _)| (*s, checkpoint.as_ref().map(|_| task.next_offset_of(*s))))
            .collect();
        tracing::info!(partition, restored = report.records_read, resume = ?resume, open = task.open_entries(), "partition assigned");
        self.tasks.insert(partition, task);
        self.control.forget_lag(partition);
        self.control.assigned.fetch_add(1, Ordering::SeqCst);
        self.control.owned.lock().expect("owned").insert(partition);
        self.metrics.assigned_partitions.inc();
        Ok(resume)
    }
}

/// The distinct partition numbers of `tpl`: with several input topics, partition `p` of each
/// belongs to task `p`.
fn partitions_of(tpl: &TopicPartitionList) -> Vec<i32> {
    let mut partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
    partitions.sort_unstable();
    partitions.dedup();
    partitions
}

/// How far before a restored position the consumer starts to fetch: librdkafka's producers put
/// at most `batch.num.messages` (default 10,000) records in one batch, so the batch holding the
/// restored position starts at most this far before it.
const BATCH_REWIND: i64 = 10_000;

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
                let partitions = partitions_of(tpl);
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
                        Ok(resume) => {
                            for (at, (source, offset)) in resume.into_iter().enumerate() {
                                let topic = &engine.input_topics[at].1;
                                let offset = if engine.topology.tables[source].is_some() {
                                    // A table is read from its topic's start: the rows before
                                    // the restored position restore it (process() sees them).
                                    Offset::Beginning
                                } else if let Some(offset) = offset {
                                    // Fetch from up to one producer batch earlier; process()
                                    // skips the records before the restored position. tansu 0.6
                                    // answers a fetch at an offset inside a batch with the
                                    // batches after it only, so the rest of that batch was never
                                    // read (the lost minutes of issue 13 points 7 and 8).
                                    Offset::Offset(offset.saturating_sub(BATCH_REWIND).max(0))
                                } else {
                                    continue;
                                };
                                let _ = tpl.set_partition_offset(topic, p, offset);
                            }
                        }
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
                let partitions = partitions_of(tpl);
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
