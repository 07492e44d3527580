//! Tumbling windows: fixed, non-overlapping `[k*size, (k+1)*size)` windows per key, closed by the
//! watermark at `end + grace` (Kafka Streams `TimeWindows.ofSizeAndGrace`, Arroyo's
//! `tumbling_aggregating_window`). Also holds the per-window bookkeeping the other operators share.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{Admission, Aggregate, Window, WindowOperator, WindowResult, WindowState};
use crate::word_hash::WordMap;

/// One accumulator of one key, with the marks that drive `updates` and `take_dirty`.
#[derive(Debug, Clone)]
pub(super) struct Slot<Acc> {
    /// The running aggregate.
    pub(super) acc: Acc,
    /// Changed since the last `updates`.
    pub(super) updated: bool,
    /// Changed since the last `take_dirty`.
    pub(super) dirty: bool,
    /// Handed out by `take_dirty` (or restored), so its removal must be reported as a delete.
    pub(super) persisted: bool,
}

impl<Acc> Slot<Acc> {
    /// A slot for a new accumulator that has just changed.
    pub(super) fn fresh(acc: Acc) -> Self {
        Slot {
            acc,
            updated: true,
            dirty: true,
            persisted: false,
        }
    }

    /// A slot read back from the store: unchanged, and known to the store.
    pub(super) fn restored(acc: Acc) -> Self {
        Slot {
            acc,
            updated: false,
            dirty: false,
            persisted: true,
        }
    }

    /// Marks a change.
    pub(super) fn touch(&mut self) {
        self.updated = true;
        self.dirty = true;
    }
}

/// The emission order of every operator: window end, then key, then window start.
pub(super) fn result_order<O>(a: &WindowResult<O>, b: &WindowResult<O>) -> Ordering {
    (a.window.end_ms, &a.key, a.window.start_ms).cmp(&(b.window.end_ms, &b.key, b.window.start_ms))
}

/// Fixed-size, non-overlapping event-time windows per key.
///
/// The window of a record at `ts` is `[floor(ts / size) * size, + size)`, so a record exactly at a
/// window's end belongs to the next window. A window closes once `end + grace <= watermark`; records
/// for a closed window are [`Admission::Late`]. Open windows sit in a `BTreeMap` keyed by window
/// start, each holding one accumulator per key, so a watermark pops closed windows from the front.
///
/// Timestamps are epoch milliseconds; window bounds saturate at the ends of the `i64` range.
pub struct TumblingWindows<A: Aggregate> {
    aggregate: A,
    size_ms: i64,
    grace_ms: i64,
    watermark: i64,
    windows: BTreeMap<i64, WordMap<String, Slot<A::Acc>>>,
    /// Persisted windows removed since the last `take_dirty`.
    removed: Vec<(String, i64)>,
}

impl<A: Aggregate> TumblingWindows<A> {
    /// Windows of `size_ms` that accept records until `grace_ms` after their end.
    ///
    /// # Panics
    ///
    /// If `size_ms` is not positive or `grace_ms` is negative ([`super::WindowSpec::validate`]
    /// reports both for configurations).
    pub fn new(aggregate: A, size_ms: i64, grace_ms: i64) -> Self {
        assert!(
            size_ms > 0,
            "tumbling window size must be positive, got {size_ms} ms"
        );
        assert!(
            grace_ms >= 0,
            "window grace must not be negative, got {grace_ms} ms"
        );
        TumblingWindows {
            aggregate,
            size_ms,
            grace_ms,
            watermark: i64::MIN,
            windows: BTreeMap::new(),
            removed: Vec::new(),
        }
    }

    /// The window a record at `ts_ms` belongs to.
    pub fn window_of(&self, ts_ms: i64) -> Window {
        let start_ms = ts_ms.saturating_sub(ts_ms.rem_euclid(self.size_ms));
        Window {
            start_ms,
            end_ms: start_ms.saturating_add(self.size_ms),
        }
    }

    /// The aggregate this operator runs.
    pub fn aggregate(&self) -> &A {
        &self.aggregate
    }
}

/// Whether the window starting at `start` has closed at `watermark` (`end + grace <= watermark`).
fn closed(start: i64, size: i64, grace: i64, watermark: i64) -> bool {
    // Exact: a sum past i64::MAX is later than any watermark (size and grace are not negative).
    match start
        .checked_add(size)
        .and_then(|end| end.checked_add(grace))
    {
        Some(close) => close <= watermark,
        None => false,
    }
}

impl<A: Aggregate> WindowOperator<A> for TumblingWindows<A> {
    fn add(&mut self, key: &str, ts_ms: i64, input: &A::Input) -> Admission {
        let start = ts_ms.saturating_sub(ts_ms.rem_euclid(self.size_ms));
        if closed(start, self.size_ms, self.grace_ms, self.watermark) {
            return Admission::Late;
        }
        if let Some(slot) = self
            .windows
            .get_mut(&start)
            .and_then(|keys| keys.get_mut(key))
        {
            self.aggregate.add(&mut slot.acc, input);
            slot.touch();
            return Admission::Accepted;
        }
        // A key's first record in this window: sized like its previous window when that is still
        // open (within grace, the usual case for a busy key).
        let previous = start
            .checked_sub(self.size_ms)
            .and_then(|p| self.windows.get(&p))
            .and_then(|keys| keys.get(key));
        let mut acc = match previous {
            Some(slot) => self.aggregate.init_after(&slot.acc),
            None => self.aggregate.init(),
        };
        self.aggregate.add(&mut acc, input);
        self.windows
            .entry(start)
            .or_default()
            .insert(key.to_owned(), Slot::fresh(acc));
        Admission::Accepted
    }

    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<WindowResult<A::Output>>) {
        if watermark_ms <= self.watermark {
            return;
        }
        let previous = self.watermark;
        self.watermark = watermark_ms;
        let (size, grace) = (self.size_ms, self.grace_ms);
        let first = out.len();
        while let Some(entry) = self.windows.first_entry() {
            let start = *entry.key();
            if !closed(start, size, grace, watermark_ms) {
                break;
            }
            let window = Window {
                start_ms: start,
                end_ms: start.saturating_add(size),
            };
            // Windows already closed at the previous watermark were emitted before a restore.
            let emit = !closed(start, size, grace, previous);
            for (key, slot) in entry.remove() {
                if slot.persisted {
                    self.removed.push((key.clone(), start));
                }
                if emit {
                    out.push(WindowResult {
                        key,
                        window,
                        value: self.aggregate.finish(&slot.acc),
                        is_final: true,
                    });
                }
            }
        }
        out[first..].sort_by(result_order);
    }

    fn updates(&mut self, out: &mut Vec<WindowResult<A::Output>>) {
        let first = out.len();
        for (&start, keys) in self.windows.iter_mut() {
            let window = Window {
                start_ms: start,
                end_ms: start.saturating_add(self.size_ms),
            };
            for (key, slot) in keys.iter_mut().filter(|(_, slot)| slot.updated) {
                slot.updated = false;
                out.push(WindowResult {
                    key: key.clone(),
                    window,
                    value: self.aggregate.finish(&slot.acc),
                    is_final: false,
                });
            }
        }
        out[first..].sort_by(result_order);
    }

    fn take_dirty(&mut self) -> Vec<(String, i64, Option<A::Acc>)> {
        let mut delta: Vec<_> = self
            .removed
            .drain(..)
            .map(|(key, start)| (key, start, None))
            .collect();
        let first = delta.len();
        for (&start, keys) in self.windows.iter_mut() {
            for (key, slot) in keys.iter_mut().filter(|(_, slot)| slot.dirty) {
                slot.dirty = false;
                slot.persisted = true;
                delta.push((key.clone(), start, Some(slot.acc.clone())));
            }
        }
        delta[first..].sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        delta
    }

    fn restore(&mut self, state: WindowState<A::Acc>) {
        self.windows
            .entry(state.start_ms)
            .or_default()
            .insert(state.key, Slot::restored(state.acc));
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.watermark = watermark_ms;
    }

    fn watermark(&self) -> i64 {
        self.watermark
    }

    fn open_windows(&self) -> usize {
        self.windows.values().map(WordMap::len).sum()
    }

    fn peek(&self, key: &str, out: &mut Vec<WindowResult<A::Output>>) {
        for (&start, keys) in &self.windows {
            if let Some(slot) = keys.get(key) {
                out.push(WindowResult {
                    key: key.to_owned(),
                    window: Window {
                        start_ms: start,
                        end_ms: start.saturating_add(self.size_ms),
                    },
                    value: self.aggregate.finish(&slot.acc),
                    is_final: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects the record values of a window, sorted.
    struct Collect;

    impl Aggregate for Collect {
        type Input = i64;
        type Acc = Vec<i64>;
        type Output = Vec<i64>;

        fn init(&self) -> Vec<i64> {
            Vec::new()
        }
        fn add(&self, acc: &mut Vec<i64>, input: &i64) {
            acc.push(*input);
        }
        fn merge(&self, into: &mut Vec<i64>, other: &Vec<i64>) {
            into.extend_from_slice(other);
        }
        fn finish(&self, acc: &Vec<i64>) -> Vec<i64> {
            let mut v = acc.clone();
            v.sort_unstable();
            v
        }
    }

    fn result(
        key: &str,
        start: i64,
        end: i64,
        value: &[i64],
        is_final: bool,
    ) -> WindowResult<Vec<i64>> {
        WindowResult {
            key: key.to_owned(),
            window: Window {
                start_ms: start,
                end_ms: end,
            },
            value: value.to_vec(),
            is_final,
        }
    }

    /// Adds a record whose value is its timestamp, then advances the watermark to it.
    fn push(
        op: &mut TumblingWindows<Collect>,
        key: &str,
        ts: i64,
        out: &mut Vec<WindowResult<Vec<i64>>>,
    ) -> Admission {
        let admission = op.add(key, ts, &ts);
        op.advance(ts, out);
        admission
    }

    #[test]
    fn record_at_window_end_belongs_to_next_window() {
        let op = TumblingWindows::new(Collect, 10, 0);
        assert_eq!(
            op.window_of(9),
            Window {
                start_ms: 0,
                end_ms: 10
            }
        );
        assert_eq!(
            op.window_of(10),
            Window {
                start_ms: 10,
                end_ms: 20
            }
        );
        assert_eq!(
            op.window_of(-1),
            Window {
                start_ms: -10,
                end_ms: 0
            }
        );
        assert_eq!(
            op.window_of(-10),
            Window {
                start_ms: -10,
                end_ms: 0
            }
        );
        assert_eq!(
            op.window_of(-11),
            Window {
                start_ms: -20,
                end_ms: -10
            }
        );
    }

    #[test]
    fn closes_exactly_at_end_plus_grace() {
        let mut op = TumblingWindows::new(Collect, 10, 5);
        let mut out = Vec::new();
        assert_eq!(push(&mut op, "a", 3, &mut out), Admission::Accepted);
        assert_eq!(push(&mut op, "a", 10, &mut out), Admission::Accepted);
        // Out of order but within grace: 14 + ... window [0,10) closes at 15.
        assert_eq!(push(&mut op, "a", 14, &mut out), Admission::Accepted);
        assert_eq!(push(&mut op, "a", 9, &mut out), Admission::Accepted);
        assert!(out.is_empty());
        assert_eq!(op.open_windows(), 2);
        op.advance(15, &mut out);
        assert_eq!(out, vec![result("a", 0, 10, &[3, 9], true)]);
        // Window [0,10) is closed: a record for it is late and not counted anywhere.
        assert_eq!(op.add("a", 9, &9), Admission::Late);
        assert_eq!(op.add("a", 0, &0), Admission::Late);
        assert_eq!(op.open_windows(), 1);
        out.clear();
        op.advance(24, &mut out);
        assert!(out.is_empty());
        op.advance(25, &mut out);
        assert_eq!(out, vec![result("a", 10, 20, &[10, 14], true)]);
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn negative_timestamps() {
        let mut op = TumblingWindows::new(Collect, 10, 0);
        let mut out = Vec::new();
        push(&mut op, "a", -15, &mut out);
        push(&mut op, "a", -11, &mut out);
        assert!(out.is_empty());
        push(&mut op, "a", -10, &mut out);
        assert_eq!(out, vec![result("a", -20, -10, &[-15, -11], true)]);
        out.clear();
        push(&mut op, "a", 0, &mut out);
        assert_eq!(out, vec![result("a", -10, 0, &[-10], true)]);
        assert_eq!(op.add("a", -1, &-1), Admission::Late);
    }

    #[test]
    fn quiet_key_closes_with_the_watermark_and_output_is_sorted() {
        let mut op = TumblingWindows::new(Collect, 10, 0);
        let mut out = Vec::new();
        push(&mut op, "b", 1, &mut out);
        push(&mut op, "a", 2, &mut out);
        push(&mut op, "b", 12, &mut out);
        push(&mut op, "a", 13, &mut out);
        assert_eq!(out.len(), 2);
        out.clear();
        // Only "b" goes on; "a"'s window [10,20) still closes, and a jump closes several windows.
        push(&mut op, "b", 45, &mut out);
        assert_eq!(
            out,
            vec![
                result("a", 10, 20, &[13], true),
                result("b", 10, 20, &[12], true),
            ]
        );
        out.clear();
        op.advance(i64::MAX, &mut out);
        assert_eq!(out, vec![result("b", 40, 50, &[45], true)]);
        // Backwards moves are ignored.
        op.advance(0, &mut out);
        assert_eq!(op.watermark(), i64::MAX);
    }

    #[test]
    fn peek_shows_open_windows_of_one_key_and_changes_nothing() {
        let mut op = TumblingWindows::new(Collect, 10, 5);
        let mut out = Vec::new();
        op.add("a", 2, &2);
        op.add("b", 3, &3);
        op.add("a", 12, &12);
        op.peek("a", &mut out);
        assert_eq!(
            out,
            vec![
                result("a", 0, 10, &[2], false),
                result("a", 10, 20, &[12], false)
            ]
        );
        out.clear();
        op.advance(15, &mut out);
        out.clear();
        op.peek("a", &mut out);
        assert_eq!(out, vec![result("a", 10, 20, &[12], false)]);
        out.clear();
        op.peek("nobody", &mut out);
        assert!(out.is_empty());
        op.updates(&mut out);
        assert_eq!(
            out,
            vec![result("a", 10, 20, &[12], false)],
            "peek left the marks alone"
        );
    }

    #[test]
    fn updates_report_changed_windows_once() {
        let mut op = TumblingWindows::new(Collect, 10, 5);
        let mut out = Vec::new();
        op.add("b", 1, &1);
        op.add("a", 2, &2);
        op.add("a", 12, &12);
        op.updates(&mut out);
        assert_eq!(
            out,
            vec![
                result("a", 0, 10, &[2], false),
                result("b", 0, 10, &[1], false),
                result("a", 10, 20, &[12], false),
            ]
        );
        out.clear();
        op.updates(&mut out);
        assert!(out.is_empty());
        op.add("b", 3, &3);
        op.updates(&mut out);
        assert_eq!(out, vec![result("b", 0, 10, &[1, 3], false)]);
    }

    #[test]
    fn dirty_delta_and_restore() {
        let mut op = TumblingWindows::new(Collect, 10, 0);
        let mut out = Vec::new();
        op.add("a", 1, &1);
        op.add("b", 11, &11);
        assert_eq!(
            op.take_dirty(),
            vec![
                ("a".to_owned(), 0, Some(vec![1])),
                ("b".to_owned(), 10, Some(vec![11]))
            ]
        );
        assert!(op.take_dirty().is_empty());
        op.add("b", 12, &12);
        // A window created and closed between two deltas is never reported.
        op.add("c", 5, &5);
        op.advance(10, &mut out);
        assert_eq!(
            op.take_dirty(),
            vec![
                ("a".to_owned(), 0, None),
                ("b".to_owned(), 10, Some(vec![11, 12]))
            ]
        );

        let mut restored = TumblingWindows::new(Collect, 10, 0);
        restored.restore(WindowState {
            key: "b".to_owned(),
            start_ms: 10,
            acc: vec![11, 12],
        });
        restored.set_watermark(10);
        assert!(restored.take_dirty().is_empty());
        assert_eq!(restored.add("a", 9, &9), Admission::Late);
        let mut a = Vec::new();
        let mut b = Vec::new();
        op.add("b", 13, &13);
        restored.add("b", 13, &13);
        op.advance(20, &mut a);
        restored.advance(20, &mut b);
        assert_eq!(a, b);
        assert_eq!(b, vec![result("b", 10, 20, &[11, 12, 13], true)]);
        assert_eq!(op.take_dirty(), restored.take_dirty());
    }

    #[test]
    fn set_watermark_does_not_emit_windows_closed_before_it() {
        let mut op = TumblingWindows::new(Collect, 10, 0);
        op.restore(WindowState {
            key: "a".to_owned(),
            start_ms: 0,
            acc: vec![1],
        });
        op.set_watermark(10);
        let mut out = Vec::new();
        op.advance(11, &mut out);
        assert!(out.is_empty());
        assert_eq!(op.open_windows(), 0);
        assert_eq!(op.take_dirty(), vec![("a".to_owned(), 0, None)]);
    }
}
