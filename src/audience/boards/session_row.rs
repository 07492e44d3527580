//! A stream-session record (`twitch.streams.sessions`, one per stream session) read as the boards
//! need it: only its figures, typed. Unknown fields are ignored, so the record may grow; a figure
//! that is null or absent is unknown (no chat in the topology, no follower count polled).

use serde::Deserialize;
use serde_json::Value;

/// The figures of one session the boards read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionRow {
    /// Start, epoch ms: the period the session belongs to.
    pub start: i64,
    /// End, epoch ms (also its record time).
    pub end: i64,
    /// `end − start` in seconds: the weight of its averages.
    pub duration_s: f64,
    /// Average viewers over the session.
    pub avg_viewers: f64,
    /// Largest viewer count.
    pub peak_viewers: i64,
    /// Hours watched.
    pub hours_watched: f64,
    /// Followers gained, when known.
    #[serde(default)]
    pub followers_gained: Option<i64>,
    /// Chat messages, when the topology had chat.
    #[serde(default)]
    pub messages: Option<i64>,
    /// Chatters per 100 average viewers, when known.
    #[serde(default)]
    pub chatters_per_100_viewers: Option<f64>,
    /// True for the session's final record; updates (`emit = "update"`) are false.
    #[serde(rename = "final")]
    pub is_final: bool,
}

impl SessionRow {
    /// Reads the figures of `row`, or says which is missing or of the wrong type.
    pub fn read(row: &Value) -> Result<SessionRow, String> {
        SessionRow::deserialize(row).map_err(|e| format!("not a stream-session record: {e}"))
    }

    /// The weight of its averages: its duration in seconds, 1 for a session of no duration (a single
    /// snapshot), so such a session still counts, as one second.
    pub fn weight(&self) -> f64 {
        if self.duration_s > 0.0 {
            self.duration_s
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_record_reads_with_unknown_figures_as_none_and_extra_fields_ignored() {
        let row = json!({
            "channel": "nymn", "start": 1_000, "end": 61_000, "duration_s": 60.0,
            "avg_viewers": 120.5, "peak_viewers": 130, "hours_watched": 2.0,
            "followers_gained": null, "messages": 40, "games": [], "final": true,
        });
        let s = SessionRow::read(&row).unwrap();
        assert_eq!((s.start, s.end, s.peak_viewers), (1_000, 61_000, 130));
        assert_eq!(s.followers_gained, None);
        assert_eq!(s.messages, Some(40));
        assert_eq!(s.chatters_per_100_viewers, None);
        assert!(s.is_final);
        assert_eq!(s.weight(), 60.0);
        let zero = SessionRow {
            duration_s: 0.0,
            ..s
        };
        assert_eq!(zero.weight(), 1.0);
        let e = SessionRow::read(&json!({"start": 1})).unwrap_err();
        assert!(
            e.starts_with("not a stream-session record: missing field"),
            "{e}"
        );
    }
}
