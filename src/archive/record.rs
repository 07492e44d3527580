//! What the archive reads from Kafka ([`ArchiveRecord`]) and how a topic's records become rows
//! ([`RowFormat`]): raw chat is one format; result topics (columns from their Avro schema) can
//! be another, with the same writer, layout, roll policy and storage.

use bytes::Bytes;

use super::columns::{ColumnBuffers, Schema};

/// One Kafka record, as the archive sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    /// The payload.
    pub payload: Bytes,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The record's timestamp in epoch milliseconds, if it has one.
    pub timestamp_ms: Option<i64>,
    /// The Kafka partition.
    pub partition: i32,
    /// The offset in that partition.
    pub offset: i64,
}

/// What the layout and the roll policy need of a row, read while appending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKey {
    /// Event time in epoch milliseconds: picks the `dt=`/`hour=` directory.
    pub event_time_ms: i64,
    /// The channel, if known: picks the `channel=` directory when the layout has one.
    pub channel: Option<String>,
}

/// How one topic's records become rows.
pub trait RowFormat: Send {
    /// The columns (the same for every record).
    fn schema(&self) -> Schema;
    /// Appends the one row of `record` to `out` (buffers of [`RowFormat::schema`]); every record
    /// gets a row, whatever its payload.
    fn append(&self, record: &ArchiveRecord, out: &mut ColumnBuffers) -> RowKey;
}
