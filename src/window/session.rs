//! Session windows (Kafka Streams' `SessionWindows`): per key, records closer than `gap` to each
//! other form one session `[first, last]`; a record that bridges two sessions merges them. A session
//! is final once no record that is still on time could extend it: `last + gap + grace < watermark`.
//!
//! Open sessions are indexed by the time they close, so a watermark costs only the sessions it
//! closes. Persisted through `processor::state::SessionTable` (a session's state is its start, end
//! and accumulator, which [`super::WindowState`] does not carry).

use std::collections::{BTreeMap, BTreeSet};

use super::{Admission, Aggregate, Window, WindowResult};

/// One open session of one key.
#[derive(Debug, Clone, PartialEq)]
struct Session<Acc> {
    /// Time of its last record.
    end_ms: i64,
    /// The running aggregate.
    acc: Acc,
    /// Changed since the last `take_dirty`.
    dirty: bool,
    /// Changed since the last `updates`.
    updated: bool,
}

/// The persistable state of one session: `(key, start, end, acc)`.
pub type SessionState<Acc> = (String, i64, i64, Acc);

/// One entry of [`SessionWindows::take_dirty`]: key, session start, and the end with the
/// accumulator, or `None` when the session was merged into another or closed.
pub type SessionDelta<Acc> = (String, i64, Option<(i64, Acc)>);

/// When a session whose last record is at `end_ms` closes: `end + gap + grace`.
fn close_ms(end_ms: i64, gap_ms: i64, grace_ms: i64) -> i64 {
    end_ms.saturating_add(gap_ms).saturating_add(grace_ms)
}

/// Gap-based session windows per key over an [`Aggregate`].
///
/// A record at `t` joins every open session of its key with `start - gap <= t <= end + gap`; when
/// it joins two or more, they merge into one (their accumulators through [`Aggregate::merge`]). A
/// record is [`Admission::Late`] when `t < watermark - grace`. Results report the session as a
/// [`Window`] whose `end_ms` is the time of its last record (inclusive).
#[derive(Debug)]
pub struct SessionWindows<A: Aggregate> {
    aggregate: A,
    gap_ms: i64,
    grace_ms: i64,
    watermark_ms: i64,
    /// Open sessions per key, by start.
    sessions: BTreeMap<String, BTreeMap<i64, Session<A::Acc>>>,
    /// Every open session as `(close, key, start)`, `close = end + gap + grace`: kept in step with
    /// `sessions` on every add, merge, close and restore, so `advance` pops what closed.
    closing: BTreeSet<(i64, String, i64)>,
    /// Sessions removed (merged away or closed) since the last `take_dirty`.
    removed: Vec<(String, i64)>,
}

impl<A: Aggregate> SessionWindows<A> {
    /// Sessions that end after `gap_ms` without a record, accepting records up to `grace_ms` behind
    /// the watermark.
    pub fn new(aggregate: A, gap_ms: i64, grace_ms: i64) -> Self {
        SessionWindows {
            aggregate,
            gap_ms: gap_ms.max(0),
            grace_ms: grace_ms.max(0),
            watermark_ms: i64::MIN,
            sessions: BTreeMap::new(),
            closing: BTreeSet::new(),
            removed: Vec::new(),
        }
    }

    /// When a session ending at `end_ms` closes: it is final once the watermark passes this.
    fn close_ms(&self, end_ms: i64) -> i64 {
        close_ms(end_ms, self.gap_ms, self.grace_ms)
    }

    /// Offers one record of `key` at event time `ts_ms`.
    pub fn add(&mut self, key: &str, ts_ms: i64, input: &A::Input) -> Admission {
        if ts_ms < self.watermark_ms.saturating_sub(self.grace_ms) {
            return Admission::Late;
        }
        let (gap, grace) = (self.gap_ms, self.grace_ms);
        if !self.sessions.contains_key(key) {
            self.sessions.insert(key.to_owned(), BTreeMap::new());
        }
        let sessions = self.sessions.get_mut(key).expect("inserted above");
        // Sessions it touches: start <= ts + gap and end >= ts - gap. Starts are ordered and
        // sessions of a key never overlap, so they are a contiguous run ending at or before ts + gap.
        let touching: Vec<i64> = sessions
            .range(..=ts_ms.saturating_add(gap))
            .rev()
            .take_while(|(_, s)| s.end_ms >= ts_ms.saturating_sub(gap))
            .map(|(&start, _)| start)
            .collect();
        // `touching` runs from the latest start down, so the merged session starts at its last one.
        let start = touching.last().map_or(ts_ms, |&s| s.min(ts_ms));
        let mut end = ts_ms;
        let mut acc = self.aggregate.init();
        for s in touching {
            let old = sessions.remove(&s).expect("listed above");
            self.aggregate.merge(&mut acc, &old.acc);
            end = end.max(old.end_ms);
            self.closing
                .remove(&(close_ms(old.end_ms, gap, grace), key.to_owned(), s));
            // A session merged into another under a new start is a delete; the one whose start the
            // merged session keeps is simply written again.
            if s != start {
                self.removed.push((key.to_owned(), s));
            }
        }
        self.aggregate.add(&mut acc, input);
        sessions.insert(
            start,
            Session {
                end_ms: end,
                acc,
                dirty: true,
                updated: true,
            },
        );
        self.closing
            .insert((close_ms(end, gap, grace), key.to_owned(), start));
        Admission::Accepted
    }

    /// Moves the watermark to `watermark_ms` (never backwards) and appends the final result of every
    /// session with `end + gap + grace < watermark`, forgetting it. Costs `O(closed * log open)`:
    /// sessions still open are not visited.
    pub fn advance(&mut self, watermark_ms: i64, out: &mut Vec<WindowResult<A::Output>>) {
        self.watermark_ms = self.watermark_ms.max(watermark_ms);
        while self
            .closing
            .first()
            .is_some_and(|(close, _, _)| *close < self.watermark_ms)
        {
            let (_, key, start) = self.closing.pop_first().expect("checked above");
            let sessions = self.sessions.get_mut(&key).expect("indexed sessions exist");
            let s = sessions.remove(&start).expect("indexed sessions exist");
            if sessions.is_empty() {
                self.sessions.remove(&key);
            }
            out.push(result(&self.aggregate, &key, start, &s, true));
            self.removed.push((key, start));
        }
    }

    /// Calls `f` with every open session of every key starting with `prefix`, as `(key, start, end,
    /// accumulator)`, to add to it what is not a record of the session itself (chat said during a
    /// stream, beside its snapshots). A session whose accumulator `f` changed (it returns true) is
    /// written at the next commit and reported by the next `updates`; none is extended or merged.
    pub fn update_prefix(
        &mut self,
        prefix: &str,
        mut f: impl FnMut(&str, i64, i64, &mut A::Acc) -> bool,
    ) {
        let keys = self
            .sessions
            .range_mut::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(key, _)| key.starts_with(prefix));
        for (key, sessions) in keys {
            for (&start, s) in sessions.iter_mut() {
                if f(key, start, s.end_ms, &mut s.acc) {
                    s.dirty = true;
                    s.updated = true;
                }
            }
        }
    }

    /// Closes every open session of every key starting with `prefix` now, before its gap has
    /// passed, and appends their final results (a stream that reported its own end). A record of
    /// such a key that comes later starts a new session.
    pub fn close_prefix(&mut self, prefix: &str, out: &mut Vec<WindowResult<A::Output>>) {
        let keys: Vec<String> = self
            .sessions
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            let sessions = self.sessions.remove(&key).expect("listed above");
            for (start, s) in sessions {
                self.closing
                    .remove(&(self.close_ms(s.end_ms), key.clone(), start));
                out.push(result(&self.aggregate, &key, start, &s, true));
                self.removed.push((key.clone(), start));
            }
        }
    }

    /// Appends the current result of every session changed since the last call (`emit = "update"`).
    pub fn updates(&mut self, out: &mut Vec<WindowResult<A::Output>>) {
        for (key, sessions) in &mut self.sessions {
            for (&start, s) in sessions.iter_mut().filter(|(_, s)| s.updated) {
                s.updated = false;
                out.push(result(&self.aggregate, key, start, s, false));
            }
        }
    }

    /// The state changed since the last call: upserts of changed sessions, deletes of sessions merged
    /// away or closed.
    pub fn take_dirty(&mut self) -> Vec<SessionDelta<A::Acc>> {
        let mut deltas: Vec<SessionDelta<A::Acc>> = std::mem::take(&mut self.removed)
            .into_iter()
            .map(|(key, start)| (key, start, None))
            .collect();
        for (key, sessions) in &mut self.sessions {
            for (&start, s) in sessions.iter_mut().filter(|(_, s)| s.dirty) {
                s.dirty = false;
                deltas.push((key.clone(), start, Some((s.end_ms, s.acc.clone()))));
            }
        }
        deltas
    }

    /// Restores one persisted session, before any `add`.
    pub fn restore(&mut self, (key, start, end, acc): SessionState<A::Acc>) {
        self.closing
            .insert((self.close_ms(end), key.clone(), start));
        let replaced = self.sessions.entry(key.clone()).or_default().insert(
            start,
            Session {
                end_ms: end,
                acc,
                dirty: false,
                updated: false,
            },
        );
        // An entry restored twice (a store, then its changelog) keeps one index entry.
        if let Some(old) = replaced.filter(|old| old.end_ms != end) {
            self.closing
                .remove(&(self.close_ms(old.end_ms), key, start));
        }
    }

    /// Sets the watermark without emitting (after a restore).
    pub fn set_watermark(&mut self, watermark_ms: i64) {
        self.watermark_ms = self.watermark_ms.max(watermark_ms);
    }

    /// The current watermark (`i64::MIN` before any).
    pub fn watermark(&self) -> i64 {
        self.watermark_ms
    }

    /// Open sessions held in memory.
    pub fn open_windows(&self) -> usize {
        self.closing.len()
    }

    /// Appends the current (not final) result of every open session whose key starts with `prefix`
    /// (all sessions of a channel when keys are `channel user`), in key then start order, without
    /// changing anything: what an interactive query shows.
    pub fn peek_prefix(&self, prefix: &str, out: &mut Vec<WindowResult<A::Output>>) {
        let keys = self
            .sessions
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(key, _)| key.starts_with(prefix));
        for (key, sessions) in keys {
            for (&start, s) in sessions {
                out.push(result(&self.aggregate, key, start, s, false));
            }
        }
    }
}

/// The result of session `s` of `key` starting at `start`, reported as a window that ends at its
/// last record.
fn result<A: Aggregate>(
    aggregate: &A,
    key: &str,
    start: i64,
    s: &Session<A::Acc>,
    is_final: bool,
) -> WindowResult<A::Output> {
    WindowResult {
        key: key.to_owned(),
        window: Window {
            start_ms: start,
            end_ms: s.end_ms,
        },
        value: aggregate.finish(&s.acc),
        is_final,
        revision: 0,
    }
}

#[cfg(test)]
impl<A: Aggregate> SessionWindows<A> {
    /// The close index rebuilt from the sessions, to compare with the one kept in step.
    fn index_from_sessions(&self) -> BTreeSet<(i64, String, i64)> {
        self.sessions
            .iter()
            .flat_map(|(key, sessions)| {
                sessions
                    .iter()
                    .map(|(&start, s)| (self.close_ms(s.end_ms), key.clone(), start))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::window::aggregate::CountRecords as Count;

    /// Brute force: sort a key's times and cut where two neighbours are more than `gap` apart.
    fn sessionize(times: &[(String, i64)], gap: i64) -> Vec<(String, i64, i64, u64)> {
        let mut by_key: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (k, t) in times {
            by_key.entry(k).or_default().push(*t);
        }
        let mut out = Vec::new();
        for (k, mut ts) in by_key {
            ts.sort_unstable();
            let (mut start, mut end, mut n) = (ts[0], ts[0], 0);
            for t in ts {
                if t - end > gap {
                    out.push((k.to_owned(), start, end, n));
                    (start, n) = (t, 0);
                }
                end = t;
                n += 1;
            }
            out.push((k.to_owned(), start, end, n));
        }
        out.sort();
        out
    }

    /// A small deterministic generator (xorshift), so the test needs no crate.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn out_of_order_records_within_grace_give_the_brute_force_sessions() {
        let (gap, grace) = (300_000, 60_000);
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for round in 0..50 {
            // Records of 3 keys over 2 hours, bursts and silences, shuffled by up to `grace`.
            let mut records: Vec<(String, i64)> = Vec::new();
            let mut t = 1_700_000_000_000i64;
            for _ in 0..400 {
                t += (next(&mut seed) % 200_000) as i64
                    + if next(&mut seed) % 10 == 0 {
                        400_000
                    } else {
                        0
                    };
                records.push((format!("k{}", next(&mut seed) % 3), t));
            }
            let mut arrival: Vec<(i64, usize)> = records
                .iter()
                .enumerate()
                .map(|(i, (_, t))| (t + (next(&mut seed) % grace as u64) as i64, i))
                .collect();
            arrival.sort_unstable();
            let mut op = SessionWindows::new(Count, gap, grace);
            let mut results = Vec::new();
            let mut max_seen = i64::MIN;
            for (_, i) in arrival {
                let (k, t) = &records[i];
                assert_eq!(op.add(k, *t, &()), Admission::Accepted, "round {round}");
                max_seen = max_seen.max(*t);
                op.advance(max_seen, &mut results);
                assert_eq!(op.closing, op.index_from_sessions(), "round {round}");
            }
            op.advance(i64::MAX, &mut results);
            let mut got: Vec<_> = results
                .iter()
                .map(|r| (r.key.clone(), r.window.start_ms, r.window.end_ms, r.value))
                .collect();
            got.sort();
            assert_eq!(got, sessionize(&records, gap), "round {round}");
            assert_eq!(op.open_windows(), 0);
        }
    }

    #[test]
    fn a_bridging_record_merges_two_sessions_and_deletes_the_later_one() {
        let mut op = SessionWindows::new(Count, 10, 100);
        op.add("a", 0, &());
        op.add("a", 20, &());
        assert_eq!(op.open_windows(), 2);
        assert_eq!(op.take_dirty().len(), 2);
        // 10 is within the gap of both: one session [0, 20] of three records.
        op.add("a", 10, &());
        assert_eq!(op.open_windows(), 1);
        let mut deltas = op.take_dirty();
        deltas.sort_by_key(|d| d.1);
        assert_eq!(
            deltas,
            [
                ("a".to_owned(), 0, Some((20, 3))),
                ("a".to_owned(), 20, None)
            ]
        );
        let mut out = Vec::new();
        op.advance(20 + 10 + 100, &mut out);
        assert!(
            out.is_empty(),
            "end + gap + grace is not yet below the watermark"
        );
        op.advance(20 + 10 + 100 + 1, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].window, out[0].value),
            (
                Window {
                    start_ms: 0,
                    end_ms: 20
                },
                3
            )
        );
        assert_eq!(op.take_dirty(), [("a".to_owned(), 0, None)]);
    }

    #[test]
    fn records_behind_the_grace_are_late_and_a_restore_resumes() {
        let mut op = SessionWindows::new(Count, 10, 5);
        op.add("a", 100, &());
        op.advance(100, &mut Vec::new());
        assert_eq!(op.add("a", 94, &()), Admission::Late);
        assert_eq!(op.add("a", 95, &()), Admission::Accepted);
        let saved: Vec<_> = op
            .take_dirty()
            .into_iter()
            .filter_map(|(k, s, v)| v.map(|(e, acc)| (k, s, e, acc)))
            .collect();
        let mut restored = SessionWindows::new(Count, 10, 5);
        for s in saved {
            restored.restore(s);
        }
        restored.set_watermark(100);
        restored.add("a", 108, &());
        let mut out = Vec::new();
        restored.advance(i64::MAX, &mut out);
        assert_eq!(
            (out[0].window, out[0].value),
            (
                Window {
                    start_ms: 95,
                    end_ms: 108
                },
                3
            )
        );
    }

    #[test]
    fn the_close_index_follows_merges_so_a_merged_session_closes_at_its_new_end() {
        let (gap, grace) = (10, 100);
        let mut op = SessionWindows::new(Count, gap, grace);
        op.add("a", 0, &());
        op.add("a", 20, &());
        op.add("b", 5, &());
        let closes = |op: &SessionWindows<Count>| -> Vec<(i64, String, i64)> {
            assert_eq!(op.closing, op.index_from_sessions());
            op.closing.iter().cloned().collect()
        };
        assert_eq!(
            closes(&op),
            [
                (110, "a".into(), 0),
                (115, "b".into(), 5),
                (130, "a".into(), 20)
            ]
        );
        // 10 bridges [0] and [20]: one entry for [0, 20], none left for [0] alone.
        op.add("a", 10, &());
        assert_eq!(closes(&op), [(115, "b".into(), 5), (130, "a".into(), 0)]);
        // A record before a session's start moves its start: the entry moves with it.
        op.add("b", -3, &());
        assert_eq!(closes(&op), [(115, "b".into(), -3), (130, "a".into(), 0)]);

        let mut out = Vec::new();
        op.advance(111, &mut out);
        assert!(out.is_empty(), "[0]'s old close time closes nothing");
        op.advance(116, &mut out);
        op.advance(130, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        op.advance(131, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|r| (r.key.as_str(), r.window.start_ms, r.window.end_ms, r.value))
            .collect();
        assert_eq!(got, [("b", -3, 5, 2), ("a", 0, 20, 3)]);
        assert!(closes(&op).is_empty());
        assert_eq!(op.open_windows(), 0);

        // A restored session is indexed like an added one, once even when restored twice.
        let mut restored = SessionWindows::new(Count, gap, grace);
        restored.restore(("a".into(), 0, 20, 3));
        restored.restore(("a".into(), 0, 25, 4));
        assert_eq!(closes(&restored), [(135, "a".into(), 0)]);
    }

    #[test]
    fn peek_prefix_shows_the_open_sessions_of_one_channel_only() {
        let mut op = SessionWindows::new(Count, 10, 0);
        op.add("nymn alice", 0, &());
        op.add("nymn bob", 3, &());
        op.add("nymn bob", 50, &());
        op.add("nymnn carol", 1, &());
        op.add("forsen dave", 2, &());
        let mut open = Vec::new();
        op.peek_prefix("nymn ", &mut open);
        let got: Vec<_> = open
            .iter()
            .map(|r| (r.key.as_str(), r.window.start_ms, r.is_final))
            .collect();
        assert_eq!(
            got,
            [
                ("nymn alice", 0, false),
                ("nymn bob", 3, false),
                ("nymn bob", 50, false)
            ]
        );
        assert_eq!(op.take_dirty().len(), 5, "peeking changes nothing");
    }

    #[test]
    fn update_prefix_changes_only_the_sessions_of_its_prefix_and_marks_them_changed() {
        let mut op = SessionWindows::new(Count, 10, 0);
        op.add("nymn 1", 0, &());
        op.add("nymn 1", 5, &());
        op.add("nymnn -", 1, &());
        op.add("forsen -", 2, &());
        op.take_dirty();
        let mut seen = Vec::new();
        op.update_prefix("nymn ", |key, start, end, acc| {
            seen.push((key.to_owned(), start, end));
            *acc += 10;
            true
        });
        assert_eq!(seen, [("nymn 1".to_owned(), 0, 5)]);
        let dirty = op.take_dirty();
        assert_eq!(dirty, [("nymn 1".to_owned(), 0, Some((5, 12)))]);
        // Unchanged when `f` says so; the session keeps its end and closes as before.
        op.update_prefix("nymn ", |_, _, _, _| false);
        assert!(op.take_dirty().is_empty());
        let mut out = Vec::new();
        op.advance(16, &mut out);
        assert_eq!(
            out.iter()
                .map(|r| (r.key.as_str(), r.value))
                .collect::<Vec<_>>(),
            [("nymnn -", 1), ("forsen -", 1), ("nymn 1", 12)]
        );
    }

    #[test]
    fn close_prefix_ends_a_key_s_sessions_now_and_a_later_record_starts_a_new_one() {
        let mut op = SessionWindows::new(Count, 100, 0);
        op.add("nymn 1", 0, &());
        op.add("nymn 1", 50, &());
        op.add("forsen -", 10, &());
        let mut out = Vec::new();
        op.close_prefix("nymn ", &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|r| {
                (
                    r.key.as_str(),
                    r.window.start_ms,
                    r.window.end_ms,
                    r.value,
                    r.is_final,
                )
            })
            .collect();
        assert_eq!(got, [("nymn 1", 0, 50, 2, true)]);
        assert_eq!(op.open_windows(), 1);
        assert_eq!(op.index_from_sessions(), op.closing);
        assert!(op.take_dirty().contains(&("nymn 1".to_owned(), 0, None)));
        // Within the gap of the closed session, yet a new session.
        op.add("nymn 1", 60, &());
        out.clear();
        op.advance(1_000, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|r| (r.key.as_str(), r.window.start_ms, r.value))
            .collect();
        assert_eq!(got, [("forsen -", 10, 1), ("nymn 1", 60, 1)]);
    }
}
