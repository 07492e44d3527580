//! `stream_sessions`: one record per stream session of a channel (`twitch.streams.sessions`), from
//! the `twitch.streams` snapshots (a session window over polls) and, when the processor cogroups a
//! chat source, the chat said over the same span. Final when the stream reports its end, or when
//! `gap` passes with no snapshot.
//!
//! A session is keyed `channel started_at` (`channel -` when the rows carry no `started_at`), so a
//! new `started_at` starts a new session even within the gap. The session window keeps only each
//! session's span and `started_at`; its snapshots are state entries of their own (one write each,
//! however long the stream), and chat is kept in per-minute buckets per channel. Both are assembled
//! over `[start, end]` when the session is final.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::gift_state::GiftState;
use super::kind::{BuildContext, KindConfig, Reads, WindowRule};
use super::options::options;
use super::spike_tracker::SpikeTracker;
use super::spikes::SpikeOptions;
use super::state::{KeyedTable, SessionTable, StateTables, Table, TableKey, TableName, ValueTable};
use super::{Emitter, Input, Invalid, Late, Output, Processor, RowInput};
use crate::audience::snapshot::Snapshot;
use crate::audience::stream_session::{summarize, ChatTally, SessionAcc, SessionSummary};
use crate::chat::EventKind;
use crate::detect::spike::SpikeEvent;
use crate::score::subs::{SubKind, SubscriptionEvent};
use crate::time::duration::DurationMs;
use crate::window::session::SessionWindows;
use crate::window::{Admission, Aggregate, EmitMode, WindowResult, WindowSpec};

const MINUTE_MS: i64 = 60_000;

options! {
    /// The options of `stream_sessions`; the session window sets the gap (30 minutes is what stream
    /// trackers use) and the grace.
    pub struct StreamSessionsConfig {
        /// After a `stream_end`, how much event time to wait for chat said before the end (still in
        /// flight, or confirming a spike) before the session's record is final.
        pub chat_wait: DurationMs = DurationMs::secs(60),
        /// The chat spike detector whose onsets during a session are its `spikes`.
        pub spike: SpikeOptions = SpikeOptions::default(),
    }
}

impl KindConfig for StreamSessionsConfig {
    const NAME: &'static str = "stream_sessions";
    const SUMMARY: &'static str = "one record per stream session from twitch.streams snapshots: duration, viewers, hours watched, followers, games, titles, and chat over the span (cogroup a chat source)";
    const WINDOW: WindowRule = WindowRule::Session;
    const READS: Reads = Reads::Rows;
    const COGROUPS: bool = true;

    fn problems(&self) -> Vec<String> {
        self.spike.problems()
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        let WindowSpec::Session { gap_ms, grace_ms } = ctx.window() else {
            unreachable!("validated: a kind whose window rule is Session has a session window")
        };
        Box::new(StreamSessions::new(
            ctx.name,
            ctx.sink,
            SessionWindow { gap_ms, grace_ms },
            ctx.emit,
            self,
        ))
    }
}

/// The session window of a `stream_sessions` processor.
#[derive(Debug, Clone, Copy)]
pub struct SessionWindow {
    /// A snapshot more than this after the channel's previous one starts a new session.
    pub gap_ms: i64,
    /// How far behind the watermark a snapshot or chat line is still accepted.
    pub grace_ms: i64,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// A snapshot said the stream ended (`event = "stream_end"`).
    StreamEnd,
    /// `gap` passed with no snapshot.
    Gap,
    /// The input ended (offline) with the session still open.
    EndOfInput,
}

/// A session that has closed, waiting for the chat of its span before its record is final.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Finishing {
    /// Its session key (`channel started_at`).
    key: String,
    /// Its snapshots.
    acc: SessionAcc,
    /// Why it ended.
    ended_by: EndedBy,
}

/// The chat of one channel in one minute, message by message, so a session's span is tallied to
/// the millisecond.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ChatMinute {
    /// `(time, login)` of each chat message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    messages: Vec<(i64, String)>,
    /// Times of subscription and resubscription notices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    subs: Vec<i64>,
    /// `(time, gifted subs)` of gift notices, each gift counted once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    gifts: Vec<(i64, u32)>,
    /// Onsets of chat spikes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    spikes: Vec<i64>,
}

/// The aggregate of the session window: the earliest `started_at` seen (the snapshots themselves are
/// kept apart, see the module doc).
#[derive(Debug, Clone, Copy, Default)]
struct StartedAt;

impl Aggregate for StartedAt {
    type Input = Snapshot;
    type Acc = Option<i64>;
    type Output = Option<i64>;

    fn init(&self) -> Option<i64> {
        None
    }

    fn add(&self, acc: &mut Option<i64>, s: &Snapshot) {
        self.merge(acc, &s.started_at);
    }

    fn merge(&self, into: &mut Option<i64>, other: &Option<i64>) {
        if let Some(at) = *other {
            *into = Some(into.map_or(at, |a| a.min(at)));
        }
    }

    fn finish(&self, acc: &Option<i64>) -> Option<i64> {
        *acc
    }
}

/// One snapshot as stored: everything but its session key and time, which are its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredPoint {
    viewers: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    followers: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    game: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_at: Option<i64>,
}

/// Entries keyed by a name and a time (a channel's chat minute, a session's snapshot): the name, a
/// zero byte and the time big-endian.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TimedKey(String, i64);

impl TableKey for TimedKey {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.1.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let split = bytes
            .len()
            .checked_sub(9)
            .filter(|&i| bytes[i] == 0)
            .ok_or("bad timed key")?;
        let name = std::str::from_utf8(&bytes[..split]).map_err(|_| "key is not UTF-8")?;
        let at = i64::from_be_bytes(bytes[split + 1..].try_into().expect("8 bytes"));
        Ok(TimedKey(name.to_owned(), at))
    }
}

/// The times a [`KeyedTable`] over [`TimedKey`]s holds per name, in order; rebuilt from the table
/// on first use after a restore.
#[derive(Debug, Default)]
struct TimeIndex(Option<BTreeMap<String, BTreeSet<i64>>>);

impl TimeIndex {
    fn get<V>(&mut self, table: &KeyedTable<TimedKey, V>) -> &mut BTreeMap<String, BTreeSet<i64>> {
        self.0.get_or_insert_with(|| {
            let mut index: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
            for TimedKey(name, at) in table.iter().map(|(k, _)| k) {
                index.entry(name.clone()).or_default().insert(*at);
            }
            index
        })
    }

    /// The times of `name` in `range`, read-only (scanning the table when not yet indexed).
    fn times<V>(
        &self,
        table: &KeyedTable<TimedKey, V>,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Vec<i64> {
        match &self.0 {
            Some(index) => index
                .get(name)
                .map(|t| t.range(range).copied().collect())
                .unwrap_or_default(),
            None => {
                let mut times: Vec<i64> = table
                    .iter()
                    .map(|(k, _)| k)
                    .filter(|k| k.0 == name && range.contains(&k.1))
                    .map(|k| k.1)
                    .collect();
                times.sort_unstable();
                times
            }
        }
    }
}

/// The session key of a snapshot: `channel started_at`, or `channel -`.
fn session_key(s: &Snapshot) -> String {
    match s.started_at {
        Some(at) => format!("{} {at}", s.channel),
        None => format!("{} -", s.channel),
    }
}

/// The channel of a session key.
fn channel_of(key: &str) -> &str {
    key.split_once(' ').map_or(key, |(channel, _)| channel)
}

/// One session as a record of the sink, keyed by channel.
#[derive(Debug, Serialize)]
struct SessionRecord<'a> {
    channel: &'a str,
    #[serde(flatten)]
    summary: &'a SessionSummary,
    /// Chat messages over `[start, end]`; null without chat (no chat source, or no line read).
    messages: Option<u64>,
    /// Unique chatters over the span.
    chatters: Option<u64>,
    /// `chatters / avg_viewers × 100`; null without chat or viewers.
    chatters_per_100_viewers: Option<f64>,
    /// Chat spikes whose onset falls in the span.
    spikes: Option<u64>,
    /// Subscriptions and resubscriptions.
    subs: Option<u64>,
    /// Gifted subscriptions.
    gifts: Option<u64>,
    /// Why it ended; null for an update.
    ended_by: Option<EndedBy>,
    #[serde(rename = "final")]
    is_final: bool,
}

/// The `stream_sessions` processor of one task.
pub struct StreamSessions {
    name: String,
    sink: usize,
    emit: EmitMode,
    window: SessionWindow,
    chat_wait_ms: i64,
    /// Whether it has read a chat line: until then (no chat source, an empty one, or an offline
    /// run given only snapshots), the chat fields are null.
    chat_seen: ValueTable<bool>,
    /// Each session's span and `started_at`.
    sessions: SessionTable<StartedAt>,
    /// The snapshots of open sessions, by session key and time.
    points: KeyedTable<TimedKey, StoredPoint>,
    points_index: TimeIndex,
    /// Closed sessions waiting for their chat, with their snapshots.
    finishing: KeyedTable<String, Finishing>,
    /// Chat by channel and minute.
    chat: KeyedTable<TimedKey, ChatMinute>,
    chat_index: TimeIndex,
    gifts: GiftState,
    tracker: SpikeTracker,
    results: Vec<WindowResult<Option<i64>>>,
    /// The minute of event time chat was last pruned in.
    pruned_minute: i64,
}

impl StreamSessions {
    /// A processor named `name` writing to sink `sink`, over `window`.
    pub fn new(
        name: &str,
        sink: usize,
        window: SessionWindow,
        emit: EmitMode,
        config: &StreamSessionsConfig,
    ) -> Self {
        StreamSessions {
            name: name.to_owned(),
            sink,
            emit,
            window,
            chat_wait_ms: config.chat_wait.ms(),
            chat_seen: ValueTable::new(TableName::SESSION_CHAT_SEEN, false),
            sessions: SessionTable::new(
                TableName::SESSIONS,
                SessionWindows::new(StartedAt, window.gap_ms, window.grace_ms),
            ),
            points: KeyedTable::new(TableName::SESSION_POINTS),
            points_index: TimeIndex::default(),
            finishing: KeyedTable::new(TableName::SESSIONS_FINISHING),
            chat: KeyedTable::new(TableName::SESSION_CHAT),
            chat_index: TimeIndex::default(),
            gifts: GiftState::default(),
            tracker: SpikeTracker::timing_only(config.spike.config(), window.grace_ms),
            results: Vec::new(),
            pruned_minute: i64::MIN,
        }
    }

    /// The chat bucket of `channel` holding `ts_ms`.
    fn bucket(&mut self, channel: &str, ts_ms: i64) -> &mut ChatMinute {
        let minute = ts_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        self.chat_index
            .get(&self.chat)
            .entry(channel.to_owned())
            .or_default()
            .insert(minute);
        self.chat
            .get_or_insert_with(&TimedKey(channel.to_owned(), minute), ChatMinute::default)
    }

    /// Keeps snapshot `s` of session key `key`.
    fn keep_point(&mut self, key: &str, s: &Snapshot) {
        self.points_index
            .get(&self.points)
            .entry(key.to_owned())
            .or_default()
            .insert(s.ts_ms);
        self.points.insert(
            TimedKey(key.to_owned(), s.ts_ms),
            StoredPoint {
                viewers: s.viewers,
                followers: s.followers,
                game: s.game.clone(),
                title: s.title.clone(),
                started_at: s.started_at,
            },
        );
    }

    /// The snapshots of session key `key` over `[start, end]`, assembled.
    fn assemble(&self, key: &str, start: i64, end: i64) -> SessionAcc {
        let mut acc = SessionAcc::default();
        let channel = channel_of(key);
        for ts in self.points_index.times(&self.points, key, start..=end) {
            if let Some(p) = self.points.get(&TimedKey(key.to_owned(), ts)) {
                acc.add(&Snapshot {
                    channel: channel.to_owned(),
                    live: true,
                    viewers: p.viewers,
                    followers: p.followers,
                    game: p.game.clone(),
                    title: p.title.clone(),
                    started_at: p.started_at,
                    ts_ms: ts,
                    stream_end: false,
                });
            }
        }
        acc
    }

    /// Forgets the snapshots of session key `key` over `[start, end]` (its session closed).
    fn drop_points(&mut self, key: &str, start: i64, end: i64) {
        let index = self.points_index.get(&self.points);
        let Some(times) = index.get_mut(key) else {
            return;
        };
        let gone: Vec<i64> = times.range(start..=end).copied().collect();
        for ts in &gone {
            times.remove(ts);
        }
        if times.is_empty() {
            index.remove(key);
        }
        for ts in gone {
            self.points.remove(&TimedKey(key.to_owned(), ts));
        }
    }

    /// The chat of `channel` over `[start, end]`, or `None` when the processor has read no chat.
    fn tally(&self, channel: &str, start: i64, end: i64) -> Option<ChatTally> {
        if !*self.chat_seen.get() {
            return None;
        }
        let first = start.div_euclid(MINUTE_MS) * MINUTE_MS;
        let within = |ts: i64| (start..=end).contains(&ts);
        let mut t = ChatTally::default();
        for minute in self.chat_index.times(&self.chat, channel, first..=end) {
            let Some(c) = self.chat.get(&TimedKey(channel.to_owned(), minute)) else {
                continue;
            };
            for (ts, login) in &c.messages {
                if within(*ts) {
                    t.messages += 1;
                    if !t.chatters.contains(login) {
                        t.chatters.insert(login.clone());
                    }
                }
            }
            t.subs += c.subs.iter().filter(|ts| within(**ts)).count() as u64;
            t.gifts += c
                .gifts
                .iter()
                .filter(|(ts, _)| within(*ts))
                .map(|(_, n)| u64::from(*n))
                .sum::<u64>();
            t.spikes += c.spikes.iter().filter(|ts| within(**ts)).count() as u64;
        }
        Some(t)
    }

    /// The record of session `acc` of channel `channel`.
    fn output(
        &self,
        channel: &str,
        acc: &SessionAcc,
        ended_by: Option<EndedBy>,
        is_final: bool,
    ) -> Option<Output> {
        let summary = summarize(acc)?;
        let chat = self.tally(channel, summary.start, summary.end);
        let chatters = chat.as_ref().map(|c| c.chatters.len() as u64);
        let record = SessionRecord {
            channel,
            summary: &summary,
            messages: chat.as_ref().map(|c| c.messages),
            chatters,
            chatters_per_100_viewers: chatters
                .filter(|_| summary.avg_viewers > 0.0)
                .map(|n| n as f64 / summary.avg_viewers * 100.0),
            spikes: chat.as_ref().map(|c| c.spikes),
            subs: chat.as_ref().map(|c| c.subs),
            gifts: chat.as_ref().map(|c| c.gifts),
            ended_by,
            is_final,
        };
        Some(Output {
            sink: self.sink,
            key: channel.to_owned(),
            value: serde_json::to_value(&record).expect("session records serialize"),
            ts_ms: summary.end,
        })
    }

    /// Moves the sessions `results` holds (closed for `ended_by`) to those finishing, with their
    /// snapshots.
    fn finish_closed(&mut self, ended_by: EndedBy, out: &mut Emitter) {
        for r in std::mem::take(&mut self.results) {
            out.windows_closed += 1;
            let (start, end) = (r.window.start_ms, r.window.end_ms);
            let acc = self.assemble(&r.key, start, end);
            self.drop_points(&r.key, start, end);
            let id = format!("{} {start}", r.key);
            self.finishing.insert(
                id,
                Finishing {
                    key: r.key,
                    acc,
                    ended_by,
                },
            );
        }
    }

    /// Emits, in time order, every finishing session whose chat is complete at `watermark_ms`: its
    /// end + `chat_wait` has passed (at once for a session that closed by its gap).
    fn emit_finished(&mut self, watermark_ms: i64, out: &mut Emitter) {
        let wait = self.chat_wait_ms;
        let mut due: Vec<(i64, String)> = self
            .finishing
            .iter()
            .filter_map(|(id, f)| {
                let end = f.acc.end_ms()?;
                (watermark_ms == i64::MAX || end.saturating_add(wait) < watermark_ms)
                    .then(|| (end, id.clone()))
            })
            .collect();
        due.sort();
        for (_, id) in due {
            let f = self.finishing.remove(&id).expect("listed above");
            let channel = channel_of(&f.key).to_owned();
            if let Some(o) = self.output(&channel, &f.acc, Some(f.ended_by), true) {
                out.outputs.push(o);
            }
        }
    }

    /// Forgets chat no session can still cover: older than `gap + grace + chat_wait` behind the
    /// watermark and before every open or finishing session of its channel. Once per minute of
    /// event time.
    fn prune_chat(&mut self, watermark_ms: i64) {
        let minute = watermark_ms.div_euclid(MINUTE_MS);
        if minute == self.pruned_minute || watermark_ms == i64::MAX {
            return;
        }
        self.pruned_minute = minute;
        let horizon = watermark_ms
            .saturating_sub(self.window.gap_ms)
            .saturating_sub(self.window.grace_ms)
            .saturating_sub(self.chat_wait_ms);
        // The earliest start of an open or finishing session per channel.
        let mut held: BTreeMap<String, i64> = BTreeMap::new();
        let mut hold = |channel: &str, start: i64| {
            let at = held.entry(channel.to_owned()).or_insert(start);
            *at = (*at).min(start);
        };
        self.sessions
            .update_prefix("", |key, start, _, started_at| {
                hold(channel_of(key), started_at.map_or(start, |s| s.min(start)));
                false
            });
        for f in self.finishing.iter().map(|(_, f)| f) {
            if let Some(start) = f.acc.start_ms() {
                hold(channel_of(&f.key), start);
            }
        }
        let mut dropped = Vec::new();
        let index = self.chat_index.get(&self.chat);
        for (channel, minutes) in index.iter_mut() {
            let keep_from = held.get(channel).map_or(horizon, |&s| s.min(horizon));
            // A minute is dropped once it ended before `keep_from`.
            while let Some(&m) = minutes.first() {
                if m + MINUTE_MS > keep_from {
                    break;
                }
                minutes.pop_first();
                dropped.push(TimedKey(channel.clone(), m));
            }
        }
        index.retain(|_, m| !m.is_empty());
        for k in dropped {
            self.chat.remove(&k);
        }
    }

    fn late(&self, partition: i32, offset: i64, ts_ms: i64) -> Late {
        Late {
            processor: self.name.clone(),
            partition,
            offset,
            ts_ms,
            watermark_ms: self.sessions.watermark(),
        }
    }
}

impl Processor for StreamSessions {
    /// A chat line of a cogrouped source: kept in its channel's minute until the sessions that may
    /// cover it are final.
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        let event = input.event;
        if event.is_shared_copy() {
            return;
        }
        if input.ts_ms
            < self
                .sessions
                .watermark()
                .saturating_sub(self.window.grace_ms)
        {
            return out
                .late
                .push(self.late(input.partition, input.offset, input.ts_ms));
        }
        if !*self.chat_seen.get() {
            *self.chat_seen.get_mut() = true;
        }
        let tally = self.gifts.count(event);
        if let Some(c) = input.contribution(tally) {
            // Late chat was refused above; the tracker's own lateness matches it.
            let _ = self.tracker.add(event.channel, input.ts_ms, &c);
        }
        let ts = input.ts_ms;
        match &event.kind {
            EventKind::Message(m) => {
                let login = m.user.login.to_owned();
                self.bucket(event.channel, ts).messages.push((ts, login));
            }
            EventKind::UserNotice(_) => {
                let Some(s) = SubscriptionEvent::from_event(event, tally) else {
                    return;
                };
                if matches!(s.kind, SubKind::Sub | SubKind::Resub) {
                    self.bucket(event.channel, ts).subs.push(ts);
                }
                if s.counted_gifts > 0 {
                    self.bucket(event.channel, ts)
                        .gifts
                        .push((ts, s.counted_gifts));
                }
            }
            _ => {}
        }
    }

    /// A snapshot: a live one joins its channel's session (or starts one), a `stream_end` closes the
    /// channel's sessions, others (offline polls) change nothing.
    fn process_row(&mut self, input: &RowInput<'_>, out: &mut Emitter) {
        let snapshot = match Snapshot::read(input.key, input.ts_ms, input.row) {
            Ok(s) => s,
            Err(reason) => {
                return out.invalid.push(Invalid {
                    processor: self.name.clone(),
                    reason: format!("not a stream snapshot: {reason}"),
                })
            }
        };
        if snapshot.stream_end {
            let mut prefix = snapshot.channel.clone();
            prefix.push(' ');
            self.sessions.close_prefix(&prefix, &mut self.results);
            return self.finish_closed(EndedBy::StreamEnd, out);
        }
        if !snapshot.live {
            return;
        }
        let key = session_key(&snapshot);
        match self.sessions.add(&key, input.ts_ms, &snapshot) {
            Admission::Late => out
                .late
                .push(self.late(input.partition, input.offset, input.ts_ms)),
            Admission::Accepted => self.keep_point(&key, &snapshot),
        }
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter) {
        for e in self.tracker.advance(watermark_ms) {
            if let SpikeEvent::Onset(o) = e {
                self.bucket(&o.channel, o.onset_ms).spikes.push(o.onset_ms);
            }
        }
        self.sessions.advance(watermark_ms, &mut self.results);
        let ended_by = if watermark_ms == i64::MAX {
            EndedBy::EndOfInput
        } else {
            EndedBy::Gap
        };
        self.finish_closed(ended_by, out);
        self.emit_finished(watermark_ms, out);
        self.prune_chat(watermark_ms);
    }

    fn on_commit(&mut self, out: &mut Emitter) {
        if self.emit != EmitMode::Update {
            return;
        }
        self.sessions.updates(&mut self.results);
        for r in std::mem::take(&mut self.results) {
            let acc = self.assemble(&r.key, r.window.start_ms, r.window.end_ms);
            if let Some(o) = self.output(channel_of(&r.key), &acc, None, false) {
                out.outputs.push(o);
            }
        }
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.sessions.set_watermark(watermark_ms);
        self.tracker.set_watermark(watermark_ms);
    }

    fn open_entries(&self) -> usize {
        self.sessions.open_windows() + self.finishing.len() + self.chat.len() + self.points.len()
    }

    /// The current session of channel `key` (the latest open one, or one waiting for its chat):
    /// its figures so far, as its record would carry them with `final = false`.
    fn query(&self, key: &str) -> Option<Value> {
        let mut open = Vec::new();
        self.sessions.peek_prefix(&format!("{key} "), &mut open);
        let open = open
            .iter()
            .map(|r| self.assemble(&r.key, r.window.start_ms, r.window.end_ms));
        let finishing = self
            .finishing
            .iter()
            .filter(|(_, f)| channel_of(&f.key) == key)
            .map(|(_, f)| f.acc.clone());
        let latest = open.chain(finishing).max_by_key(|acc| acc.end_ms())?;
        self.output(key, &latest, None, false).map(|o| o.value)
    }

    fn reads_terms(&self) -> bool {
        false
    }

    fn reads_joined(&self) -> bool {
        false
    }
}

impl StateTables for StreamSessions {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.sessions);
        visit(&mut self.points);
        visit(&mut self.finishing);
        visit(&mut self.chat);
        visit(&mut self.chat_seen);
        self.gifts.tables(visit);
        self.tracker.tables(visit);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::OnceCell;

    use serde_json::json;

    use super::*;
    use crate::chat::ChatEvent;
    use crate::processor::state;

    const MINUTE: i64 = 60_000;
    const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z

    fn processor() -> StreamSessions {
        StreamSessions::new(
            "sessions",
            0,
            SessionWindow {
                gap_ms: 30 * MINUTE,
                grace_ms: 5_000,
            },
            EmitMode::Final,
            &StreamSessionsConfig::default(),
        )
    }

    /// A snapshot row as `chatpulse monitor` writes it.
    fn snap(channel: &str, ts: i64, viewers: i64, followers: Option<i64>) -> Value {
        json!({"channel": channel, "live": true, "viewers": viewers, "followers": followers,
               "game": "Just Chatting", "title": "hi", "ts": ts, "event": null})
    }

    fn end_row(channel: &str, ts: i64) -> Value {
        json!({"channel": channel, "live": false, "viewers": 0, "ts": ts, "event": "stream_end"})
    }

    fn privmsg(channel: &str, user: &str, ts: i64) -> String {
        format!("@room-id=1;tmi-sent-ts={ts};user-id=2 :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{channel} :hi")
    }

    fn resub(channel: &str, user: &str, ts: i64) -> String {
        format!("@msg-id=resub;msg-param-cumulative-months=3;msg-param-sub-plan=1000;login={user};room-id=1;tmi-sent-ts={ts};user-id=2 :tmi.twitch.tv USERNOTICE #{channel} :yay")
    }

    /// Feeds one row at its `ts`, then moves the watermark to the highest time so far.
    fn row(p: &mut StreamSessions, value: &Value, out: &mut Emitter) {
        only_row(p, value, out);
        let wm = p.sessions.watermark().max(value["ts"].as_i64().unwrap());
        p.on_watermark(wm, out);
    }

    /// Feeds one row at its `ts`; the watermark does not move.
    fn only_row(p: &mut StreamSessions, value: &Value, out: &mut Emitter) {
        let ts = value["ts"].as_i64().unwrap();
        let key = value["channel"].as_str().unwrap().to_owned();
        p.process_row(
            &RowInput {
                partition: 0,
                offset: 0,
                ts_ms: ts,
                key: &key,
                row: value,
            },
            out,
        );
    }

    /// Feeds one chat line; the watermark does not move.
    fn chat(p: &mut StreamSessions, line: &str, out: &mut Emitter) {
        let event = ChatEvent::parse(line).unwrap();
        let message = OnceCell::new();
        p.process(
            &Input {
                partition: 0,
                offset: 0,
                ts_ms: event.ts_ms.unwrap(),
                event: &event,
                message: &message,
                terms: false,
                joined: None,
            },
            out,
        );
    }

    fn records(out: &Emitter) -> Vec<Value> {
        out.outputs.iter().map(|o| o.value.clone()).collect()
    }

    #[test]
    fn a_stream_end_closes_the_session_after_chat_wait_with_its_chat_over_the_span() {
        let mut p = processor();
        let mut out = Emitter::default();
        // In time order, with the watermark held back (as the chat source holds it in a task).
        // Chat before the first snapshot, without started_at: outside the session.
        chat(&mut p, &privmsg("nymn", "early", T0 - 1), &mut out);
        only_row(&mut p, &snap("nymn", T0, 100, Some(1_000)), &mut out);
        chat(&mut p, &privmsg("nymn", "alice", T0 + 10_000), &mut out);
        chat(&mut p, &privmsg("nymn", "bob", T0 + 20_000), &mut out);
        only_row(&mut p, &snap("nymn", T0 + 10 * MINUTE, 300, None), &mut out);
        chat(
            &mut p,
            &privmsg("nymn", "alice", T0 + 11 * MINUTE),
            &mut out,
        );
        chat(&mut p, &resub("nymn", "carol", T0 + 12 * MINUTE), &mut out);
        only_row(
            &mut p,
            &snap("nymn", T0 + 20 * MINUTE, 200, Some(1_030)),
            &mut out,
        );
        // Chat after the last snapshot but before the end row: outside [start, end].
        chat(
            &mut p,
            &privmsg("nymn", "dave", T0 + 20 * MINUTE + 1),
            &mut out,
        );
        only_row(&mut p, &end_row("nymn", T0 + 21 * MINUTE), &mut out);
        assert_eq!(out.windows_closed, 1);
        // Chat said before the end still counts when it arrives after the end row.
        chat(&mut p, &privmsg("nymn", "erin", T0 + 19 * MINUTE), &mut out);
        // Final once the watermark passes the last snapshot + chat_wait (1 minute).
        p.on_watermark(T0 + 21 * MINUTE, &mut out);
        assert!(out.outputs.is_empty(), "final only after chat_wait");
        p.on_watermark(T0 + 21 * MINUTE + 1, &mut out);
        let got = records(&out);
        assert_eq!(got.len(), 1, "{got:?}");
        let r = &got[0];
        // Viewers: 100 for 10 min, 300 for 10 min: 4,000 viewer-minutes over 20 minutes.
        assert_eq!(
            (r["start"].as_i64(), r["end"].as_i64()),
            (Some(T0), Some(T0 + 20 * MINUTE))
        );
        assert_eq!(r["duration_s"], json!(1_200.0));
        assert_eq!(r["snapshots"], json!(3));
        assert_eq!(r["avg_viewers"], json!(200.0));
        assert_eq!(
            (r["peak_viewers"].as_i64(), r["peak_at"].as_i64()),
            (Some(300), Some(T0 + 10 * MINUTE))
        );
        assert!((r["hours_watched"].as_f64().unwrap() - 4_000.0 / 60.0).abs() < 1e-9);
        assert_eq!(r["followers_gained"], json!(30));
        assert_eq!(
            r["games"],
            json!([{"game": "Just Chatting", "minutes": 20.0}])
        );
        assert_eq!(
            (r["messages"].as_u64(), r["chatters"].as_u64()),
            (Some(4), Some(3))
        );
        assert_eq!(r["chatters_per_100_viewers"], json!(1.5));
        assert_eq!(
            (r["subs"].as_u64(), r["gifts"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(
            (&r["ended_by"], &r["final"]),
            (&json!("stream_end"), &json!(true))
        );
        assert_eq!(out.outputs[0].ts_ms, T0 + 20 * MINUTE);
        assert_eq!(out.outputs[0].key, "nymn");
    }

    #[test]
    fn gaps_and_a_new_started_at_split_sessions_and_the_end_of_input_closes_the_rest() {
        let mut p = processor();
        let mut out = Emitter::default();
        row(&mut p, &snap("nymn", T0, 10, None), &mut out);
        // 30 minutes exactly: the same session; 31 more: a new one.
        row(&mut p, &snap("nymn", T0 + 30 * MINUTE, 20, None), &mut out);
        row(&mut p, &snap("nymn", T0 + 60 * MINUTE, 25, None), &mut out);
        assert!(
            out.outputs.is_empty(),
            "the first session is open until gap + grace pass"
        );
        row(&mut p, &snap("nymn", T0 + 91 * MINUTE, 30, None), &mut out);
        let mut a = snap("nymn", T0 + 92 * MINUTE, 40, None);
        a["started_at"] = json!(T0 + 92 * MINUTE - 5_000);
        row(&mut p, &a, &mut out);
        row(&mut p, &snap("forsen", T0 + 95 * MINUTE, 7, None), &mut out);
        let got = records(&out);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0]["start"].as_i64(), got[0]["end"].as_i64()),
            (Some(T0), Some(T0 + 60 * MINUTE))
        );
        assert_eq!(got[0]["ended_by"], json!("gap"));
        // Without chat the chat fields are null.
        assert_eq!(
            (&got[0]["messages"], &got[0]["chatters"]),
            (&Value::Null, &Value::Null)
        );
        p.on_watermark(i64::MAX, &mut out);
        let got = records(&out);
        let spans: Vec<_> = got[1..]
            .iter()
            .map(|r| {
                (
                    r["channel"].as_str().unwrap().to_owned(),
                    r["start"].as_i64().unwrap(),
                    r["snapshots"].as_u64().unwrap(),
                    r["ended_by"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            spans,
            [
                (
                    "nymn".to_owned(),
                    T0 + 91 * MINUTE,
                    1,
                    "end_of_input".to_owned()
                ),
                // A new started_at is a new session within the gap, and moves its start before
                // its first snapshot.
                (
                    "nymn".to_owned(),
                    T0 + 92 * MINUTE - 5_000,
                    1,
                    "end_of_input".to_owned()
                ),
                (
                    "forsen".to_owned(),
                    T0 + 95 * MINUTE,
                    1,
                    "end_of_input".to_owned()
                ),
            ]
        );
        // A one-snapshot session: duration 0 without started_at, its viewers as the average.
        assert_eq!(
            (&got[1]["duration_s"], &got[1]["avg_viewers"]),
            (&json!(0.0), &json!(30.0))
        );
        assert_eq!(got[2]["duration_s"], json!(5.0));
    }

    #[test]
    fn an_unreadable_row_is_refused_with_the_reason_and_offline_polls_change_nothing() {
        let mut p = processor();
        let mut out = Emitter::default();
        row(
            &mut p,
            &json!({"channel": "nymn", "ts": T0, "viewers": "many"}),
            &mut out,
        );
        assert_eq!(out.invalid.len(), 1);
        assert!(
            out.invalid[0].reason.contains("viewers"),
            "{:?}",
            out.invalid
        );
        row(
            &mut p,
            &json!({"channel": "nymn", "ts": T0, "live": false, "viewers": 0}),
            &mut out,
        );
        assert_eq!(p.open_entries(), 0);
        // Late: behind the watermark by more than the grace.
        row(&mut p, &snap("nymn", T0 + MINUTE, 5, None), &mut out);
        row(&mut p, &snap("nymn", T0, 5, None), &mut out);
        assert_eq!(out.late.len(), 1);
    }

    #[test]
    fn a_restore_mid_stream_gives_the_same_records_and_old_chat_is_forgotten() {
        let feed = |p: &mut StreamSessions, out: &mut Emitter, from: usize, to: usize| {
            for i in from..to {
                let ts = T0 + i as i64 * MINUTE;
                chat(
                    p,
                    &privmsg("nymn", &format!("u{}", i % 7), ts - 30_000),
                    out,
                );
                row(p, &snap("nymn", ts, 100 + i as i64, Some(i as i64)), out);
            }
        };
        let mut p = processor();
        let mut out = Emitter::default();
        feed(&mut p, &mut out, 0, 20);
        let mut restored = processor();
        for (k, v) in state::take_writes(&mut p) {
            state::restore(&mut restored, &k, v.as_deref().unwrap()).unwrap();
        }
        restored.set_watermark(p.sessions.watermark());
        assert_eq!(restored.query("nymn"), p.query("nymn"));
        assert_eq!(p.query("nymn").unwrap()["messages"], json!(19));
        let mut again = Emitter::default();
        feed(&mut p, &mut out, 20, 40);
        feed(&mut restored, &mut again, 20, 40);
        row(&mut p, &end_row("nymn", T0 + 40 * MINUTE), &mut out);
        row(
            &mut restored,
            &end_row("nymn", T0 + 40 * MINUTE),
            &mut again,
        );
        p.on_watermark(T0 + 200 * MINUTE, &mut out);
        restored.on_watermark(T0 + 200 * MINUTE, &mut again);
        assert_eq!(records(&out), records(&again));
        assert_eq!(records(&out)[0]["messages"], json!(39));
        assert_eq!(records(&out)[0]["chatters"], json!(7));
        // Far past the session, its chat and everything else is forgotten.
        assert_eq!(p.open_entries(), 0, "{:?}", p.chat.len());
    }
}
