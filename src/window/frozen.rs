//! A closed window kept for late records, frozen: its keys, revisions and accumulators encoded in
//! one buffer sorted by key, a few tens of bytes per key instead of a map entry and a live
//! accumulator. A late record thaws its key's entry back into a live slot.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The entries of one closed window, encoded.
///
/// An entry is the key's length (LEB128), the key, the revision plus one (LEB128, 0 for none), the
/// accumulator's length (LEB128) and the accumulator as JSON. `index` holds each entry's offset in key order,
/// so a key is found by binary search; a thawed entry leaves the index and its bytes stay until
/// the window goes.
#[derive(Debug, Default)]
pub(super) struct FrozenWindow {
    bytes: Vec<u8>,
    index: Vec<u32>,
}

/// One decoded entry: key, revision and the accumulator's JSON.
type Entry<'a> = (&'a str, Option<u32>, &'a [u8]);

impl FrozenWindow {
    /// Freezes `live` (key, accumulator, revision) together with what `previous` still holds (the
    /// same window frozen before; no key is in both).
    pub(super) fn freeze<'a, Acc: Serialize + 'a>(
        previous: Option<&'a FrozenWindow>,
        live: impl Iterator<Item = (&'a str, &'a Acc, Option<u32>)>,
    ) -> FrozenWindow {
        /// An accumulator to write: live (encoded as it is written) or kept, encoded already.
        enum Accumulator<'a, Acc> {
            Live(&'a Acc),
            Kept(&'a [u8]),
        }
        let mut entries: Vec<(&str, Option<u32>, Accumulator<'_, Acc>)> = live
            .map(|(key, acc, revision)| (key, revision, Accumulator::Live(acc)))
            .collect();
        if let Some(previous) = previous {
            entries.extend((0..previous.index.len()).map(|i| {
                let (key, revision, json) = previous.entry(i);
                (key, revision, Accumulator::Kept(json))
            }));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut frozen = FrozenWindow {
            bytes: Vec::new(),
            index: Vec::with_capacity(entries.len()),
        };
        // One buffer for every live accumulator's JSON, whose length goes before it.
        let mut scratch = Vec::new();
        for (key, revision, value) in entries {
            let json = match value {
                Accumulator::Live(acc) => {
                    scratch.clear();
                    serde_json::to_writer(&mut scratch, acc).expect("accumulators serialize");
                    &scratch[..]
                }
                Accumulator::Kept(json) => json,
            };
            let at = u32::try_from(frozen.bytes.len())
                .expect("a frozen window holds less than 4 GiB (windows are per minute or so)");
            frozen.index.push(at);
            push_varint(&mut frozen.bytes, key.len() as u64);
            frozen.bytes.extend_from_slice(key.as_bytes());
            push_varint(&mut frozen.bytes, revision.map_or(0, |r| u64::from(r) + 1));
            push_varint(&mut frozen.bytes, json.len() as u64);
            frozen.bytes.extend_from_slice(json);
        }
        frozen.bytes.shrink_to_fit();
        frozen
    }

    /// Entries still frozen.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The keys still frozen, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        (0..self.index.len()).map(|i| self.entry(i).0)
    }

    /// Takes `key`'s accumulator and revision out (to thaw it), or `None` when it holds none.
    pub(super) fn take<Acc: DeserializeOwned>(&mut self, key: &str) -> Option<(Acc, Option<u32>)> {
        let at = self
            .index
            .binary_search_by(|&offset| self.key_at(offset as usize).0.cmp(key))
            .ok()?;
        let (_, revision, json) = self.entry(at);
        let acc = serde_json::from_slice(json)
            .expect("an accumulator reads back from the JSON it was frozen as");
        self.index.remove(at);
        Some((acc, revision))
    }

    /// The key of the entry at byte `offset`, and the offset after it.
    fn key_at(&self, offset: usize) -> (&str, usize) {
        let (len, at) = read_varint(&self.bytes, offset);
        let end = at + len as usize;
        let key =
            std::str::from_utf8(&self.bytes[at..end]).expect("frozen keys are the UTF-8 of a str");
        (key, end)
    }

    /// The `i`th entry in key order.
    fn entry(&self, i: usize) -> Entry<'_> {
        let offset = self.index[i] as usize;
        let (key, at) = self.key_at(offset);
        let (revision, at) = read_varint(&self.bytes, at);
        let (len, at) = read_varint(&self.bytes, at);
        let json = &self.bytes[at..at + len as usize];
        let revision = revision.checked_sub(1).map(|r| r as u32);
        (key, revision, json)
    }
}

/// Appends `n` as LEB128.
fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads the LEB128 number at `at`: the number and the offset after it.
fn read_varint(bytes: &[u8], mut at: usize) -> (u64, usize) {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let b = bytes[at];
        at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return (n, at);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    type Acc = (u64, BTreeSet<String>);

    fn acc(n: u64, names: &[&str]) -> Acc {
        (n, names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn every_entry_thaws_to_what_was_frozen_and_only_once() {
        // Keys of every length class, out of order, with and without revisions; checked against
        // the map they were frozen from.
        let mut want: BTreeMap<String, (Acc, Option<u32>)> = BTreeMap::new();
        for i in 0..300u64 {
            let key = "k".repeat((i % 140) as usize + 1) + &i.to_string();
            let revision = (i % 3 != 0).then_some((i * 7_919) as u32 % 1_000_000);
            want.insert(key, (acc(i, &["a", "bé"]), revision));
        }
        let mut live: Vec<_> = want.iter().collect();
        live.reverse();
        let mut frozen =
            FrozenWindow::freeze(None, live.iter().map(|(k, (a, r))| (k.as_str(), a, *r)));
        assert_eq!(frozen.len(), 300);
        let keys: Vec<&str> = frozen.keys().collect();
        let sorted: Vec<&str> = want.keys().map(String::as_str).collect();
        assert_eq!(keys, sorted);
        // Thawed in a scattered order, so later lookups cross the gaps thawed entries leave.
        for (n, key) in want.keys().enumerate().filter(|(n, _)| n % 2 == 1) {
            let got = frozen.take::<Acc>(key);
            assert_eq!(got.as_ref(), Some(&want[key]), "entry {n}");
            assert_eq!(frozen.take::<Acc>(key), None, "{key} thaws once");
        }
        assert_eq!(frozen.len(), 150);
        for key in want.keys().step_by(2) {
            assert_eq!(frozen.take::<Acc>(key).as_ref(), Some(&want[key]));
        }
        assert_eq!(frozen.len(), 0);
        assert_eq!(frozen.take::<Acc>("absent"), None);
    }

    #[test]
    fn freezing_again_merges_live_entries_with_the_rest() {
        let a = acc(1, &["x"]);
        let b = acc(2, &["y", "z"]);
        let c = acc(3, &[]);
        let mut first =
            FrozenWindow::freeze(None, [("b", &b, Some(0)), ("a", &a, None)].into_iter());
        let mut thawed: Acc = first.take("b").unwrap().0;
        thawed.0 += 10;
        let mut again = FrozenWindow::freeze(
            Some(&first),
            [("c", &c, Some(4)), ("b", &thawed, Some(1))].into_iter(),
        );
        assert_eq!(again.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(again.take::<Acc>("a"), Some((a, None)));
        assert_eq!(
            again.take::<Acc>("b"),
            Some((acc(12, &["y", "z"]), Some(1)))
        );
        assert_eq!(again.take::<Acc>("c"), Some((c, Some(4))));
    }

    #[test]
    fn varints_round_trip() {
        for n in [0, 1, 127, 128, 300, u32::MAX as u64 + 1, u64::MAX] {
            let mut v = vec![9];
            push_varint(&mut v, n);
            assert_eq!(read_varint(&v, 1), (n, v.len()));
        }
    }
}
