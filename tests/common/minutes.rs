//! Per-minute results as `(channel, window start) -> (messages, unique chatters)`: counted by brute
//! force from raw lines, and read from a sink's records keeping each window's latest revision, so
//! tests compare the engine with a count that shares nothing with it.

use std::collections::{BTreeMap, BTreeSet};

use chatpulse::chat::{ChatEvent, EventKind};
use serde_json::Value;

/// `(channel, window start)` to `(messages, unique chatters)`.
pub type Minutes = BTreeMap<(String, i64), (u64, u64)>;

/// The last result of each window: a corrected final (the next `revision`) replaces the earlier
/// ones, as a consumer that upserts by key keeps it. Revisions of one window count up from 0 in the
/// order they were produced; a duplicate of a revision (a replay) must re-state its value.
pub fn latest_minutes<'a>(values: impl IntoIterator<Item = &'a Value>) -> Minutes {
    let mut m: BTreeMap<(String, i64), (u64, (u64, u64))> = BTreeMap::new();
    for v in values {
        let key = (
            v["channel"].as_str().unwrap().to_owned(),
            v["window_start"].as_i64().unwrap(),
        );
        let revision = v["revision"].as_u64().unwrap_or(0);
        let val = (
            v["messages"].as_u64().unwrap(),
            v["unique_chatters"].as_u64().unwrap(),
        );
        match m.get(&key) {
            Some((r, prev)) if *r == revision => {
                assert_eq!(*prev, val, "{key:?}: a duplicate of revision {r} differs")
            }
            Some((r, _)) => assert_eq!(revision, r + 1, "{key:?}: revisions count up"),
            None => assert_eq!(revision, 0, "{key:?}: the first final is revision 0"),
        }
        m.insert(key, (revision, val));
    }
    m.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

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
