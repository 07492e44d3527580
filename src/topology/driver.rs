//! The in-memory test driver, chatpulse's `TopologyTestDriver`: pipe records with their times in,
//! move a manual wall clock, commit, simulate a crash and restore from the committed state, and read
//! what each sink received — all without a broker or a disk.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::route::{route, Destination, MemoryDestination};
use super::task::{DeadLetter, InputRecord, LateRecord, Task, TaskOutput};
use super::validate::Topology;
use crate::processor::{Output, ProcessError};

/// What the sinks received (by sink, as two sinks may share a topic), then the dead letters and
/// late records.
#[derive(Default)]
struct Received {
    outputs: Vec<Output>,
    others: MemoryDestination,
}

impl Destination for Received {
    type Error = std::io::Error;

    fn output(&mut self, _topic: &str, output: Output) -> std::io::Result<()> {
        self.outputs.push(output);
        Ok(())
    }
    fn dead_letter(&mut self, topic: &str, dead: DeadLetter) -> std::io::Result<()> {
        self.others.dead_letter(topic, dead)
    }
    fn late(&mut self, topic: &str, late: LateRecord) -> std::io::Result<()> {
        self.others.late(topic, late)
    }
}

/// Drives one task (partition 0) of a topology in memory.
pub struct TestDriver {
    topology: Arc<Topology>,
    task: Task,
    now_ms: i64,
    next_offset: i64,
    received: Received,
    /// Committed state: (store, key) -> value, plus the committed position.
    state: BTreeMap<(String, Vec<u8>), Vec<u8>>,
    position: (u64, i64, i64),
    windows_closed: u64,
}

impl TestDriver {
    /// A driver for `topology` with the wall clock at `now_ms`.
    pub fn new(topology: Topology, now_ms: i64) -> TestDriver {
        let topology = Arc::new(topology);
        TestDriver {
            task: Task::new(topology.clone(), 0, now_ms),
            topology,
            now_ms,
            next_offset: 0,
            received: Received::default(),
            state: BTreeMap::new(),
            position: (0, 0, i64::MIN),
            windows_closed: 0,
        }
    }

    fn take(&mut self, mut out: TaskOutput) {
        route(&self.topology, &mut out, &mut self.received).expect("memory does not fail");
        self.windows_closed += out.windows_closed;
    }

    /// Pipes one raw value into source 0 with an optional record timestamp.
    pub fn pipe(&mut self, value: &[u8], record_ts_ms: Option<i64>) {
        self.pipe_source(0, value, record_ts_ms);
    }

    /// Pipes one raw value into source `source` (its index in the topology, such as a table's)
    /// with an optional record timestamp. Offsets count over all sources.
    pub fn pipe_source(&mut self, source: usize, value: &[u8], record_ts_ms: Option<i64>) {
        let rec = InputRecord {
            source,
            partition: 0,
            offset: self.next_offset,
            record_ts_ms,
            key: None,
            value,
        };
        self.next_offset += 1;
        let mut out = TaskOutput::default();
        self.task.process(&rec, self.now_ms, &mut out);
        self.take(out);
    }

    /// Pipes one raw IRC line into source 0.
    pub fn pipe_line(&mut self, line: &str) {
        self.pipe(line.as_bytes(), None);
    }

    /// Moves the wall clock forward and lets the task punctuate (idle partitions advance).
    pub fn advance_wall_clock(&mut self, ms: i64) {
        self.now_ms += ms;
        let mut out = TaskOutput::default();
        self.task.punctuate(self.now_ms, &mut out);
        self.take(out);
    }

    /// Moves the wall clock forward while records wait to be read (a restarted or starved consumer
    /// lags): the task is told so before it punctuates, as the Kafka runner does, so the wait is not
    /// idleness.
    pub fn advance_wall_clock_with_records_waiting(&mut self, ms: i64) {
        self.now_ms += ms;
        self.task.records_waiting(self.now_ms);
        let mut out = TaskOutput::default();
        self.task.punctuate(self.now_ms, &mut out);
        self.take(out);
    }

    /// Commits: state changes go to the in-memory store.
    pub fn commit(&mut self) {
        let mut out = TaskOutput::default();
        let commit = self.task.commit(&mut out);
        self.take(out);
        for (store, key, value) in commit.writes {
            match value {
                Some(v) => self.state.insert((store, key), v),
                None => self.state.remove(&(store, key)),
            };
        }
        self.position = (commit.generation, commit.input_offset, commit.watermark_ms);
    }

    /// Simulates a crash after the last commit: the task is rebuilt from the committed state and
    /// input resumes at the committed offset (records after it must be piped again).
    pub fn crash_and_restore(&mut self) -> Result<(), ProcessError> {
        let mut task = Task::new(self.topology.clone(), 0, self.now_ms);
        for ((store, key), value) in &self.state {
            task.restore_entry(store, key, value)?;
        }
        let (generation, offset, watermark) = self.position;
        task.restore_position(generation, offset, watermark, self.now_ms);
        self.task = task;
        self.next_offset = offset;
        Ok(())
    }

    /// End of input: closes every window.
    pub fn finish(&mut self) {
        let mut out = TaskOutput::default();
        self.task.finish(&mut out);
        self.take(out);
    }

    /// Every value sink `name` received, in order.
    pub fn output(&self, name: &str) -> Vec<Value> {
        let index = self.topology.sinks.iter().position(|s| s.name == name);
        self.received
            .outputs
            .iter()
            .filter(|o| Some(o.sink) == index)
            .map(|o| o.value.clone())
            .collect()
    }

    /// Dead letters so far.
    pub fn dead_letters(&self) -> &[DeadLetter] {
        &self.received.others.dead_letters
    }

    /// Late records so far.
    pub fn late(&self) -> &[LateRecord] {
        &self.received.others.late
    }

    /// Windows closed so far.
    pub fn windows_closed(&self) -> u64 {
        self.windows_closed
    }

    /// The task's watermark.
    pub fn watermark_ms(&self) -> i64 {
        self.task.watermark_ms()
    }

    /// An interactive query of `store` for `key` (see [`Task::query`]).
    pub fn query(&self, store: &str, key: &str) -> Option<Value> {
        self.task.query(store, key)
    }

    /// Committed state entries.
    pub fn committed_entries(&self) -> usize {
        self.state.len()
    }
}
