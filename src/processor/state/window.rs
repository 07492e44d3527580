//! [`WindowTable`]: a window operator as a state table (Arroyo's `ExpiringTimeKeyTable`). The
//! operator tracks which windows changed; the table writes each under its prefix and
//! [`window_key`], the accumulator as JSON (after `R<revision> ` for a closed window kept for late
//! records), and deletes windows closed or expired.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use super::name::TableName;
use super::table::{StateWrite, Table};
use crate::window::{Aggregate, WindowOperator, WindowState};

/// Encodes a window-state key: the channel, a zero byte, then the window start (order-preserving).
pub fn window_key(channel: &str, start_ms: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(channel.len() + 9);
    push_window_key(&mut k, channel, start_ms);
    k
}

/// Appends [`window_key`] to `k` (after a table's prefix).
pub(crate) fn push_window_key(k: &mut Vec<u8>, channel: &str, start_ms: i64) {
    k.extend_from_slice(channel.as_bytes());
    k.push(0);
    k.extend_from_slice(&((start_ms as u64) ^ (1 << 63)).to_be_bytes());
}

/// Decodes [`window_key`].
pub fn parse_window_key(key: &[u8]) -> Option<(String, i64)> {
    if key.len() < 9 || key[key.len() - 9] != 0 {
        return None;
    }
    let (channel, rest) = key.split_at(key.len() - 9);
    let start = u64::from_be_bytes(rest[1..].try_into().ok()?) ^ (1 << 63);
    Some((String::from_utf8(channel.to_vec()).ok()?, start as i64))
}

/// Marks the value of a closed window kept for late records: `R<revision> <accumulator JSON>`
/// (JSON never starts with `R`, so entries written before allowed lateness existed read the same).
const CLOSED: u8 = b'R';

/// The windows of one operator over `A`, kept as a state table. Derefs to the operator.
pub struct WindowTable<A, W: ?Sized = dyn WindowOperator<A> + Send> {
    name: TableName,
    windows: Box<W>,
    aggregate: PhantomData<fn(A)>,
}

impl<A: Aggregate, W: WindowOperator<A> + ?Sized> WindowTable<A, W> {
    /// The table named `name` over `windows`.
    pub fn new(name: TableName, windows: Box<W>) -> Self {
        WindowTable {
            name,
            windows,
            aggregate: PhantomData,
        }
    }
}

impl<A, W: ?Sized> Deref for WindowTable<A, W> {
    type Target = W;

    fn deref(&self) -> &W {
        &self.windows
    }
}

impl<A, W: ?Sized> DerefMut for WindowTable<A, W> {
    fn deref_mut(&mut self) -> &mut W {
        &mut self.windows
    }
}

impl<A: Aggregate, W: WindowOperator<A> + ?Sized> Table for WindowTable<A, W> {
    fn name(&self) -> TableName {
        self.name
    }

    fn take_writes(&mut self, out: &mut Vec<StateWrite>) {
        let prefix = self.name.prefix();
        for (key, start, stored) in self.windows.take_dirty() {
            let mut k = Vec::with_capacity(prefix.len() + key.len() + 9);
            k.extend_from_slice(prefix);
            push_window_key(&mut k, &key, start);
            let value = stored.map(|(acc, revision)| {
                let mut v = match revision {
                    Some(r) => format!("{}{r} ", CLOSED as char).into_bytes(),
                    None => Vec::new(),
                };
                serde_json::to_writer(&mut v, &acc).expect("accumulators serialize");
                v
            });
            out.push((k, value));
        }
    }

    fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let (key, start_ms) = parse_window_key(key).ok_or_else(|| "bad window key".to_owned())?;
        let (revision, json) = match value.split_first() {
            Some((&CLOSED, rest)) => {
                let space = rest.iter().position(|&b| b == b' ');
                let parsed = space.and_then(|at| {
                    let r = std::str::from_utf8(&rest[..at]).ok()?.parse::<u32>().ok()?;
                    Some((Some(r), &rest[at + 1..]))
                });
                parsed.ok_or_else(|| format!("window of {key}: bad revision"))?
            }
            _ => (None, value),
        };
        let acc = serde_json::from_slice(json).map_err(|e| format!("window of {key}: {e}"))?;
        self.windows.restore(WindowState {
            key,
            start_ms,
            acc,
            revision,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::window::tumbling::TumblingWindows;
    use crate::window::WindowResult;

    /// Messages and chatters, the shape of `chat_count`'s accumulator.
    #[derive(Debug, Clone, Copy, Default)]
    struct Chatters;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Acc {
        messages: u64,
        chatters: BTreeSet<String>,
    }

    impl Aggregate for Chatters {
        type Input = str;
        type Acc = Acc;
        type Output = Acc;
        fn init(&self) -> Acc {
            Acc::default()
        }
        fn add(&self, acc: &mut Acc, login: &str) {
            acc.messages += 1;
            acc.chatters.insert(login.to_owned());
        }
        fn merge(&self, into: &mut Acc, other: &Acc) {
            into.messages += other.messages;
            into.chatters.extend(other.chatters.iter().cloned());
        }
        fn finish(&self, acc: &Acc) -> Acc {
            acc.clone()
        }
    }

    fn table(name: TableName) -> WindowTable<Chatters> {
        let op: Box<dyn WindowOperator<Chatters> + Send> =
            Box::new(TumblingWindows::new(Chatters, 60_000, 5_000).with_allowed_lateness(600_000));
        WindowTable::new(name, op)
    }

    fn writes(t: &mut WindowTable<Chatters>) -> Vec<StateWrite> {
        let mut out = Vec::new();
        t.take_writes(&mut out);
        out
    }

    #[test]
    fn window_keys_round_trip_and_sort_by_start() {
        for (c, s) in [
            ("nymn", 0i64),
            ("a", -60_000),
            ("forsen", 1_704_557_940_000),
        ] {
            assert_eq!(parse_window_key(&window_key(c, s)), Some((c.to_owned(), s)));
        }
        assert!(window_key("x", -1) < window_key("x", 0));
        assert!(window_key("x", 0) < window_key("x", 60_000));
        assert_eq!(parse_window_key(b"short"), None);
    }

    #[test]
    fn open_and_closed_windows_round_trip_under_the_prefix_and_closing_deletes() {
        let mut t = table(TableName::SPIKE_BUCKETS);
        t.add("nymn", 1_000, "a");
        t.add("nymn", 61_000, "b");
        let mut closed: Vec<WindowResult<Acc>> = Vec::new();
        t.advance(66_000, &mut closed);
        assert_eq!(closed.len(), 1);
        let w = writes(&mut t);
        assert_eq!(w.len(), 2, "{w:?}");
        let first = [b"\x01b".as_slice(), &window_key("nymn", 0)].concat();
        assert_eq!(w[0].0, first);
        assert_eq!(
            w[0].1.as_deref(),
            Some(&br#"R0 {"messages":1,"chatters":["a"]}"#[..])
        );
        assert!(writes(&mut t).is_empty());

        let mut restored = table(TableName::SPIKE_BUCKETS);
        for (k, v) in &w {
            let rest = TableName::SPIKE_BUCKETS.strip(k).unwrap();
            restored.restore(rest, v.as_deref().unwrap()).unwrap();
        }
        assert!(
            writes(&mut restored).is_empty(),
            "restored windows are clean"
        );
        restored.set_watermark(66_000);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        t.peek("nymn", &mut a);
        restored.peek("nymn", &mut b);
        assert_eq!(a, b);

        t.advance(i64::MAX, &mut closed);
        let deletes = writes(&mut t);
        assert!(deletes.iter().all(|(_, v)| v.is_none()), "{deletes:?}");
        assert_eq!(deletes.len(), 2);
        assert!(t.restore(b"short", b"{}").is_err());
        assert!(t.restore(&window_key("nymn", 0), b"Rx {}").is_err());
    }

    #[test]
    fn entries_written_before_the_tables_restore() {
        // Written by chatpulse before state tables (a `chat_count` store): a closed window with its
        // revision, and an open one.
        let mut t = table(TableName::WINDOWS);
        t.restore(
            b"nymn\x00\x80\x00\x01\x8b\xcf\xe5\x19\xe0",
            b"R1 {\"messages\":31,\"chatters\":[\"late\",\"u0\",\"u1\",\"u2\",\"u3\"]}",
        )
        .unwrap();
        t.restore(
            b"nymn\x00\x80\x00\x01\x8b\xcf\xe6\xee\xa0",
            b"{\"messages\":25,\"chatters\":[\"u0\",\"u1\",\"u2\"]}",
        )
        .unwrap();
        let mut open = Vec::new();
        t.peek("nymn", &mut open);
        assert_eq!(open.len(), 2);
        assert_eq!(open[0].window.start_ms, 1_699_999_980_000);
        assert_eq!(open[0].value.messages, 31);
        assert_eq!(open[1].window.start_ms, 1_700_000_100_000);
        assert_eq!(open[1].value.chatters.len(), 3);
    }
}
