//! The archive (bronze layer): Kafka records to Parquet files (zstd) on a local directory or an
//! S3-compatible store, exactly once. Pure parts: the row model ([`columns`], [`record`],
//! [`raw_chat`], [`line_rebuild`]), the file encoder ([`parquet_file`]), [`layout`], [`roll`] and
//! [`manifest`]; the edge is [`storage`]; [`archiver`] ties them into the flush protocol (README
//! "Archive"), and [`backfill`] reads raw chat back for `replay` and `process`.

pub mod archiver;
pub mod backfill;
pub mod columns;
pub mod layout;
pub mod line_rebuild;
pub mod manifest;
pub mod metrics;
pub mod parquet_file;
pub mod raw_chat;
pub mod record;
pub mod result_rows;
pub mod roll;
pub mod storage;

pub use archiver::{ArchiveError, ArchiveOptions, Archiver, Committer, Flushed};
pub use record::{ArchiveRecord, RowFormat, RowKey};
