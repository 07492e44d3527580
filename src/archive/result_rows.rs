//! Result topics as rows (the silver and gold layers): one column per top-level field of the topic's
//! Avro record schema, typed from it, with the field's `doc` kept as the column's doc (the file's
//! `chatpulse.doc.<name>` metadata). Values are Avro in the registry wire format or JSON; a record
//! neither can read keeps its bytes in `undecodable`, so every record still gets a row.

use bytes::Bytes;
use serde_json::Value;

use super::columns::{Column, ColumnBuffers, ColumnType, Schema};
use super::record::{position_columns, push_position, ArchiveRecord, RowFormat, RowKey};
use crate::avro::value_decoder::decode_avro_or_json;
use crate::table::ValueDecoder;

/// Why a schema cannot be archived.
#[derive(Debug, thiserror::Error)]
#[error("schema {origin}: {message}")]
pub struct ResultSchemaError {
    origin: String,
    message: String,
}

/// How a field's value becomes a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Long,
    Timestamp,
    Double,
    Bool,
    Text,
    /// Arrays, maps, records and anything else: the value as JSON text.
    Json,
}

impl Kind {
    fn column(self) -> ColumnType {
        match self {
            Kind::Int => ColumnType::Int32,
            Kind::Long => ColumnType::Int64,
            Kind::Timestamp => ColumnType::TimestampMillis,
            Kind::Double => ColumnType::Double,
            Kind::Bool => ColumnType::Bool,
            Kind::Text | Kind::Json => ColumnType::Utf8,
        }
    }
}

/// The kind of an Avro type (the non-null branch of a `["null", T]` union).
fn kind_of(ty: &Value) -> Kind {
    match ty {
        Value::String(s) => match s.as_str() {
            "int" => Kind::Int,
            "long" => Kind::Long,
            "float" | "double" => Kind::Double,
            "boolean" => Kind::Bool,
            "string" | "enum" => Kind::Text,
            _ => Kind::Json,
        },
        Value::Array(branches) => {
            let non_null: Vec<&Value> = branches.iter().filter(|b| *b != "null").collect();
            match non_null.as_slice() {
                [one] => kind_of(one),
                _ => Kind::Json,
            }
        }
        Value::Object(o) => match (o.get("type").and_then(Value::as_str), o.get("logicalType")) {
            (Some("long"), Some(l)) if l == "timestamp-millis" => Kind::Timestamp,
            (Some("enum"), _) => Kind::Text,
            (Some(t), _) if t != "record" && t != "array" && t != "map" => {
                kind_of(&Value::String(t.to_owned()))
            }
            _ => Kind::Json,
        },
        _ => Kind::Json,
    }
}

/// Rows of a result topic.
pub struct ResultRows {
    name: String,
    fields: Vec<(String, Kind, String)>,
    time_field: Option<usize>,
    channel_field: Option<usize>,
    decoder: Option<Box<dyn ValueDecoder>>,
}

impl ResultRows {
    /// The rows of records of the Avro record schema `text` (`origin` names it in errors), their
    /// event time from `time_field` (else `window_start`, `end`, `ts`, else the record's
    /// timestamp), decoding Avro values with `decoder` (JSON values need none).
    pub fn new(
        origin: &str,
        text: &str,
        time_field: Option<&str>,
        decoder: Option<Box<dyn ValueDecoder>>,
    ) -> Result<ResultRows, ResultSchemaError> {
        let bad = |message: String| ResultSchemaError {
            origin: origin.to_owned(),
            message,
        };
        let schema: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let fields = schema["fields"]
            .as_array()
            .ok_or_else(|| bad("not an Avro record schema (no fields)".into()))?;
        let mut out = Vec::new();
        for f in fields {
            let name = f["name"]
                .as_str()
                .ok_or_else(|| bad("a field without a name".into()))?;
            if RESERVED.contains(&name) {
                return Err(bad(format!(
                    "field {name:?} clashes with an archive column"
                )));
            }
            let doc = f["doc"].as_str().unwrap_or_default().to_owned();
            out.push((name.to_owned(), kind_of(&f["type"]), doc));
        }
        let position = |n: &str| out.iter().position(|(f, ..)| f == n);
        let time_field = match time_field {
            Some(t) => {
                Some(position(t).ok_or_else(|| bad(format!("no field {t:?} for the event time")))?)
            }
            None => ["window_start", "end", "ts"]
                .iter()
                .find_map(|n| position(n)),
        };
        let channel_field = position("channel");
        Ok(ResultRows {
            name: schema["name"].as_str().unwrap_or("result").to_owned(),
            fields: out,
            time_field,
            channel_field,
            decoder,
        })
    }

    /// The value of `payload` when it is a record: Avro through the decoder, or a JSON object.
    fn decode(&self, payload: &[u8]) -> Option<Value> {
        decode_avro_or_json(self.decoder.as_deref(), payload)
            .ok()
            .filter(Value::is_object)
    }
}

/// The archive's own columns after the fields.
const RESERVED: [&str; 4] = [
    "undecodable",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
];

impl RowFormat for ResultRows {
    fn schema(&self) -> Schema {
        let mut columns: Vec<Column> = self
            .fields
            .iter()
            .map(|(name, kind, doc)| {
                let doc = if *kind == Kind::Json {
                    format!("{doc} (as JSON text)")
                } else {
                    doc.clone()
                };
                let c = Column::optional(name, kind.column(), doc.trim());
                if name == "channel" {
                    c.with_dictionary()
                } else {
                    c
                }
            })
            .collect();
        columns.push(Column::optional(
            "undecodable",
            ColumnType::Binary,
            "The payload when it was neither Avro of the registry nor a JSON object (the fields are then null)",
        ));
        columns.extend(position_columns());
        Schema {
            name: self.name.clone(),
            columns,
        }
    }

    fn append(&self, record: &ArchiveRecord, out: &mut ColumnBuffers) -> RowKey {
        let value = self.decode(&record.payload);
        let field = |i: usize| {
            value
                .as_ref()
                .map(|v| &v[&self.fields[i].0])
                .filter(|v| !v.is_null())
        };
        for (i, (_, kind, _)) in self.fields.iter().enumerate() {
            let v = field(i);
            match kind {
                Kind::Int => out.push_i32(i, false, v.and_then(Value::as_i64).map(|n| n as i32)),
                Kind::Long | Kind::Timestamp => out.push_i64(i, false, v.and_then(Value::as_i64)),
                Kind::Double => out.push_f64(i, false, v.and_then(Value::as_f64)),
                Kind::Bool => out.push_bool(i, false, v.and_then(Value::as_bool)),
                Kind::Text => out.push_bytes(
                    i,
                    false,
                    v.map(|s| Bytes::from(s.as_str().map_or_else(|| s.to_string(), str::to_owned))),
                ),
                Kind::Json => out.push_bytes(i, false, v.map(|j| Bytes::from(j.to_string()))),
            }
        }
        let n = self.fields.len();
        out.push_bytes(n, false, value.is_none().then(|| record.payload.clone()));
        push_position(record, out, n + 1);
        let event_time_ms = self
            .time_field
            .and_then(field)
            .and_then(Value::as_i64)
            .or(record.timestamp_ms)
            .unwrap_or(0);
        RowKey {
            event_time_ms,
            channel: self
                .channel_field
                .and_then(field)
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::columns::ColumnData;

    const SCHEMA: &str = r#"{"type": "record", "name": "T", "fields": [
        {"name": "channel", "type": "string", "doc": "The channel."},
        {"name": "window_start", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "Start."},
        {"name": "total", "type": "long"},
        {"name": "share", "type": ["null", "double"], "default": null},
        {"name": "final", "type": "boolean"},
        {"name": "tiers", "type": {"type": "map", "values": "long"}, "doc": "By tier."}]}"#;

    fn record(payload: &[u8], offset: i64) -> ArchiveRecord {
        ArchiveRecord {
            payload: Bytes::copy_from_slice(payload),
            key: None,
            timestamp_ms: Some(5),
            partition: 2,
            offset,
        }
    }

    #[test]
    fn columns_follow_the_schema_and_json_values_fill_them() {
        let rows = ResultRows::new("t.avsc", SCHEMA, None, None).unwrap();
        let schema = rows.schema();
        let names: Vec<(&str, ColumnType)> = schema
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty))
            .collect();
        assert_eq!(
            names,
            [
                ("channel", ColumnType::Utf8),
                ("window_start", ColumnType::TimestampMillis),
                ("total", ColumnType::Int64),
                ("share", ColumnType::Double),
                ("final", ColumnType::Bool),
                ("tiers", ColumnType::Utf8),
                ("undecodable", ColumnType::Binary),
                ("kafka_partition", ColumnType::Int32),
                ("kafka_offset", ColumnType::Int64),
                ("kafka_timestamp", ColumnType::TimestampMillis),
            ]
        );
        assert_eq!(schema.columns[0].doc, "The channel.");
        assert_eq!(schema.columns[5].doc, "By tier. (as JSON text)");
        let mut out = schema.buffers();
        let key = rows.append(
            &record(br#"{"channel": "nymn", "window_start": 600000, "total": 3, "share": null, "final": true, "tiers": {"1000": 3}}"#, 0),
            &mut out,
        );
        assert_eq!(
            key,
            RowKey {
                event_time_ms: 600_000,
                channel: Some("nymn".into())
            }
        );
        let key = rows.append(&record(b"\xffnot json", 1), &mut out);
        assert_eq!(
            key,
            RowKey {
                event_time_ms: 5,
                channel: None
            },
            "the record's time"
        );
        assert_eq!(out.rows(), 2);
        let ColumnData::Bytes { values, .. } = &out.columns()[5] else {
            panic!()
        };
        assert_eq!(values[0].data(), br#"{"1000":3}"#);
        let ColumnData::Bytes { values, .. } = &out.columns()[6] else {
            panic!()
        };
        let got: Vec<&[u8]> = values.iter().map(|v| v.data()).collect();
        assert_eq!(got, [&b"\xffnot json"[..]], "only the undecodable payload");
    }

    #[test]
    fn a_field_named_like_an_archive_column_or_a_missing_time_field_is_refused() {
        let clash = r#"{"type": "record", "name": "T", "fields": [{"name": "kafka_offset", "type": "long"}]}"#;
        assert!(ResultRows::new("t", clash, None, None).is_err());
        let e = ResultRows::new("t", SCHEMA, Some("nope"), None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no field \"nope\""), "{e}");
    }
}
