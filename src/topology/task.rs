//! A task: one input partition run through the topology's processors. Pure and synchronous: the
//! runners feed it records and wall-clock time, and take its outputs, dead letters and state changes.
//! Event time comes from each record; the watermark (the minimum over the task's stream and table
//! sources) closes windows; a quiet source advances by wall clock after the idle timeout. Records of
//! table sources update the task's versioned tables, which joining processors read.

use std::sync::Arc;

use super::inputs::read_row;
use super::spec::{TimestampSource, ValueFormat};
use super::validate::Topology;
use crate::chat::ChatEvent;
use crate::processor::{state, Emitter, Input, Late, Output, ProcessError, Processor, RowInput};
use crate::table::row::ValueDecoder;
use crate::table::{SharedTable, VersionedTable};
use crate::time::civil::format_timestamp_ms;
use crate::time::watermark::WatermarkTracker;

/// The value field a row of a stream source (not a table) is keyed by when its record has no key.
pub const STREAM_KEY_FIELD: &str = "channel";

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
    /// The next offsets of the sources after the first, in topology order (empty with one source).
    pub more_offsets: Vec<i64>,
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
    /// Per processor, the table source whose value [`Input::joined`] carries for it: its join's,
    /// when it reads that field ([`Processor::reads_joined`]; the shipped kinds read their table
    /// when they emit instead, so they cost no lookup per record).
    joins: Vec<Option<usize>>,
    tracker: WatermarkTracker,
    watermark_ms: i64,
    /// The next offset of each source.
    next_offsets: Vec<i64>,
    /// Per source, the versioned table its records update (table sources only), and whether this
    /// task owns it (a global table is shared by every task and expired by its reader).
    tables: Vec<Option<(SharedTable, bool)>>,
    /// Per source, the reader of its Avro values (the runner sets it; JSON needs none).
    decoders: Vec<Option<std::sync::Arc<dyn ValueDecoder>>>,
    generation: u64,
    emitter: Emitter,
}

impl Task {
    /// A fresh task for `partition` at wall time `now_ms`, holding its own tables.
    pub fn new(topology: Arc<Topology>, partition: i32, now_ms: i64) -> Task {
        Task::sharing(topology, partition, now_ms, &[])
    }

    /// A fresh task that reads the global tables in `shared` (one entry per source; a table source
    /// without an entry gets a table of its own).
    pub fn sharing(
        topology: Arc<Topology>,
        partition: i32,
        now_ms: i64,
        shared: &[Option<SharedTable>],
    ) -> Task {
        let tables: Vec<Option<(SharedTable, bool)>> = topology
            .tables
            .iter()
            .enumerate()
            .map(|(i, plan)| {
                let plan = plan.as_ref()?;
                Some(match shared.get(i).cloned().flatten() {
                    Some(table) => (table, false),
                    None => (VersionedTable::shared(plan.retention_ms), true),
                })
            })
            .collect();
        let handles: Vec<Option<SharedTable>> = tables
            .iter()
            .map(|t| t.as_ref().map(|(t, _)| t.clone()))
            .collect();
        let processors: Vec<Box<dyn Processor>> = topology
            .processors
            .iter()
            .map(|p| p.instantiate(&handles))
            .collect();
        let reads_terms = processors.iter().any(|p| p.reads_terms());
        let joins = topology
            .processors
            .iter()
            .zip(&processors)
            .map(|(plan, p)| plan.join.filter(|_| p.reads_joined()))
            .collect();
        let mut tracker = WatermarkTracker::new(topology.idle_timeout_ms);
        // Event time is tracked per source: the stream sources and the tables this task owns hold
        // the watermark back until each has reached it (a shared global table does not).
        for (i, table) in tables.iter().enumerate() {
            if table.as_ref().is_none_or(|(_, owned)| *owned) {
                tracker.assign(i as i32, now_ms);
            }
        }
        let sources = topology.sources.len();
        Task {
            topology,
            partition,
            processors,
            reads_terms,
            joins,
            tracker,
            watermark_ms: i64::MIN,
            next_offsets: vec![0; sources],
            tables,
            decoders: vec![None; sources],
            generation: 0,
            emitter: Emitter::default(),
        }
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The next input offset to process of the first source.
    pub fn next_offset(&self) -> i64 {
        self.next_offsets[0]
    }

    /// The next input offset to process of `source`.
    pub fn next_offset_of(&self, source: usize) -> i64 {
        self.next_offsets[source]
    }

    /// Reads the Avro values of `source` with `decoder` (the runner's registry-backed reader).
    pub fn set_decoder(&mut self, source: usize, decoder: Arc<dyn ValueDecoder>) {
        self.decoders[source] = Some(decoder);
    }

    /// The end of `source`'s input (offline runs): it no longer holds event time back.
    pub fn source_finished(&mut self, source: usize) {
        self.tracker.revoke(source as i32);
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
        let next = &mut self.next_offsets[rec.source];
        *next = (*next).max(rec.offset + 1);
        out.processed += 1;
        if self.tables[rec.source].is_some() {
            return self.process_table_row(rec, now_ms, out);
        }
        let source = &self.topology.sources[rec.source];
        let parsed = match source.format {
            ValueFormat::Irc => match simdutf8::basic::from_utf8(rec.value) {
                Err(_) => return self.dead_letter(rec, "value is not UTF-8 text".into(), out),
                Ok(line) => ChatEvent::parse(line),
            },
            ValueFormat::Json | ValueFormat::Avro => return self.process_row(rec, now_ms, out),
        };
        // Borrowed where it was parsed: the event is a few hundred bytes, not worth moving.
        let event = match &parsed {
            Ok(e) => e,
            Err(e) => return self.dead_letter(rec, format!("unparseable IRC line: {e}"), out),
        };
        let ts = match source.timestamp {
            TimestampSource::TmiSentTs => event.ts_ms.or(rec.record_ts_ms),
            TimestampSource::Record | TimestampSource::Field => rec.record_ts_ms,
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
            joined: None,
        };
        for ((plan, processor), join) in self
            .topology
            .processors
            .iter()
            .zip(self.processors.iter_mut())
            .zip(&self.joins)
        {
            if plan.reads(rec.source) {
                let joined = join.and_then(|t| {
                    let (table, _) = self.tables[t].as_ref()?;
                    let table = table.read().expect("a table lock is never poisoned");
                    table.as_of(event.channel, ts_ms).map(|(_, v)| v.clone())
                });
                let input = Input {
                    joined: joined.as_ref(),
                    ..input
                };
                processor.process(&input, &mut self.emitter);
            }
        }
        self.refused(rec, out);
        self.tracker.observe(rec.source as i32, ts_ms, now_ms);
        self.advance(now_ms, out);
    }

    /// A record of a table source: its row becomes the key's value from the row's time on. A row
    /// older than the watermark still updates the table, but results already emitted did not see
    /// it, so it is reported on the late topic too.
    fn process_table_row(&mut self, rec: &InputRecord<'_>, now_ms: i64, out: &mut TaskOutput) {
        let source = &self.topology.sources[rec.source];
        let row = match self.read_table_row(rec) {
            Ok(row) => row,
            Err(e) => {
                let reason = format!("unreadable row of table {}: {e}", source.name);
                return self.dead_letter(rec, reason, out);
            }
        };
        if let Some(reason) = future_skew(row.ts_ms, now_ms, self.topology.max_future_skew_ms) {
            return self.dead_letter(rec, reason, out);
        }
        if row.ts_ms < self.watermark_ms {
            out.late.push(LateRecord {
                late: Late {
                    processor: format!("table {}", source.name),
                    partition: rec.partition,
                    offset: rec.offset,
                    ts_ms: row.ts_ms,
                    watermark_ms: self.watermark_ms,
                },
                key: rec.key.map(<[u8]>::to_vec),
                value: rec.value.to_vec(),
            });
        }
        let held = row
            .ts_ms
            .saturating_sub(self.table_plan(rec.source).grace_ms);
        self.dispatch_row(rec, &row, out);
        if self.put_row(rec.source, row) {
            self.tracker.observe(rec.source as i32, held, now_ms);
        }
        self.advance(now_ms, out);
    }

    /// A record of a stream of rows (a JSON or Avro source that is not a table), for the kinds that
    /// read rows.
    fn process_row(&mut self, rec: &InputRecord<'_>, now_ms: i64, out: &mut TaskOutput) {
        let source = &self.topology.sources[rec.source];
        let decoder = self.decoders[rec.source].as_deref();
        let row = match read_row(
            source,
            STREAM_KEY_FIELD,
            decoder,
            rec.key,
            rec.value,
            rec.record_ts_ms,
        ) {
            Ok(row) => row,
            Err(e) => {
                let reason = format!("unreadable row of source {}: {e}", source.name);
                return self.dead_letter(rec, reason, out);
            }
        };
        if let Some(reason) = future_skew(row.ts_ms, now_ms, self.topology.max_future_skew_ms) {
            return self.dead_letter(rec, reason, out);
        }
        self.dispatch_row(rec, &row, out);
        self.tracker.observe(rec.source as i32, row.ts_ms, now_ms);
        self.advance(now_ms, out);
    }

    /// Hands `row` to every processor that reads its source, and reports what they refused as
    /// late.
    fn dispatch_row(
        &mut self,
        rec: &InputRecord<'_>,
        row: &crate::table::TableRow,
        out: &mut TaskOutput,
    ) {
        let input = RowInput {
            partition: rec.partition,
            offset: rec.offset,
            ts_ms: row.ts_ms,
            key: &row.key,
            row: &row.value,
        };
        for (plan, processor) in self
            .topology
            .processors
            .iter()
            .zip(self.processors.iter_mut())
        {
            if plan.reads(rec.source) {
                processor.process_row(&input, &mut self.emitter);
            }
        }
        self.refused(rec, out);
    }

    /// Reports what processors refused of `rec`: too late (the late topic) or unreadable (the
    /// dead-letter topic, with the processor and the reason).
    fn refused(&mut self, rec: &InputRecord<'_>, out: &mut TaskOutput) {
        for late in self.emitter.late.drain(..) {
            out.late.push(LateRecord {
                late,
                key: rec.key.map(<[u8]>::to_vec),
                value: rec.value.to_vec(),
            });
        }
        for invalid in std::mem::take(&mut self.emitter.invalid) {
            let reason = format!("processor {}: {}", invalid.processor, invalid.reason);
            self.dead_letter(rec, reason, out);
        }
    }

    /// The plan of table source `source`.
    fn table_plan(&self, source: usize) -> &super::inputs::TablePlan {
        self.topology.tables[source]
            .as_ref()
            .expect("a table source has a plan")
    }

    /// A record of a table source read as a row, or why it cannot be.
    fn read_table_row(&self, rec: &InputRecord<'_>) -> Result<crate::table::TableRow, String> {
        let source = &self.topology.sources[rec.source];
        let decoder = self.decoders[rec.source].as_deref();
        let plan = self.table_plan(rec.source);
        read_row(
            source,
            &plan.key_field,
            decoder,
            rec.key,
            rec.value,
            rec.record_ts_ms,
        )
    }

    /// Puts `row` into table source `source`'s table; true when this task owns the table (it then
    /// tracks the table's event time).
    fn put_row(&self, source: usize, row: crate::table::TableRow) -> bool {
        let (table, owned) = self.tables[source].as_ref().expect("a table source");
        table
            .write()
            .expect("a table lock is never poisoned")
            .put(&row.key, row.ts_ms, row.value);
        *owned
    }

    /// Restores one row of table `source` from its topic (before any record): no lateness, no
    /// event time. Unreadable rows are skipped, as they were dead-lettered when first read.
    pub fn restore_table_row(&mut self, rec: &InputRecord<'_>) -> bool {
        if self.tables[rec.source].is_none() {
            return false;
        }
        let Ok(row) = self.read_table_row(rec) else {
            return false;
        };
        self.put_row(rec.source, row);
        true
    }

    fn advance(&mut self, now_ms: i64, out: &mut TaskOutput) {
        let wm = self.tracker.current(now_ms);
        if wm > self.watermark_ms {
            self.watermark_ms = wm;
            for p in &mut self.processors {
                p.on_watermark(wm, &mut self.emitter);
            }
            // After the windows that close at `wm` read their versions: when event time leaps
            // (a restored table, a quiet stream resuming), they still find the version as of
            // their own end.
            for (table, _) in self.tables.iter().flatten().filter(|(_, owned)| *owned) {
                table
                    .write()
                    .expect("a table lock is never poisoned")
                    .expire(wm);
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
        self.records_waiting_on(0, now_ms);
    }

    /// [`Task::records_waiting`] for the records of `source`.
    pub fn records_waiting_on(&mut self, source: usize, now_ms: i64) {
        self.tracker.hold(source as i32, now_ms);
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
            input_offset: self.next_offsets[0],
            more_offsets: self.next_offsets[1..].to_vec(),
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

    /// Restores the offsets of the sources after the first ([`Commit::more_offsets`]).
    pub fn restore_more_offsets(&mut self, offsets: &[i64]) {
        for (next, offset) in self.next_offsets[1..].iter_mut().zip(offsets) {
            *next = *offset;
        }
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
        self.next_offsets[0] = input_offset;
        self.watermark_ms = watermark_ms;
        if watermark_ms > i64::MIN {
            for i in 0..self.next_offsets.len() {
                if self.tables[i].as_ref().is_none_or(|(_, owned)| *owned) {
                    self.tracker.observe(i as i32, watermark_ms, now_ms);
                }
            }
        }
        for p in &mut self.processors {
            p.set_watermark(watermark_ms);
        }
    }
}
