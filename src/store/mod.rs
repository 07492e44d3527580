//! The state layer: named key-value stores per input partition behind one [`StateBackend`] trait,
//! with [`MemoryBackend`] for tests and [`RocksBackend`] (one RocksDB, one column family per store)
//! for real runs. [`changelog`] encodes the Kafka changelog that rebuilds a store after a lost disk.

pub mod changelog;
pub mod memory;
pub mod rocks;

pub use changelog::{changelog_topic, ChangelogRecord, Marker, Restored, Restorer};
pub use memory::MemoryBackend;
pub use rocks::{RocksBackend, RocksOptions};

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The first byte no user key may start with: keys beginning with it are reserved for changelog
/// control records such as the flush [`Marker`]. User keys are UTF-8 channel names followed by
/// big-endian numbers, and UTF-8 never contains the byte 0xFF.
pub const RESERVED_KEY_BYTE: u8 = 0xFF;

/// Name of the RocksDB column family holding each partition's [`Checkpoint`]; no store may use it.
pub const CHECKPOINT_CF: &str = "__checkpoint";

/// The result type of the state layer.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What went wrong in the state layer. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (or another backend in this process) holds the RocksDB lock on the dir.
    #[error("state dir {} is locked by another chatpulse process: stop it or use another --state-dir", path.display())]
    Locked {
        /// The state dir.
        path: PathBuf,
    },
    /// The state dir could not be created.
    #[error("cannot create state dir {}: {source}; check its parent's permissions or use another --state-dir", path.display())]
    CreateDir {
        /// The state dir.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// RocksDB refused to open the state dir for a reason other than the lock.
    #[error("cannot open state dir {} ({source}): check permissions and free disk space, or delete the dir to rebuild state from the changelogs", path.display())]
    Open {
        /// The state dir.
        path: PathBuf,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// A RocksDB read or write failed.
    #[error("RocksDB {operation} failed ({source}): check free disk space and the state dir's health; deleting the dir rebuilds state from the changelogs")]
    Rocks {
        /// What was being done.
        operation: &'static str,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// A write or scan named a store that was not declared when the backend was opened.
    #[error("store {store:?} is not declared (declared: {declared}): declare every store of the topology when opening the state backend")]
    UnknownStore {
        /// The store named.
        store: String,
        /// The declared stores, comma-separated.
        declared: String,
    },
    /// A store name that cannot be used.
    #[error("store name {store:?} is invalid: {reason}; rename the store in the topology")]
    InvalidStoreName {
        /// The store name.
        store: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// State is kept per input partition, and partitions start at 0.
    #[error("partition {0} is negative: state is kept per assigned input partition (0 and up); this is a bug in the caller")]
    NegativePartition(i32),
    /// A user key starts with the reserved byte 0xFF.
    #[error("key {key:?} of store {store:?} starts with the reserved byte 0xFF: keys must start with a UTF-8 channel name")]
    ReservedKey {
        /// The store.
        store: String,
        /// The key, lossily decoded for display.
        key: String,
    },
    /// A stored checkpoint could not be decoded.
    #[error("checkpoint of partition {partition} is unreadable ({source}): delete the state dir to rebuild state from the changelogs")]
    CorruptCheckpoint {
        /// The partition.
        partition: i32,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// A changelog record with the reserved key prefix is not a valid flush marker.
    #[error("changelog of store {store:?} has an invalid marker at offset {offset} ({reason}): the topic was written by something other than this chatpulse version; delete the topic to rebuild the store from the input")]
    BadMarker {
        /// The store.
        store: String,
        /// The record's offset.
        offset: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// Changelog records were fed out of order.
    #[error("changelog of store {store:?}: offset {offset} came after offset {previous}; feed the restorer each partition's records in offset order, once")]
    OffsetOrder {
        /// The store.
        store: String,
        /// The offending offset.
        offset: i64,
        /// The offset fed before it.
        previous: i64,
    },
    /// The changelog no longer holds (or never held) the flush generation asked for.
    #[error("changelog of store {store:?} has no complete flush of generation {generation} (last complete: {last:?}, oldest kept: {oldest:?}): restore every store of the partition to a generation they all hold, or rebuild the partition by reprocessing its input")]
    GenerationUnavailable {
        /// The store.
        store: String,
        /// The generation asked for.
        generation: u64,
        /// The generation of the last complete flush, if any.
        last: Option<u64>,
        /// The oldest generation the restorer can still restore to, if any.
        oldest: Option<u64>,
    },
}

/// The trait every state backend implements. Stores are declared when the backend is created; every
/// key lives in one store and one partition, and each partition carries one [`Checkpoint`].
pub trait StateBackend: Send {
    /// Applies every write of one task (input partition) and its checkpoint atomically (one
    /// `WriteBatch` for RocksDB). Later writes to the same key win. Nothing is applied on error.
    fn apply(
        &mut self,
        partition: i32,
        writes: &[StoreWrite],
        checkpoint: &Checkpoint,
    ) -> Result<()>;

    /// Every (key, value) of `store` for `partition`, in key order.
    fn scan(&self, store: &str, partition: i32) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// The last checkpoint applied for `partition`, if any.
    fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>>;

    /// Deletes all state of `partition` (all stores and its checkpoint).
    fn drop_partition(&mut self, partition: i32) -> Result<()>;

    /// Approximate bytes and keys per declared store, over all partitions (for metrics).
    fn stats(&self) -> Result<Vec<StoreStats>>;
}

/// One write to a store: an upsert, or a delete when `value` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreWrite {
    /// The store's name.
    pub store: String,
    /// The user key (must not start with [`RESERVED_KEY_BYTE`]).
    pub key: Vec<u8>,
    /// The new value, or `None` to delete the key.
    pub value: Option<Vec<u8>>,
}

impl StoreWrite {
    /// An upsert of `key` in `store`.
    pub fn put(
        store: impl Into<String>,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Self {
        StoreWrite {
            store: store.into(),
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A delete of `key` in `store`.
    pub fn delete(store: impl Into<String>, key: impl Into<Vec<u8>>) -> Self {
        StoreWrite {
            store: store.into(),
            key: key.into(),
            value: None,
        }
    }
}

/// Where a partition's state stands: written with its state in the same atomic apply.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct Checkpoint {
    /// The flush generation (one per commit, increasing).
    pub generation: u64,
    /// The next input offset to process after this state.
    pub input_offset: i64,
    /// The next offsets of the topology's sources after the first (empty with one source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_offsets: Vec<i64>,
    /// The watermark when the state was flushed.
    pub watermark_ms: i64,
    /// For each changelog topic, the offset of this flush's marker in it.
    pub changelog_offsets: BTreeMap<String, i64>,
}

/// Approximate size of one store, summed over partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// The store's name.
    pub store: String,
    /// Approximate bytes of keys and values.
    pub bytes: u64,
    /// Approximate number of keys.
    pub keys: u64,
}

/// Checks a store name declared by the topology.
pub(crate) fn validate_store_name(store: &str) -> Result<()> {
    let reason = if store.is_empty() {
        "it is empty"
    } else if store.starts_with("__") {
        "names starting with \"__\" are reserved for chatpulse's own column families"
    } else if store == "default" {
        "\"default\" is RocksDB's own column family"
    } else if !store
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        "it must be ASCII letters, digits, '-', '_' or '.' (it becomes part of a Kafka topic name)"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidStoreName {
        store: store.to_owned(),
        reason,
    })
}

/// Checks the declared store names, refusing invalid and duplicate ones.
pub(crate) fn validate_store_names(stores: &[&str]) -> Result<()> {
    for (i, store) in stores.iter().enumerate() {
        validate_store_name(store)?;
        if stores[..i].contains(store) {
            return Err(StoreError::InvalidStoreName {
                store: (*store).to_owned(),
                reason: "it is declared twice",
            });
        }
    }
    Ok(())
}

/// Refuses negative partitions.
pub(crate) fn check_partition(partition: i32) -> Result<u32> {
    u32::try_from(partition).map_err(|_| StoreError::NegativePartition(partition))
}

/// Refuses keys that start with [`RESERVED_KEY_BYTE`].
pub fn check_user_key(store: &str, key: &[u8]) -> Result<()> {
    if key.first() == Some(&RESERVED_KEY_BYTE) {
        return Err(StoreError::ReservedKey {
            store: store.to_owned(),
            key: String::from_utf8_lossy(key).into_owned(),
        });
    }
    Ok(())
}

/// The error for a store not among `declared`.
pub(crate) fn unknown_store<'a>(
    store: &str,
    declared: impl IntoIterator<Item = &'a str>,
) -> StoreError {
    StoreError::UnknownStore {
        store: store.to_owned(),
        declared: declared.into_iter().collect::<Vec<_>>().join(", "),
    }
}
