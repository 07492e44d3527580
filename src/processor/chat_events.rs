//! `chat_events`: the silver layer (`twitch.chat.events`). Every raw line becomes one typed record
//! with a `kind` and the fields of each kind (absent ones null), duplicates of a Twitch message id
//! are dropped within a bounded memory of recent ids, and Shared Chat copies name their source room.

use serde_json::{Map, Value};

use super::kind::{BuildContext, KindConfig, WindowRule};
use super::options::options;
use super::state::{StateTables, Table};
use super::subscriptions::plan_name;
use super::{Emitter, Input, Output, Processor};
use crate::chat::dedup::DuplicateFilter;
use crate::chat::event::{ClearChat, EventKind, NoticeKind};
use crate::chat::ChatEvent;

/// How many recent message ids each task remembers to drop duplicate deliveries.
pub const DEFAULT_DEDUP_IDS: usize = 100_000;

options! {
    /// The options of `chat_events`.
    pub struct ChatEventsConfig {
        /// Recent message ids each task remembers to drop duplicate deliveries (a bounded memory:
        /// a duplicate arriving after this many newer messages passes).
        pub dedup_ids: usize = DEFAULT_DEDUP_IDS,
    }
}

impl KindConfig for ChatEventsConfig {
    const NAME: &'static str = "chat_events";
    const SUMMARY: &'static str =
        "every line as a typed chat event record, duplicates dropped (the silver layer)";
    const WINDOW: WindowRule = WindowRule::Forbidden;

    fn problems(&self) -> Vec<String> {
        match self.dedup_ids {
            0 => vec!["options.dedup_ids = 0: remember at least 1 id (100000 is usual)".to_owned()],
            _ => Vec::new(),
        }
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        Box::new(ChatEventsProcessor::new(ctx.sink, self.dedup_ids))
    }
}

/// The `chat_events` processor of one task.
pub struct ChatEventsProcessor {
    sink: usize,
    dedup: DuplicateFilter,
    duplicates: u64,
}

impl ChatEventsProcessor {
    /// A processor writing to sink `sink`, remembering `dedup_ids` recent ids.
    pub fn new(sink: usize, dedup_ids: usize) -> Self {
        ChatEventsProcessor {
            sink,
            dedup: DuplicateFilter::new(dedup_ids),
            duplicates: 0,
        }
    }

    /// Duplicate deliveries dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

/// The names of every field of a chat event record, in schema order.
pub const FIELDS: &[&str] = &[
    "channel",
    "id",
    "ts",
    "kind",
    "room_id",
    "source_room_id",
    "shared_copy",
    "user_login",
    "user_id",
    "display_name",
    "badges",
    "is_mod",
    "is_subscriber",
    "text",
    "is_action",
    "bits",
    "emotes",
    "first_msg",
    "returning_chatter",
    "reply_parent_id",
    "msg_id",
    "system_msg",
    "tier",
    "months",
    "recipient",
    "gift_count",
    "anonymous",
    "raid_viewers",
    "target_login",
    "duration_s",
    "target_msg_id",
];

/// One chat event as a `twitch.chat.events` record; `ts_ms` is its event time.
pub fn chat_event_record(e: &ChatEvent<'_>, ts_ms: i64) -> Value {
    let mut m = Map::with_capacity(FIELDS.len());
    for f in FIELDS {
        m.insert((*f).to_owned(), Value::Null);
    }
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("channel", e.channel.into());
    put("id", e.id.into());
    put("ts", ts_ms.into());
    put("kind", e.kind_name().into());
    put("room_id", e.room_id.into());
    put(
        "source_room_id",
        e.shared.as_ref().map(|s| s.source_room_id).into(),
    );
    put("shared_copy", e.is_shared_copy().into());
    if let Some(u) = e.user() {
        put("user_login", Some(u.login).filter(|l| !l.is_empty()).into());
        put("user_id", u.id.into());
        put("display_name", u.display_name.as_deref().into());
        put("badges", Some(u.badges.0).filter(|b| !b.is_empty()).into());
        put("is_mod", u.is_mod.into());
        put("is_subscriber", u.is_subscriber.into());
    }
    match &e.kind {
        EventKind::Message(msg) => {
            put("text", msg.text.into());
            put("is_action", msg.is_action.into());
            put("bits", msg.bits.into());
            let names: Vec<Value> = msg
                .emotes
                .names(msg.text)
                .into_iter()
                .map(|(_, name)| name.into())
                .collect();
            put("emotes", Value::Array(names));
            put("first_msg", msg.first_msg.into());
            put("returning_chatter", msg.returning_chatter.into());
            put(
                "reply_parent_id",
                msg.reply.as_ref().map(|r| r.parent_msg_id).into(),
            );
        }
        EventKind::UserNotice(n) => {
            put("msg_id", n.msg_id.into());
            put("text", n.text.into());
            put("system_msg", n.system_msg.as_deref().into());
            match &n.notice {
                NoticeKind::Sub(s) | NoticeKind::Resub(s) => {
                    put("tier", s.plan.map(plan_name).into());
                    put("months", s.cumulative_months.into());
                }
                NoticeKind::SubGift(g) => {
                    put("tier", g.plan.map(plan_name).into());
                    put("months", g.gift_months.into());
                    put("recipient", g.recipient_login.into());
                    put("gift_count", 1.into());
                    put("anonymous", g.anonymous.into());
                }
                NoticeKind::SubMysteryGift(g) => {
                    put("tier", g.plan.map(plan_name).into());
                    put("gift_count", g.count.into());
                    put("anonymous", g.anonymous.into());
                }
                NoticeKind::PrimePaidUpgrade { plan } => put("tier", plan.map(plan_name).into()),
                NoticeKind::Raid { viewers, .. } => put("raid_viewers", (*viewers).into()),
                _ => {}
            }
        }
        EventKind::ClearChat(c) => match c {
            ClearChat::Ban { login, .. } => put("target_login", (*login).into()),
            ClearChat::Timeout {
                login, duration_s, ..
            } => {
                put("target_login", (*login).into());
                put("duration_s", (*duration_s).into());
            }
            ClearChat::Clear => {}
        },
        EventKind::ClearMsg(c) => {
            put("target_login", c.login.into());
            put("target_msg_id", c.target_msg_id.into());
            put("text", c.text.into());
        }
        EventKind::Notice(n) => {
            put("msg_id", n.msg_id.into());
            put("text", n.text.into());
        }
        _ => {}
    }
    Value::Object(m)
}

/// No state: the dedup memory is rebuilt from the input.
impl StateTables for ChatEventsProcessor {
    fn tables(&mut self, _visit: &mut dyn FnMut(&mut dyn Table)) {}
}

impl Processor for ChatEventsProcessor {
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        let e = input.event;
        if matches!(e.kind, EventKind::Ping { .. } | EventKind::Reconnect) {
            return;
        }
        if let Some(id) = e.id {
            if !self.dedup.first_seen(id) {
                self.duplicates += 1;
                return;
            }
        }
        out.outputs.push(Output {
            sink: self.sink,
            key: e.channel.to_owned(),
            value: chat_event_record(e, input.ts_ms),
            ts_ms: input.ts_ms,
        });
    }

    fn on_watermark(&mut self, _watermark_ms: i64, _out: &mut Emitter) {}

    fn set_watermark(&mut self, _watermark_ms: i64) {}

    fn open_entries(&self) -> usize {
        self.dedup.len()
    }
}
