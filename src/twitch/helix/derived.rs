//! DERIVED stream snapshots for benchmarks: one `twitch.streams` row per channel per minute of its
//! chat, as `chatpulse monitor` would write them had it polled alongside the chat logger. No Helix
//! poll is involved; the viewer counts come from [`viewers`]. Pure.

use std::collections::BTreeMap;

use super::snapshot::{StreamEvent, StreamSnapshot};
use crate::chat::ChatEvent;

/// A channel is taken to be offline across a gap of more than this without a chat line: its
/// snapshots stop after the minute of the line before the gap and start again with the minute of
/// the line after it.
pub const OFFLINE_GAP_MS: i64 = 10 * 60_000;

const MINUTE_MS: i64 = 60_000;

/// The viewers of a derived snapshot: `1_000 + 50 × lines` for a minute in which the channel had
/// `lines` chat lines (a busier minute, more viewers; a quiet minute of a live stream, 1,000).
pub fn viewers(lines: u64) -> i64 {
    1_000 + 50 * lines as i64
}

/// Collects chat lines and turns them into snapshots.
#[derive(Debug, Default)]
pub struct DerivedSnapshots {
    /// Per channel: the chat lines per minute (minute start, ms), and the live spans as
    /// `(first minute, last minute)` in time order.
    channels: BTreeMap<String, Channel>,
    /// Lines that gave no channel and event time (unparseable, or no `tmi-sent-ts`).
    skipped: u64,
}

#[derive(Debug, Default)]
struct Channel {
    lines: BTreeMap<i64, u64>,
    spans: Vec<(i64, i64)>,
    last_ts: i64,
}

impl DerivedSnapshots {
    /// Nothing seen yet.
    pub fn new() -> Self {
        DerivedSnapshots::default()
    }

    /// Counts one IRC line (lines must come in event-time order per channel, as `bench load` writes
    /// them; an earlier line than the channel's last still counts in its own minute).
    pub fn line(&mut self, line: &str) {
        let Some((channel, ts)) = ChatEvent::parse(line)
            .ok()
            .and_then(|e| Some((e.channel, e.ts_ms?)))
        else {
            self.skipped += 1;
            return;
        };
        let minute = ts.div_euclid(MINUTE_MS) * MINUTE_MS;
        let c = match self.channels.get_mut(channel) {
            Some(c) => c,
            None => self.channels.entry(channel.to_owned()).or_default(),
        };
        *c.lines.entry(minute).or_default() += 1;
        match c.spans.last_mut() {
            Some(span) if ts - c.last_ts <= OFFLINE_GAP_MS => span.1 = span.1.max(minute),
            _ => c.spans.push((minute, minute)),
        }
        c.last_ts = c.last_ts.max(ts);
    }

    /// Lines without a channel and event time.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The snapshots, sorted by time and then channel: for each live span of each channel, one per
    /// minute from the span's first minute to its last, stamped at the minute's start, live, with
    /// [`viewers`] of that minute's lines; the first of a span is a stream start.
    pub fn snapshots(&self) -> Vec<StreamSnapshot> {
        let mut rows = Vec::new();
        for (channel, c) in &self.channels {
            for &(first, last) in &c.spans {
                for minute in (first..=last).step_by(MINUTE_MS as usize) {
                    let lines = c.lines.get(&minute).copied().unwrap_or(0);
                    rows.push(StreamSnapshot {
                        channel: channel.clone(),
                        user_id: None,
                        live: true,
                        viewers: viewers(lines),
                        game: None,
                        title: None,
                        started_at: Some(first),
                        language: None,
                        followers: None,
                        ts: minute,
                        event: (minute == first).then_some(StreamEvent::StreamStart),
                    });
                }
            }
        }
        rows.sort_by(|a, b| (a.ts, &a.channel).cmp(&(b.ts, &b.channel)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(channel: &str, ts: i64) -> String {
        format!("@tmi-sent-ts={ts} :a!a@a.tmi.twitch.tv PRIVMSG #{channel} :hi")
    }

    #[test]
    fn one_row_per_channel_per_minute_of_each_live_span() {
        let m = |i: i64| 1_700_000_040_000 + i * MINUTE_MS; // minute starts
        let mut d = DerivedSnapshots::new();
        // a: lines in minutes 0 (twice), 2, then 13 minutes quiet (offline), then minute 15.
        // b: one line in minute 1.
        for l in [
            line("a", m(0) + 1),
            line("a", m(0) + 59_999),
            line("b", m(1) + 5),
            line("a", m(2) + 30_000),
            line("a", m(15)),
        ] {
            d.line(&l);
        }
        d.line("not IRC");
        d.line(":a!a@a.tmi.twitch.tv PRIVMSG #a :no tmi-sent-ts");
        assert_eq!(d.skipped(), 2);
        /// Channel, time, viewers, event, stream start.
        type Row = (String, i64, i64, Option<StreamEvent>, Option<i64>);
        let rows: Vec<Row> = d
            .snapshots()
            .into_iter()
            .map(|s| {
                assert!(s.live);
                (s.channel, s.ts, s.viewers, s.event, s.started_at)
            })
            .collect();
        let start = Some(StreamEvent::StreamStart);
        assert_eq!(
            rows,
            [
                ("a".to_owned(), m(0), 1_100, start, Some(m(0))),
                ("a".to_owned(), m(1), 1_000, None, Some(m(0))),
                ("b".to_owned(), m(1), 1_050, start, Some(m(1))),
                ("a".to_owned(), m(2), 1_050, None, Some(m(0))),
                ("a".to_owned(), m(15), 1_050, start, Some(m(15))),
            ]
        );
    }

    #[test]
    fn rows_read_as_a_table_of_the_audience_topology() {
        let mut d = DerivedSnapshots::new();
        d.line(&line("nymn", 1_704_557_984_095));
        let json = serde_json::to_string(&d.snapshots()[0]).unwrap();
        let row = crate::table::TableRow::from_json(
            json.as_bytes(),
            None,
            "channel",
            crate::table::row::RowTime::Field("ts"),
            None,
        )
        .unwrap();
        assert_eq!((row.key.as_str(), row.ts_ms), ("nymn", 1_704_557_940_000));
        assert_eq!(row.value["viewers"], 1_050);
    }
}
