//! A stream went live (`twitch.streams` snapshots): a snapshot that says `stream_start`, the first
//! live snapshot after the channel was offline or unseen for `gap`, or one with a new `started_at`.
//! The triggering moment is the stream's `started_at` when Helix reports it, else the poll time, so
//! every way of noticing one stream gives one alert id.

use serde::{Deserialize, Serialize};

use super::alert::Alert;
use super::kind::AlertKind;
use super::rule::{Row, Rule};
use super::words::{clock, count};
use crate::audience::snapshot::Snapshot;

/// The stream-start rule.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStart {
    /// A live snapshot this long after the previous live one starts a new stream.
    pub gap_ms: i64,
}

/// A channel's live stream as the rule last saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveMemory {
    /// The latest live poll, while live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    live_at: Option<i64>,
    /// Its `started_at`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_at: Option<i64>,
    /// The latest poll read, live or not, so a repeat is not read twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<i64>,
}

impl Rule for StreamStart {
    type Memory = LiveMemory;

    fn read(&self, row: &Row<'_>, memory: &mut LiveMemory) -> Result<Option<Alert>, String> {
        let s = Snapshot::read(row.channel, row.ts_ms, row.value)
            .map_err(|e| format!("not a stream snapshot (twitch.streams): {e}"))?;
        if memory.last.is_some_and(|last| s.ts_ms <= last) {
            return Ok(None);
        }
        memory.last = Some(s.ts_ms);
        if !s.live || s.stream_end {
            memory.live_at = None;
            memory.started_at = None;
            return Ok(None);
        }
        let said =
            row.value.get("event").and_then(serde_json::Value::as_str) == Some("stream_start");
        let new_start = matches!((s.started_at, memory.started_at), (Some(a), Some(b)) if a != b);
        let gap = memory.live_at.is_none_or(|at| s.ts_ms - at > self.gap_ms);
        let is_start = said || new_start || gap;
        memory.live_at = Some(s.ts_ms);
        memory.started_at = s.started_at.or(memory.started_at);
        if !is_start {
            return Ok(None);
        }
        let at = s.started_at.unwrap_or(s.ts_ms);
        let what = match (&s.title, &s.game) {
            (Some(t), Some(g)) => format!(": \"{t}\" ({g})"),
            (Some(t), None) => format!(": \"{t}\""),
            (None, Some(g)) => format!(" ({g})"),
            (None, None) => String::new(),
        };
        Ok(Some(
            Alert {
                alert_id: String::new(),
                rule: String::new(),
                kind: AlertKind::StreamStart.as_str().to_owned(),
                channel: row.channel.to_owned(),
                window_start: at,
                window_end: at,
                value: s.viewers as f64,
                reference: None,
                threshold: None,
                figures: Default::default(),
                cause: None,
                cause_detail: None,
                sentence: format!(
                    "{} went live at {}{what}, {} viewers at {}.",
                    row.channel,
                    clock(at),
                    count(s.viewers),
                    clock(s.ts_ms)
                ),
            }
            .maybe("followers", s.followers.map(|f| f as f64)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    const MIN: i64 = 60_000;
    /// 2024-01-06T16:00:00Z
    const T: i64 = 1_704_556_800_000;

    fn read(rule: &StreamStart, m: &mut LiveMemory, t: i64, v: Value) -> Option<Alert> {
        rule.read(
            &Row {
                channel: "nymn",
                ts_ms: t,
                value: &v,
            },
            m,
        )
        .unwrap()
    }

    #[test]
    fn a_stream_starts_once_however_it_is_noticed() {
        let rule = StreamStart { gap_ms: 30 * MIN };
        let mut m = LiveMemory::default();
        let live = |viewers: i64, started: Option<i64>| {
            json!({"channel": "nymn", "live": true, "viewers": viewers, "title": "hi",
                   "game": "Just Chatting", "started_at": started})
        };
        let a = read(&rule, &mut m, T, live(1_000, Some(T - 5 * MIN))).unwrap();
        assert_eq!((a.window_start, a.window_end), (T - 5 * MIN, T - 5 * MIN));
        assert_eq!(
            a.sentence,
            "nymn went live at 15:55 UTC: \"hi\" (Just Chatting), 1,000 viewers at 16:00 UTC."
        );
        assert!(read(&rule, &mut m, T + MIN, live(1_100, Some(T - 5 * MIN))).is_none());
        // A repeat is read once.
        assert!(read(&rule, &mut m, T + MIN, live(1_100, Some(T - 5 * MIN))).is_none());
        // A new started_at within the gap: a new stream.
        let b = read(&rule, &mut m, T + 2 * MIN, live(50, Some(T + 2 * MIN))).unwrap();
        assert_eq!(b.window_start, T + 2 * MIN);
        // Offline, then live again without started_at: a new stream at the poll.
        assert!(read(
            &rule,
            &mut m,
            T + 3 * MIN,
            json!({"live": false, "viewers": 0})
        )
        .is_none());
        let c = read(&rule, &mut m, T + 4 * MIN, live(10, None)).unwrap();
        assert_eq!(c.window_start, T + 4 * MIN);
        // A gap longer than `gap`: a new stream; the event says so too.
        let d = read(&rule, &mut m, T + 40 * MIN, live(10, None)).unwrap();
        assert_eq!(d.window_start, T + 40 * MIN);
        let mut said = live(10, None);
        said["event"] = "stream_start".into();
        assert!(read(&rule, &mut m, T + 41 * MIN, said).is_some());
        assert!(rule
            .read(
                &Row {
                    channel: "nymn",
                    ts_ms: T + 50 * MIN,
                    value: &json!({})
                },
                &mut m
            )
            .is_err());
    }
}
