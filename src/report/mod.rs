//! The demo's results as a model a person reads: per channel, messages per minute, spikes, subs and
//! recommended ad slots, built from the output records of the analytics topics, and rendered as a
//! self-contained HTML page with inline SVG charts ([`html`]). Pure: records in, text out.

pub mod html;

use std::collections::BTreeMap;

use serde_json::Value;

/// One closed minute of a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct MinutePoint {
    /// Start of the minute, epoch ms.
    pub start_ms: i64,
    /// Messages.
    pub messages: i64,
    /// Distinct chatters.
    pub chatters: i64,
}

/// A spike of a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeMark {
    /// Onset, epoch ms.
    pub onset_ms: i64,
    /// End, epoch ms.
    pub end_ms: i64,
    /// Peak messages per minute.
    pub peak_rate: f64,
    /// The spike as a sentence.
    pub description: String,
}

/// A recommended ad break.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotMark {
    /// Start, epoch ms.
    pub start_ms: i64,
    /// Length in seconds.
    pub duration_s: i64,
    /// Score 0-1.
    pub score: f64,
    /// Why.
    pub reason: String,
}

/// Everything the report shows about one channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelReport {
    /// Closed minutes, in time order.
    pub minutes: Vec<MinutePoint>,
    /// Ended spikes.
    pub spikes: Vec<SpikeMark>,
    /// Subscription notices (subs, resubs, gifts, upgrades).
    pub sub_events: i64,
    /// Gifted subs, counted once.
    pub gifted_subs: i64,
    /// Subs per 5-minute window `(start, total)`.
    pub subs_5m: Vec<(i64, i64)>,
    /// Recommended ad slots.
    pub slots: Vec<SlotMark>,
}

/// The report of a run: channels by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Per channel.
    pub channels: BTreeMap<String, ChannelReport>,
}

fn int(v: &Value, f: &str) -> i64 {
    v[f].as_i64().unwrap_or(0)
}

fn float(v: &Value, f: &str) -> f64 {
    v[f].as_f64().unwrap_or(0.0)
}

fn text(v: &Value, f: &str) -> String {
    v[f].as_str().unwrap_or_default().to_owned()
}

impl Report {
    /// Adds one output record of `topic` (an analytics topic; others are ignored).
    pub fn add(&mut self, topic: &str, v: &Value) {
        const TOPICS: [&str; 5] = [
            "twitch.engagement.minute",
            "twitch.spikes",
            "twitch.subscriptions",
            "twitch.subscriptions.trend",
            "twitch.ad_slots",
        ];
        let Some(channel) = v["channel"].as_str().filter(|_| TOPICS.contains(&topic)) else {
            return;
        };
        let c = self.channels.entry(channel.to_owned()).or_default();
        match topic {
            "twitch.engagement.minute" => c.minutes.push(MinutePoint {
                start_ms: int(v, "window_start"),
                messages: int(v, "messages"),
                chatters: int(v, "unique_chatters"),
            }),
            "twitch.spikes" if v["phase"] == "end" => c.spikes.push(SpikeMark {
                onset_ms: int(v, "onset"),
                end_ms: int(v, "end"),
                peak_rate: float(v, "rate_per_min"),
                description: text(v, "description"),
            }),
            "twitch.subscriptions" => {
                c.sub_events += 1;
                c.gifted_subs += int(v, "counted_gifts");
            }
            "twitch.subscriptions.trend"
                if int(v, "window_end") - int(v, "window_start") == 300_000 =>
            {
                c.subs_5m.push((int(v, "window_start"), int(v, "total")))
            }
            "twitch.ad_slots" => c.slots.push(SlotMark {
                start_ms: int(v, "start"),
                duration_s: int(v, "duration_s"),
                score: float(v, "score"),
                reason: text(v, "reason"),
            }),
            _ => {}
        }
    }

    /// Sorts every series by time (records of several partitions arrive interleaved).
    pub fn sort(&mut self) {
        for c in self.channels.values_mut() {
            c.minutes.sort_by_key(|m| m.start_ms);
            c.spikes.sort_by_key(|s| s.onset_ms);
            c.subs_5m.sort();
            c.slots.sort_by_key(|s| s.start_ms);
        }
    }

    /// A few lines of text: per channel, minutes, messages, peak minute, spikes, subs, ad slots.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (name, c) in &self.channels {
            let messages: i64 = c.minutes.iter().map(|m| m.messages).sum();
            let peak = c.minutes.iter().max_by_key(|m| m.messages);
            s.push_str(&format!(
                "#{name}: {} minutes, {messages} messages{}; {} spike(s); {} subscription notice(s), {} gifted sub(s); {} ad slot(s)\n",
                c.minutes.len(),
                peak.map_or(String::new(), |p| format!(
                    " (peak {} in the minute of {})",
                    p.messages,
                    crate::time::civil::format_timestamp_ms(p.start_ms)
                )),
                c.spikes.len(),
                c.sub_events,
                c.gifted_subs,
                c.slots.len()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_of_each_topic_land_in_their_channel() {
        let mut r = Report::default();
        r.add(
            "twitch.engagement.minute",
            &json!({"channel": "a", "window_start": 120_000, "messages": 5, "unique_chatters": 3}),
        );
        r.add(
            "twitch.engagement.minute",
            &json!({"channel": "a", "window_start": 60_000, "messages": 9, "unique_chatters": 4}),
        );
        r.add(
            "twitch.spikes",
            &json!({"channel": "a", "phase": "onset", "onset": 1}),
        );
        r.add(
            "twitch.spikes",
            &json!({"channel": "a", "phase": "end", "onset": 1, "end": 2, "rate_per_min": 90.0, "description": "d"}),
        );
        r.add(
            "twitch.subscriptions",
            &json!({"channel": "b", "counted_gifts": 5}),
        );
        r.add("unrelated", &json!({"channel": "c"}));
        r.sort();
        let a = &r.channels["a"];
        assert_eq!(a.minutes[0].start_ms, 60_000);
        assert_eq!(a.spikes.len(), 1);
        assert_eq!(
            (r.channels["b"].sub_events, r.channels["b"].gifted_subs),
            (1, 5)
        );
        assert!(!r.channels.contains_key("c"));
        assert!(r.summary().contains("#a: 2 minutes, 14 messages"));
    }
}
