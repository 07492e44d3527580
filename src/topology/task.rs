//! A task: one input partition run through the topology's processors. Pure and synchronous: the
//! runners feed it records and wall-clock time, and take its outputs, dead letters and state changes.
//! Event time comes from each record; the watermark closes windows; a quiet partition advances by
//! wall clock after the idle timeout.

use std::sync::Arc;

use super::spec::{TimestampSource, ValueFormat};
use super::validate::Topology;
use crate::chat::ChatEvent;
use crate::processor::{state, Emitter, Input, Late, Output, ProcessError, Processor};
use crate::time::civil::format_timestamp_ms;
use crate::time::watermark::WatermarkTracker;

/// One input record as the runner read it.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    /// Index of the topology source it came from.
    pub source: usize,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The Kafka record timestamp, if any.
    pub record_ts_ms: Option<i64>,
    /// The record key.
    pub key: Option<&'a [u8]>,
    /// The record value.
    pub value: &'a [u8],
}

/// A record that could not be processed, for the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The topic it was read from.
    pub source_topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Why it was refused.
    pub reason: String,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value, unchanged.
    pub value: Vec<u8>,
}

/// A late record with its key and value, for the late topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRecord {
    /// Who refused it and why.
    pub late: Late,
    /// Its key, unchanged.
    pub key: Option<Vec<u8>>,
    /// Its value, unchanged.
    pub value: Vec<u8>,
}

/// What a task produced since the runner last took it.
#[derive(Debug, Default)]
pub struct TaskOutput {
    /// Results for sinks.
    pub outputs: Vec<Output>,
    /// Records that could not be decoded or processed.
    pub dead_letters: Vec<DeadLetter>,
    /// Records past grace and allowed lateness.
    pub late: Vec<LateRecord>,
    /// Records processed.
    pub processed: u64,
    /// Windows closed.
    pub windows_closed: u64,
}

impl TaskOutput {
    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty() && self.dead_letters.is_empty() && self.late.is_empty()
    }
}

/// One state change of a commit: `(store, key, value)`; a `None` value deletes the key.
pub type StateChange = (String, Vec<u8>, Option<Vec<u8>>);

/// The state changes of one commit and the position they correspond to.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The state changes, in order.
    pub writes: Vec<StateChange>,
    /// Increases by one per commit.
    pub generation: u64,
    /// The next input offset to process: everything before it is reflected in the state.
    pub input_offset: i64,
    /// The watermark the state corresponds to.
    pub watermark_ms: i64,
}

/// Why a record with event time `ts_ms`, read at wall time `now_ms`, is refused: it lies more than
/// `max_skew_ms` in the future. Such a time (a wrong clock, a forged `tmi-sent-ts`) would move event
/// time ahead and make every later record late, so it never reaches the watermark.
fn future_skew(ts_ms: i64, now_ms: i64, max_skew_ms: i64) -> Option<String> {
    let ahead = ts_ms.saturating_sub(now_ms);
    (ahead > max_skew_ms).then(|| {
        format!(
            "event time {} is {} s ahead of the wall clock ({}), more than settings.max_future_skew ({} s): \
             a wrong clock or a forged tmi-sent-ts; not counted, so it cannot close open windows",
            format_timestamp_ms(ts_ms),
            ahead / 1_000,
            format_timestamp_ms(now_ms),
            max_skew_ms / 1_000
        )
    })
}

/// One partition's processors, watermark and position.
pub struct Task {
    topology: Arc<Topology>,
    partition: i32,
    processors: Vec<Box<dyn Processor>>,
    /// Some processor reads message terms ([`Processor::reads_terms`]).
    reads_terms: bool,
    tracker: WatermarkTracker,
    watermark_ms: i64,
    next_offset: i64,
    generation: u64,
    emitter: Emitter,
}

impl Task {
    /// A fresh task for `partition` at wall time `now_ms`.
    pub fn new(topology: Arc<Topology>, partition: i32, now_ms: i64) -> Task {
        let processors: Vec<Box<dyn Processor>> = topology
            .processors
            .iter()
            .map(|p| p.instantiate())
            .collect();
        let reads_terms = processors.iter().any(|p| p.reads_terms());
        let mut tracker = WatermarkTracker::new(topology.idle_timeout_ms);
        tracker.assign(partition, now_ms);
        Task {
            topology,
            partition,
            processors,
            reads_terms,
            tracker,
            watermark_ms: i64::MIN,
            next_offset: 0,
            generation: 0,
            emitter: Emitter::default(),
        }
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The next input offset to process.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// The current watermark.
    pub fn watermark_ms(&self) -> i64 {
        self.watermark_ms
    }

    /// Entries (windows) held in memory by all processors.
    pub fn open_entries(&self) -> usize {
        self.processors.iter().map(|p| p.open_entries()).sum()
    }

    fn dead_letter(&self, rec: &InputRecord<'_>, reason: String, out: &mut TaskOutput) {
        out.dead_letters.push(DeadLetter {
            source_topic: self.topology.sources[rec.source].topic.clone(),
            partition: rec.partition,
            offset: rec.offset,
            reason,
            key: rec.key.map(<[u8]>::to_vec),
            value: rec.value.to_vec(),
        });
    }

    /// Processes one record read at wall time `now_ms`.
    pub fn process(&mut self, rec: &InputRecord<'_>, now_ms: i64, out: &mut TaskOutput) {
        self.next_offset = self.next_offset.max(rec.offset + 1);
        out.processed += 1;
        let source = &self.topology.sources[rec.source];
        let parsed = match source.format {
            ValueFormat::Irc => match simdutf8::basic::from_utf8(rec.value) {
                Err(_) => return self.dead_letter(rec, "value is not UTF-8 text".into(), out),
                Ok(line) => ChatEvent::parse(line),
            },
            other => {
                return self.dead_letter(
                    rec,
                    format!("source format {other:?} is not readable by chat processors"),
                    out,
                )
            }
        };
        // Borrowed where it was parsed: the event is a few hundred bytes, not worth moving.
        let event = match &parsed {
            Ok(e) => e,
            Err(e) => return self.dead_letter(rec, format!("unparseable IRC line: {e}"), out),
        };
        let ts = match source.timestamp {
            TimestampSource::TmiSentTs => event.ts_ms.or(rec.record_ts_ms),
            TimestampSource::Record => rec.record_ts_ms,
        };
        let Some(ts_ms) = ts else {
            return self.dead_letter(
                rec,
                "no event time: the line has no tmi-sent-ts and the record no timestamp".into(),
                out,
            );
        };
        if let Some(reason) = future_skew(ts_ms, now_ms, self.topology.max_future_skew_ms) {
            return self.dead_letter(rec, reason, out);
        }
        let message = std::cell::OnceCell::new();
        let input = Input {
            partition: rec.partition,
            offset: rec.offset,
            ts_ms,
            event,
            message: &message,
            terms: self.reads_terms,
        };
        for (plan, processor) in self
            .topology
            .processors
            .iter()
            .zip(self.processors.iter_mut())
        {
            if plan.source == rec.source {
                processor.process(&input, &mut self.emitter);
            }
        }
        for late in self.emitter.late.drain(..) {
            out.late.push(LateRecord {
                late,
                key: rec.key.map(<[u8]>::to_vec),
                value: rec.value.to_vec(),
            });
        }
        self.tracker.observe(self.partition, ts_ms, now_ms);
        self.advance(now_ms, out);
    }

    fn advance(&mut self, now_ms: i64, out: &mut TaskOutput) {
        let wm = self.tracker.current(now_ms);
        if wm > self.watermark_ms {
            self.watermark_ms = wm;
            for p in &mut self.processors {
                p.on_watermark(wm, &mut self.emitter);
            }
        }
        self.drain(out);
    }

    fn drain(&mut self, out: &mut TaskOutput) {
        out.outputs.append(&mut self.emitter.outputs);
        out.windows_closed += std::mem::take(&mut self.emitter.windows_closed);
    }

    /// Wall-clock time passed: a partition quiet for the idle timeout advances event time.
    pub fn punctuate(&mut self, now_ms: i64, out: &mut TaskOutput) {
        self.advance(now_ms, out);
    }

    /// The consumer says records of this partition are waiting to be read at wall time `now_ms`:
    /// however long since the last record, the partition is not idle, so event time does not advance
    /// with the wall clock past records still to come (after a restart, or while other partitions
    /// are served first).
    pub fn records_waiting(&mut self, now_ms: i64) {
        self.tracker.hold(self.partition, now_ms);
    }

    /// End of input (offline runs): closes every window.
    pub fn finish(&mut self, out: &mut TaskOutput) {
        let wm = self.tracker.finish();
        self.watermark_ms = wm;
        for p in &mut self.processors {
            p.on_watermark(wm, &mut self.emitter);
        }
        self.drain(out);
    }

    /// Commit time: updates for `emit = "update"` go to `out`; returns the changes of every
    /// processor's state tables.
    pub fn commit(&mut self, out: &mut TaskOutput) -> Commit {
        let mut writes = Vec::new();
        for (plan, p) in self
            .topology
            .processors
            .iter()
            .zip(self.processors.iter_mut())
        {
            p.on_commit(&mut self.emitter);
            for (key, value) in state::take_writes(p.as_mut()) {
                writes.push((plan.store.clone(), key, value));
            }
        }
        self.drain(out);
        self.generation += 1;
        Commit {
            writes,
            generation: self.generation,
            input_offset: self.next_offset,
            watermark_ms: self.watermark_ms,
        }
    }

    /// An interactive query of `store` for `key`: the answer of the processor keeping that store,
    /// or `None` when it holds nothing for the key (or no processor keeps that store).
    pub fn query(&self, store: &str, key: &str) -> Option<serde_json::Value> {
        self.topology
            .processors
            .iter()
            .zip(&self.processors)
            .filter(|(plan, _)| plan.store == store)
            .find_map(|(_, p)| p.query(key))
    }

    /// Restores one state entry of `store` (before any record) into the table of the store's
    /// processor it belongs to.
    pub fn restore_entry(
        &mut self,
        store: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), ProcessError> {
        for (plan, p) in self
            .topology
            .processors
            .iter()
            .zip(self.processors.iter_mut())
        {
            if plan.store == store {
                state::restore(p.as_mut(), key, value).map_err(|reason| {
                    ProcessError::CorruptState {
                        processor: plan.name.clone(),
                        reason,
                    }
                })?;
            }
        }
        Ok(())
    }

    /// Restores the position a checkpoint recorded.
    pub fn restore_position(
        &mut self,
        generation: u64,
        input_offset: i64,
        watermark_ms: i64,
        now_ms: i64,
    ) {
        self.generation = generation;
        self.next_offset = input_offset;
        self.watermark_ms = watermark_ms;
        if watermark_ms > i64::MIN {
            self.tracker.observe(self.partition, watermark_ms, now_ms);
        }
        for p in &mut self.processors {
            p.set_watermark(watermark_ms);
        }
    }
}
