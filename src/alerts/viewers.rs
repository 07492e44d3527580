//! Viewers fell or rose by at least a percentage within a span: each viewer figure (an audience
//! minute's `viewers`, or a live `twitch.streams` snapshot's) is compared with the highest (for a
//! fall) or lowest (for a rise) figure of the channel in the span before it. A figure of 0, or an
//! offline snapshot, means the stream is off (a `stream_end` snapshot reads 0 viewers): the memory
//! is cleared, so a stream's end is not a fall and its next start not a rise.

use serde::{Deserialize, Serialize};

use super::alert::Alert;
use super::kind::AlertKind;
use super::rule::{first_final, Row, Rule};
use super::words::{clock, count, percent, span};

/// Which way the viewers must move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Direction {
    /// Fall by at least this many percent of the span's highest figure.
    Drop(f64),
    /// Rise by at least this many percent over the span's lowest figure.
    Rise(f64),
}

/// The viewer-change rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewerChange {
    /// The direction and percentage.
    pub direction: Direction,
    /// The span before each figure it is compared over, ms (inclusive).
    pub within_ms: i64,
    /// The larger of the two figures compared must be at least this.
    pub min_viewers: i64,
}

/// A channel's viewer figures of the last span, oldest first: `[time, viewers]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewerMemory {
    points: Vec<(i64, i64)>,
}

impl ViewerChange {
    /// The figure the current one is compared with among `points`: the highest for a fall, the
    /// lowest positive one for a rise, the latest of equal ones, as `(time, viewers)`.
    fn reference(&self, points: &[(i64, i64)]) -> Option<(i64, i64)> {
        let mut best: Option<(i64, i64)> = None;
        for &(t, v) in points {
            let better = match self.direction {
                Direction::Drop(_) => best.is_none_or(|(_, b)| v >= b),
                Direction::Rise(_) => v >= 1 && best.is_none_or(|(_, b)| v <= b),
            };
            if better {
                best = Some((t, v));
            }
        }
        best
    }

    /// Whether `viewers` against `reference` meets the rule (exact for whole percentages).
    fn met(&self, viewers: i64, reference: i64) -> bool {
        let (v, r) = (viewers as f64 * 100.0, reference as f64);
        match self.direction {
            Direction::Drop(pct) => reference > 0 && v <= r * (100.0 - pct),
            Direction::Rise(pct) => v >= r * (100.0 + pct),
        }
    }
}

impl Rule for ViewerChange {
    type Memory = ViewerMemory;

    fn read(&self, row: &Row<'_>, memory: &mut ViewerMemory) -> Result<Option<Alert>, String> {
        let value = row.value;
        let offline = value.get("live").and_then(serde_json::Value::as_bool) == Some(false);
        let viewers = match value.get("viewers") {
            None => return Err("field viewers is missing: not a viewer figure (an audience minute or a stream snapshot)".into()),
            Some(serde_json::Value::Null) => return Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("viewers {v} is not a whole number of at least 0"))?,
        };
        if !first_final(value) {
            return Ok(None);
        }
        if offline || viewers == 0 {
            // The stream is off: its end is the stream_end rule's, not a fall.
            memory.points.clear();
            return Ok(None);
        }
        let t = row.ts_ms;
        if memory.points.last().is_some_and(|&(last, _)| t <= last) {
            // Repeated or older: already judged.
            return Ok(None);
        }
        memory.points.retain(|&(s, _)| t - s <= self.within_ms);
        let found = self.reference(&memory.points).and_then(|(s, r)| {
            let change = (viewers - r) as f64 / r as f64 * 100.0;
            let (kind, pct) = match self.direction {
                Direction::Drop(pct) => (AlertKind::ViewersDrop, pct),
                Direction::Rise(pct) => (AlertKind::ViewersRise, pct),
            };
            (self.met(viewers, r) && viewers.max(r) >= self.min_viewers).then(|| {
                let verb = if kind == AlertKind::ViewersDrop {
                    "fell"
                } else {
                    "rose"
                };
                let threshold = match self.direction {
                    Direction::Drop(_) => r as f64 * (1.0 - pct / 100.0),
                    Direction::Rise(_) => r as f64 * (1.0 + pct / 100.0),
                };
                Alert {
                    alert_id: String::new(),
                    rule: String::new(),
                    kind: kind.as_str().to_owned(),
                    channel: row.channel.to_owned(),
                    window_start: s,
                    window_end: t,
                    value: viewers as f64,
                    reference: Some(r as f64),
                    threshold: Some(threshold),
                    figures: Default::default(),
                    cause: None,
                    cause_detail: None,
                    sentence: format!(
                        "{}'s viewers {verb} {} in {}, from {} at {} to {} at {}.",
                        row.channel,
                        percent(change),
                        span(t - s),
                        count(r),
                        clock(s),
                        count(viewers),
                        clock(t),
                    ),
                }
                .figure("change_pct", (change * 10.0).round() / 10.0)
                .figure("span_s", ((t - s) / 1000) as f64)
            })
        });
        memory.points.push((t, viewers));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    const MIN: i64 = 60_000;

    fn run(rule: &ViewerChange, series: &[(i64, Option<i64>)]) -> Vec<Alert> {
        let mut memory = ViewerMemory::default();
        let mut out = Vec::new();
        for &(t, v) in series {
            let value = json!({"channel": "nymn", "viewers": v, "final": true, "revision": 0});
            let row = Row {
                channel: "nymn",
                ts_ms: t,
                value: &value,
            };
            out.extend(rule.read(&row, &mut memory).unwrap());
        }
        out
    }

    /// The definition, by brute force: for each figure, every earlier figure within the span;
    /// the extreme one (latest among equals) decides.
    fn brute(rule: &ViewerChange, series: &[(i64, Option<i64>)]) -> Vec<(i64, i64, i64, i64)> {
        let known: Vec<(i64, i64)> = series.iter().filter_map(|&(t, v)| Some((t, v?))).collect();
        let mut out = Vec::new();
        for (i, &(t, v)) in known.iter().enumerate() {
            // Since the last 0 (the stream was off).
            let from = known[..i]
                .iter()
                .rposition(|&(_, r)| r == 0)
                .map_or(0, |z| z + 1);
            if v == 0 {
                continue;
            }
            let before: Vec<(i64, i64)> = known[from..i]
                .iter()
                .copied()
                .filter(|&(s, _)| t - s <= rule.within_ms)
                .collect();
            let pick = match rule.direction {
                Direction::Drop(_) => before.iter().copied().max_by_key(|&(s, r)| (r, s)),
                Direction::Rise(_) => before
                    .iter()
                    .copied()
                    .filter(|&(_, r)| r >= 1)
                    .min_by_key(|&(s, r)| (r, -s)),
            };
            let Some((s, r)) = pick else { continue };
            let ok = match rule.direction {
                Direction::Drop(p) => r > 0 && (v as f64) <= r as f64 * (1.0 - p / 100.0) + 1e-9,
                Direction::Rise(p) => (v as f64) >= r as f64 * (1.0 + p / 100.0) - 1e-9,
            };
            if ok && v.max(r) >= rule.min_viewers {
                out.push((s, t, r, v));
            }
        }
        out
    }

    /// A deterministic wandering series with gaps, nulls and sharp moves.
    fn series(seed: u64, n: usize) -> Vec<(i64, Option<i64>)> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut v: i64 = 500;
        let mut t = 0;
        let mut out = Vec::new();
        for _ in 0..n {
            t += MIN * (1 + (next() % 3) as i64);
            let r = next() % 100;
            v = match r {
                0..=3 => v / 3,
                4..=7 => v * 3 + 10,
                8..=40 => v + (next() % 50) as i64 - 25,
                _ => v,
            }
            .max(0);
            out.push((t, (next() % 20 != 0).then_some(v)));
        }
        out
    }

    #[test]
    fn falls_and_rises_equal_the_brute_force_over_generated_series() {
        for seed in 1..40u64 {
            let s = series(seed, 300);
            for direction in [Direction::Drop(30.0), Direction::Rise(50.0)] {
                let rule = ViewerChange {
                    direction,
                    within_ms: 10 * MIN,
                    min_viewers: 100,
                };
                let got: Vec<(i64, i64, i64, i64)> = run(&rule, &s)
                    .iter()
                    .map(|t| {
                        (
                            t.window_start,
                            t.window_end,
                            t.reference.unwrap() as i64,
                            t.value as i64,
                        )
                    })
                    .collect();
                assert_eq!(got, brute(&rule, &s), "seed {seed} {direction:?}");
            }
        }
    }

    #[test]
    fn a_fall_reads_as_a_sentence_with_its_figures() {
        let rule = ViewerChange {
            direction: Direction::Drop(30.0),
            within_ms: 10 * MIN,
            min_viewers: 100,
        };
        // 2024-01-06T16:00Z
        let t0 = 1_704_556_800_000;
        let got = run(
            &rule,
            &[
                (t0, Some(5_200)),
                (t0 + 4 * MIN, Some(5_000)),
                (t0 + 9 * MIN, Some(3_016)),
            ],
        );
        assert_eq!(got.len(), 1);
        let a = &got[0];
        assert_eq!(a.kind, "viewers_drop");
        assert_eq!((a.window_start, a.window_end), (t0, t0 + 9 * MIN));
        assert_eq!(
            a.sentence,
            "nymn's viewers fell 42% in 9 min, from 5,200 at 16:00 UTC to 3,016 at 16:09 UTC."
        );
        assert_eq!(a.figures["change_pct"], -42.0);
        assert_eq!(a.threshold, Some(5_200.0 * 0.7));
        // Below the minimum audience: nothing.
        let small = ViewerChange {
            min_viewers: 10_000,
            ..rule
        };
        assert!(run(&small, &[(t0, Some(5_200)), (t0 + MIN, Some(1_000))]).is_empty());
    }

    #[test]
    fn offline_snapshots_clear_the_memory_and_repeats_are_ignored() {
        let rule = ViewerChange {
            direction: Direction::Drop(30.0),
            within_ms: 10 * MIN,
            min_viewers: 1,
        };
        let mut memory = ViewerMemory::default();
        let read = |memory: &mut ViewerMemory, t: i64, value: Value| {
            rule.read(
                &Row {
                    channel: "c",
                    ts_ms: t,
                    value: &value,
                },
                memory,
            )
            .unwrap()
        };
        assert!(read(&mut memory, 0, json!({"live": true, "viewers": 1000})).is_none());
        assert!(read(&mut memory, MIN, json!({"live": false, "viewers": 3})).is_none());
        assert!(read(&mut memory, 2 * MIN, json!({"live": true, "viewers": 10})).is_none());
        // A repeat of an older row, and an update, change nothing.
        assert!(read(&mut memory, MIN, json!({"viewers": 1})).is_none());
        assert!(read(&mut memory, 3 * MIN, json!({"viewers": 1, "final": false})).is_none());
        assert!(read(&mut memory, 4 * MIN, json!({"viewers": 5})).is_some());
        // 0 viewers: off, forgotten.
        assert!(read(&mut memory, 5 * MIN, json!({"viewers": 0})).is_none());
        assert!(read(&mut memory, 6 * MIN, json!({"viewers": 1})).is_none());
        let e = rule.read(
            &Row {
                channel: "c",
                ts_ms: 0,
                value: &json!({"x": 1}),
            },
            &mut memory,
        );
        assert!(e.unwrap_err().starts_with("field viewers is missing"));
    }
}
