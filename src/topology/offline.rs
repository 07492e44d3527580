//! Offline runs: a topology over recorded logs instead of Kafka, with the same tasks, processors and
//! state backend, for backfills and tests. Input is one partition in file order, the wall clock stands
//! still at the start, and at the end every window closes. Results go to a [`Destination`] through
//! [`route`], counted on the way into an [`OfflineReport`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::interleave::{Interleaved, Next};
use super::persist::apply_commit;
use super::route::{route, Destination};
use super::task::{DeadLetter, InputRecord, LateRecord, Task, TaskOutput};
use super::validate::Topology;
use crate::processor::Output;
use crate::store::{StateBackend, StoreError};
use crate::time::clock::{Clock, SystemClock};

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

pub use super::interleave::{RecordSource, Values};

/// Runs `topology` over `values` (raw record values for source 0, in order), committing state to
/// `backend` every `commit_every` records and at the end.
pub fn run_offline<I, V>(
    topology: Arc<Topology>,
    values: I,
    backend: &mut dyn StateBackend,
    to: &mut dyn Destination<Error = std::io::Error>,
    commit_every: u64,
) -> Result<OfflineReport, OfflineError>
where
    I: IntoIterator<Item = V>,
    V: AsRef<[u8]>,
{
    let mut source = Values::new(values);
    run_offline_from(topology, &mut source, backend, to, commit_every)
}

/// [`run_offline`] over the records of `source`.
pub fn run_offline_from(
    topology: Arc<Topology>,
    source: &mut dyn RecordSource,
    backend: &mut dyn StateBackend,
    to: &mut dyn Destination<Error = std::io::Error>,
    commit_every: u64,
) -> Result<OfflineReport, OfflineError> {
    let mut run = Run::start(topology.clone());
    // Only the first source is fed: the others never hold event time back.
    for other in 1..topology.sources.len() {
        run.task.source_finished(other);
    }
    while source.advance().map_err(OfflineError::Read)? {
        run.record(0, source.record(), backend, to, commit_every)?;
    }
    run.finish(backend, to)
}

/// [`run_offline_from`] over several sources' records (`(source index, records)`), merged by
/// event time ([`Interleaved`]); a source that ends stops holding event time back.
pub fn run_offline_sources(
    topology: Arc<Topology>,
    inputs: Vec<(usize, &mut dyn RecordSource)>,
    backend: &mut dyn StateBackend,
    to: &mut dyn Destination<Error = std::io::Error>,
    commit_every: u64,
) -> Result<OfflineReport, OfflineError> {
    let mut run = Run::start(topology.clone());
    let fed: Vec<usize> = inputs.iter().map(|(s, _)| *s).collect();
    for source in 0..topology.sources.len() {
        if !fed.contains(&source) {
            run.task.source_finished(source);
        }
    }
    let mut merged = Interleaved::new(&topology.sources, inputs);
    loop {
        match merged.advance().map_err(OfflineError::Read)? {
            Next::Record(source) => {
                run.record(source, merged.record(), backend, to, commit_every)?
            }
            Next::Finished(source) => run.task.source_finished(source),
            Next::End => break,
        }
    }
    run.finish(backend, to)
}

/// One offline run in progress.
struct Run {
    topology: Arc<Topology>,
    task: Task,
    report: OfflineReport,
    out: TaskOutput,
    since_commit: u64,
    offsets: Vec<i64>,
    now_ms: i64,
}

impl Run {
    fn start(topology: Arc<Topology>) -> Run {
        // The wall clock is read once: records from after the start are judged against it for
        // `max_future_skew`, and a clock that stands still never turns an input idle, so windows
        // close by event time only (and at the end).
        let now_ms = SystemClock.now_ms();
        Run {
            task: Task::new(topology.clone(), 0, now_ms),
            offsets: vec![0; topology.sources.len()],
            topology,
            report: OfflineReport::default(),
            out: TaskOutput::default(),
            since_commit: 0,
            now_ms,
        }
    }

    fn record(
        &mut self,
        source: usize,
        value: &[u8],
        backend: &mut dyn StateBackend,
        to: &mut dyn Destination<Error = std::io::Error>,
        commit_every: u64,
    ) -> Result<(), OfflineError> {
        let rec = InputRecord {
            source,
            partition: 0,
            offset: self.offsets[source],
            record_ts_ms: None,
            key: None,
            value,
        };
        self.offsets[source] += 1;
        let (task, out, report) = (&mut self.task, &mut self.out, &mut self.report);
        task.process(&rec, self.now_ms, out);
        self.since_commit += 1;
        if !out.is_empty() {
            drain(&self.topology, out, to, report)?;
        }
        if self.since_commit >= commit_every {
            commit(task, backend, &self.topology, to, report)?;
            self.since_commit = 0;
        }
        Ok(())
    }

    fn finish(
        mut self,
        backend: &mut dyn StateBackend,
        to: &mut dyn Destination<Error = std::io::Error>,
    ) -> Result<OfflineReport, OfflineError> {
        self.task.finish(&mut self.out);
        drain(&self.topology, &mut self.out, to, &mut self.report)?;
        commit(
            &mut self.task,
            backend,
            &self.topology,
            to,
            &mut self.report,
        )?;
        Ok(self.report)
    }
}

fn commit(
    task: &mut Task,
    backend: &mut dyn StateBackend,
    topology: &Topology,
    to: &mut dyn Destination<Error = std::io::Error>,
    report: &mut OfflineReport,
) -> Result<(), OfflineError> {
    let mut out = TaskOutput::default();
    let commit = task.commit(&mut out);
    drain(topology, &mut out, to, report)?;
    apply_commit(backend, 0, commit, BTreeMap::new())?;
    report.commits += 1;
    Ok(())
}

fn drain(
    topology: &Topology,
    out: &mut TaskOutput,
    to: &mut dyn Destination<Error = std::io::Error>,
    report: &mut OfflineReport,
) -> Result<(), OfflineError> {
    report.records += std::mem::take(&mut out.processed);
    report.windows_closed += std::mem::take(&mut out.windows_closed);
    route(topology, out, &mut Counted { to, report })?;
    Ok(())
}

/// A destination that counts what passes into the run's report.
struct Counted<'a> {
    to: &'a mut dyn Destination<Error = std::io::Error>,
    report: &'a mut OfflineReport,
}

impl Destination for Counted<'_> {
    type Error = std::io::Error;

    fn output(&mut self, topic: &str, output: Output) -> std::io::Result<()> {
        self.to.output(topic, output)?;
        *self.report.outputs.entry(topic.to_owned()).or_default() += 1;
        Ok(())
    }
    fn dead_letter(&mut self, topic: &str, dead: DeadLetter) -> std::io::Result<()> {
        self.to.dead_letter(topic, dead)?;
        self.report.dead_letters += 1;
        Ok(())
    }
    fn late(&mut self, topic: &str, late: LateRecord) -> std::io::Result<()> {
        self.report.late += 1;
        self.to.late(topic, late)
    }
}
