//! Per-minute results as `(channel, window start) -> (messages, unique chatters)`, counted by brute
//! force from raw lines, so tests compare the engine with a count that shares nothing with it.

use std::collections::{BTreeMap, BTreeSet};

use chatpulse::chat::{ChatEvent, EventKind};

/// `(channel, window start)` to `(messages, unique chatters)`.
pub type Minutes = BTreeMap<(String, i64), (u64, u64)>;

/// Messages and distinct chatters per (channel, minute) of the chat messages among `lines`, counted
/// by brute force (Shared Chat copies count in their source channel only, as `chat_count` does).
pub fn brute_force_minutes(lines: &[String]) -> Minutes {
    let mut m: BTreeMap<(String, i64), (u64, BTreeSet<String>)> = BTreeMap::new();
    for line in lines {
        let Ok(e) = ChatEvent::parse(line) else {
            continue;
        };
        if let EventKind::Message(msg) = &e.kind {
            if e.is_shared_copy() {
                continue;
            }
            let start = e.ts_ms.unwrap().div_euclid(60_000) * 60_000;
            let slot = m.entry((e.channel.to_owned(), start)).or_default();
            slot.0 += 1;
            slot.1.insert(msg.user.login.to_owned());
        }
    }
    m.into_iter()
        .map(|(k, (n, users))| (k, (n, users.len() as u64)))
        .collect()
}
