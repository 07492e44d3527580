//! Offline runs: a topology over recorded logs instead of Kafka, with the same tasks, processors and
//! state backend, for backfills and tests. Input is one partition in file order, the wall clock stands
//! still at the start, and at the end every window closes. Results go to a [`RecordSink`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::persist::apply_commit;
use super::task::{DeadLetter, InputRecord, LateRecord, Task, TaskOutput};
use super::validate::Topology;
use crate::store::{StateBackend, StoreError};
use crate::time::clock::{Clock, SystemClock};

/// Where an offline run puts what it produces.
pub trait RecordSink {
    /// A result for sink topic `topic`.
    fn output(&mut self, topic: &str, key: &str, value: &Value, ts_ms: i64) -> std::io::Result<()>;
    /// A record that could not be processed.
    fn dead_letter(&mut self, topic: &str, dead: &DeadLetter) -> std::io::Result<()>;
    /// A record past grace and allowed lateness, for the topology's late topic.
    fn late(&mut self, topic: &str, late: &LateRecord) -> std::io::Result<()>;
}

/// Collects everything in memory (tests).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// `(topic, key, value, ts)` in order.
    pub outputs: Vec<(String, String, Value, i64)>,
    /// Dead letters.
    pub dead_letters: Vec<DeadLetter>,
    /// Late records.
    pub late: Vec<LateRecord>,
}

impl RecordSink for MemorySink {
    fn output(&mut self, topic: &str, key: &str, value: &Value, ts_ms: i64) -> std::io::Result<()> {
        self.outputs
            .push((topic.to_owned(), key.to_owned(), value.clone(), ts_ms));
        Ok(())
    }
    fn dead_letter(&mut self, _topic: &str, dead: &DeadLetter) -> std::io::Result<()> {
        self.dead_letters.push(dead.clone());
        Ok(())
    }
    fn late(&mut self, _topic: &str, late: &LateRecord) -> std::io::Result<()> {
        self.late.push(late.clone());
        Ok(())
    }
}

/// Counters of an offline run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OfflineReport {
    /// Input records.
    pub records: u64,
    /// Results per sink topic.
    pub outputs: BTreeMap<String, u64>,
    /// Dead letters.
    pub dead_letters: u64,
    /// Records past grace.
    pub late: u64,
    /// Windows closed.
    pub windows_closed: u64,
    /// State commits.
    pub commits: u64,
}

/// Why an offline run stopped.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// Reading the input failed.
    #[error("cannot read the input: {0} (check the input files)")]
    Read(std::io::Error),
    /// Writing results failed.
    #[error("cannot write results: {0} (check the output directory)")]
    Io(#[from] std::io::Error),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where an offline run reads its records, one at a time: each is lent until the next, so a reader
/// can hand out lines from its own buffer without copying them.
pub trait RecordSource {
    /// Moves to the next record; false at the end of the input.
    fn advance(&mut self) -> std::io::Result<bool>;
    /// The current record's value.
    fn record(&self) -> &[u8];
}

/// The values of an iterator as a [`RecordSource`].
struct IterSource<I, V> {
    values: I,
    current: Option<V>,
}

impl<I: Iterator<Item = V>, V: AsRef<[u8]>> RecordSource for IterSource<I, V> {
    fn advance(&mut self) -> std::io::Result<bool> {
        self.current = self.values.next();
        Ok(self.current.is_some())
    }

    fn record(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], AsRef::as_ref)
    }
}

/// Runs `topology` over `values` (raw record values for source 0, in order), committing state to
/// `backend` every `commit_every` records and at the end.
pub fn run_offline<I, V>(
    topology: Arc<Topology>,
    values: I,
    backend: &mut dyn StateBackend,
    sink: &mut dyn RecordSink,
    commit_every: u64,
) -> Result<OfflineReport, OfflineError>
where
    I: IntoIterator<Item = V>,
    V: AsRef<[u8]>,
{
    let mut source = IterSource {
        values: values.into_iter(),
        current: None,
    };
    run_offline_from(topology, &mut source, backend, sink, commit_every)
}

/// [`run_offline`] over the records of `source`.
pub fn run_offline_from(
    topology: Arc<Topology>,
    source: &mut dyn RecordSource,
    backend: &mut dyn StateBackend,
    sink: &mut dyn RecordSink,
    commit_every: u64,
) -> Result<OfflineReport, OfflineError> {
    // The wall clock is read once: records from after the start are judged against it for
    // `max_future_skew`, and a clock that stands still never turns the input idle, so windows close by
    // event time only (and at the end).
    let now_ms = SystemClock.now_ms();
    let mut task = Task::new(topology.clone(), 0, now_ms);
    let mut report = OfflineReport::default();
    let mut out = TaskOutput::default();
    let mut since_commit = 0u64;
    let mut offset = 0i64;
    while source.advance().map_err(OfflineError::Read)? {
        let rec = InputRecord {
            source: 0,
            partition: 0,
            offset,
            record_ts_ms: None,
            key: None,
            value: source.record(),
        };
        offset += 1;
        task.process(&rec, now_ms, &mut out);
        since_commit += 1;
        if !out.is_empty() {
            drain(&topology, &mut out, sink, &mut report)?;
        }
        if since_commit >= commit_every {
            commit(&mut task, backend, &topology, sink, &mut report)?;
            since_commit = 0;
        }
    }
    task.finish(&mut out);
    drain(&topology, &mut out, sink, &mut report)?;
    commit(&mut task, backend, &topology, sink, &mut report)?;
    Ok(report)
}

fn commit(
    task: &mut Task,
    backend: &mut dyn StateBackend,
    topology: &Topology,
    sink: &mut dyn RecordSink,
    report: &mut OfflineReport,
) -> Result<(), OfflineError> {
    let mut out = TaskOutput::default();
    let commit = task.commit(&mut out);
    drain(topology, &mut out, sink, report)?;
    apply_commit(backend, 0, commit, BTreeMap::new())?;
    report.commits += 1;
    Ok(())
}

fn drain(
    topology: &Topology,
    out: &mut TaskOutput,
    sink: &mut dyn RecordSink,
    report: &mut OfflineReport,
) -> Result<(), OfflineError> {
    report.records += std::mem::take(&mut out.processed);
    report.windows_closed += std::mem::take(&mut out.windows_closed);
    for o in out.outputs.drain(..) {
        let topic = &topology.sinks[o.sink].topic;
        sink.output(topic, &o.key, &o.value, o.ts_ms)?;
        *report.outputs.entry(topic.clone()).or_default() += 1;
    }
    let dlq = topology.dlq_topic();
    for d in out.dead_letters.drain(..) {
        sink.dead_letter(&dlq, &d)?;
        report.dead_letters += 1;
    }
    for l in out.late.drain(..) {
        report.late += 1;
        sink.late(&topology.late_topic, &l)?;
    }
    Ok(())
}
