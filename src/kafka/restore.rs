//! Restoring a partition's state before it processes: the local RocksDB checkpoint says which
//! changelog offsets it already holds; the changelog tail after them (written by another instance, or
//! by this one before a crash) is read in batches and applied up to the newest flush that every store
//! completed, so state and input position always match.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;

use super::client::ReadToEnd;
use super::{KafkaError, KafkaSettings};
use crate::store::changelog::{changelog_topic, Restorer};
use crate::store::{Checkpoint, StateBackend, StoreWrite};

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// The checkpoint the partition resumes from (None: no state; start from the committed offset).
    pub checkpoint: Option<Checkpoint>,
    /// Changelog records read.
    pub records_read: u64,
    /// Per store whose changelog holds records after the flush restored to (a flush that did not
    /// complete in every store), the offset of the last record the restored state holds: the new
    /// owner voids what follows it ([`crate::store::changelog::VoidMark`]) before it flushes.
    pub void_after: BTreeMap<String, i64>,
}

/// Progress of a restore, reported as it reads (for metrics).
#[derive(Debug, Clone, Copy)]
pub struct RestoreProgress<'a> {
    /// The store being restored.
    pub store: &'a str,
    /// Changelog records read since the previous report.
    pub newly_read: u64,
    /// Changelog records still to read for this store and partition.
    pub remaining: i64,
}

/// Brings `partition`'s local state up to date with its changelogs.
pub fn restore_partition(
    settings: &KafkaSettings,
    backend: &mut dyn StateBackend,
    application_id: &str,
    stores: &[String],
    partition: i32,
) -> Result<RestoreReport, KafkaError> {
    restore_partition_observed(
        settings,
        backend,
        application_id,
        stores,
        partition,
        &mut |_| {},
    )
}

/// [`restore_partition`], reporting its progress to `progress` every 1000 records and when each
/// store is done.
pub fn restore_partition_observed(
    settings: &KafkaSettings,
    backend: &mut dyn StateBackend,
    application_id: &str,
    stores: &[String],
    partition: i32,
    progress: &mut dyn FnMut(RestoreProgress<'_>),
) -> Result<RestoreReport, KafkaError> {
    let local = backend.checkpoint(partition)?;
    let consumer: BaseConsumer<ReadToEnd> = settings
        .end_reader_config(&format!("{application_id}-restore"))
        .set("isolation.level", "read_committed")
        .create_with_context(ReadToEnd)?;
    let mut restorers = Vec::new();
    let mut records_read = 0u64;
    for store in stores {
        let topic = changelog_topic(application_id, store);
        let (low, high) = consumer.fetch_watermarks(&topic, partition, Duration::from_secs(30))?;
        let start = local
            .as_ref()
            .and_then(|c| c.changelog_offsets.get(store))
            .map_or(low, |o| (o + 1).max(low));
        let mut restorer = Restorer::new(store.clone());
        let mut reported = records_read;
        progress(RestoreProgress {
            store,
            newly_read: 0,
            remaining: (high - start).max(0),
        });
        // Nothing after the local state: skip the read to the end, which waits a fetch round for
        // the end-of-partition event (about a second per store on tansu, so a restart of a
        // 6-partition, 7-store topology spent 40 s here before any record flowed). `high` is the
        // broker's end, or on tansu the last batch's base + 1: a flush's marker ends its batch, so
        // a tail after it starts a later batch and `high` is past `start`.
        if start >= high {
            restorers.push(restorer);
            continue;
        }
        // Read to the end the fetch responses report (a partition-EOF event), not to `high`:
        // tansu 0.6 answers ListOffsets with the last batch's base offset + 1, so `high` can fall
        // short of the records of the last batch; it only sizes the progress figures here.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, partition, Offset::Offset(start))?;
        consumer.assign(&tpl)?;
        let began = Instant::now();
        let mut last_report = Instant::now();
        let mut next = start;
        loop {
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(msg)) => {
                    next = msg.offset() + 1;
                    records_read += 1;
                    restorer.push(msg.offset(), msg.key().unwrap_or(&[]), msg.payload())?;
                    if records_read - reported >= 1000 {
                        progress(RestoreProgress {
                            store,
                            newly_read: records_read - reported,
                            remaining: (high - next).max(0),
                        });
                        reported = records_read;
                    }
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => return Err(e.into()),
                None if began.elapsed() > Duration::from_secs(300) => {
                    return Err(KafkaError::Stalled {
                        what: format!(
                            "restoring changelog {topic} partition {partition} at offset {next}"
                        ),
                        after: Duration::from_secs(300),
                    })
                }
                None => {}
            }
            if last_report.elapsed() >= Duration::from_secs(1) {
                tracing::info!(topic = %topic, partition, done = next - start, total = high - start, "restoring");
                last_report = Instant::now();
            }
        }
        consumer.unassign()?;
        if next > start {
            tracing::info!(topic = %topic, partition, records = next - start, "restored changelog tail");
        }
        progress(RestoreProgress {
            store,
            newly_read: records_read - reported,
            remaining: 0,
        });
        restorers.push(restorer);
    }
    // The newest generation every store completed after the local checkpoint.
    let common = restorers
        .iter()
        .map(|r| r.generations().last().copied())
        .collect::<Option<Vec<u64>>>()
        .and_then(|gens| gens.into_iter().min());
    let newer = match (&local, common) {
        (_, None) => None,
        (Some(l), Some(g)) if g <= l.generation => None,
        (_, Some(g)) => Some(g),
    };
    let Some(generation) = newer else {
        // The local state stands; whatever the tails hold after it never completed everywhere.
        let void_after = stores
            .iter()
            .zip(&restorers)
            .filter_map(|(store, r)| {
                let held = local.as_ref().and_then(|c| c.changelog_offsets.get(store));
                let after = held.copied().unwrap_or(-1);
                r.unfinished_after(after).then(|| (store.clone(), after))
            })
            .collect();
        return Ok(RestoreReport {
            checkpoint: local,
            records_read,
            void_after,
        });
    };
    let mut writes: Vec<StoreWrite> = Vec::new();
    let mut checkpoint = Checkpoint {
        generation,
        input_offset: 0,
        watermark_ms: i64::MIN,
        changelog_offsets: local
            .as_ref()
            .map(|c| c.changelog_offsets.clone())
            .unwrap_or_default(),
    };
    let mut void_after = BTreeMap::new();
    for (store, restorer) in stores.iter().zip(restorers) {
        let tail = restorer.last_offset();
        let restored = restorer.apply_up_to_generation(generation)?;
        if let (Some(m), Some(offset)) = (restored.marker, restored.marker_offset) {
            checkpoint.input_offset = m.input_offset;
            checkpoint.watermark_ms = m.watermark_ms;
            checkpoint.changelog_offsets.insert(store.clone(), offset);
            if restored.ignored_records > 0 || tail.is_some_and(|t| t > offset) {
                void_after.insert(store.clone(), offset);
            }
        }
        writes.extend(restored.writes);
    }
    backend.apply(partition, &writes, &checkpoint)?;
    Ok(RestoreReport {
        checkpoint: Some(checkpoint),
        records_read,
        void_after,
    })
}
