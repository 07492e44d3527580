//! [`SessionTable`]: session windows as a state table. Each open session is one entry under the
//! table's prefix and [`window_key`](super::window::window_key) of its key and start; the value is
//! its end and accumulator as JSON (`{"end_ms":..,"acc":..}`). A session merged into another or
//! closed is deleted.

use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

use super::name::TableName;
use super::table::{StateWrite, Table};
use super::window::{parse_window_key, push_window_key};
use crate::window::session::SessionWindows;
use crate::window::Aggregate;

/// The stored value of one session.
#[derive(Serialize, Deserialize)]
struct Stored<Acc> {
    /// Time of its last record.
    end_ms: i64,
    /// Its accumulator.
    acc: Acc,
}

/// The sessions of one [`SessionWindows`] over `A`, kept as a state table. Derefs to the sessions.
#[derive(Debug)]
pub struct SessionTable<A: Aggregate> {
    name: TableName,
    sessions: SessionWindows<A>,
}

impl<A: Aggregate> SessionTable<A> {
    /// The table named `name` over `sessions`.
    pub fn new(name: TableName, sessions: SessionWindows<A>) -> Self {
        SessionTable { name, sessions }
    }
}

impl<A: Aggregate> Deref for SessionTable<A> {
    type Target = SessionWindows<A>;

    fn deref(&self) -> &SessionWindows<A> {
        &self.sessions
    }
}

impl<A: Aggregate> DerefMut for SessionTable<A> {
    fn deref_mut(&mut self) -> &mut SessionWindows<A> {
        &mut self.sessions
    }
}

impl<A: Aggregate> Table for SessionTable<A> {
    fn name(&self) -> TableName {
        self.name
    }

    fn take_writes(&mut self, out: &mut Vec<StateWrite>) {
        let prefix = self.name.prefix();
        for (key, start, stored) in self.sessions.take_dirty() {
            let mut k = Vec::with_capacity(prefix.len() + key.len() + 9);
            k.extend_from_slice(prefix);
            push_window_key(&mut k, &key, start);
            let value = stored.map(|(end_ms, acc)| {
                serde_json::to_vec(&Stored { end_ms, acc }).expect("accumulators serialize")
            });
            out.push((k, value));
        }
    }

    fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let (key, start) = parse_window_key(key).ok_or_else(|| "bad session key".to_owned())?;
        let stored: Stored<A::Acc> =
            serde_json::from_slice(value).map_err(|e| format!("session of {key}: {e}"))?;
        if stored.end_ms < start {
            return Err(format!(
                "session of {key}: it ends ({}) before it starts ({start})",
                stored.end_ms
            ));
        }
        self.sessions
            .restore((key, start, stored.end_ms, stored.acc));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::state::window::window_key;
    use crate::window::aggregate::CountRecords as Count;
    use crate::window::WindowResult;

    fn table() -> SessionTable<Count> {
        SessionTable::new(TableName::SESSIONS, SessionWindows::new(Count, 20, 5))
    }

    fn writes(t: &mut SessionTable<Count>) -> Vec<StateWrite> {
        let mut out = Vec::new();
        t.take_writes(&mut out);
        out
    }

    fn key(k: &str, start: i64) -> Vec<u8> {
        [TableName::SESSIONS.prefix(), &window_key(k, start)].concat()
    }

    #[test]
    fn sessions_are_written_under_the_prefix_merges_and_closes_delete_and_a_restore_resumes() {
        let mut t = table();
        t.add("nymn alice", 100, &());
        t.add("nymn alice", 130, &());
        assert_eq!(
            writes(&mut t),
            [
                (
                    key("nymn alice", 100),
                    Some(br#"{"end_ms":100,"acc":1}"#.to_vec())
                ),
                (
                    key("nymn alice", 130),
                    Some(br#"{"end_ms":130,"acc":1}"#.to_vec())
                ),
            ]
        );
        assert!(writes(&mut t).is_empty(), "the marks are cleared");
        // 115 bridges both: the later entry is deleted, the earlier one holds all three records.
        t.add("nymn alice", 115, &());
        let mut w = writes(&mut t);
        w.sort();
        assert_eq!(
            w,
            [
                (
                    key("nymn alice", 100),
                    Some(br#"{"end_ms":130,"acc":3}"#.to_vec())
                ),
                (key("nymn alice", 130), None),
            ]
        );

        let mut restored = table();
        restored
            .restore(&window_key("nymn alice", 100), br#"{"end_ms":130,"acc":3}"#)
            .unwrap();
        assert!(
            writes(&mut restored).is_empty(),
            "restored sessions are clean"
        );
        restored.set_watermark(130);
        for t in [&mut t, &mut restored] {
            t.add("nymn alice", 140, &());
            let mut out: Vec<WindowResult<u64>> = Vec::new();
            t.advance(140 + 20 + 5 + 1, &mut out);
            assert_eq!(
                (out[0].window.start_ms, out[0].window.end_ms, out[0].value),
                (100, 140, 4)
            );
            assert_eq!(writes(t), [(key("nymn alice", 100), None)]);
        }
    }

    #[test]
    fn unreadable_entries_are_errors() {
        let mut t = table();
        assert!(t.restore(b"short", br#"{"end_ms":1,"acc":1}"#).is_err());
        let k = window_key("nymn alice", 100);
        assert!(t.restore(&k, b"{}").is_err());
        let e = t.restore(&k, br#"{"end_ms":99,"acc":1}"#).unwrap_err();
        assert!(e.contains("ends (99) before it starts (100)"), "{e}");
        assert_eq!(t.open_windows(), 0);
    }
}
