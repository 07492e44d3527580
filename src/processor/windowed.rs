//! The generic windowed processor: one [`WindowTable`] per task over an [`Aggregate`], with the
//! late-record, emit-mode and state plumbing every windowed kind shares. A kind ([`WindowedKind`])
//! only says what each event contributes and how a result reads.

use serde_json::{Map, Value};

use super::state::{StateTables, Table, TableName, WindowTable};
use super::{window_fields, Emitter, Input, Late, Output, Processor};
use crate::table::{SharedTable, VersionedTable};
use crate::window::{Admission, Aggregate, EmitMode, Window, WindowResult, WindowSpec};

/// What a windowed processor kind adds to [`Windowed`].
pub trait WindowedKind: Send + 'static {
    /// The aggregate of its windows.
    type Agg: Aggregate + Send + 'static;

    /// Offers what `input` contributes: `add(key, contribution)` once per window key it counts in.
    fn extract(
        &mut self,
        input: &Input<'_>,
        add: &mut dyn FnMut(&str, &<Self::Agg as Aggregate>::Input),
    );

    /// Writes a result's own fields (the channel and window bounds are already there). Read-only, so
    /// interactive queries can show open windows the same way.
    fn fields(
        &self,
        key: &str,
        window: Window,
        value: &<Self::Agg as Aggregate>::Output,
        out: &mut Map<String, Value>,
    );

    /// Writes the fields a joined table gives a result (processors with `join = { table = ... }`):
    /// `joined` is the table's value for `key` as of the window's last millisecond, `None` when it
    /// holds none that old or the processor joins no table (so a result has the same fields
    /// either way). Nothing by default.
    fn joined_fields(
        &self,
        _key: &str,
        _value: &<Self::Agg as Aggregate>::Output,
        _joined: Option<&Value>,
        _out: &mut Map<String, Value>,
    ) {
    }

    /// Writes the fields the joined table gives a result, reading `table` (the processor's joined
    /// table, `None` when it joins none) as it needs. By default: the table's value for `key` as of
    /// the window's last millisecond, through [`WindowedKind::joined_fields`].
    fn table_fields(
        &self,
        key: &str,
        window: Window,
        value: &<Self::Agg as Aggregate>::Output,
        table: Option<&VersionedTable>,
        out: &mut Map<String, Value>,
    ) {
        let joined = table
            .and_then(|t| t.as_of(key, window.end_ms - 1))
            .map(|(_, v)| &**v);
        self.joined_fields(key, value, joined, out);
    }

    /// Called with every final result (a window's first final and each correction) before its
    /// fields are written, windows of a key in order (kinds whose state follows closed windows).
    fn closing(&mut self, _key: &str, _window: Window, _value: &<Self::Agg as Aggregate>::Output) {}

    /// Called after a result of `key` was emitted (kinds that learn from their own results).
    fn emitted(&mut self, _key: &str, _value: &<Self::Agg as Aggregate>::Output) {}

    /// Called with the new watermark before windows close (kinds with state of their own).
    fn advance(&mut self, _watermark_ms: i64) {}

    /// Shows the tables of the kind's own state to `visit` (after the windows' table; none by
    /// default).
    fn tables(&mut self, _visit: &mut dyn FnMut(&mut dyn Table)) {}

    /// Restores the watermark of the kind's own state.
    fn set_watermark(&mut self, _watermark_ms: i64) {}

    /// Whether it reads a message's terms (see [`Processor::reads_terms`]).
    fn reads_terms(&self) -> bool {
        true
    }
}

/// A windowed processor of one task.
pub struct Windowed<K: WindowedKind> {
    name: String,
    sink: usize,
    emit: EmitMode,
    kind: K,
    windows: WindowTable<K::Agg>,
    results: Vec<WindowResult<<K::Agg as Aggregate>::Output>>,
    /// The table it joins: read at emission, as of each window's end.
    table: Option<SharedTable>,
}

impl<K: WindowedKind> Windowed<K>
where
    <K::Agg as Aggregate>::Acc: Send,
    <K::Agg as Aggregate>::Output: Send,
{
    /// A processor named `name` writing to sink `sink`.
    pub fn new(
        name: &str,
        sink: usize,
        window: WindowSpec,
        emit: EmitMode,
        aggregate: K::Agg,
        kind: K,
    ) -> Self {
        Windowed {
            name: name.to_owned(),
            sink,
            emit,
            kind,
            windows: WindowTable::new(
                TableName::WINDOWS,
                crate::window::window_operator(aggregate, window),
            ),
            results: Vec::new(),
            table: None,
        }
    }

    /// Joins `table` (when given): each result carries the table's value for its key as of its
    /// window's last millisecond ([`WindowedKind::joined_fields`]). The watermark covers the table's
    /// source, so when a window closes every row up to its end has been read.
    pub fn with_table(mut self, table: Option<&SharedTable>) -> Self {
        self.table = table.cloned();
        self
    }

    /// Writes a result's fields: the window's, the kind's and the joined table's.
    fn result_fields(&self, r: &WindowResult<<K::Agg as Aggregate>::Output>) -> Map<String, Value> {
        let mut value = window_fields(&r.key, r.window, r.is_final, r.revision);
        self.kind.fields(&r.key, r.window, &r.value, &mut value);
        let table = self
            .table
            .as_ref()
            .map(|t| t.read().expect("a table lock is never poisoned"));
        self.kind
            .table_fields(&r.key, r.window, &r.value, table.as_deref(), &mut value);
        value
    }

    /// The kind.
    pub fn kind(&self) -> &K {
        &self.kind
    }

    /// The kind, to finish building it.
    pub fn kind_mut(&mut self) -> &mut K {
        &mut self.kind
    }

    fn emit_results(&mut self, out: &mut Emitter) {
        // Drained, not dropped, so the buffer keeps its capacity for the next watermark.
        let mut results = std::mem::take(&mut self.results);
        for r in results.drain(..) {
            // A correction (revision > 0) is neither a new close nor a new result to learn from.
            let first_final = r.is_final && r.revision == 0;
            if first_final {
                out.windows_closed += 1;
            }
            if r.is_final {
                self.kind.closing(&r.key, r.window, &r.value);
            }
            let value = self.result_fields(&r);
            if first_final {
                self.kind.emitted(&r.key, &r.value);
            }
            out.outputs.push(Output {
                sink: self.sink,
                key: r.key,
                value: Value::Object(value),
                ts_ms: r.window.end_ms,
            });
        }
        self.results = results;
    }
}

impl<K: WindowedKind> Processor for Windowed<K>
where
    <K::Agg as Aggregate>::Acc: Send,
    <K::Agg as Aggregate>::Output: Send,
{
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        let windows = &mut self.windows;
        let mut late = false;
        self.kind.extract(input, &mut |key, contribution| {
            late |= windows.add(key, input.ts_ms, contribution) == Admission::Late;
        });
        if late {
            out.late.push(Late {
                processor: self.name.clone(),
                partition: input.partition,
                offset: input.offset,
                ts_ms: input.ts_ms,
                watermark_ms: self.windows.watermark(),
            });
        }
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter) {
        self.kind.advance(watermark_ms);
        self.windows.advance(watermark_ms, &mut self.results);
        self.emit_results(out);
    }

    fn on_commit(&mut self, out: &mut Emitter) {
        if self.emit == EmitMode::Update {
            self.windows.updates(&mut self.results);
        }
        // Corrections go out before the state that records their revision.
        self.windows.revisions(&mut self.results);
        self.emit_results(out);
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.kind.set_watermark(watermark_ms);
        self.windows.set_watermark(watermark_ms);
    }

    fn reads_terms(&self) -> bool {
        self.kind.reads_terms()
    }

    /// The table is read as of each window's end when the window closes.
    fn reads_joined(&self) -> bool {
        false
    }

    fn open_entries(&self) -> usize {
        self.windows.open_windows()
    }

    /// The open windows of channel `key`, oldest first, with their current (not final) results.
    fn query(&self, key: &str) -> Option<Value> {
        let mut open = Vec::new();
        self.windows.peek(key, &mut open);
        if open.is_empty() {
            return None;
        }
        let results = open
            .iter()
            .map(|r| Value::Object(self.result_fields(r)))
            .collect();
        Some(Value::Array(results))
    }
}

impl<K: WindowedKind> StateTables for Windowed<K> {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.windows);
        self.kind.tables(visit);
    }
}

/// A list of `(name, count)` pairs as JSON objects `{name_field: name, count_field: count}`.
pub fn ranked(pairs: &[(String, u64)], name_field: &str, count_field: &str) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(n, c)| {
                let mut m = Map::new();
                m.insert(name_field.into(), Value::from(n.as_str()));
                m.insert(count_field.into(), Value::from(*c));
                Value::Object(m)
            })
            .collect(),
    )
}
