//! Restoring a partition's state before it processes: the local RocksDB checkpoint says which
//! changelog offsets it already holds; the changelog tail after them (written by another instance, or
//! by this one before a crash) is read in batches and applied up to the newest flush that every store
//! completed, so state and input position always match. Local state that its changelog does not hold
//! (a new broker, a recreated topic) is discarded and rebuilt from the changelog.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;

use super::client::ReadToEnd;
use super::topics::end_offset;
use super::{KafkaError, KafkaSettings};
use crate::store::changelog::{changelog_topic, Marker, Restorer};
use crate::store::{Checkpoint, StateBackend, StoreWrite};

/// How long a restore may read nothing before it fails, unless the caller says otherwise: the limit
/// is on the time since the last changelog record arrived, not on the restore as a whole.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(300);

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// The checkpoint the partition resumes from (None: no state; start from the committed offset).
    pub checkpoint: Option<Checkpoint>,
    /// Changelog records read.
    pub records_read: u64,
    /// Why the local state was discarded before restoring, when it was (its changelog does not
    /// hold the flush the local checkpoint names).
    pub discarded_local: Option<String>,
    /// `(store, key)` of every changelog record read but not applied (an unfinished flush, or one
    /// some store lacks): the partition's next flush must re-state these keys' values, or a later
    /// marker would make a restore adopt the unapplied records as part of that flush.
    pub orphaned_keys: Vec<(String, Vec<u8>)>,
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

/// Brings `partition`'s local state up to date with its changelogs, failing when nothing arrives
/// for [`DEFAULT_STALL_TIMEOUT`].
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
        DEFAULT_STALL_TIMEOUT,
        &mut |_| {},
    )
}

/// [`restore_partition`], failing with [`KafkaError::Stalled`] when no changelog record arrives
/// for `stall_timeout` (however long the whole restore takes), and reporting its progress to
/// `progress` every 1000 records and when each store is done.
pub fn restore_partition_observed(
    settings: &KafkaSettings,
    backend: &mut dyn StateBackend,
    application_id: &str,
    stores: &[String],
    partition: i32,
    stall_timeout: Duration,
    progress: &mut dyn FnMut(RestoreProgress<'_>),
) -> Result<RestoreReport, KafkaError> {
    let mut local = backend.checkpoint(partition)?;
    let mut discarded_local = None;
    if let Some(checkpoint) = &local {
        if let Some(reason) = local_state_mismatch(
            settings,
            application_id,
            stores,
            partition,
            checkpoint,
            stall_timeout,
        )? {
            tracing::warn!(
                partition,
                reason = %reason,
                "the local state of this partition is ahead of (or not in) its changelog, as \
                 after a switch to a new broker or a recreated changelog topic: discarding it \
                 and restoring the partition from the changelog"
            );
            backend.drop_partition(partition)?;
            local = None;
            discarded_local = Some(reason);
        }
    }
    // Every store's changelog is read on its own consumer and thread, at once: reading to the end
    // waits a fetch round for the end-of-partition event (about a second on tansu), and one store
    // after another, a restart of a 6-partition, 7-store topology spent 50 s there.
    let (sender, reports) = mpsc::channel::<(usize, u64, i64)>();
    let local_ref = local.as_ref();
    let restorers = std::thread::scope(|scope| {
        let readers: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let sender = sender.clone();
                let start = |low: i64| {
                    local_ref
                        .and_then(|c| c.changelog_offsets.get(store))
                        .map_or(low, |o| (o + 1).max(low))
                };
                scope.spawn(move || {
                    read_tail(
                        settings,
                        &changelog_topic(application_id, store),
                        partition,
                        start,
                        stall_timeout,
                        Restorer::new(store.clone()),
                        &mut |newly, remaining| {
                            let _ = sender.send((i, newly, remaining));
                        },
                    )
                })
            })
            .collect();
        drop(sender);
        // Progress as the readers report it, until the last one is done.
        for (i, newly_read, remaining) in reports {
            progress(RestoreProgress {
                store: &stores[i],
                newly_read,
                remaining,
            });
        }
        readers
            .into_iter()
            .map(|r| r.join().expect("a changelog reader does not panic"))
            .collect::<Result<Vec<_>, KafkaError>>()
    })?;
    let records_read = restorers.iter().map(|(_, n)| n).sum();
    let restorers: Vec<Restorer> = restorers.into_iter().map(|(r, _)| r).collect();
    // The newest flush every store completed after the local checkpoint: the same marker in each,
    // since after a crash a generation can repeat with another input offset.
    let common = restorers.first().and_then(|first| {
        first
            .markers()
            .into_iter()
            .rev()
            .find(|m| restorers.iter().all(|r| r.markers().contains(m)))
    });
    let newer = match (&local, common) {
        (_, None) => None,
        (Some(l), Some(m)) if m.generation <= l.generation => None,
        (_, Some(m)) => Some(m),
    };
    let Some(marker) = newer else {
        let orphaned_keys = stores
            .iter()
            .zip(&restorers)
            .flat_map(|(store, r)| r.fed_keys().into_iter().map(|k| (store.clone(), k)))
            .collect();
        return Ok(RestoreReport {
            checkpoint: local,
            records_read,
            discarded_local,
            orphaned_keys,
        });
    };
    let mut writes: Vec<StoreWrite> = Vec::new();
    let mut orphaned_keys = Vec::new();
    let mut checkpoint = Checkpoint {
        generation: marker.generation,
        more_offsets: Vec::new(),
        input_offset: 0,
        watermark_ms: i64::MIN,
        changelog_offsets: local
            .as_ref()
            .map(|c| c.changelog_offsets.clone())
            .unwrap_or_default(),
    };
    for (store, restorer) in stores.iter().zip(restorers) {
        let restored = restorer.apply_up_to_marker(&marker)?;
        if let (Some(m), Some(offset)) = (restored.marker, restored.marker_offset) {
            checkpoint.input_offset = m.input_offset;
            checkpoint.more_offsets = m.more_offsets;
            checkpoint.watermark_ms = m.watermark_ms;
            checkpoint.changelog_offsets.insert(store.clone(), offset);
        }
        writes.extend(restored.writes);
        orphaned_keys.extend(
            restored
                .ignored_keys
                .into_iter()
                .map(|k| (store.clone(), k)),
        );
    }
    backend.apply(partition, &writes, &checkpoint)?;
    Ok(RestoreReport {
        checkpoint: Some(checkpoint),
        records_read,
        discarded_local,
        orphaned_keys,
    })
}

/// Reads changelog `topic`'s `partition` from `start(low)` to its end into `restorer`, on a
/// consumer of its own, reporting `(records read since the last report, remaining)` to `report`.
/// Returns the restorer and the records it read.
fn read_tail(
    settings: &KafkaSettings,
    topic: &str,
    partition: i32,
    start: impl Fn(i64) -> i64,
    stall_timeout: Duration,
    mut restorer: Restorer,
    report: &mut dyn FnMut(u64, i64),
) -> Result<(Restorer, u64), KafkaError> {
    let consumer: BaseConsumer<ReadToEnd> = settings
        .end_reader_config(&format!("{topic}-restore"))
        .set("isolation.level", "read_committed")
        .create_with_context(ReadToEnd)?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(30))?;
    let start = start(low);
    report(0, (high - start).max(0));
    // Nothing after the local state: skip the read to the end, which waits a fetch round for the
    // end-of-partition event. `high` is the broker's end, or on tansu the last batch's base + 1: a
    // flush's marker ends its batch, so a tail after it starts a later batch and `high` is past
    // `start`.
    if start >= high {
        return Ok((restorer, 0));
    }
    // Read to the end the fetch responses report (a partition-EOF event), not to `high`: tansu 0.6
    // answers ListOffsets with the last batch's base offset + 1, so `high` can fall short of the
    // records of the last batch; it only sizes the progress figures here.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(start))?;
    consumer.assign(&tpl)?;
    let poll_for = stall_timeout.clamp(Duration::from_millis(1), Duration::from_millis(500));
    let (mut last_read, mut last_report) = (Instant::now(), Instant::now());
    let (mut next, mut read, mut reported) = (start, 0u64, 0u64);
    loop {
        match consumer.poll(poll_for) {
            Some(Ok(msg)) => {
                next = msg.offset() + 1;
                read += 1;
                last_read = Instant::now();
                restorer.push(msg.offset(), msg.key().unwrap_or(&[]), msg.payload())?;
                if read - reported >= 1000 {
                    report(read - reported, (high - next).max(0));
                    reported = read;
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
        if last_read.elapsed() > stall_timeout {
            return Err(KafkaError::Stalled {
                what: format!(
                    "restoring changelog {topic} partition {partition} at offset {next} \
                     ({} of about {} records read)",
                    next - start,
                    (high - start).max(0)
                ),
                after: stall_timeout,
            });
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            tracing::info!(topic = %topic, partition, done = next - start, total = (high - start).max(0), "restoring");
            last_report = Instant::now();
        }
    }
    if next > start {
        tracing::info!(topic = %topic, partition, records = next - start, "restored changelog tail");
    }
    report(read - reported, 0);
    Ok((restorer, read))
}

/// Why the local `checkpoint` of `partition` does not match its changelogs, if it does not: a
/// store's changelog must hold the flush marker the checkpoint names at the offset it names. A
/// changelog that ends before that offset (a new broker, a recreated topic), or holds another
/// record there, means the local state is not the changelog's; a marker compacted away is fine.
fn local_state_mismatch(
    settings: &KafkaSettings,
    application_id: &str,
    stores: &[String],
    partition: i32,
    checkpoint: &Checkpoint,
    stall_timeout: Duration,
) -> Result<Option<String>, KafkaError> {
    let expected = Marker::from(checkpoint);
    // Each store on its own consumer and thread, at once (each check waits a fetch round).
    let found = std::thread::scope(|scope| {
        let checks: Vec<_> = stores
            .iter()
            .filter_map(|store| {
                let &offset = checkpoint.changelog_offsets.get(store)?;
                let topic = changelog_topic(application_id, store);
                let expected = &expected;
                Some(scope.spawn(move || {
                    store_mismatch(settings, &topic, partition, offset, expected, stall_timeout)
                }))
            })
            .collect();
        checks
            .into_iter()
            .map(|c| c.join().expect("a changelog check does not panic"))
            .collect::<Result<Vec<_>, KafkaError>>()
    })?;
    Ok(found.into_iter().flatten().next())
}

/// Why the flush marker `expected` is not at `offset` of changelog `topic`'s `partition`, if it is
/// not: [`local_state_mismatch`] for one store.
fn store_mismatch(
    settings: &KafkaSettings,
    topic: &str,
    partition: i32,
    offset: i64,
    expected: &Marker,
    stall_timeout: Duration,
) -> Result<Option<String>, KafkaError> {
    let consumer: BaseConsumer<ReadToEnd> = settings
        .end_reader_config(&format!("{topic}-check"))
        .set("isolation.level", "read_committed")
        .create_with_context(ReadToEnd)?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(30))?;
    if offset < low {
        return Ok(Some(format!(
            "the local checkpoint names offset {offset} of {topic} partition {partition}, \
             but the changelog starts at {low}"
        )));
    }
    // `high` can fall a batch short on tansu (see `end_offset`): ask the fetch path first.
    let end = if offset < high {
        high
    } else {
        end_offset(settings, topic, partition, Duration::from_secs(30))?
    };
    if offset >= end {
        return Ok(Some(format!(
            "the local checkpoint (generation {}) names offset {offset} of {topic} partition \
             {partition}, but the changelog ends at {end}",
            expected.generation
        )));
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + stall_timeout;
    let found = loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => {
                break (msg.offset() == offset)
                    .then(|| Marker::from_record(msg.key().unwrap_or(&[]), msg.payload()));
            }
            // Nothing from there on: compacted or aborted away, nothing to compare.
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break None,
            Some(Err(e)) => return Err(e.into()),
            None if Instant::now() > deadline => {
                return Err(KafkaError::Stalled {
                    what: format!("reading {topic} partition {partition} at offset {offset}"),
                    after: stall_timeout,
                })
            }
            None => {}
        }
    };
    consumer.unassign()?;
    match found {
        Some(Some(marker)) if marker == *expected => {}
        Some(marker) => {
            let held = match marker {
                Some(m) => format!("the marker of generation {}", m.generation),
                None => "a data record".to_owned(),
            };
            return Ok(Some(format!(
                "the local checkpoint names the marker of generation {} at offset {offset} \
                 of {topic} partition {partition}, but the changelog holds {held} there",
                expected.generation
            )));
        }
        // The record at `offset` is gone (compaction keeps only the newest marker).
        None => {}
    }
    Ok(None)
}
