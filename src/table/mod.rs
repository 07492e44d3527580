//! Tables: the latest value per key of a source declared `table = { ... }` (Kafka Streams' `KTable`),
//! kept as versions by event time so a stream record can be joined with the value as of its own time
//! (KIP-914 versioned stores). Pure: the task feeds the rows, the runners restore them from the topic.

pub mod json_time;
pub mod row;
pub mod snapshot_log;
pub mod versioned;

pub use row::{TableRow, TableRowError, ValueDecoder};
pub use versioned::VersionedTable;

/// A table as tasks and processors hold it: one per task, or one shared by every task (a global
/// table). Writers are the task (or the global table's reader); joining processors read.
pub type SharedTable = std::sync::Arc<std::sync::RwLock<VersionedTable>>;
