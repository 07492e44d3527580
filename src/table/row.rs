//! [`TableRow`]: one record of a table source read as key, event time and value. The key is the
//! record key when it has one, else a field of the value (`key_field`, `channel` by default); event
//! time is a field of the value (epoch milliseconds or ISO-8601 text) or the record timestamp.

use serde_json::Value;

use crate::time::civil::parse_timestamp_ms;

/// A table record, read.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    /// The key (a channel).
    pub key: String,
    /// The time from which the value holds.
    pub ts_ms: i64,
    /// The value.
    pub value: Value,
}

/// Why a record could not be read as a table row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableRowError {
    /// The value is not a JSON object.
    #[error("value is not a JSON object: {0}")]
    NotAnObject(String),
    /// Neither the record key nor the key field gives a key.
    #[error("no key: the record has no key and the value no text field {0:?}")]
    NoKey(String),
    /// No event time.
    #[error("no event time: the value has no field {0:?} holding epoch milliseconds or ISO-8601 text, and the record no timestamp")]
    NoTime(String),
}

/// Reads record values of a binary format (Avro in the registry wire format) as JSON: the runner's
/// registry-backed reader, behind this trait so the task stays pure.
pub trait ValueDecoder: Send + Sync {
    /// The value as JSON, or why it cannot be read.
    fn decode(&self, bytes: &[u8]) -> Result<Value, String>;
}

/// Where a table row's event time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowTime<'a> {
    /// A field of the value.
    Field(&'a str),
    /// The record timestamp.
    Record,
}

impl TableRow {
    /// Reads a JSON record value as a row of a table keyed by `key_field`.
    pub fn from_json(
        bytes: &[u8],
        record_key: Option<&[u8]>,
        key_field: &str,
        time: RowTime<'_>,
        record_ts_ms: Option<i64>,
    ) -> Result<TableRow, TableRowError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| TableRowError::NotAnObject(e.to_string()))?;
        TableRow::from_value(value, record_key, key_field, time, record_ts_ms)
    }

    /// Reads a decoded value (JSON, or Avro turned into JSON) as a row.
    pub fn from_value(
        value: Value,
        record_key: Option<&[u8]>,
        key_field: &str,
        time: RowTime<'_>,
        record_ts_ms: Option<i64>,
    ) -> Result<TableRow, TableRowError> {
        let Value::Object(fields) = &value else {
            return Err(TableRowError::NotAnObject(format!(
                "got {}",
                short_kind(&value)
            )));
        };
        let key = match record_key.and_then(|k| std::str::from_utf8(k).ok()) {
            Some(k) if !k.is_empty() => k.to_owned(),
            _ => fields
                .get(key_field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| TableRowError::NoKey(key_field.to_owned()))?,
        };
        let ts_ms = match time {
            RowTime::Record => record_ts_ms,
            RowTime::Field(name) => fields.get(name).and_then(time_of),
        }
        .ok_or_else(|| {
            TableRowError::NoTime(match time {
                RowTime::Field(name) => name.to_owned(),
                RowTime::Record => "(record timestamp)".to_owned(),
            })
        })?;
        Ok(TableRow { key, ts_ms, value })
    }
}

/// Epoch milliseconds from a number, or from text ([`time_of_text`]).
pub fn time_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => time_of_text(s),
        _ => None,
    }
}

/// Epoch milliseconds from text: the number itself, or an ISO-8601 time (UTC unless it says
/// otherwise).
pub fn time_of_text(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().or_else(|| parse_timestamp_ms(s, 0))
}

fn short_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_from_record_or_field_and_time_from_field_or_record() {
        let v = br#"{"channel":"nymn","viewers":10,"ts":1704557984095}"#;
        let row = TableRow::from_json(v, None, "channel", RowTime::Field("ts"), None).unwrap();
        assert_eq!((row.key.as_str(), row.ts_ms), ("nymn", 1_704_557_984_095));
        let row =
            TableRow::from_json(v, Some(b"other"), "channel", RowTime::Record, Some(5)).unwrap();
        assert_eq!((row.key.as_str(), row.ts_ms), ("other", 5));
        let iso = br#"{"channel":"a","ts":"2024-01-06T16:19:44.095Z"}"#;
        let row = TableRow::from_json(iso, None, "channel", RowTime::Field("ts"), None).unwrap();
        assert_eq!(row.ts_ms, 1_704_557_984_095);
    }

    #[test]
    fn unreadable_rows_say_what_is_missing() {
        let err = TableRow::from_json(b"[1]", None, "channel", RowTime::Field("ts"), None);
        assert!(matches!(err, Err(TableRowError::NotAnObject(_))));
        let err = TableRow::from_json(br#"{"ts":1}"#, None, "channel", RowTime::Field("ts"), None);
        assert_eq!(err, Err(TableRowError::NoKey("channel".into())));
        let err = TableRow::from_json(
            br#"{"channel":"a"}"#,
            None,
            "channel",
            RowTime::Field("ts"),
            None,
        );
        assert_eq!(err, Err(TableRowError::NoTime("ts".into())));
    }
}
