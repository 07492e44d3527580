//! One `twitch.streams` row read for audience analytics: the fields of `chatpulse monitor`'s
//! snapshot (`avro/stream_snapshot.avsc`) or of a recorded snapshot log, whichever way the row was
//! decoded (JSON or Avro; times as epoch milliseconds or ISO-8601 text).

use serde_json::Value;

use crate::table::row::time_of;

/// A snapshot row, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The channel (lowercase login).
    pub channel: String,
    /// Whether the channel was live at `ts` (true when the row does not say: a recorded log's row
    /// means live).
    pub live: bool,
    /// Concurrent viewers.
    pub viewers: i64,
    /// Follower total, when known.
    pub followers: Option<i64>,
    /// Category, when known.
    pub game: Option<String>,
    /// Title, when known.
    pub title: Option<String>,
    /// When the stream started, epoch ms, when known.
    pub started_at: Option<i64>,
    /// Poll time, epoch ms.
    pub ts_ms: i64,
    /// Whether this poll found the stream ended (`event = "stream_end"`).
    pub stream_end: bool,
}

impl Snapshot {
    /// Reads `row` (keyed `key`, at event time `ts_ms`), or says what is wrong with it.
    pub fn read(key: &str, ts_ms: i64, row: &Value) -> Result<Snapshot, String> {
        let text = |name: &str| match row.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let count = |name: &str| -> Result<Option<i64>, String> {
            match row.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .filter(|n| *n >= 0)
                    .map(Some)
                    .ok_or_else(|| format!("{name} {v} is not a whole number of at least 0")),
            }
        };
        let viewers =
            count("viewers")?.ok_or("viewers is missing: a snapshot has a viewer count")?;
        let started_at = match row.get("started_at") {
            None | Some(Value::Null) => None,
            Some(v) => Some(time_of(v).ok_or_else(|| {
                format!("started_at {v} is neither epoch milliseconds nor ISO-8601")
            })?),
        };
        let channel = text("channel").unwrap_or_else(|| key.to_owned());
        Ok(Snapshot {
            channel: channel.trim_start_matches('#').to_lowercase(),
            live: row.get("live").and_then(Value::as_bool).unwrap_or(true),
            viewers,
            followers: count("followers")?,
            game: text("game"),
            title: text("title"),
            started_at,
            ts_ms,
            stream_end: row.get("event").and_then(Value::as_str) == Some("stream_end"),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_monitor_rows_and_recorded_rows_alike() {
        let monitor = json!({"channel": "nymn", "user_id": "1", "live": true, "viewers": 4120,
            "game": "Just Chatting", "title": "hi", "started_at": 1_704_555_000_000i64,
            "language": "en", "followers": 900, "ts": 1_704_557_984_000i64, "event": null});
        let s = Snapshot::read("nymn", 1_704_557_984_000, &monitor).unwrap();
        assert_eq!(
            (s.live, s.viewers, s.followers, s.started_at, s.stream_end),
            (true, 4120, Some(900), Some(1_704_555_000_000), false)
        );
        assert_eq!(
            (s.game.as_deref(), s.title.as_deref()),
            (Some("Just Chatting"), Some("hi"))
        );
        // A recorded row: no live flag (it means live), times as text, empty columns as null.
        let recorded = json!({"channel": "NymN", "viewers": 10, "started_at": "2024-01-06T15:30:00Z",
            "game": null, "followers": null});
        let s = Snapshot::read("x", 5, &recorded).unwrap();
        assert_eq!(
            (s.channel.as_str(), s.live, s.followers),
            ("nymn", true, None)
        );
        assert_eq!(s.started_at, Some(1_704_555_000_000));
        let end = json!({"channel": "nymn", "live": false, "viewers": 0, "event": "stream_end"});
        let s = Snapshot::read("nymn", 9, &end).unwrap();
        assert!(!s.live && s.stream_end);
    }

    #[test]
    fn a_row_without_viewers_or_with_a_bad_time_is_refused_with_the_reason() {
        let e = Snapshot::read("nymn", 0, &json!({"channel": "nymn"})).unwrap_err();
        assert!(e.contains("viewers is missing"), "{e}");
        let e = Snapshot::read("nymn", 0, &json!({"viewers": -3})).unwrap_err();
        assert!(e.contains("viewers -3"), "{e}");
        let e = Snapshot::read("nymn", 0, &json!({"viewers": 3, "started_at": "yesterday"}))
            .unwrap_err();
        assert!(e.contains("started_at"), "{e}");
    }
}
