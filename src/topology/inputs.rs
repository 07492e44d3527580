//! The inputs of a topology resolved: each source's role (a stream processors read, or a table they
//! join) and each join's table. Checked here so that validation of processors stays about kinds;
//! every problem names the source or processor and says what to change.

use super::spec::{parse_duration_ms, SourceSpec, TimestampSource, ValueFormat};
use crate::processor::kind::Reads;
use crate::table::row::RowTime;
use crate::table::{TableRow, ValueDecoder};

/// A source declared `table = { ... }`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePlan {
    /// The value field holding the key when a record has no key.
    pub key_field: String,
    /// History kept behind the watermark, in milliseconds.
    pub retention_ms: i64,
    /// How far out of order rows may arrive, in milliseconds.
    pub grace_ms: i64,
    /// Every task holds the whole table.
    pub global: bool,
}

/// Checks every source and resolves the tables, one entry per source (`None`: a stream).
pub fn resolve_sources(
    problems: &mut Vec<String>,
    sources: &[SourceSpec],
) -> Vec<Option<TablePlan>> {
    sources
        .iter()
        .map(|s| {
            let owner = format!("source {:?}", s.name);
            match (s.format, s.timestamp) {
                (ValueFormat::Irc, TimestampSource::Field) => problems.push(format!(
                    "{owner}: timestamp = \"field\" reads a field of a JSON or Avro value: use tmi-sent-ts or record for IRC lines"
                )),
                (ValueFormat::Json | ValueFormat::Avro, TimestampSource::TmiSentTs) => {
                    problems.push(format!(
                        "{owner}: timestamp = \"tmi-sent-ts\" is a tag of IRC lines: use timestamp = \"field\" (with time_field, default \"ts\") or \"record\" for format {:?}",
                        s.format
                    ))
                }
                _ => {}
            }
            if s.time_field.is_some() && s.timestamp != TimestampSource::Field {
                problems.push(format!(
                    "{owner}: time_field is read only with timestamp = \"field\": set that, or remove time_field"
                ));
            }
            let table = s.table.as_ref()?;
            if s.format == ValueFormat::Irc {
                problems.push(format!(
                    "{owner}: a table holds JSON or Avro values: set format = \"json\" or \"avro\""
                ));
            }
            let retention_ms = match parse_duration_ms(&table.retention) {
                Some(ms) if ms > 0 => ms,
                _ => {
                    problems.push(format!(
                        "{owner}: table.retention {:?} is not a positive duration: use a number and ms, s, m, h or d (\"1h\")",
                        table.retention
                    ));
                    0
                }
            };
            let grace_ms = parse_duration_ms(&table.grace).unwrap_or_else(|| {
                problems.push(format!(
                    "{owner}: table.grace {:?} is not a duration: use a number and ms, s, m, h or d (\"30s\")",
                    table.grace
                ));
                0
            });
            if grace_ms >= retention_ms && retention_ms > 0 {
                problems.push(format!(
                    "{owner}: table.grace must be shorter than table.retention, or rows on time would find their versions expired"
                ));
            }
            Some(TablePlan {
                key_field: table.key_field.clone(),
                retention_ms,
                grace_ms,
                global: table.global,
            })
        })
        .collect()
}

/// Checks that processor `owner`, of a kind reading `reads`, can read source `source`: chat kinds
/// read a stream of IRC lines; row kinds read JSON or Avro, a table's rows included.
pub fn stream_problems(
    problems: &mut Vec<String>,
    owner: &str,
    sources: &[SourceSpec],
    tables: &[Option<TablePlan>],
    source: usize,
    reads: Reads,
) {
    let s = &sources[source];
    match reads {
        Reads::Chat if tables[source].is_some() => problems.push(format!(
            "{owner} reads source {:?}, which is a table: read a stream, and join the table with join = {{ table = {:?} }}",
            s.name, s.name
        )),
        Reads::Chat if s.format != ValueFormat::Irc => problems.push(format!(
            "{owner} reads source {:?} of format {:?}: its kind reads IRC chat; declare the source a table (table = {{}}) and join it",
            s.name, s.format
        )),
        Reads::Rows if s.format == ValueFormat::Irc => problems.push(format!(
            "{owner} reads source {:?} of format \"irc\": its kind reads JSON or Avro rows (such as twitch.streams); name such a source, and cogroup the chat (cogroup = [{:?}]) if the kind takes it",
            s.name, s.name
        )),
        _ => {}
    }
}

/// Resolves processor `owner`'s `cogroup = [...]` to source indices: each a declared source other
/// than `source`, named once.
pub fn resolve_cogroup(
    problems: &mut Vec<String>,
    owner: &str,
    sources: &[SourceSpec],
    source: Option<usize>,
    names: &[String],
) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for name in names {
        match sources.iter().position(|s| &s.name == name) {
            None => problems.push(format!(
                "{owner} cogroups source {name:?}, which no [[source]] declares"
            )),
            Some(i) if Some(i) == source || out.contains(&i) => problems.push(format!(
                "{owner} names source {name:?} twice (source and cogroup): name each source once"
            )),
            Some(i) => out.push(i),
        }
    }
    out
}

/// Resolves processor `owner`'s `join = { table = ... }` to the table source's index.
pub fn resolve_join(
    problems: &mut Vec<String>,
    owner: &str,
    sources: &[SourceSpec],
    tables: &[Option<TablePlan>],
    table: &str,
) -> Option<usize> {
    match sources.iter().position(|s| s.name == table) {
        None => {
            problems.push(format!(
                "{owner} joins table {table:?}, which no [[source]] declares"
            ));
            None
        }
        Some(i) if tables[i].is_none() => {
            problems.push(format!(
                "{owner} joins source {table:?}, which is not a table: add table = {{}} (or table = {{ key_field = ..., retention = ... }}) to it"
            ));
            None
        }
        Some(i) => Some(i),
    }
}

/// Reads one record of `source` as a row: its value decoded (JSON, or Avro through `decoder`), its
/// key (the record's, else the value's `key_field`) and its event time by the source's rules; the
/// reason when it cannot be read.
pub fn read_row(
    source: &SourceSpec,
    key_field: &str,
    decoder: Option<&dyn ValueDecoder>,
    key: Option<&[u8]>,
    value: &[u8],
    record_ts_ms: Option<i64>,
) -> Result<TableRow, String> {
    let value = match (source.format, decoder) {
        (ValueFormat::Avro, Some(decoder)) => decoder.decode(value)?,
        (ValueFormat::Avro, None) => {
            return Err(
                "an Avro value and no schema registry to read it with: pass --schema-registry"
                    .to_owned(),
            )
        }
        _ => serde_json::from_slice(value).map_err(|e| format!("not JSON: {e}"))?,
    };
    let time = match source.timestamp {
        TimestampSource::Record => RowTime::Record,
        _ => RowTime::Field(source.time_field()),
    };
    TableRow::from_value(value, key, key_field, time, record_ts_ms).map_err(|e| e.to_string())
}
