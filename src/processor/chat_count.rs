//! `chat_count`: messages and exact unique chatters per channel per window — the core of engagement
//! per minute. Counts chat messages (PRIVMSG) attributed to their channel; Shared Chat copies are left
//! to their source channel.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    window_fields, window_key, Emitter, Input, Late, Output, ProcessError, Processor, StateWrite,
};
use crate::chat::EventKind;
use crate::window::hopping::HoppingWindows;
use crate::window::sliding::SlidingWindows;
use crate::window::tumbling::TumblingWindows;
use crate::window::{
    Admission, Aggregate, EmitMode, WindowOperator, WindowResult, WindowSpec, WindowState,
};

/// Messages and the set of distinct chatters.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountChatters;

/// The accumulator of [`CountChatters`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatterCount {
    /// Messages.
    pub messages: u64,
    /// Distinct chatter logins.
    pub chatters: BTreeSet<String>,
}

/// The result of [`CountChatters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatterTotals {
    /// Messages.
    pub messages: u64,
    /// Distinct chatters.
    pub unique_chatters: u64,
}

impl Aggregate for CountChatters {
    type Input = str;
    type Acc = ChatterCount;
    type Output = ChatterTotals;

    fn init(&self) -> ChatterCount {
        ChatterCount::default()
    }

    fn add(&self, acc: &mut ChatterCount, login: &str) {
        acc.messages += 1;
        if !acc.chatters.contains(login) {
            acc.chatters.insert(login.to_owned());
        }
    }

    fn merge(&self, into: &mut ChatterCount, other: &ChatterCount) {
        into.messages += other.messages;
        into.chatters.extend(other.chatters.iter().cloned());
    }

    fn finish(&self, acc: &ChatterCount) -> ChatterTotals {
        ChatterTotals {
            messages: acc.messages,
            unique_chatters: acc.chatters.len() as u64,
        }
    }
}

/// Builds the window operator a spec asks for.
pub fn window_operator<A>(aggregate: A, spec: WindowSpec) -> Box<dyn WindowOperator<A> + Send>
where
    A: Aggregate + Send + 'static,
    A::Acc: Send,
{
    match spec {
        WindowSpec::Tumbling { size_ms, grace_ms } => {
            Box::new(TumblingWindows::new(aggregate, size_ms, grace_ms))
        }
        WindowSpec::Hopping {
            size_ms,
            advance_ms,
            grace_ms,
        } => Box::new(HoppingWindows::new(
            aggregate, size_ms, advance_ms, grace_ms,
        )),
        WindowSpec::Sliding {
            difference_ms,
            grace_ms,
        } => Box::new(SlidingWindows::new(aggregate, difference_ms, grace_ms)),
    }
}

/// The `chat_count` processor of one task.
pub struct ChatCount {
    name: String,
    sink: usize,
    emit: EmitMode,
    windows: Box<dyn WindowOperator<CountChatters> + Send>,
    results: Vec<WindowResult<ChatterTotals>>,
}

impl ChatCount {
    /// A processor named `name` writing to sink `sink`.
    pub fn new(name: &str, sink: usize, window: WindowSpec, emit: EmitMode) -> Self {
        ChatCount {
            name: name.to_owned(),
            sink,
            emit,
            windows: window_operator(CountChatters, window),
            results: Vec::new(),
        }
    }

    fn emit_results(&mut self, out: &mut Emitter) {
        for r in self.results.drain(..) {
            if r.is_final {
                out.windows_closed += 1;
            }
            let value = result_json(&r);
            out.outputs.push(Output {
                sink: self.sink,
                key: r.key,
                value,
                ts_ms: r.window.end_ms,
            });
        }
    }
}

/// The JSON of one window result: its bounds, whether it is final, and the counts.
fn result_json(r: &WindowResult<ChatterTotals>) -> Value {
    let mut value = window_fields(&r.key, r.window, r.is_final);
    value.insert("messages".into(), Value::from(r.value.messages));
    value.insert(
        "unique_chatters".into(),
        Value::from(r.value.unique_chatters),
    );
    Value::Object(value)
}

impl Processor for ChatCount {
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        let EventKind::Message(m) = &input.event.kind else {
            return;
        };
        if input.event.is_shared_copy() {
            return;
        }
        if self
            .windows
            .add(input.event.channel, input.ts_ms, m.user.login)
            == Admission::Late
        {
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
        self.windows.advance(watermark_ms, &mut self.results);
        self.emit_results(out);
    }

    fn flush(&mut self, out: &mut Emitter) -> Vec<StateWrite> {
        if self.emit == EmitMode::Update {
            self.windows.updates(&mut self.results);
            self.emit_results(out);
        }
        self.windows
            .take_dirty()
            .into_iter()
            .map(|(key, start, acc)| {
                let value =
                    acc.map(|a| serde_json::to_vec(&a).expect("a ChatterCount always serializes"));
                (window_key(&key, start), value)
            })
            .collect()
    }

    fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<(), ProcessError> {
        let corrupt = |reason: String| ProcessError::CorruptState {
            processor: self.name.clone(),
            reason,
        };
        let (key, start_ms) =
            super::parse_window_key(key).ok_or_else(|| corrupt("bad window key".into()))?;
        let acc: ChatterCount =
            serde_json::from_slice(value).map_err(|e| corrupt(e.to_string()))?;
        self.windows.restore(WindowState { key, start_ms, acc });
        Ok(())
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.windows.set_watermark(watermark_ms);
    }

    fn open_entries(&self) -> usize {
        self.windows.open_windows()
    }

    /// The open windows of channel `key`, oldest first, with their current counts.
    fn query(&self, key: &str) -> Option<Value> {
        let mut open = Vec::new();
        self.windows.peek(key, &mut open);
        if open.is_empty() {
            return None;
        }
        Some(Value::Array(open.iter().map(result_json).collect()))
    }
}
