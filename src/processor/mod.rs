//! Processors: the Kafka Streams `Processor` of chatpulse. A processor instance belongs to one task
//! (one input partition), receives parsed records in order, keeps its state in memory as a write-back
//! cache and hands the changes to the engine at commit. One file per processor kind, holding its
//! typed config, `build()` and processor ([`kind`]); [`registry`] lists the kinds.

pub mod ad_slots;
pub mod alerts;
pub mod audience_hour;
pub mod chat_count;
pub mod chat_events;
pub mod chatter_sessions;
pub mod engagement;
pub mod gift_state;
pub mod highlights;
pub mod kind;
pub mod leaderboards;
pub mod open_periods;
pub mod options;
pub mod registry;
pub mod rising;
pub mod spike_tracker;
pub mod spikes;
pub mod state;
pub mod stream_sessions;
pub mod sub_trend;
pub mod subscriptions;
pub mod windowed;

use std::borrow::Cow;
use std::cell::OnceCell;

use serde_json::Value;

use self::state::StateTables;
use crate::analysis::sentiment::Lexicon;
use crate::analysis::Contribution;
use crate::chat::gifts::GiftTally;
use crate::chat::{ChatEvent, EventKind};
use crate::window::Window;

/// One input record, decoded.
#[derive(Debug)]
pub struct Input<'a> {
    /// The input partition (the task).
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Event time in epoch milliseconds.
    pub ts_ms: i64,
    /// The parsed chat event.
    pub event: &'a ChatEvent<'a>,
    /// What a chat message contributes to engagement (tokens, emotes, sentiment), read once per
    /// record and shared by every processor of the record's source.
    pub message: &'a OnceCell<Option<Contribution>>,
    /// Whether a processor of the task reads a message's terms ([`Processor::reads_terms`]); when
    /// none does, the shared analysis skips them.
    pub terms: bool,
    /// For a processor with `join = { table = ... }`: the table's value for the record's channel
    /// as of the record's event time (the newest version at or before it), if any.
    pub joined: Option<&'a std::sync::Arc<Value>>,
}

impl Input<'_> {
    /// What the event contributes to engagement. `tally` is the caller's gift count for the event
    /// (it matters only for gift notices). A chat message's text is analysed once per record, however
    /// many processors ask.
    pub fn contribution(&self, tally: GiftTally) -> Option<Cow<'_, Contribution>> {
        match self.event.kind {
            EventKind::Message(_) => self.message_contribution().map(Cow::Borrowed),
            _ => Contribution::from_event(self.event, tally).map(Cow::Owned),
        }
    }

    /// Calls `f` with what the event contributes, if anything: [`Input::contribution`] without
    /// building a `Cow` of the (large) contribution on the way.
    pub fn with_contribution(&self, tally: GiftTally, f: impl FnOnce(&Contribution)) {
        match self.event.kind {
            EventKind::Message(_) => {
                if let Some(c) = self.message_contribution() {
                    f(c);
                }
            }
            _ => {
                if let Some(c) = Contribution::from_event(self.event, tally) {
                    f(&c);
                }
            }
        }
    }

    /// The record's chat message, unless it is not one or is a Shared Chat copy (left to its
    /// source channel).
    pub fn own_message(&self) -> Option<&crate::chat::event::Message<'_>> {
        match &self.event.kind {
            EventKind::Message(m) if !self.event.is_shared_copy() => Some(m),
            _ => None,
        }
    }

    /// A chat message's contribution, read once per record.
    fn message_contribution(&self) -> Option<&Contribution> {
        // The gift tally matters only for gift notices, never for a message.
        self.message
            .get_or_init(|| {
                Contribution::read(
                    self.event,
                    GiftTally::default(),
                    Lexicon::builtin(),
                    self.terms,
                )
            })
            .as_ref()
    }
}

/// One input row (a JSON or Avro record, such as a `twitch.streams` snapshot), decoded, for the
/// kinds that read rows ([`kind::Reads::Rows`]).
#[derive(Debug, Clone, Copy)]
pub struct RowInput<'a> {
    /// The input partition (the task).
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Event time in epoch milliseconds (by its source's `timestamp` rule).
    pub ts_ms: i64,
    /// Its key: the record key, else the value's key field (`channel` by default).
    pub key: &'a str,
    /// The decoded value.
    pub row: &'a Value,
}

/// One result for a sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Index of the sink in the topology.
    pub sink: usize,
    /// The record key (the channel; window results are keyed by channel and carry their window).
    pub key: String,
    /// The record value.
    pub value: Value,
    /// The record timestamp (window end for window results).
    pub ts_ms: i64,
}

/// A record a processor refused as too late (its windows had closed, past any allowed lateness).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Late {
    /// The processor.
    pub processor: String,
    /// The input partition and offset.
    pub partition: i32,
    /// The input offset.
    pub offset: i64,
    /// Its event time.
    pub ts_ms: i64,
    /// The watermark it arrived behind.
    pub watermark_ms: i64,
}

/// A record a processor could not read (a row that is not what its kind expects): the task sends
/// it to the dead-letter topic with the reason, and processing goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The processor.
    pub processor: String,
    /// What is wrong with the record.
    pub reason: String,
}

/// Where processors put what they produce.
#[derive(Debug, Default)]
pub struct Emitter {
    /// Results for sinks.
    pub outputs: Vec<Output>,
    /// Records refused as late.
    pub late: Vec<Late>,
    /// Records of the current input refused as unreadable.
    pub invalid: Vec<Invalid>,
    /// Windows closed.
    pub windows_closed: u64,
}

/// Why a processor could not handle a record or restore its state.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A persisted state entry could not be read back.
    #[error("state entry of {processor} is unreadable ({reason}): delete the state dir to rebuild it from the changelog")]
    CorruptState {
        /// The processor.
        processor: String,
        /// What was wrong.
        reason: String,
    },
}

/// A processor of one task. Its state lives in the tables it shows through [`StateTables`]: the
/// engine takes their changes at each commit and restores them before any record.
pub trait Processor: StateTables + Send {
    /// Handles one record.
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter);
    /// Handles one row ([`RowInput`]): the kinds that read rows, or cogroup a row source. Nothing
    /// by default.
    fn process_row(&mut self, input: &RowInput<'_>, out: &mut Emitter) {
        let _ = (input, out);
    }
    /// Event time reached `watermark_ms`: emit what closed.
    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter);
    /// Commit time, before the engine takes the changes of the processor's tables: emit updates (for
    /// `emit = "update"`) and corrections that are due. Nothing by default.
    fn on_commit(&mut self, out: &mut Emitter) {
        let _ = out;
    }
    /// Restores the watermark without emitting (after the tables were restored).
    fn set_watermark(&mut self, watermark_ms: i64);
    /// Open windows or other entries held in memory.
    fn open_entries(&self) -> usize;
    /// An interactive query: what this processor holds for `key` (a channel) right now, as JSON, or
    /// `None` when it holds nothing for it (or does not answer queries). Read-only.
    fn query(&self, key: &str) -> Option<Value> {
        let _ = key;
        None
    }
    /// Whether it reads the terms of a message's analysis (`MessageActivity::terms`); true unless
    /// it says otherwise, so the terms are computed whenever some processor may want them.
    fn reads_terms(&self) -> bool {
        true
    }
    /// Whether it reads [`Input::joined`] (processors with `join = { table = ... }`); true unless it
    /// says otherwise. A kind that reads its table itself when it emits (the windowed kinds as of a
    /// window's end, `ad_slots` as of a minute's) says false, and the task skips the lookup per record.
    fn reads_joined(&self) -> bool {
        true
    }
}

/// The JSON fields every window result carries. `revision` is 0 for a window's first final (and its
/// updates) and counts the corrected finals late records caused after it; consumers keep the last
/// record per `(channel, window_start)`.
pub fn window_fields(
    channel: &str,
    window: Window,
    is_final: bool,
    revision: u32,
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("channel".into(), Value::from(channel));
    m.insert("window_start".into(), Value::from(window.start_ms));
    m.insert("window_end".into(), Value::from(window.end_ms));
    m.insert("final".into(), Value::from(is_final));
    m.insert("revision".into(), Value::from(revision));
    m
}
