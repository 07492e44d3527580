//! [`RocksBackend`]: one RocksDB instance per process, one column family per store plus
//! [`CHECKPOINT_CF`]. A store key is the partition as 4 big-endian bytes followed by the user key,
//! so each partition is one contiguous key range, scanned with bounds and dropped with a range delete.

use std::path::{Path, PathBuf};

use rocksdb::{
    properties, BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, ErrorKind,
    IteratorMode, Options, ReadOptions, WriteBatch, WriteBufferManager, WriteOptions, DB,
};
use serde::{Deserialize, Serialize};

use super::{
    check_partition, check_user_key, unknown_store, validate_store_names, Checkpoint, Result,
    StateBackend, StoreError, StoreStats, StoreWrite, CHECKPOINT_CF,
};

/// RocksDB memory and file settings. Memory is bounded by one shared block cache: memtables of all
/// column families are charged to it and capped together by a write buffer manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocksOptions {
    /// Size of the one LRU block cache shared by every column family, in bytes (memtables count
    /// against it too).
    #[serde(default = "default_block_cache_bytes")]
    pub block_cache_bytes: u64,
    /// Size of one memtable of one column family, in bytes.
    #[serde(default = "default_write_buffer_bytes")]
    pub write_buffer_bytes: u64,
    /// Memtables per column family (the active one plus those waiting for flush). The memtables of
    /// all column families together are capped at `write_buffer_bytes * max_write_buffers`.
    #[serde(default = "default_max_write_buffers")]
    pub max_write_buffers: u32,
    /// Files RocksDB keeps open at most; -1 keeps every file open.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: i32,
}

const fn default_block_cache_bytes() -> u64 {
    64 << 20
}

const fn default_write_buffer_bytes() -> u64 {
    16 << 20
}

const fn default_max_write_buffers() -> u32 {
    2
}

const fn default_max_open_files() -> i32 {
    512
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            block_cache_bytes: default_block_cache_bytes(),
            write_buffer_bytes: default_write_buffer_bytes(),
            max_write_buffers: default_max_write_buffers(),
            max_open_files: default_max_open_files(),
        }
    }
}

impl RocksOptions {
    /// The cap on the memtables of all column families together, in bytes.
    pub fn memtable_cap_bytes(&self) -> u64 {
        self.write_buffer_bytes
            .saturating_mul(u64::from(self.max_write_buffers.max(1)))
    }
}

/// A [`super::StateBackend`] on RocksDB.
pub struct RocksBackend {
    db: DB,
    path: PathBuf,
    stores: Vec<String>,
    /// Every column family opened except `default`: the stores, [`CHECKPOINT_CF`], and any left
    /// by an earlier topology (kept, and cleared by `drop_partition`).
    cfs: Vec<String>,
    write_options: WriteOptions,
    // The cache and manager are referenced by the options RocksDB holds; kept here for clarity.
    _cache: Cache,
    _write_buffer_manager: WriteBufferManager,
}

impl std::fmt::Debug for RocksBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksBackend")
            .field("path", &self.path)
            .field("stores", &self.stores)
            .finish()
    }
}

fn clamp_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// RocksDB's messages when the dir's `LOCK` file is held by another process ("While lock file")
/// or by another open DB in this process ("lock hold by current process").
fn is_lock_error(error: &rocksdb::Error) -> bool {
    let message = error.to_string();
    error.kind() == ErrorKind::IOError
        && (message.contains("While lock file") || message.contains("lock hold by current process"))
}

fn rocks(operation: &'static str) -> impl FnOnce(rocksdb::Error) -> StoreError {
    move |source| StoreError::Rocks { operation, source }
}

/// The first key of `partition` in a store column family.
fn prefix(partition: u32) -> [u8; 4] {
    partition.to_be_bytes()
}

/// The bounds `[start, end)` of `partition`'s keys. Partitions come from non-negative `i32`s, so
/// `partition + 1` never overflows.
fn range(partition: u32) -> ([u8; 4], [u8; 4]) {
    (prefix(partition), prefix(partition + 1))
}

impl RocksBackend {
    /// Opens (creating if missing) the RocksDB in `dir` with one column family per declared store.
    /// Fails with [`StoreError::Locked`] when another backend holds the dir.
    pub fn open(dir: &Path, stores: &[&str], options: &RocksOptions) -> Result<Self> {
        validate_store_names(stores)?;
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;

        let cache = Cache::new_lru_cache(clamp_usize(options.block_cache_bytes));
        let write_buffer_manager = WriteBufferManager::new_write_buffer_manager_with_cache(
            clamp_usize(options.memtable_cap_bytes()),
            false,
            cache.clone(),
        );

        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_max_open_files(options.max_open_files);
        db_options.set_write_buffer_manager(&write_buffer_manager);

        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_cache_index_and_filter_blocks(true);
        table.set_bloom_filter(10.0, false);
        let mut cf_options = Options::default();
        cf_options.set_block_based_table_factory(&table);
        cf_options.set_write_buffer_size(clamp_usize(options.write_buffer_bytes));
        cf_options.set_max_write_buffer_number(
            i32::try_from(options.max_write_buffers.max(1)).unwrap_or(i32::MAX),
        );
        cf_options.set_compression_type(DBCompressionType::Lz4);

        // RocksDB must open every column family the dir has; a new dir has none.
        let mut cfs: Vec<String> = stores.iter().map(|s| (*s).to_owned()).collect();
        cfs.push(CHECKPOINT_CF.to_owned());
        let existing = DB::list_cf(&db_options, dir).unwrap_or_default();
        for cf in existing {
            if cf != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !cfs.contains(&cf) {
                tracing::warn!(column_family = %cf, dir = %dir.display(), "state dir holds a store the topology no longer declares; keeping it");
                cfs.push(cf);
            }
        }
        let descriptors = cfs
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(name, cf_options.clone()));
        let db = DB::open_cf_descriptors(&db_options, dir, descriptors).map_err(|source| {
            if is_lock_error(&source) {
                StoreError::Locked {
                    path: dir.to_owned(),
                }
            } else {
                StoreError::Open {
                    path: dir.to_owned(),
                    source,
                }
            }
        })?;

        let mut write_options = WriteOptions::default();
        write_options.set_sync(false);
        write_options.disable_wal(false);
        Ok(RocksBackend {
            db,
            path: dir.to_owned(),
            stores: stores.iter().map(|s| (*s).to_owned()).collect(),
            cfs,
            write_options,
            _cache: cache,
            _write_buffer_manager: write_buffer_manager,
        })
    }

    /// The state dir.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The declared stores.
    pub fn stores(&self) -> &[String] {
        &self.stores
    }

    /// The sequence number of the last write RocksDB applied.
    pub fn latest_sequence_number(&self) -> u64 {
        self.db.latest_sequence_number()
    }

    /// The number of operations in each write batch logged to the write-ahead log after sequence
    /// number `since`, oldest first. Diagnostics: one [`StateBackend::apply`] is one batch.
    pub fn wal_batches_since(&self, since: u64) -> Result<Vec<usize>> {
        let mut sizes = Vec::new();
        for item in self
            .db
            .get_updates_since(since)
            .map_err(rocks("WAL read"))?
        {
            let (_, batch) = item.map_err(rocks("WAL read"))?;
            sizes.push(batch.len());
        }
        Ok(sizes)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| unknown_store(name, self.stores.iter().map(String::as_str)))
    }

    fn store_cf(&self, store: &str) -> Result<&rocksdb::ColumnFamily> {
        if !self.stores.iter().any(|s| s == store) {
            return Err(unknown_store(store, self.stores.iter().map(String::as_str)));
        }
        self.cf(store)
    }
}

impl StateBackend for RocksBackend {
    fn apply(
        &mut self,
        partition: i32,
        writes: &[StoreWrite],
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        let p = check_partition(partition)?;
        let mut batch = WriteBatch::default();
        let mut key = Vec::new();
        for w in writes {
            let cf = self.store_cf(&w.store)?;
            check_user_key(&w.store, &w.key)?;
            key.clear();
            key.extend_from_slice(&prefix(p));
            key.extend_from_slice(&w.key);
            match &w.value {
                Some(v) => batch.put_cf(cf, &key, v),
                None => batch.delete_cf(cf, &key),
            }
        }
        let encoded = serde_json::to_vec(checkpoint).expect("a Checkpoint always serializes");
        batch.put_cf(self.cf(CHECKPOINT_CF)?, prefix(p), encoded);
        self.db
            .write_opt(batch, &self.write_options)
            .map_err(rocks("write"))
    }

    fn scan(&self, store: &str, partition: i32) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let p = check_partition(partition)?;
        let cf = self.store_cf(store)?;
        let (start, end) = range(p);
        let mut read_options = ReadOptions::default();
        read_options.set_iterate_range(start..end);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf_opt(cf, read_options, IteratorMode::Start)
        {
            let (k, v) = item.map_err(rocks("scan"))?;
            out.push((k[4..].to_vec(), v.into_vec()));
        }
        Ok(out)
    }

    fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>> {
        let p = check_partition(partition)?;
        let cf = self.cf(CHECKPOINT_CF)?;
        match self
            .db
            .get_pinned_cf(cf, prefix(p))
            .map_err(rocks("checkpoint read"))?
        {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes[..])
                .map(Some)
                .map_err(|source| StoreError::CorruptCheckpoint { partition, source }),
        }
    }

    fn drop_partition(&mut self, partition: i32) -> Result<()> {
        let p = check_partition(partition)?;
        let (start, end) = range(p);
        let mut batch = WriteBatch::default();
        for name in &self.cfs {
            if name != CHECKPOINT_CF {
                batch.delete_range_cf(self.cf(name)?, start, end);
            }
        }
        batch.delete_cf(self.cf(CHECKPOINT_CF)?, prefix(p));
        self.db
            .write_opt(batch, &self.write_options)
            .map_err(rocks("drop partition"))
    }

    fn stats(&self) -> Result<Vec<StoreStats>> {
        let property =
            |cf: &rocksdb::ColumnFamily, name: &rocksdb::properties::PropName| -> Result<u64> {
                Ok(self
                    .db
                    .property_int_value_cf(cf, name)
                    .map_err(rocks("property read"))?
                    .unwrap_or(0))
            };
        self.stores
            .iter()
            .map(|store| {
                let cf = self.cf(store)?;
                let on_disk = property(cf, properties::ESTIMATE_LIVE_DATA_SIZE)?;
                let in_memory = property(cf, properties::CUR_SIZE_ALL_MEM_TABLES)?;
                let keys = property(cf, properties::ESTIMATE_NUM_KEYS)?;
                Ok(StoreStats {
                    store: store.clone(),
                    bytes: on_disk + in_memory,
                    keys,
                })
            })
            .collect()
    }
}
