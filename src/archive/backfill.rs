//! Backfills: raw chat read back out of the archive for `replay` and `process`, over an event-time
//! range. Hour directories outside the range are never opened; each hour's files are read whole
//! (one hour in memory at a time) and their lines yielded in event-time order (Kafka partition and
//! offset break ties), each (partition, offset) once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;

use super::layout::{escape, hour_of_path};
use super::line_rebuild::{rebuild_message, MessageColumns};
use super::storage::{Storage, StorageError};

const HOUR_MS: i64 = 3_600_000;

/// An event-time range, `[from, to)` in epoch ms; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// The first millisecond in the range.
    pub from_ms: Option<i64>,
    /// The first millisecond after it.
    pub to_ms: Option<i64>,
}

impl TimeRange {
    /// Whether `ms` is in the range.
    pub fn contains(&self, ms: i64) -> bool {
        self.from_ms.is_none_or(|f| f <= ms) && self.to_ms.is_none_or(|t| ms < t)
    }

    /// Whether any millisecond of the hour starting at `hour_ms` is in the range.
    fn touches_hour(&self, hour_ms: i64) -> bool {
        self.from_ms.is_none_or(|f| f < hour_ms + HOUR_MS) && self.to_ms.is_none_or(|t| hour_ms < t)
    }
}

/// One archived record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivedLine {
    /// Its event time.
    pub event_ms: i64,
    /// The Kafka partition it was read from.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// The payload as received (the IRC line; the bytes when they were not UTF-8).
    pub payload: Vec<u8>,
}

/// Why a backfill cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// Listing or reading the store failed.
    #[error("reading the archive: {0}")]
    Storage(#[from] StorageError),
    /// A file is not the archive's Parquet.
    #[error("{path} is not a raw-chat archive file: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// There is nothing to read.
    #[error("no archive files of topic {topic:?} under {root}: check --input (the archive's --root) and --topic")]
    Empty {
        /// The topic.
        topic: String,
        /// The store.
        root: String,
    },
}

/// The lines of a topic's archive in a range, hour by hour.
pub struct Backfill {
    storage: Arc<dyn Storage>,
    range: TimeRange,
    /// The files of each hour still to read, by hour.
    hours: VecDeque<Vec<String>>,
    ready: VecDeque<ArchivedLine>,
    /// Files read so far.
    pub files_read: u64,
}

impl Backfill {
    /// Lists `topic`'s files in `storage` (its `<topic>/` directory) that may hold lines in `range`.
    pub fn open(
        storage: Arc<dyn Storage>,
        topic: &str,
        range: TimeRange,
    ) -> Result<Backfill, BackfillError> {
        let dir = escape(topic);
        let mut by_hour: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        let mut any = false;
        for path in storage.list(&dir)? {
            if !path.ends_with(".parquet") {
                continue;
            }
            any = true;
            if let Some(hour) = hour_of_path(&path) {
                if range.touches_hour(hour) {
                    by_hour.entry(hour).or_default().push(path);
                }
            }
        }
        if !any {
            return Err(BackfillError::Empty {
                topic: topic.to_owned(),
                root: storage.describe(),
            });
        }
        Ok(Backfill {
            storage,
            range,
            hours: by_hour.into_values().collect(),
            ready: VecDeque::new(),
            files_read: 0,
        })
    }

    /// Reads the next hour's files into `ready`; false when none is left.
    fn next_hour(&mut self) -> Result<bool, BackfillError> {
        let Some(files) = self.hours.pop_front() else {
            return Ok(false);
        };
        let mut lines = Vec::new();
        for path in files {
            let Some(bytes) = self.storage.get(&path)? else {
                // Deleted since the listing (an abandoned batch): its rows are in another file.
                continue;
            };
            read_file(&path, bytes, &self.range, &mut lines)?;
            self.files_read += 1;
        }
        lines.sort_by_key(|l| (l.event_ms, l.partition, l.offset));
        lines.dedup_by_key(|l| (l.event_ms, l.partition, l.offset));
        self.ready.extend(lines);
        Ok(true)
    }
}

impl Iterator for Backfill {
    type Item = Result<ArchivedLine, BackfillError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(Ok(line));
            }
            match self.next_hour() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The columns a backfill needs in every file.
const COLUMNS: [&str; 5] = [
    "event_time",
    "raw",
    "raw_bytes",
    "kafka_partition",
    "kafka_offset",
];

/// The columns a message line is rebuilt from when `raw` is null ([`super::line_rebuild`]); files
/// written before `tag_order` existed lack them and always hold `raw`.
const REBUILD_COLUMNS: [&str; 8] = [
    "channel",
    "user_login",
    "user_id",
    "message_id",
    "bits",
    "text",
    "tags",
    "tag_order",
];

/// One row as read, before its line is known.
#[derive(Default)]
struct Row {
    line: ArchivedLine,
    /// `raw` or `raw_bytes`, when the row has one.
    payload: Option<Vec<u8>>,
    channel: String,
    user_login: String,
    user_id: Option<String>,
    message_id: Option<String>,
    bits: Option<i32>,
    text: String,
    tags: Vec<(String, String)>,
    tag_order: Option<String>,
}

impl Row {
    /// Fills the line's payload from the columns when `raw` and `raw_bytes` were both null.
    fn finish(mut self, scratch: &mut String) -> Result<ArchivedLine, String> {
        if let Some(payload) = self.payload {
            self.line.payload = payload;
            return Ok(self.line);
        }
        let Some(tag_order) = &self.tag_order else {
            return Err(format!(
                "the row at partition {} offset {} has no raw line and no tag_order to rebuild it from",
                self.line.partition, self.line.offset
            ));
        };
        let columns = MessageColumns {
            event_time_ms: self.line.event_ms,
            channel: &self.channel,
            user_login: &self.user_login,
            user_id: self.user_id.as_deref(),
            message_id: self.message_id.as_deref(),
            bits: self.bits,
            text: &self.text,
            tag_order,
        };
        let tags = self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        rebuild_message(&columns, tags, scratch).map_err(|e| e.to_string())?;
        self.line.payload = scratch.as_bytes().to_vec();
        Ok(self.line)
    }
}

/// Appends the rows of one file whose event time is in `range` to `out`.
fn read_file(
    path: &str,
    bytes: Bytes,
    range: &TimeRange,
    out: &mut Vec<ArchivedLine>,
) -> Result<(), BackfillError> {
    let bad = |message: String| BackfillError::File {
        path: path.to_owned(),
        message,
    };
    let reader = SerializedFileReader::new(bytes).map_err(|e| bad(e.to_string()))?;
    let schema = reader.metadata().file_metadata().schema();
    let field = |name: &str| {
        schema
            .get_fields()
            .iter()
            .find(|f| f.name() == name)
            .cloned()
    };
    let mut fields = COLUMNS
        .iter()
        .map(|name| field(name).ok_or_else(|| bad(format!("no column {name}"))))
        .collect::<Result<Vec<_>, _>>()?;
    fields.extend(REBUILD_COLUMNS.iter().filter_map(|name| field(name)));
    let projection = Type::group_type_builder(schema.name())
        .with_fields(fields)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| bad(e.to_string()))?;
    let mut scratch = String::new();
    for row in rows {
        let row = row.map_err(|e| bad(e.to_string()))?;
        let mut r = Row::default();
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("event_time", Field::TimestampMillis(t) | Field::Long(t)) => r.line.event_ms = *t,
                ("raw", Field::Str(s)) => r.payload = Some(s.as_bytes().to_vec()),
                ("raw_bytes", Field::Bytes(b)) => r.payload = Some(b.data().to_vec()),
                ("kafka_partition", Field::Int(p)) => r.line.partition = *p,
                ("kafka_offset", Field::Long(o)) => r.line.offset = *o,
                ("channel", Field::Str(s)) => r.channel = s.clone(),
                ("user_login", Field::Str(s)) => r.user_login = s.clone(),
                ("user_id", Field::Str(s)) => r.user_id = Some(s.clone()),
                ("message_id", Field::Str(s)) => r.message_id = Some(s.clone()),
                ("bits", Field::Int(b)) => r.bits = Some(*b),
                ("text", Field::Str(s)) => r.text = s.clone(),
                ("tag_order", Field::Str(s)) => r.tag_order = Some(s.clone()),
                ("tags", Field::MapInternal(map)) => {
                    for (k, v) in map.entries() {
                        match (k, v) {
                            (Field::Str(k), Field::Str(v)) => r.tags.push((k.clone(), v.clone())),
                            (Field::Str(k), Field::Null) => r.tags.push((k.clone(), String::new())),
                            other => return Err(bad(format!("tags holds {other:?}"))),
                        }
                    }
                }
                (_, Field::Null) => {}
                (name, other) => return Err(bad(format!("column {name} holds {other:?}"))),
            }
        }
        if range.contains(r.line.event_ms) {
            out.push(r.finish(&mut scratch).map_err(bad)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_prunes_hours_and_keeps_its_rows() {
        let r = TimeRange {
            from_ms: Some(HOUR_MS + 30 * 60_000),
            to_ms: Some(3 * HOUR_MS),
        };
        assert!(!r.touches_hour(0));
        assert!(r.touches_hour(HOUR_MS));
        assert!(r.touches_hour(2 * HOUR_MS));
        assert!(!r.touches_hour(3 * HOUR_MS));
        assert!(!r.contains(HOUR_MS + 30 * 60_000 - 1));
        assert!(r.contains(HOUR_MS + 30 * 60_000));
        assert!(!r.contains(3 * HOUR_MS));
        assert!(TimeRange::default().contains(i64::MIN));
    }
}
