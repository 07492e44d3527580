//! Hopping windows: overlapping windows of `size` starting every `advance` (Kafka Streams
//! `TimeWindows.advanceBy`). Like Arroyo's `sliding_aggregating_window`, each key keeps one partial
//! aggregate per `advance`-wide pane, and a window's result merges its panes when it is emitted.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::tumbling::{result_order, Slot};
use super::{Admission, Aggregate, StateDelta, Window, WindowOperator, WindowResult, WindowState};

/// Overlapping event-time windows per key: `[k*advance, k*advance + size)` for every integer `k`.
///
/// A record at `ts` belongs to every window with `start <= ts < start + size`. Records are added to
/// one pane `[floor(ts / advance) * advance, + advance)` per key; a window is the merge
/// ([`Aggregate::merge`]) of the `size / advance` panes it covers. A window closes once
/// `end + grace <= watermark` and is emitted only if it holds at least one record. A record is
/// [`Admission::Late`] when every window containing it has closed; otherwise it counts in those still
/// open (the closed ones were already emitted). A pane is dropped once every window covering it has
/// closed.
///
/// Timestamps are epoch milliseconds; window bounds saturate at the ends of the `i64` range.
pub struct HoppingWindows<A: Aggregate> {
    aggregate: A,
    size_ms: i64,
    advance_ms: i64,
    grace_ms: i64,
    watermark: i64,
    /// Panes by start, each with one accumulator per key.
    panes: BTreeMap<i64, HashMap<String, Slot<A::Acc>>>,
    /// Persisted panes removed since the last `take_dirty`.
    removed: Vec<(String, i64)>,
}

impl<A: Aggregate> HoppingWindows<A> {
    /// Windows of `size_ms` starting every `advance_ms`, accepting records until `grace_ms` after
    /// their end. `advance_ms == size_ms` gives tumbling windows.
    ///
    /// # Panics
    ///
    /// If `size_ms` or `advance_ms` is not positive, `size_ms` is not a multiple of `advance_ms`, or
    /// `grace_ms` is negative ([`super::WindowSpec::validate`] reports these for configurations).
    pub fn new(aggregate: A, size_ms: i64, advance_ms: i64, grace_ms: i64) -> Self {
        assert!(
            size_ms > 0 && advance_ms > 0,
            "hopping size and advance must be positive, got {size_ms} ms and {advance_ms} ms"
        );
        assert!(
            size_ms % advance_ms == 0,
            "hopping size ({size_ms} ms) must be a multiple of advance ({advance_ms} ms)"
        );
        assert!(
            grace_ms >= 0,
            "window grace must not be negative, got {grace_ms} ms"
        );
        HoppingWindows {
            aggregate,
            size_ms,
            advance_ms,
            grace_ms,
            watermark: i64::MIN,
            panes: BTreeMap::new(),
            removed: Vec::new(),
        }
    }

    /// The aggregate this operator runs.
    pub fn aggregate(&self) -> &A {
        &self.aggregate
    }

    /// The start of the pane holding a record at `ts_ms`.
    fn pane_of(&self, ts_ms: i64) -> i64 {
        ts_ms.saturating_sub(ts_ms.rem_euclid(self.advance_ms))
    }

    /// `end + grace` of the window starting at `start`, exact.
    fn close_at(&self, start: i128) -> i128 {
        start + self.size_ms as i128 + self.grace_ms as i128
    }

    /// The first window start whose window is still open at `watermark`.
    fn first_open(&self, watermark: i64) -> i128 {
        let advance = self.advance_ms as i128;
        floor_to(self.close_limit(watermark), advance) + advance
    }

    /// The last start a window may have to be closed at `watermark`.
    fn close_limit(&self, watermark: i64) -> i128 {
        watermark as i128 - self.size_ms as i128 - self.grace_ms as i128
    }

    /// The window starting at `start`.
    fn window(&self, start: i128) -> Window {
        Window {
            start_ms: clamp(start),
            end_ms: clamp(start + self.size_ms as i128),
        }
    }

    /// The panes of the window starting at `start`.
    fn panes_of(&self, start: i128) -> impl Iterator<Item = &HashMap<String, Slot<A::Acc>>> {
        let end = start + self.size_ms as i128;
        let range = if end <= i64::MIN as i128 || start > i64::MAX as i128 {
            // An empty range: no pane lies outside the i64 range.
            self.panes.range(0..0)
        } else {
            self.panes.range(clamp(start)..=clamp(end - 1))
        };
        range.map(|(_, keys)| keys)
    }

    /// Appends the final result of every key in the window starting at `start`, in key order.
    fn emit_window(&self, start: i128, out: &mut Vec<WindowResult<A::Output>>) {
        let mut per_key: BTreeMap<&str, A::Acc> = BTreeMap::new();
        for keys in self.panes_of(start) {
            for (key, slot) in keys {
                match per_key.get_mut(key.as_str()) {
                    Some(acc) => self.aggregate.merge(acc, &slot.acc),
                    None => {
                        per_key.insert(key, slot.acc.clone());
                    }
                }
            }
        }
        let window = self.window(start);
        out.extend(per_key.into_iter().map(|(key, acc)| WindowResult {
            key: key.to_owned(),
            window,
            value: self.aggregate.finish(&acc),
            is_final: true,
            revision: 0,
        }));
    }

    /// The current value of `key` in the window starting at `start`.
    fn value_of(&self, key: &str, start: i128) -> A::Output {
        let mut acc = self.aggregate.init();
        for slot in self.panes_of(start).filter_map(|keys| keys.get(key)) {
            self.aggregate.merge(&mut acc, &slot.acc);
        }
        self.aggregate.finish(&acc)
    }
}

/// The largest multiple of `step` not above `x`.
fn floor_to(x: i128, step: i128) -> i128 {
    x.div_euclid(step) * step
}

/// `x` saturated into the `i64` range.
fn clamp(x: i128) -> i64 {
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl<A: Aggregate> WindowOperator<A> for HoppingWindows<A> {
    fn add(&mut self, key: &str, ts_ms: i64, input: &A::Input) -> Admission {
        let pane = self.pane_of(ts_ms);
        // The last window containing the record starts at its pane; the others close earlier.
        if self.close_at(pane as i128) <= self.watermark as i128 {
            return Admission::Late;
        }
        let keys = self.panes.entry(pane).or_default();
        match keys.get_mut(key) {
            Some(slot) => {
                self.aggregate.add(&mut slot.acc, input);
                slot.touch();
            }
            None => {
                let mut acc = self.aggregate.init();
                self.aggregate.add(&mut acc, input);
                keys.insert(key.to_owned(), Slot::fresh(acc));
            }
        }
        Admission::Accepted
    }

    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<WindowResult<A::Output>>) {
        if watermark_ms <= self.watermark {
            return;
        }
        let previous = self.watermark;
        self.watermark = watermark_ms;
        let (size, advance) = (self.size_ms as i128, self.advance_ms as i128);

        // Windows closing now start in [first, last]; emit those covering at least one pane, in order.
        let first = self.first_open(previous);
        let last = floor_to(self.close_limit(watermark_ms), advance);
        if first <= last {
            let mut next = first;
            let candidates = self
                .panes
                .range(clamp(first - size + advance)..=clamp(last + size - advance));
            for (&pane, _) in candidates {
                let pane = pane as i128;
                let mut start = (pane - size + advance).max(next);
                while start <= pane.min(last) {
                    self.emit_window(start, out);
                    start += advance;
                }
                next = start;
                if next > last {
                    break;
                }
            }
        }

        // Drop the panes whose last window (the one starting at the pane) has closed.
        let last_pane = self.close_limit(watermark_ms);
        while let Some(entry) = self.panes.first_entry() {
            let pane = *entry.key();
            if pane as i128 > last_pane {
                break;
            }
            for (key, slot) in entry.remove() {
                if slot.persisted {
                    self.removed.push((key, pane));
                }
            }
        }
    }

    fn updates(&mut self, out: &mut Vec<WindowResult<A::Output>>) {
        let (size, advance) = (self.size_ms as i128, self.advance_ms as i128);
        let first_open = self.first_open(self.watermark);
        let mut changed: BTreeSet<(i128, &str)> = BTreeSet::new();
        for (&pane, keys) in &self.panes {
            let pane = pane as i128;
            for (key, _) in keys.iter().filter(|(_, slot)| slot.updated) {
                let mut start = (pane - size + advance).max(first_open);
                while start <= pane {
                    changed.insert((start, key.as_str()));
                    start += advance;
                }
            }
        }
        let first = out.len();
        out.extend(changed.into_iter().map(|(start, key)| WindowResult {
            key: key.to_owned(),
            window: self.window(start),
            value: self.value_of(key, start),
            is_final: false,
            revision: 0,
        }));
        debug_assert!(out[first..].is_sorted_by(|a, b| result_order(a, b).is_le()));
        for slot in self.panes.values_mut().flat_map(HashMap::values_mut) {
            slot.updated = false;
        }
    }

    fn take_dirty(&mut self) -> Vec<StateDelta<A::Acc>> {
        let mut delta: Vec<_> = self
            .removed
            .drain(..)
            .map(|(key, pane)| (key, pane, None))
            .collect();
        let first = delta.len();
        for (&pane, keys) in self.panes.iter_mut() {
            for (key, slot) in keys.iter_mut().filter(|(_, slot)| slot.dirty) {
                slot.dirty = false;
                slot.persisted = true;
                delta.push((key.clone(), pane, Some((slot.acc.clone(), None))));
            }
        }
        delta[first..].sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        delta
    }

    /// Restores one pane (`start_ms` is the pane's start, as [`WindowOperator::take_dirty`] reports).
    fn restore(&mut self, state: WindowState<A::Acc>) {
        self.panes
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

    /// Number of per-key panes held in memory.
    fn open_windows(&self) -> usize {
        self.panes.values().map(HashMap::len).sum()
    }

    fn peek(&self, key: &str, out: &mut Vec<WindowResult<A::Output>>) {
        let (size, advance) = (self.size_ms as i128, self.advance_ms as i128);
        let first_open = self.first_open(self.watermark);
        let mut starts = BTreeSet::new();
        for (&pane, keys) in &self.panes {
            if keys.contains_key(key) {
                let pane = pane as i128;
                let mut start = (pane - size + advance).max(first_open);
                while start <= pane {
                    starts.insert(start);
                    start += advance;
                }
            }
        }
        out.extend(starts.into_iter().map(|start| WindowResult {
            key: key.to_owned(),
            window: self.window(start),
            value: self.value_of(key, start),
            is_final: false,
            revision: 0,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::window::aggregate::Collect;

    fn result(key: &str, start: i64, value: &[i64], is_final: bool) -> WindowResult<Vec<i64>> {
        WindowResult {
            key: key.to_owned(),
            window: Window {
                start_ms: start,
                end_ms: start + 30,
            },
            value: value.to_vec(),
            is_final,
            revision: 0,
        }
    }

    /// Size 30, advance 10.
    fn op(grace: i64) -> HoppingWindows<Collect> {
        HoppingWindows::new(Collect, 30, 10, grace)
    }

    #[test]
    fn record_belongs_to_every_window_containing_it() {
        let mut op = op(0);
        let mut out = Vec::new();
        assert_eq!(op.add("a", 25, &25), Admission::Accepted);
        assert_eq!(op.add("a", 30, &30), Admission::Accepted);
        op.advance(i64::MAX, &mut out);
        assert_eq!(
            out,
            vec![
                // 30 is at the end of [0,30), so not in it.
                result("a", 0, &[25], true),
                result("a", 10, &[25, 30], true),
                result("a", 20, &[25, 30], true),
                result("a", 30, &[30], true),
            ]
        );
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn closes_exactly_at_end_plus_grace_and_late_only_when_all_windows_closed() {
        let mut op = op(5);
        let mut out = Vec::new();
        // 5 is in [-20,10), [-10,20) and [0,30), closing at 15, 25 and 35.
        op.add("a", 5, &5);
        for (watermark, start) in [(15, -20), (25, -10), (35, 0)] {
            op.advance(watermark - 1, &mut out);
            assert!(out.is_empty());
            op.advance(watermark, &mut out);
            assert_eq!(out, vec![result("a", start, &[5], true)]);
            out.clear();
        }
        assert_eq!(op.add("a", 5, &5), Admission::Late);
        assert_eq!(op.add("a", 9, &9), Admission::Late);
        // 12 is in [-10,20) and [0,30), both closed, and in [10,40), open until 45.
        assert_eq!(op.add("a", 12, &12), Admission::Accepted);
        op.advance(45, &mut out);
        assert_eq!(out, vec![result("a", 10, &[12], true)]);
        assert_eq!(op.open_windows(), 0);
        assert_eq!(op.add("a", 19, &19), Admission::Late);
        assert_eq!(op.add("a", 20, &20), Admission::Accepted);
    }

    #[test]
    fn negative_timestamps() {
        let mut op = op(0);
        let mut out = Vec::new();
        op.add("a", -1, &-1);
        op.add("a", -30, &-30);
        op.advance(i64::MAX, &mut out);
        assert_eq!(
            out,
            vec![
                result("a", -50, &[-30], true),
                result("a", -40, &[-30], true),
                result("a", -30, &[-30, -1], true),
                result("a", -20, &[-1], true),
                result("a", -10, &[-1], true),
            ]
        );
    }

    #[test]
    fn empty_windows_between_sparse_records_are_not_emitted() {
        let mut op = op(0);
        let mut out = Vec::new();
        op.add("b", 0, &0);
        op.add("a", 1000, &1000);
        op.advance(2000, &mut out);
        let starts: Vec<_> = out
            .iter()
            .map(|r| (r.key.as_str(), r.window.start_ms))
            .collect();
        assert_eq!(
            starts,
            vec![
                ("b", -20),
                ("b", -10),
                ("b", 0),
                ("a", 980),
                ("a", 990),
                ("a", 1000)
            ]
        );
    }

    #[test]
    fn panes_are_dropped_once_no_open_window_needs_them() {
        let mut op = op(0);
        let mut out = Vec::new();
        op.add("a", 0, &0);
        op.add("a", 10, &10);
        assert_eq!(op.open_windows(), 2);
        op.advance(30, &mut out);
        // [0,30) closed: pane 0 is no longer needed, pane 10 still is (by [10,40)).
        assert_eq!(op.open_windows(), 1);
        assert_eq!(out.last(), Some(&result("a", 0, &[0, 10], true)));
        op.advance(40, &mut out);
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn peek_shows_every_open_window_of_one_key() {
        let mut op = op(0);
        let mut out = Vec::new();
        op.add("a", 25, &25);
        op.add("b", 26, &26);
        op.advance(30, &mut out);
        out.clear();
        op.peek("a", &mut out);
        assert_eq!(
            out,
            vec![result("a", 10, &[25], false), result("a", 20, &[25], false)]
        );
    }

    #[test]
    fn updates_cover_every_open_window_of_a_changed_pane() {
        let mut op = op(0);
        let mut out = Vec::new();
        op.add("a", 25, &25);
        op.advance(30, &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        op.updates(&mut out);
        // [0,30) is already closed and emitted; the two open windows holding 25 changed.
        assert_eq!(
            out,
            vec![result("a", 10, &[25], false), result("a", 20, &[25], false)]
        );
        out.clear();
        op.updates(&mut out);
        assert!(out.is_empty());
        op.add("a", 45, &45);
        op.updates(&mut out);
        assert_eq!(
            out,
            vec![
                result("a", 20, &[25, 45], false),
                result("a", 30, &[45], false),
                result("a", 40, &[45], false),
            ]
        );
    }

    #[test]
    fn dirty_delta_restores_an_equivalent_operator() {
        let mut op = op(5);
        let mut out = Vec::new();
        op.add("a", 5, &5);
        op.add("a", 15, &15);
        op.advance(15, &mut out);
        assert_eq!(
            op.take_dirty(),
            vec![
                ("a".to_owned(), 0, Some((vec![5], None))),
                ("a".to_owned(), 10, Some((vec![15], None)))
            ]
        );
        op.advance(35, &mut out);
        assert_eq!(op.take_dirty(), vec![("a".to_owned(), 0, None)]);

        let mut restored = HoppingWindows::new(Collect, 30, 10, 5);
        restored.restore(WindowState {
            key: "a".to_owned(),
            start_ms: 10,
            acc: vec![15],
            revision: None,
        });
        restored.set_watermark(35);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for o in [&mut op, &mut restored] {
            assert_eq!(o.add("a", 9, &9), Admission::Late);
            assert_eq!(o.add("a", 10, &10), Admission::Accepted);
        }
        op.advance(i64::MAX, &mut a);
        restored.advance(i64::MAX, &mut b);
        assert_eq!(a, b);
        // Only [10,40) is still open; [0,30) closed at 35 before the restore.
        assert_eq!(b, vec![result("a", 10, &[10, 15], true)]);
    }
}
