//! The exactly-once core of `chatpulse archive`: per assigned Kafka partition, an open batch of
//! Parquet files (one per event hour and, optionally, channel) that rolls by the [`RollPolicy`],
//! and a flush protocol over [`Storage`] and a [`Committer`]: manifest, then files, then the
//! offset commit. Recovery on assignment deletes the files of an uncommitted batch. No Kafka here.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::properties::WriterProperties;

use super::columns::Schema;
use super::layout::{FileKey, Layout};
use super::manifest::{Manifest, Recovery};
use super::parquet_file::{properties, Encoding, ParquetBuffer};
use super::record::{ArchiveRecord, RowFormat};
use super::roll::{BatchStats, RollPolicy};
use super::storage::{Storage, StorageError};

/// Why archiving stopped. Every error is fatal for the process: a restart recovers (README
/// "Archive").
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Encoding a Parquet file failed.
    #[error("cannot encode Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Committing offsets failed after the batch was stored; its files are deleted on restart.
    #[error("cannot commit offset {offset} of partition {partition}: {message}")]
    Commit {
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
        /// Why.
        message: String,
    },
    /// The manifest is unreadable or belongs to another consumer group.
    #[error("manifest {path}: {message}")]
    Manifest {
        /// Its path.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A record of a partition that is not assigned.
    #[error("record of partition {0}, which is not assigned")]
    NotAssigned(i32),
}

/// Commits the next offset to read of a partition, once its batch is durable.
pub trait Committer {
    /// Commits `next_offset` for `partition`, synchronously.
    fn commit(&mut self, partition: i32, next_offset: i64) -> Result<(), String>;
}

/// A batch that was stored and committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flushed {
    /// The partition.
    pub partition: i32,
    /// Its first offset.
    pub start_offset: i64,
    /// The offset committed (after its last record).
    pub end_offset: i64,
    /// Rows stored.
    pub rows: u64,
    /// Files stored.
    pub files: usize,
    /// Bytes stored (Parquet files, not the manifest).
    pub bytes: u64,
    /// Payload bytes of its records.
    pub input_bytes: u64,
}

/// How to archive one topic.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// The consumer group, recorded in manifests.
    pub group: String,
    /// Where files go.
    pub layout: Layout,
    /// When batches roll.
    pub policy: RollPolicy,
    /// Rows of a batch buffered uncompressed before every open file encodes a row group.
    pub row_group_rows: usize,
    /// Page encoding.
    pub encoding: Encoding,
}

struct OpenFile {
    first_offset: i64,
    parquet: ParquetBuffer,
}

#[derive(Default)]
struct OpenBatch {
    start_offset: i64,
    last_offset: i64,
    stats: BatchStats,
    files: BTreeMap<FileKey, OpenFile>,
    unencoded_rows: usize,
}

/// Archives the assigned partitions of one topic.
pub struct Archiver {
    storage: Arc<dyn Storage>,
    format: Box<dyn RowFormat>,
    options: ArchiveOptions,
    schema: Arc<Schema>,
    properties: Arc<WriterProperties>,
    partitions: BTreeMap<i32, OpenBatch>,
    /// Per assigned partition, the next offset it takes: the committed offset at assignment, then
    /// the one after the last record pushed. Anything below it is archived already.
    positions: BTreeMap<i32, i64>,
    /// The row being read, before it is known which file (or batch) it goes to.
    scratch: super::columns::ColumnBuffers,
    /// Records refused by [`Archiver::push`] because their offset was already archived.
    redelivered: u64,
}

impl std::fmt::Debug for Archiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiver")
            .field("storage", &self.storage.describe())
            .field("topic", &self.options.layout.topic)
            .field("partitions", &self.partitions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Archiver {
    /// An archiver of `format` rows into `storage`, with no partition assigned.
    pub fn new(
        storage: Arc<dyn Storage>,
        format: Box<dyn RowFormat>,
        options: ArchiveOptions,
    ) -> Result<Archiver, ArchiveError> {
        let schema = Arc::new(format.schema());
        let properties = Arc::new(properties(&schema, options.encoding)?);
        let scratch = schema.buffers();
        Ok(Archiver {
            storage,
            format,
            options,
            schema,
            properties,
            partitions: BTreeMap::new(),
            positions: BTreeMap::new(),
            scratch,
            redelivered: 0,
        })
    }

    /// Records [`Archiver::push`] refused because their partition had already taken their offset.
    pub fn redelivered(&self) -> u64 {
        self.redelivered
    }

    /// The storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Takes `partition` over, whose group has `committed` as its next offset (`None`: nothing
    /// committed): deletes the files of its manifest's batch unless that batch is committed.
    /// Call before the partition's first record; the consumer then reads from `committed`.
    pub fn assign(
        &mut self,
        partition: i32,
        committed: Option<i64>,
    ) -> Result<Recovery, ArchiveError> {
        let path = Manifest::path(&self.options.layout.topic, partition);
        let recovery = match self.storage.get(&path)? {
            None => Recovery::Clean,
            Some(bytes) => {
                let manifest = Manifest::decode(&bytes).map_err(|e| ArchiveError::Manifest {
                    path: path.clone(),
                    message: format!("{e}: delete it only if no archive run is using this root"),
                })?;
                if manifest.group != self.options.group {
                    return Err(ArchiveError::Manifest {
                        path,
                        message: format!(
                            "written for consumer group {:?}, not {:?}: archive this topic to this \
                             root with one group only (pass --group {:?}), or use another root",
                            manifest.group, self.options.group, manifest.group
                        ),
                    });
                }
                let recovery = manifest.recovery(committed);
                if let Recovery::Abandon(files) = &recovery {
                    for file in files {
                        self.storage.delete(file)?;
                    }
                }
                recovery
            }
        };
        self.partitions.insert(partition, OpenBatch::default());
        match committed {
            Some(next) => self.positions.insert(partition, next),
            None => self.positions.remove(&partition),
        };
        Ok(recovery)
    }

    /// Gives `partition` up, dropping its open batch (nothing of it was stored, and its offsets
    /// are not committed: the next owner reads it again). Returns the records dropped.
    pub fn revoke(&mut self, partition: i32) -> u64 {
        self.positions.remove(&partition);
        self.partitions
            .remove(&partition)
            .map_or(0, |b| b.stats.records)
    }

    /// The assigned partitions.
    pub fn assigned(&self) -> Vec<i32> {
        self.partitions.keys().copied().collect()
    }

    /// Records buffered in open batches, per partition.
    pub fn buffered(&self) -> Vec<(i32, u64)> {
        self.partitions
            .iter()
            .map(|(p, b)| (*p, b.stats.records))
            .collect()
    }

    /// Adds `record` (read at wall time `now_ms`) to its partition's batch, storing and committing
    /// the batches the roll policy cuts. A record below its partition's position (the committed
    /// offset at assignment, then the offset after the last record taken) is archived already: it
    /// is refused and counted in [`Archiver::redelivered`], so a consumer that fetches from before
    /// the committed offset, or goes back and delivers records again, stores each row once.
    pub fn push(
        &mut self,
        record: &ArchiveRecord,
        now_ms: u64,
        committer: &mut dyn Committer,
    ) -> Result<Vec<Flushed>, ArchiveError> {
        let mut flushed = Vec::new();
        let partition = record.partition;
        let format = &*self.format;
        let batch = self
            .partitions
            .get_mut(&partition)
            .ok_or(ArchiveError::NotAssigned(partition))?;
        if self
            .positions
            .get(&partition)
            .is_some_and(|next| record.offset < *next)
        {
            self.redelivered += 1;
            return Ok(flushed);
        }
        self.positions.insert(partition, record.offset + 1);
        // The row is read into a scratch buffer first: its event time decides whether the batch
        // is cut before it, and its key which file it goes to.
        let key = format.append(record, &mut self.scratch);
        if self
            .options
            .policy
            .cut_before(&batch.stats, key.event_time_ms)
        {
            flushed.extend(self.flush(partition, committer)?);
        }
        let batch = self.partitions.get_mut(&partition).expect("assigned");
        if batch.stats.records == 0 {
            batch.start_offset = record.offset;
        }
        batch.last_offset = record.offset;
        batch
            .stats
            .add(record.payload.len() as u64, key.event_time_ms, now_ms);
        let file_key = self
            .options
            .layout
            .key(key.event_time_ms, key.channel.as_deref());
        let file = match batch.files.entry(file_key) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(OpenFile {
                first_offset: record.offset,
                parquet: ParquetBuffer::new(self.schema.clone(), &self.properties)?,
            }),
        };
        file.parquet.rows_mut().append_from(&mut self.scratch);
        batch.unencoded_rows += 1;
        if batch.unencoded_rows >= self.options.row_group_rows {
            for f in batch.files.values_mut() {
                f.parquet.end_row_group()?;
            }
            batch.unencoded_rows = 0;
        }
        if self.options.policy.full(&batch.stats) {
            flushed.extend(self.flush(partition, committer)?);
        }
        Ok(flushed)
    }

    /// Stores and commits every batch open longer than the policy's `max_open` at `now_ms`.
    pub fn tick(
        &mut self,
        now_ms: u64,
        committer: &mut dyn Committer,
    ) -> Result<Vec<Flushed>, ArchiveError> {
        let due: Vec<i32> = self
            .partitions
            .iter()
            .filter(|(_, b)| self.options.policy.expired(&b.stats, now_ms))
            .map(|(p, _)| *p)
            .collect();
        let mut out = Vec::new();
        for p in due {
            out.extend(self.flush(p, committer)?);
        }
        Ok(out)
    }

    /// Stores and commits every open batch (at shutdown).
    pub fn flush_all(
        &mut self,
        committer: &mut dyn Committer,
    ) -> Result<Vec<Flushed>, ArchiveError> {
        let mut out = Vec::new();
        for p in self.assigned() {
            out.extend(self.flush(p, committer)?);
        }
        Ok(out)
    }

    /// Stores `partition`'s open batch: the manifest naming its files, then each file, then the
    /// commit of the offset after its last record.
    pub fn flush(
        &mut self,
        partition: i32,
        committer: &mut dyn Committer,
    ) -> Result<Option<Flushed>, ArchiveError> {
        let Some(batch) = self.partitions.get_mut(&partition) else {
            return Ok(None);
        };
        if batch.stats.records == 0 {
            return Ok(None);
        }
        let batch = std::mem::take(batch);
        let layout = &self.options.layout;
        let mut files = Vec::with_capacity(batch.files.len());
        for (key, file) in batch.files {
            let path = layout.file(&key, partition, file.first_offset);
            files.push((path, Bytes::from(file.parquet.finish()?)));
        }
        let end_offset = batch.last_offset + 1;
        let manifest = Manifest {
            group: self.options.group.clone(),
            topic: layout.topic.clone(),
            partition,
            start_offset: batch.start_offset,
            end_offset,
            files: files.iter().map(|(p, _)| p.clone()).collect(),
        };
        self.storage.put(
            &Manifest::path(&layout.topic, partition),
            Bytes::from(manifest.encode()),
        )?;
        let mut bytes = 0;
        for (path, data) in &files {
            bytes += data.len() as u64;
            self.storage.put(path, data.clone())?;
        }
        committer
            .commit(partition, end_offset)
            .map_err(|message| ArchiveError::Commit {
                partition,
                offset: end_offset,
                message,
            })?;
        Ok(Some(Flushed {
            partition,
            start_offset: batch.start_offset,
            end_offset,
            rows: batch.stats.records,
            files: files.len(),
            bytes,
            input_bytes: batch.stats.bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use super::*;
    use crate::archive::raw_chat::RawChat;
    use crate::archive::storage::MemoryStorage;

    /// Commits into a map, like the group's committed offsets.
    #[derive(Default)]
    struct Offsets(BTreeMap<i32, i64>);

    impl Committer for Offsets {
        fn commit(&mut self, partition: i32, next_offset: i64) -> Result<(), String> {
            self.0.insert(partition, next_offset);
            Ok(())
        }
    }

    fn options(max_records: u64) -> ArchiveOptions {
        ArchiveOptions {
            group: "g".into(),
            layout: Layout {
                topic: "chat".into(),
                by_channel: true,
            },
            policy: RollPolicy {
                max_records,
                max_bytes: u64::MAX,
                max_event_span_ms: 3_600_000,
                max_open: Duration::from_secs(10),
            },
            row_group_rows: 4,
            encoding: Encoding::default(),
        }
    }

    /// Two partitions of lines over three hours and two channels.
    fn records() -> Vec<ArchiveRecord> {
        (0..60i64)
            .map(|i| {
                let partition = (i % 2) as i32;
                let channel = if i % 3 == 0 { "a" } else { "b" };
                let ts = 1_700_000_000_000 + i * 190_000;
                let line = format!(
                    "@id=m{i};tmi-sent-ts={ts};user-id={i} :u{i}!u@u PRIVMSG #{channel} :hi {i}"
                );
                ArchiveRecord {
                    payload: Bytes::from(line),
                    key: Some(Bytes::from(channel)),
                    timestamp_ms: Some(ts),
                    partition,
                    offset: i / 2,
                }
            })
            .collect()
    }

    /// `(partition, offset)` of every row in every Parquet file, with repeats.
    fn stored_rows(storage: &MemoryStorage) -> Vec<(i64, i64)> {
        let mut rows = Vec::new();
        for (path, bytes) in storage.objects() {
            if !path.ends_with(".parquet") {
                continue;
            }
            let reader = SerializedFileReader::new(bytes).unwrap();
            for row in reader.get_row_iter(None).unwrap() {
                let row = row.unwrap();
                let get = |name: &str| {
                    row.get_column_iter()
                        .find(|(n, _)| n.as_str() == name)
                        .map(|(_, f)| f.clone())
                        .unwrap()
                };
                let (Field::Int(p), Field::Long(o)) = (get("kafka_partition"), get("kafka_offset"))
                else {
                    panic!("{row:?}")
                };
                rows.push((i64::from(p), o));
            }
        }
        rows.sort();
        rows
    }

    fn expected(records: &[ArchiveRecord]) -> Vec<(i64, i64)> {
        let mut v: Vec<_> = records
            .iter()
            .map(|r| (i64::from(r.partition), r.offset))
            .collect();
        v.sort();
        v
    }

    /// An archiver (batches of 7) on partitions 0 and 1 of an in-memory store, after `records`.
    fn pushed(records: &[ArchiveRecord]) -> (Arc<MemoryStorage>, Archiver, Offsets) {
        let storage = Arc::new(MemoryStorage::new());
        let mut a = Archiver::new(storage.clone(), Box::new(RawChat), options(7)).unwrap();
        let mut offsets = Offsets::default();
        a.assign(0, None).unwrap();
        a.assign(1, None).unwrap();
        for r in records {
            a.push(r, 0, &mut offsets).unwrap();
        }
        (storage, a, offsets)
    }

    #[test]
    fn batches_land_as_hour_and_channel_files_and_commit_after_their_last_record() {
        let records = records();
        let (storage, mut a, mut offsets) = pushed(&records);
        assert_eq!(offsets.0, BTreeMap::from([(0, 28), (1, 28)]));
        a.flush_all(&mut offsets).unwrap();
        assert_eq!(offsets.0, BTreeMap::from([(0, 30), (1, 30)]));
        assert_eq!(stored_rows(&storage), expected(&records));
        let objects = storage.objects();
        assert!(
            objects.contains_key("chat/dt=2023-11-14/hour=22/channel=a/chat+0+0.parquet"),
            "{:?}",
            objects.keys().collect::<Vec<_>>()
        );
        assert!(objects.contains_key("_chatpulse_archive/chat/partition=1.json"));
        // Nothing left to flush; quiet partitions do not write empty files.
        assert_eq!(a.flush_all(&mut offsets).unwrap(), []);
    }

    #[test]
    fn a_backfill_reads_every_line_back_in_event_time_order_within_a_range() {
        use crate::archive::backfill::{Backfill, TimeRange};
        let records = records();
        let (storage, mut a, mut offsets) = pushed(&records);
        a.flush_all(&mut offsets).unwrap();
        let read = |range: TimeRange| -> Vec<Bytes> {
            Backfill::open(storage.clone(), "chat", range)
                .unwrap()
                .map(|l| Bytes::from(l.unwrap().payload))
                .collect()
        };
        // Brute force: the records' payloads by their time (distinct, rising with the index).
        let payloads =
            |rs: &[ArchiveRecord]| -> Vec<Bytes> { rs.iter().map(|r| r.payload.clone()).collect() };
        assert_eq!(read(TimeRange::default()), payloads(&records));
        let ts = |i: usize| records[i].timestamp_ms;
        let range = TimeRange {
            from_ms: ts(10),
            to_ms: ts(40),
        };
        assert_eq!(read(range), payloads(&records[10..40]));
        let e = Backfill::open(storage.clone(), "other", TimeRange::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no archive files of topic \"other\""), "{e}");
    }

    #[test]
    fn a_wall_clock_roll_lands_a_quiet_partition() {
        let storage = Arc::new(MemoryStorage::new());
        let mut a = Archiver::new(storage.clone(), Box::new(RawChat), options(1_000)).unwrap();
        let mut offsets = Offsets::default();
        a.assign(0, None).unwrap();
        let r = &records()[0];
        a.push(r, 5_000, &mut offsets).unwrap();
        assert_eq!(a.tick(14_999, &mut offsets).unwrap(), []);
        let flushed = a.tick(15_000, &mut offsets).unwrap();
        assert_eq!(flushed.len(), 1);
        assert_eq!(offsets.0[&0], 1);
    }

    /// A crash at every step of a flush (each put), then a restart whose batches are cut
    /// elsewhere (another wall clock) into another layout (no channel directories), so no file
    /// of the crashed batch is overwritten by name: the stored rows equal the input, none twice.
    #[test]
    fn a_crash_at_any_put_then_a_restart_stores_every_row_once() {
        let records = records();
        for crash_after in 0..12 {
            let storage = Arc::new(MemoryStorage::new());
            let mut offsets = Offsets::default();
            {
                let mut a = Archiver::new(storage.clone(), Box::new(RawChat), options(9)).unwrap();
                a.assign(0, None).unwrap();
                a.assign(1, None).unwrap();
                storage.fail_put_after(crash_after);
                for r in &records {
                    if a.push(r, 0, &mut offsets).is_err() {
                        break;
                    }
                }
            }
            // Restart: recover, then read each partition from its committed offset, cutting
            // batches by a wall clock that ticks every record.
            let mut restart = options(9);
            restart.layout.by_channel = false;
            let mut a = Archiver::new(storage.clone(), Box::new(RawChat), restart).unwrap();
            for p in [0, 1] {
                a.assign(p, offsets.0.get(&p).copied()).unwrap();
            }
            for (i, r) in records.iter().enumerate() {
                if offsets.0.get(&r.partition).is_some_and(|c| r.offset < *c) {
                    continue;
                }
                a.push(r, i as u64 * 3_000, &mut offsets).unwrap();
                a.tick(i as u64 * 3_000, &mut offsets).unwrap();
            }
            a.flush_all(&mut offsets).unwrap();
            let rows = stored_rows(&storage);
            let distinct: BTreeSet<_> = rows.iter().collect();
            assert_eq!(
                distinct.len(),
                rows.len(),
                "a row stored twice, crash after {crash_after}"
            );
            assert_eq!(rows, expected(&records), "crash after {crash_after}");
        }
    }

    /// Seen in the ten-SIGKILL test on tansu: within one assignment the consumer went back about
    /// 3,000 offsets and delivered them again. Each must be stored once, and the committed offset
    /// must never go back.
    #[test]
    fn records_delivered_again_are_stored_once_and_commits_never_go_back() {
        let records = records();
        let storage = Arc::new(MemoryStorage::new());
        let mut a = Archiver::new(storage.clone(), Box::new(RawChat), options(7)).unwrap();
        let mut offsets = Offsets::default();
        a.assign(0, None).unwrap();
        a.assign(1, Some(3)).unwrap();
        let mut committed = Vec::new();
        // Partition 0 from the start, then its first 40 records again; partition 1 fetched from
        // before its committed offset 3 (the rewind at assignment).
        let again = records.iter().take(40).filter(|r| r.partition == 0);
        for r in records.iter().chain(again) {
            a.push(r, 0, &mut offsets).unwrap();
            committed.push(offsets.0.clone());
        }
        a.flush_all(&mut offsets).unwrap();
        let want: Vec<_> = expected(&records)
            .into_iter()
            .filter(|(p, o)| *p == 0 || *o >= 3)
            .collect();
        assert_eq!(stored_rows(&storage), want);
        assert_eq!(a.redelivered(), 20 + 3);
        for pair in committed.windows(2) {
            for (p, o) in &pair[0] {
                assert!(
                    pair[1][p] >= *o,
                    "partition {p} committed {o} then {}",
                    pair[1][p]
                );
            }
        }
    }

    #[test]
    fn a_manifest_of_another_group_is_refused() {
        let storage = Arc::new(MemoryStorage::new());
        let mut offsets = Offsets::default();
        let mut a = Archiver::new(storage.clone(), Box::new(RawChat), options(1)).unwrap();
        a.assign(0, None).unwrap();
        a.push(&records()[0], 0, &mut offsets).unwrap();
        let mut other = options(1);
        other.group = "h".into();
        let mut b = Archiver::new(storage, Box::new(RawChat), other).unwrap();
        let err = b.assign(0, None).unwrap_err().to_string();
        assert!(err.contains("\"g\""), "{err}");
    }

    #[test]
    fn a_revoked_partition_drops_its_open_batch_and_its_records_are_refused() {
        let storage = Arc::new(MemoryStorage::new());
        let mut offsets = Offsets::default();
        let mut a = Archiver::new(storage.clone(), Box::new(RawChat), options(100)).unwrap();
        a.assign(0, None).unwrap();
        a.push(&records()[0], 0, &mut offsets).unwrap();
        assert_eq!(a.revoke(0), 1);
        assert!(matches!(
            a.push(&records()[0], 0, &mut offsets),
            Err(ArchiveError::NotAssigned(0))
        ));
        assert!(storage.objects().is_empty());
    }
}
