//! `chatter_sessions`: the chat sessions of each chatter per channel, over a session window (a
//! session ends after `gap` without a message of that chatter there). One final record per session
//! when it closes: channel, user, first and last message, duration and messages.

use serde::Serialize;
use serde_json::{json, Value};

use super::kind::{BuildContext, KindConfig, WindowRule};
use super::options::options;
use super::state::{SessionTable, StateTables, Table, TableName};
use super::{Emitter, Input, Late, Output, Processor};
use crate::window::aggregate::CountRecords;
use crate::window::session::SessionWindows;
use crate::window::{Admission, EmitMode, WindowResult, WindowSpec};

options! {
    /// The options of `chatter_sessions`; the session window sets the gap and grace.
    pub struct ChatterSessionsConfig {
        /// Sessions with fewer messages close without a record (1 reports every session).
        pub min_messages: u64 = 1,
    }
}

impl KindConfig for ChatterSessionsConfig {
    const NAME: &'static str = "chatter_sessions";
    const SUMMARY: &'static str =
        "each chatter's chat sessions per channel (session window): start, end, messages";
    const WINDOW: WindowRule = WindowRule::Session;

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        let WindowSpec::Session { gap_ms, grace_ms } = ctx.window() else {
            unreachable!("validated: a kind whose window rule is Session has a session window")
        };
        Box::new(ChatterSessions::new(
            ctx.name,
            ctx.sink,
            gap_ms,
            grace_ms,
            ctx.emit,
            self.min_messages,
        ))
    }
}

/// One session as a record of the sink, keyed by channel.
#[derive(Debug, Serialize)]
struct SessionRecord<'a> {
    channel: &'a str,
    user: &'a str,
    /// First message, epoch ms.
    start: i64,
    /// Last message, epoch ms.
    end: i64,
    /// `end - start` in whole seconds.
    duration_s: i64,
    messages: u64,
    /// True for the record of a closed session; false for an update (`emit = "update"`).
    #[serde(rename = "final")]
    is_final: bool,
}

/// Appends the session key of a chatter in a channel: `channel user` (logins and channels hold no
/// space), so a channel's sessions are the keys starting with `channel `.
fn push_session_key(k: &mut String, channel: &str, login: &str) {
    k.push_str(channel);
    k.push(' ');
    k.push_str(login);
}

/// The `chatter_sessions` processor of one task.
#[derive(Debug)]
pub struct ChatterSessions {
    name: String,
    sink: usize,
    emit: EmitMode,
    min_messages: u64,
    sessions: SessionTable<CountRecords>,
    results: Vec<WindowResult<u64>>,
    /// The session key of the current record, in a buffer reused from record to record.
    key: String,
}

impl ChatterSessions {
    /// A processor named `name` writing to sink `sink`: sessions end after `gap_ms` without a
    /// message and accept messages `grace_ms` late.
    pub fn new(
        name: &str,
        sink: usize,
        gap_ms: i64,
        grace_ms: i64,
        emit: EmitMode,
        min_messages: u64,
    ) -> Self {
        ChatterSessions {
            name: name.to_owned(),
            sink,
            emit,
            min_messages,
            sessions: SessionTable::new(
                TableName::SESSIONS,
                SessionWindows::new(CountRecords, gap_ms, grace_ms),
            ),
            results: Vec::new(),
            key: String::new(),
        }
    }

    fn emit_results(&mut self, out: &mut Emitter) {
        for r in self.results.drain(..) {
            if r.is_final {
                out.windows_closed += 1;
            }
            if r.value < self.min_messages {
                continue;
            }
            let (channel, user) = r.key.split_once(' ').unwrap_or((&r.key, ""));
            let record = SessionRecord {
                channel,
                user,
                start: r.window.start_ms,
                end: r.window.end_ms,
                duration_s: (r.window.end_ms - r.window.start_ms) / 1000,
                messages: r.value,
                is_final: r.is_final,
            };
            out.outputs.push(Output {
                sink: self.sink,
                key: channel.to_owned(),
                value: serde_json::to_value(&record).expect("session records serialize"),
                ts_ms: r.window.end_ms,
            });
        }
    }
}

impl Processor for ChatterSessions {
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        let Some(m) = input.own_message() else {
            return;
        };
        let (channel, login) = (input.event.channel, m.user.login);
        self.key.clear();
        push_session_key(&mut self.key, channel, login);
        if self.sessions.add(&self.key, input.ts_ms, &()) == Admission::Late {
            out.late.push(Late {
                processor: self.name.clone(),
                partition: input.partition,
                offset: input.offset,
                ts_ms: input.ts_ms,
                watermark_ms: self.sessions.watermark(),
            });
        }
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter) {
        self.sessions.advance(watermark_ms, &mut self.results);
        self.emit_results(out);
    }

    fn on_commit(&mut self, out: &mut Emitter) {
        if self.emit == EmitMode::Update {
            self.sessions.updates(&mut self.results);
            self.emit_results(out);
        }
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.sessions.set_watermark(watermark_ms);
    }

    fn open_entries(&self) -> usize {
        self.sessions.open_windows()
    }

    /// The open sessions of channel `key`: how many, and each with its user, start, last message
    /// so far and messages.
    fn query(&self, key: &str) -> Option<Value> {
        let mut open = Vec::new();
        let mut prefix = String::new();
        push_session_key(&mut prefix, key, "");
        self.sessions.peek_prefix(&prefix, &mut open);
        if open.is_empty() {
            return None;
        }
        let sessions: Vec<Value> = open
            .iter()
            .map(|r| {
                json!({
                    "user": r.key.split_once(' ').map_or("", |(_, user)| user),
                    "start": r.window.start_ms,
                    "end": r.window.end_ms,
                    "messages": r.value,
                })
            })
            .collect();
        Some(json!({
            "channel": key,
            "open_sessions": sessions.len(),
            "sessions": sessions,
        }))
    }

    fn reads_terms(&self) -> bool {
        false
    }
}

impl StateTables for ChatterSessions {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.sessions);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::OnceCell;

    use super::*;
    use crate::chat::ChatEvent;
    use crate::processor::state;

    const MINUTE: i64 = 60_000;
    const T0: i64 = 1_700_000_000_000;

    /// A tagged PRIVMSG of `user` in `channel` at `ts`; `shared` makes it a Shared Chat copy.
    fn line(channel: &str, user: &str, ts: i64, shared: bool) -> String {
        let source = if shared { "source-room-id=9;" } else { "" };
        format!(
            "@{source}room-id=1;tmi-sent-ts={ts};user-id=2;login={user} :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{channel} :hi"
        )
    }

    fn processor(min_messages: u64, emit: EmitMode) -> ChatterSessions {
        ChatterSessions::new("sessions", 0, 5 * MINUTE, 5_000, emit, min_messages)
    }

    /// Feeds `lines` (watermark: the highest time so far, as a task's) and returns the emitter.
    fn feed(p: &mut ChatterSessions, lines: &[String], out: &mut Emitter) {
        for (offset, l) in lines.iter().enumerate() {
            let event = ChatEvent::parse(l).unwrap();
            let ts_ms = event.ts_ms.unwrap();
            let message = OnceCell::new();
            let input = Input {
                partition: 0,
                offset: offset as i64,
                ts_ms,
                event: &event,
                message: &message,
                terms: false,
                joined: None,
            };
            p.process(&input, out);
            let wm = p.sessions.watermark().max(ts_ms);
            p.on_watermark(wm, out);
        }
    }

    fn records(out: &Emitter) -> Vec<Value> {
        out.outputs.iter().map(|o| o.value.clone()).collect()
    }

    #[test]
    fn a_session_ends_after_the_gap_and_its_record_has_every_field() {
        let mut p = processor(1, EmitMode::Final);
        let mut out = Emitter::default();
        let lines = [
            line("nymn", "alice", T0, false),
            line("nymn", "bob", T0 + 1_000, false),
            line("nymn", "alice", T0 + 4 * MINUTE, false),
            // Exactly the gap after alice's last message: still her session.
            line("nymn", "alice", T0 + 9 * MINUTE, false),
            // A Shared Chat copy belongs to its source channel and is not counted here.
            line("nymn", "alice", T0 + 14 * MINUTE, true),
            // Past the gap: a new session of alice; her first one and bob's have closed (the
            // watermark passed their last message + gap + grace).
            line("nymn", "alice", T0 + 15 * MINUTE, false),
        ];
        feed(&mut p, &lines, &mut out);
        let first = [
            json!({"channel": "nymn", "user": "bob", "start": T0 + 1_000, "end": T0 + 1_000,
                   "duration_s": 0, "messages": 1, "final": true}),
            json!({"channel": "nymn", "user": "alice", "start": T0, "end": T0 + 9 * MINUTE,
                   "duration_s": 540, "messages": 3, "final": true}),
        ];
        assert_eq!(records(&out), first);
        assert_eq!(out.outputs[0].key, "nymn");
        assert_eq!(out.outputs[0].ts_ms, T0 + 1_000);
        assert_eq!(p.open_entries(), 1);
        p.on_watermark(i64::MAX, &mut out);
        assert_eq!(
            records(&out)[2..],
            [
                json!({"channel": "nymn", "user": "alice", "start": T0 + 15 * MINUTE,
                    "end": T0 + 15 * MINUTE, "duration_s": 0, "messages": 1, "final": true})
            ]
        );
        assert_eq!(out.windows_closed, 3);
        assert_eq!(p.open_entries(), 0);
    }

    #[test]
    fn late_messages_are_reported_and_short_sessions_can_be_left_out() {
        let mut p = processor(2, EmitMode::Final);
        let mut out = Emitter::default();
        let lines = [
            line("nymn", "alice", T0 + 10 * MINUTE, false),
            line("nymn", "bob", T0 + 10 * MINUTE + 1, false),
            // Within the grace (5 s behind the watermark): accepted.
            line("nymn", "alice", T0 + 10 * MINUTE - 4_000, false),
            // Behind it: late.
            line("nymn", "carol", T0 + 10 * MINUTE - 6_000, false),
        ];
        feed(&mut p, &lines, &mut out);
        assert_eq!(out.late.len(), 1);
        assert_eq!(
            (out.late[0].offset, out.late[0].watermark_ms),
            (3, T0 + 10 * MINUTE + 1)
        );
        p.on_watermark(i64::MAX, &mut out);
        // bob's one-message session closes without a record.
        let got = records(&out);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (&got[0]["user"], &got[0]["messages"]),
            (&json!("alice"), &json!(2))
        );
        assert_eq!(got[0]["start"], json!(T0 + 10 * MINUTE - 4_000));
        assert_eq!(out.windows_closed, 2);
    }

    #[test]
    fn updates_queries_and_a_restore_show_the_open_sessions() {
        let mut p = processor(1, EmitMode::Update);
        let mut out = Emitter::default();
        let lines = [
            line("nymn", "alice", T0, false),
            line("nymn", "alice", T0 + MINUTE, false),
            line("nymn", "bob", T0 + 2 * MINUTE, false),
            line("forsen", "alice", T0 + 2 * MINUTE, false),
        ];
        feed(&mut p, &lines, &mut out);
        assert_eq!(
            p.query("nymn"),
            Some(json!({"channel": "nymn", "open_sessions": 2, "sessions": [
                {"user": "alice", "start": T0, "end": T0 + MINUTE, "messages": 2},
                {"user": "bob", "start": T0 + 2 * MINUTE, "end": T0 + 2 * MINUTE, "messages": 1},
            ]}))
        );
        assert_eq!(p.query("nym"), None);
        p.on_commit(&mut out);
        let updates = records(&out);
        assert_eq!(updates.len(), 3);
        assert!(updates.iter().all(|u| u["final"] == false));

        let writes = state::take_writes(&mut p);
        assert_eq!(writes.len(), 3);
        let mut restored = processor(1, EmitMode::Update);
        for (k, v) in &writes {
            state::restore(&mut restored, k, v.as_deref().unwrap()).unwrap();
        }
        restored.set_watermark(T0 + 2 * MINUTE);
        assert_eq!(restored.query("nymn"), p.query("nymn"));
        let (mut a, mut b) = (Emitter::default(), Emitter::default());
        p.on_watermark(i64::MAX, &mut a);
        restored.on_watermark(i64::MAX, &mut b);
        assert_eq!(records(&a), records(&b));
        assert_eq!(a.outputs.len(), 3);
    }
}
