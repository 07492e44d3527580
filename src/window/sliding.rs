//! Sliding windows, record-driven (Kafka Streams `SlidingWindows.ofTimeDifferenceAndGrace`,
//! simplified): one window per distinct record time `t` of a key, covering `[t - difference, t]`.
//! Each key keeps one bucket per record time; a window merges the buckets it covers when emitted.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::tumbling::{result_order, Slot};
use super::{Admission, Aggregate, StateDelta, Window, WindowOperator, WindowResult, WindowState};

/// Record-driven sliding windows per key.
///
/// Every distinct timestamp `t` of an accepted record of a key defines the window
/// `Window { start_ms: t - difference, end_ms: t }`, which **includes both ends** (unlike tumbling
/// and hopping windows, whose end is exclusive). It holds every accepted record of the key with a
/// time in `[t - difference, t]` and closes once `t + grace <= watermark`.
///
/// A record at `ts` is [`Admission::Late`] when `ts + grace <= watermark`; otherwise it counts in every
/// window ending in `[ts, ts + difference]`, all of which are still open. Unlike Kafka Streams, which
/// also creates the windows that start just after each record, chatpulse emits only the windows that
/// end at a record.
///
/// Each key keeps a `BTreeMap` of buckets, one accumulator per record time, merged with
/// [`Aggregate::merge`] when a window is emitted. A bucket is dropped once no open or future window can
/// include it (`t < watermark - grace - difference`).
///
/// Timestamps are epoch milliseconds; window starts saturate at `i64::MIN`.
pub struct SlidingWindows<A: Aggregate> {
    aggregate: A,
    difference_ms: i64,
    grace_ms: i64,
    watermark: i64,
    /// Key name to index in `keys`; a key keeps its index for the operator's life.
    ids: HashMap<String, usize>,
    keys: Vec<KeyBuckets<A::Acc>>,
    /// `(due, key index)`: the key has a window to close or a bucket to drop once the watermark
    /// reaches `due`. One entry per key with buckets.
    due: BTreeSet<(i128, usize)>,
    /// Persisted buckets removed since the last `take_dirty`.
    removed: Vec<(String, i64)>,
    /// Buckets held, over all keys.
    buckets: usize,
}

/// The buckets of one key.
struct KeyBuckets<Acc> {
    key: String,
    buckets: BTreeMap<i64, Slot<Acc>>,
    /// This key's entry in [`SlidingWindows::due`].
    due: Option<i128>,
    /// The earliest bucket changed since the last `updates`.
    updated_from: Option<i64>,
    /// The earliest bucket changed since the last `take_dirty`.
    dirty_from: Option<i64>,
}

impl<A: Aggregate> SlidingWindows<A> {
    /// Windows `[t - difference_ms, t]` ending at each record time `t`, accepting records until
    /// `grace_ms` after their end.
    ///
    /// # Panics
    ///
    /// If `difference_ms` is not positive or `grace_ms` is negative ([`super::WindowSpec::validate`]
    /// reports both for configurations).
    pub fn new(aggregate: A, difference_ms: i64, grace_ms: i64) -> Self {
        assert!(
            difference_ms > 0,
            "sliding window difference must be positive, got {difference_ms} ms"
        );
        assert!(
            grace_ms >= 0,
            "window grace must not be negative, got {grace_ms} ms"
        );
        SlidingWindows {
            aggregate,
            difference_ms,
            grace_ms,
            watermark: i64::MIN,
            ids: HashMap::new(),
            keys: Vec::new(),
            due: BTreeSet::new(),
            removed: Vec::new(),
            buckets: 0,
        }
    }

    /// The aggregate this operator runs.
    pub fn aggregate(&self) -> &A {
        &self.aggregate
    }

    /// The index of `key`, created on first use.
    fn key_id(&mut self, key: &str) -> usize {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = self.keys.len();
        self.ids.insert(key.to_owned(), id);
        self.keys.push(KeyBuckets {
            key: key.to_owned(),
            buckets: BTreeMap::new(),
            due: None,
            updated_from: None,
            dirty_from: None,
        });
        id
    }

    /// Makes sure key `id` is looked at once the watermark reaches `due`.
    fn schedule(&mut self, id: usize, due: i128) {
        let entry = &mut self.keys[id].due;
        if entry.is_none_or(|current| due < current) {
            if let Some(current) = entry.replace(due) {
                self.due.remove(&(current, id));
            }
            self.due.insert((due, id));
        }
    }

    /// Emits the windows of key `id` closing in `(previous, watermark]`, drops the buckets no window
    /// can need any more, and schedules the key's next visit.
    fn visit(
        &mut self,
        id: usize,
        previous: i64,
        watermark: i64,
        out: &mut Vec<WindowResult<A::Output>>,
    ) {
        let (grace, difference) = (self.grace_ms as i128, self.difference_ms);
        let keyed = &mut self.keys[id];
        // Windows ending in [previous - grace + 1, watermark - grace] close now.
        let (lo, hi) = (previous as i128 - grace + 1, watermark as i128 - grace);
        if lo <= hi && lo <= i64::MAX as i128 && hi >= i64::MIN as i128 {
            for &end in keyed.buckets.range(clamp(lo)..=clamp(hi)).map(|(t, _)| t) {
                let start = end.saturating_sub(difference);
                let mut acc = self.aggregate.init();
                for (_, slot) in keyed.buckets.range(start..=end) {
                    self.aggregate.merge(&mut acc, &slot.acc);
                }
                out.push(WindowResult {
                    key: keyed.key.clone(),
                    window: Window {
                        start_ms: start,
                        end_ms: end,
                    },
                    value: self.aggregate.finish(&acc),
                    is_final: true,
                    revision: 0,
                });
            }
        }
        while let Some(entry) = keyed.buckets.first_entry() {
            let bucket = *entry.key();
            if bucket as i128 + grace + difference as i128 >= watermark as i128 {
                break;
            }
            self.buckets -= 1;
            if entry.remove().persisted {
                self.removed.push((keyed.key.clone(), bucket));
            }
        }
        // Next visit: when the first open window closes, or the first bucket expires.
        let next_close = if hi >= i64::MAX as i128 {
            None
        } else {
            keyed
                .buckets
                .range(clamp(hi + 1)..)
                .next()
                .map(|(&t, _)| t as i128 + grace)
        };
        let next_expiry = keyed
            .buckets
            .first_key_value()
            .map(|(&t, _)| t as i128 + grace + difference as i128 + 1);
        let due = match (next_close, next_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(due) = due {
            keyed.due = Some(due);
            self.due.insert((due, id));
        }
    }
}

/// `x` saturated into the `i64` range.
fn clamp(x: i128) -> i64 {
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Lowers `from` to `ts`.
fn lower(from: &mut Option<i64>, ts: i64) {
    *from = Some(from.map_or(ts, |f| f.min(ts)));
}

impl<A: Aggregate> WindowOperator<A> for SlidingWindows<A> {
    fn add(&mut self, key: &str, ts_ms: i64, input: &A::Input) -> Admission {
        if ts_ms as i128 + self.grace_ms as i128 <= self.watermark as i128 {
            return Admission::Late;
        }
        let id = self.key_id(key);
        let keyed = &mut self.keys[id];
        lower(&mut keyed.updated_from, ts_ms);
        lower(&mut keyed.dirty_from, ts_ms);
        match keyed.buckets.get_mut(&ts_ms) {
            Some(slot) => {
                self.aggregate.add(&mut slot.acc, input);
                slot.touch();
            }
            None => {
                let mut acc = self.aggregate.init();
                self.aggregate.add(&mut acc, input);
                keyed.buckets.insert(ts_ms, Slot::fresh(acc));
                self.buckets += 1;
                // A new window, ending at ts_ms.
                self.schedule(id, ts_ms as i128 + self.grace_ms as i128);
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
        let first = out.len();
        while let Some(&(due, id)) = self.due.first() {
            if due > watermark_ms as i128 {
                break;
            }
            self.due.pop_first();
            self.keys[id].due = None;
            self.visit(id, previous, watermark_ms, out);
        }
        out[first..].sort_by(result_order);
    }

    fn updates(&mut self, out: &mut Vec<WindowResult<A::Output>>) {
        let (grace, difference) = (self.grace_ms as i128, self.difference_ms as i128);
        let watermark = self.watermark as i128;
        let first = out.len();
        for keyed in &mut self.keys {
            let Some(from) = keyed.updated_from.take() else {
                continue;
            };
            // Window t changed if a bucket in [t - difference, t] changed: sweep from the first change,
            // remembering the latest changed bucket.
            let mut last_changed: Option<i64> = None;
            for (&end, slot) in keyed.buckets.range(from..) {
                if slot.updated {
                    last_changed = Some(end);
                }
                let changed = last_changed.is_some_and(|t| t as i128 >= end as i128 - difference);
                if changed && end as i128 + grace > watermark {
                    let start = end.saturating_sub(self.difference_ms);
                    let mut acc = self.aggregate.init();
                    for (_, slot) in keyed.buckets.range(start..=end) {
                        self.aggregate.merge(&mut acc, &slot.acc);
                    }
                    out.push(WindowResult {
                        key: keyed.key.clone(),
                        window: Window {
                            start_ms: start,
                            end_ms: end,
                        },
                        value: self.aggregate.finish(&acc),
                        is_final: false,
                        revision: 0,
                    });
                }
            }
            for (_, slot) in keyed.buckets.range_mut(from..) {
                slot.updated = false;
            }
        }
        out[first..].sort_by(result_order);
    }

    fn take_dirty(&mut self) -> Vec<StateDelta<A::Acc>> {
        let mut delta: Vec<_> = self
            .removed
            .drain(..)
            .map(|(key, t)| (key, t, None))
            .collect();
        for keyed in &mut self.keys {
            let Some(from) = keyed.dirty_from.take() else {
                continue;
            };
            for (&t, slot) in keyed
                .buckets
                .range_mut(from..)
                .filter(|(_, slot)| slot.dirty)
            {
                slot.dirty = false;
                slot.persisted = true;
                delta.push((keyed.key.clone(), t, Some((slot.acc.clone(), None))));
            }
        }
        delta
    }

    /// Restores one bucket (`start_ms` is the bucket's record time, as [`WindowOperator::take_dirty`]
    /// reports).
    fn restore(&mut self, state: WindowState<A::Acc>) {
        let id = self.key_id(&state.key);
        if self.keys[id]
            .buckets
            .insert(state.start_ms, Slot::restored(state.acc))
            .is_none()
        {
            self.buckets += 1;
        }
        // Visiting early is harmless: a visit only emits windows closing after the previous watermark.
        self.schedule(id, state.start_ms as i128 + self.grace_ms as i128);
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.watermark = watermark_ms;
    }

    fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Number of buckets (distinct record times per key) held in memory.
    fn open_windows(&self) -> usize {
        self.buckets
    }

    fn peek(&self, key: &str, out: &mut Vec<WindowResult<A::Output>>) {
        let Some(keyed) = self.ids.get(key).map(|&id| &self.keys[id]) else {
            return;
        };
        let (grace, watermark) = (self.grace_ms as i128, self.watermark as i128);
        for &end in keyed.buckets.keys() {
            if end as i128 + grace <= watermark {
                continue;
            }
            let start = end.saturating_sub(self.difference_ms);
            let mut acc = self.aggregate.init();
            for (_, slot) in keyed.buckets.range(start..=end) {
                self.aggregate.merge(&mut acc, &slot.acc);
            }
            out.push(WindowResult {
                key: key.to_owned(),
                window: Window {
                    start_ms: start,
                    end_ms: end,
                },
                value: self.aggregate.finish(&acc),
                is_final: false,
                revision: 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::window::aggregate::Collect;

    /// The window ending at `end` with difference 10.
    fn result(key: &str, end: i64, value: &[i64], is_final: bool) -> WindowResult<Vec<i64>> {
        WindowResult {
            key: key.to_owned(),
            window: Window {
                start_ms: end - 10,
                end_ms: end,
            },
            value: value.to_vec(),
            is_final,
            revision: 0,
        }
    }

    #[test]
    fn window_includes_both_ends() {
        let mut op = SlidingWindows::new(Collect, 10, 0);
        let mut out = Vec::new();
        for ts in [0, 10, 11, 21] {
            assert_eq!(op.add("a", ts, &ts), Admission::Accepted);
        }
        op.advance(i64::MAX, &mut out);
        assert_eq!(
            out,
            vec![
                result("a", 0, &[0], true),
                result("a", 10, &[0, 10], true),
                result("a", 11, &[10, 11], true),
                result("a", 21, &[11, 21], true),
            ]
        );
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn closes_exactly_at_end_plus_grace() {
        let mut op = SlidingWindows::new(Collect, 10, 5);
        let mut out = Vec::new();
        op.add("a", 20, &20);
        op.advance(20, &mut out);
        // Out of order within grace: a new window at 16, and counts in the one at 20.
        assert_eq!(op.add("a", 16, &16), Admission::Accepted);
        op.advance(20, &mut out);
        assert!(out.is_empty());
        op.advance(21, &mut out);
        assert_eq!(out, vec![result("a", 16, &[16], true)]);
        out.clear();
        op.advance(24, &mut out);
        assert!(out.is_empty());
        op.advance(25, &mut out);
        assert_eq!(out, vec![result("a", 20, &[16, 20], true)]);
        out.clear();
        assert_eq!(op.add("a", 20, &20), Admission::Late);
        assert_eq!(op.add("a", 21, &21), Admission::Accepted);
        op.advance(26, &mut out);
        assert_eq!(out, vec![result("a", 21, &[16, 20, 21], true)]);
    }

    #[test]
    fn out_of_order_record_creates_its_window_and_joins_later_ones() {
        let mut op = SlidingWindows::new(Collect, 10, 5);
        let mut out = Vec::new();
        op.add("a", 20, &20);
        op.add("a", 30, &30);
        op.add("a", 30, &30);
        op.add("a", 25, &25);
        op.add("a", 15, &15);
        op.advance(i64::MAX, &mut out);
        assert_eq!(
            out,
            vec![
                result("a", 15, &[15], true),
                result("a", 20, &[15, 20], true),
                result("a", 25, &[15, 20, 25], true),
                result("a", 30, &[20, 25, 30, 30], true),
            ]
        );
    }

    #[test]
    fn buckets_are_kept_for_future_windows_then_dropped() {
        let mut op = SlidingWindows::new(Collect, 10, 0);
        let mut out = Vec::new();
        op.add("a", 0, &0);
        op.advance(0, &mut out);
        assert_eq!(out, vec![result("a", 0, &[0], true)]);
        // Window 0 is closed, but bucket 0 is still needed by windows up to 10.
        assert_eq!(op.open_windows(), 1);
        out.clear();
        op.advance(9, &mut out);
        op.add("a", 10, &10);
        op.advance(10, &mut out);
        assert_eq!(out, vec![result("a", 10, &[0, 10], true)]);
        assert_eq!(op.open_windows(), 2);
        op.advance(11, &mut out);
        // 0 + grace + difference < 11: bucket 0 is gone.
        assert_eq!(op.open_windows(), 1);
        op.advance(21, &mut out);
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn negative_timestamps_and_quiet_key() {
        let mut op = SlidingWindows::new(Collect, 10, 0);
        let mut out = Vec::new();
        op.add("quiet", -25, &-25);
        op.add("busy", -20, &-20);
        op.advance(-20, &mut out);
        assert_eq!(
            out,
            vec![
                result("quiet", -25, &[-25], true),
                result("busy", -20, &[-20], true)
            ]
        );
        out.clear();
        op.add("busy", -10, &-10);
        op.advance(-10, &mut out);
        assert_eq!(out, vec![result("busy", -10, &[-20, -10], true)]);
        op.advance(100, &mut out);
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn peek_shows_the_open_windows_of_one_key() {
        let mut op = SlidingWindows::new(Collect, 10, 100);
        let mut out = Vec::new();
        for ts in [0, 5, 30] {
            op.add("a", ts, &ts);
        }
        op.add("b", 1, &1);
        op.peek("a", &mut out);
        assert_eq!(
            out,
            vec![
                result("a", 0, &[0], false),
                result("a", 5, &[0, 5], false),
                result("a", 30, &[30], false),
            ]
        );
    }

    #[test]
    fn updates_report_every_window_a_record_changed() {
        let mut op = SlidingWindows::new(Collect, 10, 100);
        let mut out = Vec::new();
        for ts in [0, 5, 12, 30] {
            op.add("a", ts, &ts);
        }
        op.updates(&mut out);
        assert_eq!(out.len(), 4);
        out.clear();
        op.updates(&mut out);
        assert!(out.is_empty());
        // 4 creates its own window and changes the ones ending in [4, 14]: 5 and 12, not 0 or 30.
        op.add("a", 4, &4);
        op.updates(&mut out);
        assert_eq!(
            out,
            vec![
                result("a", 4, &[0, 4], false),
                result("a", 5, &[0, 4, 5], false),
                result("a", 12, &[4, 5, 12], false),
            ]
        );
    }

    #[test]
    fn dirty_delta_restores_an_equivalent_operator() {
        let mut op = SlidingWindows::new(Collect, 10, 0);
        let mut out = Vec::new();
        op.add("a", 0, &0);
        op.add("a", 0, &0);
        op.add("b", 3, &3);
        let delta = op.take_dirty();
        assert_eq!(
            delta,
            vec![
                ("a".to_owned(), 0, Some((vec![0, 0], None))),
                ("b".to_owned(), 3, Some((vec![3], None)))
            ]
        );
        op.advance(11, &mut out);
        assert_eq!(op.take_dirty(), vec![("a".to_owned(), 0, None)]);
        let mut restored = SlidingWindows::new(Collect, 10, 0);
        restored.restore(WindowState {
            key: "b".to_owned(),
            start_ms: 3,
            acc: vec![3],
            revision: None,
        });
        restored.set_watermark(11);
        assert_eq!(restored.open_windows(), op.open_windows());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for o in [&mut op, &mut restored] {
            assert_eq!(o.add("b", 11, &11), Admission::Late);
            assert_eq!(o.add("b", 12, &12), Admission::Accepted);
        }
        op.advance(12, &mut a);
        restored.advance(12, &mut b);
        assert_eq!(a, b);
        assert_eq!(b, vec![result("b", 12, &[3, 12], true)]);
        assert_eq!(op.take_dirty(), restored.take_dirty());
    }
}
