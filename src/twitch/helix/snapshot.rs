//! Stream snapshots (`twitch.streams`, schema `avro/stream_snapshot.avsc`) and the start/end events
//! found by comparing a channel's live state with the previous poll. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A stream going live or offline between two polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEvent {
    /// The channel went live.
    StreamStart,
    /// The channel went offline.
    StreamEnd,
}

/// One channel's state at one poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSnapshot {
    /// The channel's login.
    pub channel: String,
    /// The broadcaster's user id, if the login exists.
    pub user_id: Option<String>,
    /// Whether the stream is live.
    pub live: bool,
    /// Concurrent viewers (0 offline).
    pub viewers: i64,
    /// Category while live.
    pub game: Option<String>,
    /// Title while live.
    pub title: Option<String>,
    /// Stream start, Unix milliseconds, while live.
    pub started_at: Option<i64>,
    /// Stream language while live.
    pub language: Option<String>,
    /// Follower total, when a user token is given.
    pub followers: Option<i64>,
    /// Poll time, Unix milliseconds.
    pub ts: i64,
    /// Start or end since the previous poll.
    pub event: Option<StreamEvent>,
}

/// Remembers each channel's last live state to mark starts and ends.
#[derive(Debug, Default, Clone)]
pub struct LiveTracker {
    live: BTreeMap<String, bool>,
}

impl LiveTracker {
    /// A tracker that has seen nothing (the first poll of a live channel is a start).
    pub fn new() -> LiveTracker {
        LiveTracker::default()
    }

    /// Sets `snapshot.event` from the change since the channel's previous snapshot.
    pub fn mark(&mut self, snapshot: &mut StreamSnapshot) {
        let before = self
            .live
            .insert(snapshot.channel.clone(), snapshot.live)
            .unwrap_or(false);
        snapshot.event = match (before, snapshot.live) {
            (false, true) => Some(StreamEvent::StreamStart),
            (true, false) => Some(StreamEvent::StreamEnd),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(live: bool) -> StreamSnapshot {
        StreamSnapshot {
            channel: "nymn".into(),
            user_id: Some("1".into()),
            live,
            viewers: 0,
            game: None,
            title: None,
            started_at: None,
            language: None,
            followers: None,
            ts: 0,
            event: None,
        }
    }

    #[test]
    fn starts_and_ends_are_marked_once() {
        let mut t = LiveTracker::new();
        let marks: Vec<Option<StreamEvent>> = [false, true, true, false, false]
            .into_iter()
            .map(|live| {
                let mut s = snap(live);
                t.mark(&mut s);
                s.event
            })
            .collect();
        use StreamEvent::*;
        assert_eq!(
            marks,
            [None, Some(StreamStart), None, Some(StreamEnd), None]
        );
    }

    #[test]
    fn events_serialize_in_snake_case() {
        let mut s = snap(true);
        s.event = Some(StreamEvent::StreamStart);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["event"], "stream_start");
    }
}
