//! Validation: a topology file becomes a [`Topology`] only when every reference resolves, every name
//! is unique, every window is well formed and every processor kind exists. All problems are reported
//! together, each saying what to change.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::inputs::{resolve_cogroup, resolve_join, resolve_sources, stream_problems, TablePlan};
use super::spec::{
    parse_duration_ms, schema_reference_is_path, ProcessingGuarantee, SinkSpec, SourceSpec,
    TopologySpec, ValueFormat, WindowDecl, DEFAULT_ALLOWED_LATENESS,
};
use crate::processor::kind::{BuildContext, Configured, WindowRule};
use crate::processor::{registry, Processor};
use crate::table::SharedTable;
use crate::window::{EmitMode, WindowSpec};

/// A processor, resolved.
#[derive(Debug, Clone)]
pub struct ProcessorPlan {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Index of its source.
    pub source: usize,
    /// Indices of the more sources it reads (`cogroup = [...]`).
    pub cogroup: Vec<usize>,
    /// Index of the table source it joins, if any.
    pub join: Option<usize>,
    /// Index of its sink.
    pub sink: usize,
    /// Its window.
    pub window: Option<WindowSpec>,
    /// When it emits.
    pub emit: EmitMode,
    /// Its state store.
    pub store: String,
    /// Its kind's options, typed and checked (`options = { ... }`).
    pub config: Arc<dyn Configured>,
}

impl PartialEq for ProcessorPlan {
    fn eq(&self, other: &ProcessorPlan) -> bool {
        (
            &self.name,
            &self.kind,
            (self.source, &self.cogroup, self.join),
            self.sink,
            self.window,
            self.emit,
            &self.store,
        ) == (
            &other.name,
            &other.kind,
            (other.source, &other.cogroup, other.join),
            other.sink,
            other.window,
            other.emit,
            &other.store,
        ) && self.config.same(other.config.as_ref())
    }
}

impl ProcessorPlan {
    /// Whether it reads the records of `source` (its own, or one it cogroups).
    pub fn reads(&self, source: usize) -> bool {
        self.source == source || self.cogroup.contains(&source)
    }

    /// A fresh instance for one task, whose tables (one entry per source) are `tables`.
    pub fn instantiate(&self, tables: &[Option<SharedTable>]) -> Box<dyn Processor> {
        self.config.processor(&BuildContext {
            name: &self.name,
            sink: self.sink,
            window: self.window,
            emit: self.emit,
            store: &self.store,
            table: self.join.and_then(|t| tables.get(t)?.as_ref()),
        })
    }
}

/// A validated topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The application id.
    pub application_id: String,
    /// Sources.
    pub sources: Vec<SourceSpec>,
    /// Per source, its table when it is declared one (`None`: a stream).
    pub tables: Vec<Option<TablePlan>>,
    /// Processors, in file order.
    pub processors: Vec<ProcessorPlan>,
    /// Sinks.
    pub sinks: Vec<SinkSpec>,
    /// Commit interval.
    pub commit_interval_ms: i64,
    /// Idle timeout for watermarks.
    pub idle_timeout_ms: i64,
    /// Delivery guarantee.
    pub guarantee: ProcessingGuarantee,
    /// Topic for late records (past grace and allowed lateness): `late_topic`, by default
    /// `<application_id>-late`.
    pub late_topic: String,
    /// Event time further than this ahead of the wall clock is refused (dead letter).
    pub max_future_skew_ms: i64,
}

impl Topology {
    /// The distinct state stores, in processor order.
    pub fn stores(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.processors
            .iter()
            .filter(|p| seen.insert(p.store.clone()))
            .map(|p| p.store.clone())
            .collect()
    }

    /// The table plan of `source`, when it is a table.
    fn table(&self, source: &SourceSpec) -> Option<&TablePlan> {
        let at = self.sources.iter().position(|s| s.name == source.name)?;
        self.tables[at].as_ref()
    }

    /// The dead-letter topic.
    pub fn dlq_topic(&self) -> String {
        format!("{}-dlq", self.application_id)
    }

    /// Reads, parses and validates a topology file. Sink schema paths are relative to the file.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError {
            problems: vec![format!("cannot read {}: {e}", path.display())],
        })?;
        let mut spec = parse_spec(&text)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for sink in &mut spec.sinks {
            if let Some(schema) = &mut sink.schema {
                if schema_reference_is_path(schema) && Path::new(schema.as_str()).is_relative() {
                    *schema = dir.join(&*schema).display().to_string();
                }
            }
        }
        validate(spec)
    }

    /// Parses and validates topology TOML (sink schema paths are relative to the working directory).
    pub fn parse(text: &str) -> Result<Topology, TopologyError> {
        validate(parse_spec(text)?)
    }

    /// The graph as text, one line per edge, for `chatpulse topology check`.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "application {} ({:?})",
            self.application_id, self.guarantee
        );
        for src in &self.sources {
            let _ = write!(
                s,
                "source {} <- topic {} ({:?}, time {:?})",
                src.name, src.topic, src.format, src.timestamp
            );
            let _ = match self.table(src) {
                Some(t) => writeln!(
                    s,
                    ", table keyed by {} with {} of history{}",
                    t.key_field,
                    crate::time::duration::format_duration_ms(t.retention_ms),
                    if t.global { ", global" } else { "" }
                ),
                None => writeln!(s),
            };
        }
        for p in &self.processors {
            let window = p
                .window
                .map_or("no window".to_owned(), |w| format!("{w:?}"));
            let mut join = p.join.map_or(String::new(), |t| {
                format!(" joined as of time with table {}", self.sources[t].name)
            });
            for &c in &p.cogroup {
                let _ = write!(join, " cogrouped with {}", self.sources[c].name);
            }
            let _ = writeln!(
                s,
                "processor {} [{}] <- {}{join} ; {window}, emit {:?}, store {} (changelog {}-{}-changelog) -> {}",
                p.name,
                p.kind,
                self.sources[p.source].name,
                p.emit,
                p.store,
                self.application_id,
                p.store,
                self.sinks[p.sink].name
            );
        }
        for k in &self.sinks {
            let schema = k
                .schema
                .as_ref()
                .map_or(String::new(), |r| format!(", schema {r}"));
            let _ = writeln!(
                s,
                "sink {} -> topic {} ({:?}{schema})",
                k.name, k.topic, k.format
            );
        }
        let _ = writeln!(s, "late records -> topic {}", self.late_topic);
        let _ = write!(s, "dead letters -> topic {}", self.dlq_topic());
        s
    }
}

fn parse_spec(text: &str) -> Result<TopologySpec, TopologyError> {
    toml::from_str(text).map_err(|e| TopologyError {
        problems: vec![format!("not a valid topology file: {e}")],
    })
}

/// Checks a sink's format and schema: an Avro sink names a schema that loads; others name none.
fn sink_problems(problems: &mut Vec<String>, sink: &SinkSpec) {
    let owner = format!("sink {:?}", sink.name);
    if sink.partitions.is_some_and(|p| p < 1) {
        problems.push(format!(
            "{owner} has partitions = {}: a topic has at least 1 partition (or leave it unset for the input's count)",
            sink.partitions.unwrap_or_default()
        ));
    }
    match (sink.format, &sink.schema) {
        (ValueFormat::Avro, None) => problems.push(format!(
            "{owner} has format = \"avro\" but no schema: add schema = \"<built-in name>\" (a file stem of avro/, like engagement_basic_minute) or a path to an .avsc file"
        )),
        (ValueFormat::Avro, Some(_reference)) => {
            #[cfg(feature = "runtime")]
            if let Err(e) = super::spec::load_schema(_reference) {
                problems.push(format!("{owner}: {e}"));
            }
        }
        (format, Some(_)) => problems.push(format!(
            "{owner} sets a schema but its format is {format:?}: schemas are for format = \"avro\" (set it, or remove the schema)"
        )),
        (_, None) => {}
    }
}

/// Everything wrong with a topology.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TopologyError {
    /// One sentence per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the topology has {} problem(s):", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

fn duration(
    problems: &mut Vec<String>,
    what: &str,
    text: Option<&str>,
    default: Option<i64>,
) -> i64 {
    match text {
        None => default.unwrap_or_else(|| {
            problems.push(format!("{what} is required (for example \"60s\")"));
            0
        }),
        Some(t) => parse_duration_ms(t).unwrap_or_else(|| {
            problems.push(format!(
                "{what} {t:?} is not a duration: use a number and ms, s, m, h or d"
            ));
            0
        }),
    }
}

fn window(problems: &mut Vec<String>, owner: &str, w: &WindowDecl) -> Option<WindowSpec> {
    let before = problems.len();
    let grace_ms = duration(
        problems,
        &format!("{owner}: window grace"),
        w.grace.as_deref(),
        Some(0),
    );
    if w.kind != "session" && w.gap.is_some() {
        problems.push(format!(
            "{owner}: gap applies to session windows only: remove it, or make the window kind = \"session\""
        ));
    }
    if w.kind != "tumbling" && w.allowed_lateness.is_some() {
        problems.push(format!(
            "{owner}: allowed_lateness applies to tumbling windows only: remove it (a {} window accepts late records for its grace)",
            w.kind
        ));
    }
    let spec = match w.kind.as_str() {
        "tumbling" => WindowSpec::Tumbling {
            size_ms: duration(
                problems,
                &format!("{owner}: window size"),
                w.size.as_deref(),
                None,
            ),
            grace_ms,
            allowed_lateness_ms: duration(
                problems,
                &format!("{owner}: window allowed_lateness"),
                Some(
                    w.allowed_lateness
                        .as_deref()
                        .unwrap_or(DEFAULT_ALLOWED_LATENESS),
                ),
                None,
            ),
        },
        "hopping" => WindowSpec::Hopping {
            size_ms: duration(
                problems,
                &format!("{owner}: window size"),
                w.size.as_deref(),
                None,
            ),
            advance_ms: duration(
                problems,
                &format!("{owner}: window advance"),
                w.advance.as_deref(),
                None,
            ),
            grace_ms,
        },
        "sliding" => WindowSpec::Sliding {
            difference_ms: duration(
                problems,
                &format!("{owner}: window difference"),
                w.difference.as_deref(),
                None,
            ),
            grace_ms,
        },
        "session" => WindowSpec::Session {
            gap_ms: duration(
                problems,
                &format!("{owner}: window gap"),
                w.gap.as_deref(),
                None,
            ),
            grace_ms,
        },
        other => {
            problems.push(format!(
                "{owner}: window kind {other:?} is unknown: use tumbling, hopping, sliding or session"
            ));
            return None;
        }
    };
    // Sizes are checked only when they parsed: an unreadable size is one problem, not two.
    if problems.len() == before {
        for p in spec.validate() {
            problems.push(format!("{owner}: {p}"));
        }
    }
    (problems.len() == before).then_some(spec)
}

/// Checks a parsed topology file.
pub fn validate(spec: TopologySpec) -> Result<Topology, TopologyError> {
    let mut problems = Vec::new();
    if spec.application_id.is_empty()
        || !spec
            .application_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        problems.push(format!(
            "application_id {:?} must be non-empty and use only letters, digits, '.', '_' and '-' (it names topics)",
            spec.application_id
        ));
    }
    let mut names = BTreeSet::new();
    for n in spec
        .sources
        .iter()
        .map(|s| &s.name)
        .chain(spec.processors.iter().map(|p| &p.name))
        .chain(spec.sinks.iter().map(|s| &s.name))
    {
        if !names.insert(n.clone()) {
            problems.push(format!(
                "the name {n:?} is used twice: sources, processors and sinks need distinct names"
            ));
        }
    }
    for sink in &spec.sinks {
        sink_problems(&mut problems, sink);
    }
    if spec.sources.is_empty() {
        problems.push("no [[source]]: a topology reads at least one topic".to_owned());
    }
    if spec.processors.is_empty() {
        problems.push("no [[processor]]: a topology computes something".to_owned());
    }
    let tables = resolve_sources(&mut problems, &spec.sources);
    let mut processors = Vec::new();
    for p in &spec.processors {
        let owner = format!("processor {:?}", p.name);
        let kind = registry::find(&p.kind);
        let source = spec.sources.iter().position(|s| s.name == p.source);
        match source {
            None => problems.push(format!(
                "{owner} reads source {:?}, which no [[source]] declares",
                p.source
            )),
            Some(i) => {
                if let Some(k) = kind {
                    stream_problems(&mut problems, &owner, &spec.sources, &tables, i, k.reads);
                }
            }
        }
        let cogroup = resolve_cogroup(&mut problems, &owner, &spec.sources, source, &p.cogroup);
        if let Some(k) = kind {
            if !k.cogroups && !p.cogroup.is_empty() {
                problems.push(format!(
                    "{owner}: kind {} reads one source: remove cogroup, or use a kind that takes more ({})",
                    p.kind,
                    registry::names_where(|k| k.cogroups).join(", ")
                ));
            }
        }
        let join = p
            .join
            .as_ref()
            .map(|j| resolve_join(&mut problems, &owner, &spec.sources, &tables, &j.table));
        let sink = spec.sinks.iter().position(|s| s.name == p.sink);
        if sink.is_none() {
            problems.push(format!(
                "{owner} writes to sink {:?}, which no [[sink]] declares",
                p.sink
            ));
        }
        let window = match (kind.map(|k| k.window), &p.window) {
            (None, _) => {
                problems.push(format!(
                    "{owner} has unknown kind {:?}: use one of {}",
                    p.kind,
                    registry::names().join(", ")
                ));
                None
            }
            (Some(WindowRule::Required), None) => {
                problems.push(format!(
                    "{owner} of kind {} needs a window = {{ kind = ..., size = ... }}",
                    p.kind
                ));
                None
            }
            (Some(WindowRule::Forbidden), Some(_)) => {
                problems.push(format!(
                    "{owner} of kind {} takes no window: remove it (set lateness with options.grace)",
                    p.kind
                ));
                None
            }
            (Some(WindowRule::Required), Some(w)) if w.kind == "session" => {
                let session_kinds = registry::names_where(|k| k.window == WindowRule::Session);
                problems.push(format!(
                    "{owner} of kind {} does not support session windows: use a tumbling, hopping or sliding window (session windows are for the kinds {})",
                    p.kind,
                    session_kinds.join(", ")
                ));
                None
            }
            (Some(WindowRule::Session), w) if w.as_ref().is_none_or(|w| w.kind != "session") => {
                problems.push(format!(
                    "{owner} of kind {} needs a session window: write window = {{ kind = \"session\", gap = \"5m\", grace = \"5s\" }}",
                    p.kind
                ));
                None
            }
            (Some(_), Some(w)) => window(&mut problems, &owner, w),
            (Some(_), None) => None,
        };
        if let (Some(k), Some(_)) = (kind, &p.join) {
            if !k.joins {
                problems.push(format!(
                    "{owner}: kind {} reads no joined table: remove join, or use a kind that does ({})",
                    p.kind,
                    registry::names_where(|k| k.joins).join(", ")
                ));
            }
        }
        let config = kind.and_then(|k| {
            (k.parse)(&p.options)
                .map_err(|e| problems.extend(e.into_iter().map(|e| format!("{owner}: {e}"))))
                .ok()
        });
        if let (Some(source), Some(sink), Some(config)) = (source, sink, config) {
            processors.push(ProcessorPlan {
                name: p.name.clone(),
                kind: p.kind.clone(),
                source,
                cogroup,
                join: join.flatten(),
                sink,
                window,
                emit: p.emit,
                store: p.store_name().to_owned(),
                config,
            });
        }
    }
    let settings = &spec.settings;
    let commit_interval_ms = duration(
        &mut problems,
        "settings.commit_interval",
        Some(&settings.commit_interval),
        None,
    );
    let idle_timeout_ms = duration(
        &mut problems,
        "settings.idle_timeout",
        Some(&settings.idle_timeout),
        None,
    );
    let max_future_skew_ms = duration(
        &mut problems,
        "settings.max_future_skew",
        Some(&settings.max_future_skew),
        None,
    );
    if commit_interval_ms <= 0 && problems.is_empty() {
        problems.push("settings.commit_interval must be positive".to_owned());
    }
    if !problems.is_empty() {
        return Err(TopologyError { problems });
    }
    let late_topic = settings
        .late_topic
        .clone()
        .unwrap_or_else(|| format!("{}-late", spec.application_id));
    Ok(Topology {
        application_id: spec.application_id,
        sources: spec.sources,
        tables,
        processors,
        sinks: spec.sinks,
        commit_interval_ms,
        idle_timeout_ms,
        guarantee: settings.processing_guarantee,
        late_topic,
        max_future_skew_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
application_id = "engagement"

[[source]]
name = "chat"
topic = "twitch.chat.raw"

[[processor]]
name = "per-minute"
kind = "chat_count"
source = "chat"
sink = "out"
window = { kind = "tumbling", size = "1m", grace = "5s" }

[[sink]]
name = "out"
topic = "twitch.engagement.minute"
"#;

    #[test]
    fn a_good_topology_validates() {
        let t = Topology::parse(GOOD).unwrap();
        assert_eq!(t.stores(), vec!["per-minute".to_owned()]);
        assert_eq!(
            t.processors[0].window,
            Some(WindowSpec::Tumbling {
                size_ms: 60_000,
                grace_ms: 5_000,
                allowed_lateness_ms: 600_000,
            })
        );
        assert_eq!(t.dlq_topic(), "engagement-dlq");
        assert!(t
            .describe()
            .contains("changelog engagement-per-minute-changelog"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = GOOD
            .replace("source = \"chat\"", "source = \"nope\"")
            .replace(
                "kind = \"tumbling\", size = \"1m\"",
                "kind = \"hopping\", size = \"1m\", advance = \"7s\"",
            )
            .replace(
                "application_id = \"engagement\"",
                "application_id = \"bad id\"",
            );
        let err = Topology::parse(&bad).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 3, "{text}");
        assert!(text.contains("source \"nope\""), "{text}");
        assert!(text.contains("multiple of advance"), "{text}");
        assert!(text.contains("application_id"), "{text}");
    }

    #[test]
    fn a_sink_s_partitions_are_at_least_one() {
        let with = |n: i32| {
            GOOD.replace(
                "topic = \"twitch.engagement.minute\"",
                &format!("topic = \"twitch.engagement.minute\"\npartitions = {n}"),
            )
        };
        let t = Topology::parse(&with(1)).unwrap();
        assert_eq!(t.sinks[0].partitions, Some(1));
        let err = Topology::parse(&with(0)).unwrap_err().to_string();
        assert!(
            err.contains("has partitions = 0: a topic has at least 1"),
            "{err}"
        );
    }

    #[test]
    #[cfg(feature = "runtime")]
    fn avro_sinks_need_a_schema_that_loads() {
        let avro = |extra: &str| {
            GOOD.replace(
                "topic = \"twitch.engagement.minute\"",
                &format!("topic = \"twitch.engagement.minute\"\nformat = \"avro\"\n{extra}"),
            )
        };
        let t = Topology::parse(&avro("schema = \"engagement_basic_minute\"")).unwrap();
        assert!(t
            .describe()
            .contains("(Avro, schema engagement_basic_minute)"));
        let e = Topology::parse(&avro("")).unwrap_err().to_string();
        assert!(
            e.contains("sink \"out\" has format = \"avro\" but no schema"),
            "{e}"
        );
        let e = Topology::parse(&avro("schema = \"no_such\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no built-in Avro schema is named \"no_such\""),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.avsc"), "{\"type\": \"nope\"}").unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, avro("schema = \"bad.avsc\"")).unwrap();
        let e = Topology::load(&file).unwrap_err().to_string();
        assert!(e.contains("does not parse"), "{e}");
        let e = Topology::parse(&GOOD.replace(
            "topic = \"twitch.engagement.minute\"",
            "topic = \"twitch.engagement.minute\"\nschema = \"engagement_basic_minute\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("schemas are for format = \"avro\""), "{e}");
    }

    const SPIKES: &str = r#"
application_id = "spikes"

[[source]]
name = "chat"
topic = "twitch.chat.raw"

[[processor]]
name = "spikes"
kind = "spikes"
source = "chat"
sink = "out"
options = { grace = "5s" }

[[sink]]
name = "out"
topic = "twitch.spikes"
"#;

    fn spike_options(t: &Topology) -> &crate::processor::spikes::SpikesConfig {
        t.processors[0].config.as_any().downcast_ref().unwrap()
    }

    #[test]
    fn a_non_default_spike_threshold_reaches_the_built_config() {
        let default = Topology::parse(SPIKES).unwrap();
        assert_eq!(
            spike_options(&default).spike.config(),
            crate::detect::spike::SpikeConfig::default()
        );
        let tuned = Topology::parse(&SPIKES.replace(
            "options = { grace = \"5s\" }",
            "options = { grace = \"2s\", spike.k_on = 3.5, spike.window = \"1m\" }",
        ))
        .unwrap();
        let options = spike_options(&tuned);
        assert_eq!(options.grace.ms(), 2_000);
        let spike = options.spike.config();
        assert_eq!((spike.k_on, spike.window_ms), (3.5, 60_000));
        assert_ne!(tuned.processors[0], default.processors[0]);
    }

    #[test]
    fn option_problems_name_the_processor() {
        let err =
            Topology::parse(&SPIKES.replace("grace = \"5s\"", "grace = \"soon\", spike.k_onn = 3"))
                .unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert_eq!(
            err.problems[0],
            "processor \"spikes\": options.grace \"soon\" is not a duration: use a number and ms, s, m, h or d"
        );
        assert!(
            err.problems[1].starts_with("processor \"spikes\": option \"spike.k_onn\" is unknown for kind spikes: use spike.bucket"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = Topology::parse(&GOOD.replace("topic = \"twitch.chat.raw\"", "topik = \"x\""))
            .unwrap_err();
        assert!(err.to_string().contains("topik"), "{err}");
    }

    #[test]
    fn cogroup_names_declared_sources_once_and_only_kinds_that_take_it() {
        let two = GOOD.replace(
            "[[processor]]",
            "[[source]]\nname = \"streams\"\ntopic = \"twitch.streams\"\nformat = \"json\"\ntimestamp = \"field\"\n\n[[processor]]",
        );
        let err = Topology::parse(&two.replace(
            "source = \"chat\"",
            "source = \"chat\"\ncogroup = [\"streams\", \"nope\", \"chat\"]",
        ))
        .unwrap_err();
        let p = &err.problems;
        assert!(p.iter().any(|e| e == "processor \"per-minute\" cogroups source \"nope\", which no [[source]] declares"), "{err}");
        assert!(
            p.iter()
                .any(|e| e.starts_with("processor \"per-minute\" names source \"chat\" twice")),
            "{err}"
        );
        assert!(
            p.iter().any(|e| e.starts_with(
                "processor \"per-minute\": kind chat_count reads one source: remove cogroup"
            )),
            "{err}"
        );
        // A chat kind on a stream of rows is refused, naming what it reads.
        let err =
            Topology::parse(&two.replace("source = \"chat\"", "source = \"streams\"")).unwrap_err();
        assert!(err.problems[0].contains("its kind reads IRC chat"), "{err}");
    }
}
