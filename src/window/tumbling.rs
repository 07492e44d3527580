//! Tumbling windows: fixed, non-overlapping `[k*size, (k+1)*size)` windows per key, closed by the
//! watermark at `end + grace` and kept for late records until `end + grace + allowed lateness`
//! (Kafka Streams `TimeWindows.ofSizeAndGrace`, Flink's `allowedLateness`); a closed window whose
//! state is saved waits frozen. Also holds the per-window bookkeeping the other operators share.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;

use super::frozen::FrozenWindow;
use super::{Admission, Aggregate, StateDelta, Window, WindowOperator, WindowResult, WindowState};
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
    /// A closed window's last final result (tumbling windows with an allowed lateness).
    pub(super) revision: Option<u32>,
    /// Late records changed a closed window since its last final result.
    pub(super) pending: bool,
}

impl<Acc> Slot<Acc> {
    /// A slot for a new accumulator that has just changed.
    pub(super) fn fresh(acc: Acc) -> Self {
        Slot {
            acc,
            updated: true,
            dirty: true,
            persisted: false,
            revision: None,
            pending: false,
        }
    }

    /// A slot read back from the store: unchanged, and known to the store.
    pub(super) fn restored(acc: Acc) -> Self {
        Slot {
            acc,
            updated: false,
            dirty: false,
            persisted: true,
            revision: None,
            pending: false,
        }
    }

    /// Marks a change.
    pub(super) fn touch(&mut self) {
        self.updated = true;
        self.dirty = true;
    }

    /// The revision the next final result of this slot carries.
    fn next_revision(&self) -> u32 {
        self.revision.map_or(0, |r| r.saturating_add(1))
    }
}

/// The emission order of every operator: window end, then key, then window start.
pub(super) fn result_order<O>(a: &WindowResult<O>, b: &WindowResult<O>) -> Ordering {
    (a.window.end_ms, &a.key, a.window.start_ms).cmp(&(b.window.end_ms, &b.key, b.window.start_ms))
}

/// Fixed-size, non-overlapping event-time windows per key.
///
/// The window of a record at `ts` is `[floor(ts / size) * size, + size)`, so a record exactly at a
/// window's end belongs to the next window. A window closes once `end + grace <= watermark` and its
/// final result (revision 0) is emitted. With an allowed lateness, the closed window is kept until
/// `end + grace + lateness <= watermark`: a record for it until then is still added (a window that
/// never opened is created), and [`WindowOperator::revisions`] emits a corrected final with the next
/// revision. Records for windows past that are [`Admission::Late`]. Windows sit in a `BTreeMap` keyed
/// by window start, each holding one accumulator per key, so a watermark pops them from the front.
///
/// A closed window kept for lateness whose every slot is saved ([`WindowOperator::take_dirty`]
/// handed it out) and has no correction to emit is frozen into a [`FrozenWindow`]: at 100,000
/// channels the ten minutes of closed windows that a default lateness keeps are most of the state.
/// A late record for a frozen key thaws that key's slot back into the window's map.
///
/// Timestamps are epoch milliseconds; window bounds saturate at the ends of the `i64` range.
pub struct TumblingWindows<A: Aggregate> {
    aggregate: A,
    size_ms: i64,
    grace_ms: i64,
    lateness_ms: i64,
    watermark: i64,
    windows: BTreeMap<i64, WordMap<String, Slot<A::Acc>>>,
    /// Closed windows frozen after their state was saved, by window start. A start may also be in
    /// `windows`, holding the keys late records thawed or added; no key is in both.
    frozen: BTreeMap<i64, FrozenWindow>,
    /// Persisted windows removed since the last `take_dirty`.
    removed: Vec<(String, i64)>,
    /// Slots of closed windows with a correction to emit.
    pending: usize,
    /// At most the first window start not yet closed (`i64::MAX` when none is held), so a
    /// watermark that closes nothing skips the search for windows closing.
    next_close: i64,
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
            lateness_ms: 0,
            watermark: i64::MIN,
            windows: BTreeMap::new(),
            frozen: BTreeMap::new(),
            removed: Vec::new(),
            pending: 0,
            next_close: i64::MAX,
        }
    }

    /// Keeps closed windows for `lateness_ms` more, for late records and corrected finals.
    ///
    /// # Panics
    ///
    /// If `lateness_ms` is negative.
    pub fn with_allowed_lateness(mut self, lateness_ms: i64) -> Self {
        assert!(
            lateness_ms >= 0,
            "allowed lateness must not be negative, got {lateness_ms} ms"
        );
        self.lateness_ms = lateness_ms;
        self
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

    /// The last window start that is past `extra` after its close at `watermark`:
    /// `start + size + grace + extra <= watermark`, exact.
    fn last_start(&self, watermark: i64, extra: i64) -> i128 {
        watermark as i128 - self.size_ms as i128 - self.grace_ms as i128 - extra as i128
    }

    /// Moves `key`'s slot of the closed window at `start` back into the window's map when it is
    /// frozen: saved, with the revision of its last final.
    fn thaw(&mut self, key: &str, start: i64) {
        let Some(frozen) = self.frozen.get_mut(&start) else {
            return;
        };
        let Some((acc, revision)) = frozen.take::<A::Acc>(key) else {
            return;
        };
        if frozen.len() == 0 {
            self.frozen.remove(&start);
        }
        let mut slot = Slot::restored(acc);
        slot.revision = revision;
        self.windows
            .entry(start)
            .or_default()
            .insert(key.to_owned(), slot);
    }

    /// Freezes every closed window whose slots are all saved and hold no correction to emit
    /// (with an allowed lateness; without one, closed windows are gone already).
    fn freeze_saved(&mut self) {
        if self.lateness_ms == 0 {
            return;
        }
        let closed = clamp(self.last_start(self.watermark, 0));
        let ready: Vec<i64> = self
            .windows
            .range(..=closed)
            .filter(|(_, keys)| {
                keys.values()
                    .all(|slot| slot.persisted && !slot.dirty && !slot.pending)
            })
            .map(|(&start, _)| start)
            .collect();
        for start in ready {
            let keys = self.windows.remove(&start).expect("listed above");
            let previous = self.frozen.remove(&start);
            let live = keys
                .iter()
                .map(|(key, slot)| (key.as_str(), &slot.acc, slot.revision));
            let frozen = FrozenWindow::freeze(previous.as_ref(), live);
            self.frozen.insert(start, frozen);
        }
    }

    /// The window starting at `start`.
    fn window(&self, start: i64) -> Window {
        Window {
            start_ms: start,
            end_ms: start.saturating_add(self.size_ms),
        }
    }
}

/// The final result of `slot` in `window`, which takes the slot's next revision.
fn finalize<A: Aggregate>(
    aggregate: &A,
    key: &str,
    window: Window,
    slot: &mut Slot<A::Acc>,
) -> WindowResult<A::Output> {
    let revision = slot.next_revision();
    slot.revision = Some(revision);
    slot.pending = false;
    slot.updated = false;
    slot.dirty = true;
    WindowResult {
        key: key.to_owned(),
        window,
        value: aggregate.finish(&slot.acc),
        is_final: true,
        revision,
    }
}

/// `x` saturated into the `i64` range.
fn clamp(x: i128) -> i64 {
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl<A: Aggregate> WindowOperator<A> for TumblingWindows<A> {
    fn add(&mut self, key: &str, ts_ms: i64, input: &A::Input) -> Admission {
        let start = ts_ms.saturating_sub(ts_ms.rem_euclid(self.size_ms));
        if start as i128 <= self.last_start(self.watermark, self.lateness_ms) {
            return Admission::Late;
        }
        let closed = start as i128 <= self.last_start(self.watermark, 0);
        // Most records fall in the newest window: found at the map's end, without a search past
        // the closed windows kept for lateness.
        let newest = self.windows.last_key_value().map(|(&s, _)| s) == Some(start);
        if closed {
            self.thaw(key, start);
        }
        let keys = if newest {
            self.windows.last_entry().map(|e| e.into_mut())
        } else {
            self.windows.get_mut(&start)
        };
        if let Some(slot) = keys.and_then(|keys| keys.get_mut(key)) {
            self.aggregate.add(&mut slot.acc, input);
            if closed {
                self.pending += usize::from(!slot.pending);
                slot.pending = true;
                slot.dirty = true;
            } else {
                slot.touch();
            }
            return Admission::Accepted;
        }
        // A key's first record in this window: sized like its previous window when that is still
        // held (the usual case for a busy key).
        let previous = start
            .checked_sub(self.size_ms)
            .and_then(|p| self.windows.get(&p))
            .and_then(|keys| keys.get(key));
        let mut acc = match previous {
            Some(slot) => self.aggregate.init_after(&slot.acc),
            None => self.aggregate.init(),
        };
        self.aggregate.add(&mut acc, input);
        let mut slot = Slot::fresh(acc);
        if closed {
            // A window that closed without this key: its first final is a correction too.
            slot.updated = false;
            slot.pending = true;
            self.pending += 1;
        } else {
            self.next_close = self.next_close.min(start);
        }
        self.windows
            .entry(start)
            .or_default()
            .insert(key.to_owned(), slot);
        Admission::Accepted
    }

    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<WindowResult<A::Output>>) {
        if watermark_ms <= self.watermark {
            return;
        }
        let previous = self.watermark;
        self.watermark = watermark_ms;
        let first = out.len();
        // Windows past their allowed lateness go; one closing only now, or holding a correction,
        // says so first. Windows already closed at the previous watermark were emitted (before a
        // restore, too).
        let closed_before = self.last_start(previous, 0);
        let expired = self.last_start(watermark_ms, self.lateness_ms);
        let closing = self.last_start(watermark_ms, 0);
        while let Some(entry) = self.windows.first_entry() {
            let start = *entry.key();
            if start as i128 > expired {
                break;
            }
            let emit_all = start as i128 > closed_before;
            let keys = entry.remove();
            let window = self.window(start);
            for (key, mut slot) in keys {
                if slot.persisted {
                    self.removed.push((key.clone(), start));
                }
                if slot.pending {
                    self.pending -= 1;
                }
                if emit_all || slot.pending {
                    out.push(finalize(&self.aggregate, &key, window, &mut slot));
                }
            }
        }
        // Every frozen key was saved, so each goes as a delete.
        while let Some(entry) = self.frozen.first_entry() {
            let start = *entry.key();
            if start as i128 > expired {
                break;
            }
            let frozen = entry.remove();
            self.removed
                .extend(frozen.keys().map(|key| (key.to_owned(), start)));
        }
        // Windows closing now are kept for late records, with their first final emitted.
        if closing > closed_before && closing >= self.next_close as i128 {
            let range = (
                Bound::Excluded(clamp(closed_before)),
                Bound::Included(clamp(closing)),
            );
            let size = self.size_ms;
            for (&start, keys) in self.windows.range_mut(range) {
                let window = Window {
                    start_ms: start,
                    end_ms: start.saturating_add(size),
                };
                for (key, slot) in keys.iter_mut() {
                    if slot.pending {
                        self.pending -= 1;
                    }
                    out.push(finalize(&self.aggregate, key, window, slot));
                }
            }
            self.next_close = self
                .windows
                .range((Bound::Excluded(clamp(closing)), Bound::Unbounded))
                .next()
                .map_or(i64::MAX, |(&start, _)| start);
        }
        out[first..].sort_by(result_order);
    }

    fn revisions(&mut self, out: &mut Vec<WindowResult<A::Output>>) {
        if self.pending == 0 {
            return;
        }
        let first = out.len();
        let closed = clamp(self.last_start(self.watermark, 0));
        let size = self.size_ms;
        for (&start, keys) in self.windows.range_mut(..=closed) {
            let window = Window {
                start_ms: start,
                end_ms: start.saturating_add(size),
            };
            for (key, slot) in keys.iter_mut().filter(|(_, slot)| slot.pending) {
                out.push(finalize(&self.aggregate, key, window, slot));
            }
        }
        self.pending = 0;
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
                    revision: 0,
                });
            }
        }
        out[first..].sort_by(result_order);
    }

    fn take_dirty(&mut self) -> Vec<StateDelta<A::Acc>> {
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
                delta.push((key.clone(), start, Some((slot.acc.clone(), slot.revision))));
            }
        }
        delta[first..].sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        self.freeze_saved();
        delta
    }

    fn restore(&mut self, state: WindowState<A::Acc>) {
        let mut slot = Slot::restored(state.acc);
        slot.revision = state.revision;
        self.next_close = self.next_close.min(state.start_ms);
        self.windows
            .entry(state.start_ms)
            .or_default()
            .insert(state.key, slot);
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.watermark = watermark_ms;
    }

    fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Open windows and closed ones kept for late records (frozen or not), per key.
    fn open_windows(&self) -> usize {
        let live: usize = self.windows.values().map(WordMap::len).sum();
        live + self.frozen.values().map(FrozenWindow::len).sum::<usize>()
    }

    fn peek(&self, key: &str, out: &mut Vec<WindowResult<A::Output>>) {
        let closed = self.last_start(self.watermark, 0);
        for (&start, keys) in &self.windows {
            if start as i128 <= closed {
                continue;
            }
            if let Some(slot) = keys.get(key) {
                out.push(WindowResult {
                    key: key.to_owned(),
                    window: self.window(start),
                    value: self.aggregate.finish(&slot.acc),
                    is_final: false,
                    revision: 0,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::window::aggregate::Collect;

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
            revision: 0,
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
    fn every_window_closes_once_at_end_plus_grace_with_small_watermark_steps() {
        // Out-of-order records and a watermark moving in steps that mostly close nothing, checked
        // against a brute force over the records: each window's first final comes at the first
        // watermark at or past its end + grace, with every record of it.
        let (size, grace) = (10, 5);
        let mut op = TumblingWindows::new(Collect, size, grace).with_allowed_lateness(30);
        let mut added: Vec<(String, i64)> = Vec::new();
        let (mut wm, mut seed) = (0i64, 7u64);
        let mut out = Vec::new();
        for _ in 0..2_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = ["a", "b", "c"][(seed >> 33) as usize % 3];
            // Up to 25 ms behind the watermark, and never in a window already closed.
            let ts = wm + 5 - ((seed >> 40) % 26) as i64;
            if ts - ts.rem_euclid(size) + size + grace > wm {
                assert_eq!(op.add(key, ts, &ts), Admission::Accepted);
                added.push((key.to_owned(), ts));
            }
            let next = wm + ((seed >> 50) % 4) as i64;
            out.clear();
            op.advance(next, &mut out);
            let mut want: Vec<WindowResult<Vec<i64>>> = Vec::new();
            for k in ["a", "b", "c"] {
                let mut starts: Vec<i64> = added
                    .iter()
                    .filter(|(key, _)| key == k)
                    .map(|&(_, t)| t - t.rem_euclid(size))
                    .filter(|&s| s + size + grace > wm && s + size + grace <= next)
                    .collect();
                starts.sort_unstable();
                starts.dedup();
                for s in starts {
                    let mut v: Vec<i64> = added
                        .iter()
                        .filter(|(key, t)| key == k && t - t.rem_euclid(size) == s)
                        .map(|&(_, t)| t)
                        .collect();
                    v.sort_unstable();
                    want.push(result(k, s, s + size, &v, true));
                }
            }
            want.sort_by(result_order);
            assert_eq!(out, want, "advance {wm} -> {next}");
            wm = wm.max(next);
        }
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
                ("a".to_owned(), 0, Some((vec![1], None))),
                ("b".to_owned(), 10, Some((vec![11], None)))
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
                ("b".to_owned(), 10, Some((vec![11, 12], None)))
            ]
        );

        let mut restored = TumblingWindows::new(Collect, 10, 0);
        restored.restore(WindowState {
            key: "b".to_owned(),
            start_ms: 10,
            acc: vec![11, 12],
            revision: None,
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
            revision: None,
        });
        op.set_watermark(10);
        let mut out = Vec::new();
        op.advance(11, &mut out);
        assert!(out.is_empty());
        assert_eq!(op.open_windows(), 0);
        assert_eq!(op.take_dirty(), vec![("a".to_owned(), 0, None)]);
    }

    fn revised(key: &str, start: i64, value: &[i64], revision: u32) -> WindowResult<Vec<i64>> {
        WindowResult {
            revision,
            ..result(key, start, start + 10, value, true)
        }
    }

    #[test]
    fn late_records_within_allowed_lateness_correct_the_final_with_a_new_revision() {
        // Size 10, grace 5, lateness 20: [0,10) closes at 15 and is kept until 35.
        let mut op = TumblingWindows::new(Collect, 10, 5).with_allowed_lateness(20);
        let mut out = Vec::new();
        op.add("a", 3, &3);
        op.advance(15, &mut out);
        assert_eq!(out, vec![revised("a", 0, &[3], 0)]);
        out.clear();
        assert_eq!(op.open_windows(), 1, "kept for late records");
        // Late but within the allowed lateness: counted; a key that had no window there gets one.
        assert_eq!(op.add("a", 7, &7), Admission::Accepted);
        assert_eq!(op.add("a", 8, &8), Admission::Accepted);
        assert_eq!(op.add("b", 9, &9), Admission::Accepted);
        op.updates(&mut out);
        assert!(out.is_empty(), "a closed window has no updates");
        op.revisions(&mut out);
        assert_eq!(
            out,
            vec![revised("a", 0, &[3, 7, 8], 1), revised("b", 0, &[9], 0)]
        );
        out.clear();
        op.revisions(&mut out);
        assert!(out.is_empty(), "one correction per change");
        // A correction not emitted yet goes out when the window leaves.
        op.add("a", 1, &1);
        op.advance(34, &mut out);
        assert!(out.is_empty());
        op.advance(35, &mut out);
        assert_eq!(out, vec![revised("a", 0, &[1, 3, 7, 8], 2)]);
        out.clear();
        // Past the allowed lateness: late.
        assert_eq!(op.add("a", 9, &9), Admission::Late);
        assert_eq!(op.open_windows(), 0);
        assert_eq!(
            op.take_dirty(),
            vec![],
            "created and removed between two deltas"
        );
    }

    #[test]
    fn closed_windows_are_persisted_with_their_revision_and_restored() {
        let mut op = TumblingWindows::new(Collect, 10, 0).with_allowed_lateness(30);
        let mut out = Vec::new();
        op.add("a", 1, &1);
        op.advance(10, &mut out);
        op.add("a", 2, &2);
        op.revisions(&mut out);
        assert_eq!(out.last(), Some(&revised("a", 0, &[1, 2], 1)));
        let delta = op.take_dirty();
        assert_eq!(
            delta,
            vec![("a".to_owned(), 0, Some((vec![1, 2], Some(1))))]
        );
        let mut restored = TumblingWindows::new(Collect, 10, 0).with_allowed_lateness(30);
        restored.restore(WindowState {
            key: "a".to_owned(),
            start_ms: 0,
            acc: vec![1, 2],
            revision: Some(1),
        });
        restored.set_watermark(10);
        for o in [&mut op, &mut restored] {
            assert_eq!(o.add("a", 3, &3), Admission::Accepted);
            let mut out = Vec::new();
            o.advance(40, &mut out);
            assert_eq!(out, vec![revised("a", 0, &[1, 2, 3], 2)]);
            assert_eq!(o.take_dirty(), vec![("a".to_owned(), 0, None)]);
        }
    }

    /// Random late records against a brute force: after the last watermark, the latest revision
    /// of each window holds exactly the records that arrived before `end + grace + lateness`.
    #[test]
    fn latest_revisions_equal_a_brute_force_count() {
        let (size, grace, lateness) = (10i64, 3i64, 25i64);
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..50 {
            let mut op = TumblingWindows::new(Collect, size, grace).with_allowed_lateness(lateness);
            let mut latest = Latest::new();
            let mut expected: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
            let mut watermark = i64::MIN;
            let mut out = Vec::new();
            for step in 0..300i64 {
                let key = ["a", "b", "c"][(next() % 3) as usize];
                let ts = step + 5 - (next() % 50) as i64;
                add_checked(&mut op, key, ts, &mut expected);
                if next() % 4 == 0 {
                    watermark = watermark.max(step);
                    op.advance(watermark, &mut out);
                }
                if next() % 7 == 0 {
                    op.revisions(&mut out);
                }
            }
            op.advance(i64::MAX, &mut out);
            fold_latest(&mut out, &mut latest);
            assert_eq!(last_values(latest), sorted_lists(&expected));
        }
    }

    #[test]
    fn frozen_windows_give_the_brute_force_results_and_store_through_commits_and_restores() {
        // Commits (corrections, then the saved state, which freezes closed windows) and restores
        // from what was saved, at random between records, some late: every (key, window)'s last
        // final equals a brute-force list of its records, revisions count up across restores, and
        // the saved state always equals the brute force of the windows not yet expired.
        let (size, grace, lateness) = (10i64, 3i64, 25i64);
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let new_op = || TumblingWindows::new(Collect, size, grace).with_allowed_lateness(lateness);
        let (mut froze, mut thawed) = (0usize, 0usize);
        for _ in 0..60 {
            let mut op = new_op();
            let mut store: BTreeMap<(String, i64), (Vec<i64>, Option<u32>)> = BTreeMap::new();
            let mut latest = Latest::new();
            let mut expected: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
            let mut watermark = i64::MIN;
            let mut out = Vec::new();
            for step in 0..300i64 {
                let key = ["a", "b", "c", "d"][(next() % 4) as usize];
                let ts = step + 5 - (next() % 50) as i64;
                let start = ts.div_euclid(size) * size;
                thawed += usize::from(
                    op.frozen
                        .get(&start)
                        .is_some_and(|f| f.keys().any(|k| k == key)),
                );
                add_checked(&mut op, key, ts, &mut expected);
                if next() % 4 == 0 {
                    watermark = watermark.max(step);
                    op.advance(watermark, &mut out);
                }
                if next() % 5 == 0 {
                    // A commit: corrections go out, then the state is saved.
                    op.revisions(&mut out);
                    for (key, start, stored) in op.take_dirty() {
                        match stored {
                            Some((mut acc, revision)) => {
                                acc.sort_unstable();
                                store.insert((key, start), (acc, revision));
                            }
                            None => assert!(store.remove(&(key, start)).is_some()),
                        }
                    }
                    froze += op.frozen.values().map(FrozenWindow::len).sum::<usize>();
                    let mut live = sorted_lists(&expected);
                    live.retain(|(_, s), _| *s + size + grace + lateness > watermark);
                    let saved: BTreeMap<_, _> = store
                        .iter()
                        .map(|(k, (v, _))| (k.clone(), v.clone()))
                        .collect();
                    assert_eq!(saved, live, "saved state at {watermark}");
                    if next() % 3 == 0 {
                        // A restart from the saved state.
                        op = new_op();
                        for ((key, start), (acc, revision)) in &store {
                            op.restore(WindowState {
                                key: key.clone(),
                                start_ms: *start,
                                acc: acc.clone(),
                                revision: *revision,
                            });
                        }
                        op.set_watermark(watermark);
                    }
                }
                fold_latest(&mut out, &mut latest);
            }
            op.advance(i64::MAX, &mut out);
            fold_latest(&mut out, &mut latest);
            for (key, start, stored) in op.take_dirty() {
                assert!(stored.is_none(), "everything expired");
                assert!(store.remove(&(key, start)).is_some());
            }
            assert!(store.is_empty(), "every saved window is deleted: {store:?}");
            assert_eq!(last_values(latest), sorted_lists(&expected));
        }
        assert!(
            froze > 1_000 && thawed > 50,
            "froze {froze}, thawed {thawed}"
        );
    }

    /// Offers `key`'s record at `ts` (its value is `ts`), checks that it is admitted exactly when
    /// its window is not past grace and lateness, and adds what was admitted to `expected`.
    fn add_checked(
        op: &mut TumblingWindows<Collect>,
        key: &str,
        ts: i64,
        expected: &mut BTreeMap<(String, i64), Vec<i64>>,
    ) {
        let start = ts.div_euclid(op.size_ms) * op.size_ms;
        let watermark = op.watermark;
        let admitted = op.add(key, ts, &ts);
        let in_time = start + op.size_ms + op.grace_ms + op.lateness_ms > watermark;
        assert_eq!(
            admitted == Admission::Accepted,
            in_time,
            "ts {ts} at {watermark}"
        );
        if in_time {
            expected
                .entry((key.to_owned(), start))
                .or_default()
                .push(ts);
        }
    }

    /// A xorshift generator from `seed`.
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Each (key, window) -> (revision, value) of its last final.
    type Latest = BTreeMap<(String, i64), (u32, Vec<i64>)>;

    /// Takes `out`'s results into `latest`, checking that each window's revisions count up from 0.
    fn fold_latest(out: &mut Vec<WindowResult<Vec<i64>>>, latest: &mut Latest) {
        for r in out.drain(..) {
            let entry = latest
                .entry((r.key.clone(), r.window.start_ms))
                .or_default();
            assert!(
                r.revision == 0 && entry.1.is_empty() || r.revision == entry.0 + 1,
                "revisions count up: {r:?} after {entry:?}"
            );
            *entry = (r.revision, r.value);
        }
    }

    /// The last final value of each window.
    fn last_values(latest: Latest) -> BTreeMap<(String, i64), Vec<i64>> {
        latest.into_iter().map(|(k, (_, v))| (k, v)).collect()
    }

    /// Each list of `lists` sorted (a brute force's records, kept in arrival order).
    fn sorted_lists(
        lists: &BTreeMap<(String, i64), Vec<i64>>,
    ) -> BTreeMap<(String, i64), Vec<i64>> {
        lists
            .iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                v.sort_unstable();
                (k.clone(), v)
            })
            .collect()
    }
}
