//! What the archive reads from Kafka ([`ArchiveRecord`]) and how a topic's records become rows
//! ([`RowFormat`]): raw chat is one format; result topics (columns from their Avro schema) can
//! be another, with the same writer, layout, roll policy and storage.

use bytes::Bytes;

use super::columns::{Column, ColumnBuffers, ColumnType, Schema};

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

/// The last columns of every archived topic: where its record was in Kafka.
pub fn position_columns() -> [Column; 3] {
    [
        Column::required(
            "kafka_partition",
            ColumnType::Int32,
            "Kafka partition of the record",
        ),
        Column::required(
            "kafka_offset",
            ColumnType::Int64,
            "Kafka offset of the record",
        ),
        Column::optional(
            "kafka_timestamp",
            ColumnType::TimestampMillis,
            "The Kafka record's timestamp",
        ),
    ]
}

/// Appends `record`'s [`position_columns`] (the row's last, from column `first`) and ends the row.
pub fn push_position(record: &ArchiveRecord, out: &mut ColumnBuffers, first: usize) {
    out.push_i32(first, true, Some(record.partition));
    out.push_i64(first + 1, true, Some(record.offset));
    out.push_i64(first + 2, false, record.timestamp_ms);
    out.end_row();
}
