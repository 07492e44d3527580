//! The topology file (`topologies/*.toml`) as written by users: sources, processors, sinks. This is
//! the user's contract: unknown fields are rejected and every field is documented. Validation of the
//! whole graph is in [`super::validate`].

use serde::{Deserialize, Serialize};

pub use crate::time::duration::parse_duration_ms;

/// A whole topology file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// The application id: consumer group, changelog topic prefix (`<id>-<store>-changelog`) and DLQ
    /// topic (`<id>-dlq`).
    pub application_id: String,
    /// Where records come from.
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceSpec>,
    /// What is computed.
    #[serde(default, rename = "processor")]
    pub processors: Vec<ProcessorSpec>,
    /// Where results go.
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkSpec>,
    /// Engine settings.
    #[serde(default)]
    pub settings: EngineSettings,
}

/// An input topic.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Name processors refer to.
    pub name: String,
    /// The Kafka topic.
    pub topic: String,
    /// How record values are encoded.
    #[serde(default)]
    pub format: ValueFormat,
    /// Where event time comes from.
    #[serde(default)]
    pub timestamp: TimestampSource,
    /// The value field holding event time when `timestamp = "field"` (epoch milliseconds or
    /// ISO-8601 text); default `ts`.
    pub time_field: Option<String>,
    /// Declares the source a table: the latest value per key, kept as versions by event time so
    /// processors can join it as of a record's time (`join = { table = "<this source>" }`).
    pub table: Option<TableDecl>,
}

impl SourceSpec {
    /// The value field event time is read from (`timestamp = "field"`).
    pub fn time_field(&self) -> &str {
        self.time_field.as_deref().unwrap_or(DEFAULT_TIME_FIELD)
    }
}

/// The default `time_field`: `ts`, as `twitch.streams` snapshots carry it.
pub const DEFAULT_TIME_FIELD: &str = "ts";

/// A source read as a table (Kafka Streams' `KTable`, or `GlobalKTable` with `global = true`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TableDecl {
    /// The value field holding the key when a record has no key; default `channel`.
    #[serde(default = "default_key_field")]
    pub key_field: String,
    /// How much history (event time behind the watermark) of each key is kept for lookups
    /// as of an earlier time; the newest version older than that always stays. Default `1h`.
    #[serde(default = "default_table_retention")]
    pub retention: String,
    /// How far out of order a row may arrive and still be seen by every result at or after its
    /// time: the table holds event time back by this much (Flink's bounded out-of-orderness).
    /// Default `0s`: rows arrive in time order per partition, as `monitor` writes them.
    #[serde(default = "default_table_grace")]
    pub grace: String,
    /// Every task holds the whole table (all partitions of its topic), so the topic need not be
    /// co-partitioned with the streams that join it. Default false: each task holds the table's
    /// partition with its own number.
    #[serde(default)]
    pub global: bool,
}

fn default_key_field() -> String {
    "channel".to_owned()
}

fn default_table_grace() -> String {
    "0s".to_owned()
}

fn default_table_retention() -> String {
    "1h".to_owned()
}

/// A processor's join with a table source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JoinDecl {
    /// The table source (a `[[source]]` with `table = { ... }`).
    pub table: String,
}

/// Encodings of record values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueFormat {
    /// One raw Twitch IRC line (the `twitch.chat.raw` bronze layer).
    #[default]
    Irc,
    /// A JSON document.
    Json,
    /// Avro in the Confluent Schema Registry wire format.
    Avro,
}

/// Where a record's event time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimestampSource {
    /// Twitch's send time, the `tmi-sent-ts` tag; the record timestamp when a line lacks it.
    #[default]
    TmiSentTs,
    /// The Kafka record timestamp.
    Record,
    /// A field of a JSON or Avro value ([`SourceSpec::time_field`]), the record timestamp when the
    /// field is absent.
    Field,
}

/// A processor: a built-in kind with its window and store.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorSpec {
    /// Unique name.
    pub name: String,
    /// The built-in processor kind (`chat_count`, ...).
    pub kind: String,
    /// The source it reads: IRC chat for the chat kinds, JSON or Avro rows for the row kinds
    /// (`chatpulse topology kinds` says which a kind reads).
    pub source: String,
    /// More sources whose records it reads too, co-partitioned with `source` (Kafka Streams'
    /// `cogroup`): chat and rows alike, for the kinds that take them.
    #[serde(default)]
    pub cogroup: Vec<String>,
    /// The sink its results go to.
    pub sink: String,
    /// Its window, when it is windowed.
    pub window: Option<WindowDecl>,
    /// When window results are emitted: `final` (default) or `update`.
    #[serde(default)]
    pub emit: crate::window::EmitMode,
    /// The state store name (defaults to the processor name).
    pub store: Option<String>,
    /// A table it joins: each result is joined with the table's value for its key as of the
    /// result's event time (see README, "Sources, tables and joins").
    pub join: Option<JoinDecl>,
    /// The kind's own settings, `options = { grace = "5s" }`: typed and checked by the kind's config
    /// (see [`crate::processor::registry`]; `chatpulse topology kinds` lists them).
    #[serde(default)]
    pub options: toml::Table,
}

impl ProcessorSpec {
    /// The store this processor keeps its state in.
    pub fn store_name(&self) -> &str {
        self.store.as_deref().unwrap_or(&self.name)
    }
}

/// A window as written in a topology: durations as text (`60s`, `1m`, `500ms`, `1h`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WindowDecl {
    /// `tumbling`, `hopping`, `sliding` or `session`.
    pub kind: String,
    /// Window length (tumbling, hopping).
    pub size: Option<String>,
    /// Distance between window starts (hopping).
    pub advance: Option<String>,
    /// Window length of sliding windows.
    pub difference: Option<String>,
    /// Session windows: the inactivity that ends a session (`"5m"`); records at most `gap`
    /// apart belong to one session, and a late record that bridges two sessions merges them.
    pub gap: Option<String>,
    /// How long after a window's end late records are still accepted (default 0); for a session,
    /// after its last record plus `gap`.
    pub grace: Option<String>,
    /// Tumbling windows: how long after `end + grace` a closed window is kept, so a late record
    /// still counts and a corrected final (the next `revision`) is emitted. Default
    /// [`DEFAULT_ALLOWED_LATENESS`]; `"0s"` drops closed windows at once.
    pub allowed_lateness: Option<String>,
}

/// The default `allowed_lateness` of tumbling windows: ten minutes, so a backlog delivered after an
/// outage of several minutes between ingest and the broker (or a paused replay) is still counted.
pub const DEFAULT_ALLOWED_LATENESS: &str = "10m";

/// An output topic.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// Name processors refer to.
    pub name: String,
    /// The Kafka topic.
    pub topic: String,
    /// How values are encoded: `json` (default) or `avro`.
    #[serde(default = "default_sink_format")]
    pub format: ValueFormat,
    /// The Avro schema of an `avro` sink: a built-in name (`engagement_basic_minute`, a file stem of
    /// `avro/`) or a path to an `.avsc` file, relative to the topology file.
    pub schema: Option<String>,
    /// Partitions `run` creates the topic with when it does not exist; the input's count when
    /// unset. `1` for a topic read in one place, such as the stream sessions the leaderboards rank
    /// (a topic that exists keeps its count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
}

/// True when a sink's `schema` setting is a file path (it ends in `.avsc` or contains a `/`) rather
/// than the name of a built-in schema.
pub fn schema_reference_is_path(reference: &str) -> bool {
    reference.ends_with(".avsc") || reference.contains('/')
}

/// Loads the schema a sink's `schema` setting names: the `.avsc` file when it is a path
/// ([`schema_reference_is_path`]), else the built-in schema of that name.
#[cfg(feature = "runtime")]
pub fn load_schema(reference: &str) -> Result<crate::avro::AvroSchema, crate::avro::SchemaError> {
    if schema_reference_is_path(reference) {
        crate::avro::AvroSchema::from_file(std::path::Path::new(reference))
    } else {
        crate::avro::AvroSchema::builtin(reference)
    }
}

fn default_sink_format() -> ValueFormat {
    ValueFormat::Json
}

/// Engine settings a topology may set; the command line overrides them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// How often state is flushed and offsets committed (`commit.interval.ms`).
    #[serde(default = "default_commit_interval")]
    pub commit_interval: String,
    /// Wall-clock time without records after which a partition no longer holds event time back.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: String,
    /// `at_least_once` (default) or `exactly_once_v2`.
    #[serde(default)]
    pub processing_guarantee: ProcessingGuarantee,
    /// Topic that receives late records (past grace and allowed lateness), each record once per
    /// processor that refused it; default `<application_id>-late`.
    pub late_topic: Option<String>,
    /// How far ahead of the wall clock a record's event time may be. A record further ahead (a wrong
    /// clock, a forged `tmi-sent-ts`) goes to the dead-letter topic and never moves event time.
    #[serde(default = "default_max_future_skew")]
    pub max_future_skew: String,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            commit_interval: default_commit_interval(),
            idle_timeout: default_idle_timeout(),
            processing_guarantee: ProcessingGuarantee::default(),
            late_topic: None,
            max_future_skew: default_max_future_skew(),
        }
    }
}

fn default_commit_interval() -> String {
    "1s".to_owned()
}

fn default_idle_timeout() -> String {
    "30s".to_owned()
}

/// Five minutes: far above the clock error of synchronised hosts (Twitch stamps `tmi-sent-ts` on its
/// servers) and the tolerance Kerberos allows between clocks, yet a record this far ahead can close
/// open windows at most five minutes early.
fn default_max_future_skew() -> String {
    "5m".to_owned()
}

/// Delivery guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessingGuarantee {
    /// Offsets committed after outputs and state are durable; replays re-state equal values.
    #[default]
    AtLeastOnce,
    /// Kafka transactions: outputs, changelog and input offsets commit atomically.
    ExactlyOnceV2,
}
