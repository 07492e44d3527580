//! `chat_count`: messages and exact unique chatters per channel per window — the core of engagement
//! per minute. Counts chat messages (PRIVMSG) attributed to their channel; Shared Chat copies are left
//! to their source channel.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::kind::{BuildContext, KindConfig, WindowRule};
use super::options::options;
use super::windowed::{Windowed, WindowedKind};
use super::{Input, Processor};
use crate::chat::EventKind;
use crate::window::{Aggregate, EmitMode, Window, WindowSpec};

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

options! {
    /// The options of `chat_count`: none, its window says it all.
    pub struct ChatCountConfig {}
}

impl KindConfig for ChatCountConfig {
    const NAME: &'static str = "chat_count";
    const SUMMARY: &'static str = "messages and exact unique chatters per channel per window";
    const WINDOW: WindowRule = WindowRule::Required;

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        Box::new(ChatCount::chat_count(
            ctx.name,
            ctx.sink,
            ctx.window(),
            ctx.emit,
        ))
    }
}

/// The `chat_count` kind: chat messages counted in their channel.
#[derive(Debug, Default)]
pub struct ChatCountKind;

impl WindowedKind for ChatCountKind {
    type Agg = CountChatters;

    fn extract(&mut self, input: &Input<'_>, add: &mut dyn FnMut(&str, &str)) {
        let EventKind::Message(m) = &input.event.kind else {
            return;
        };
        if !input.event.is_shared_copy() {
            add(input.event.channel, m.user.login);
        }
    }

    fn fields(
        &self,
        _key: &str,
        _window: Window,
        value: &ChatterTotals,
        out: &mut Map<String, Value>,
    ) {
        out.insert("messages".into(), Value::from(value.messages));
        out.insert("unique_chatters".into(), Value::from(value.unique_chatters));
    }
}

/// The `chat_count` processor of one task.
pub type ChatCount = Windowed<ChatCountKind>;

impl ChatCount {
    /// A `chat_count` processor named `name` writing to sink `sink`.
    pub fn chat_count(name: &str, sink: usize, window: WindowSpec, emit: EmitMode) -> Self {
        Windowed::new(name, sink, window, emit, CountChatters, ChatCountKind)
    }
}
