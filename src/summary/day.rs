//! The figures of one channel's UTC day, summed from result rows: stream sessions (by the day
//! their `start` falls in, as the leaderboards count them), spike end records (by onset), ad-slot
//! recommendations (by start) and subscription records (by `ts`). Rows that are not what their
//! input should hold are refused with the reason.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::time::civil::format_timestamp_ms;

const DAY_MS: i64 = 86_400_000;

/// How many spikes and ad slots a day lists.
pub const TOP: usize = 3;

/// A spike of the day, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySpike {
    /// Onset, epoch ms.
    pub onset: i64,
    /// Rate over the usual at the peak.
    pub lift: f64,
    /// The cause, when known.
    pub cause: Option<String>,
    /// The cause in words.
    pub cause_detail: Option<String>,
}

/// An ad slot of the day, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySlot {
    /// Start, epoch ms.
    pub start: i64,
    /// Length in seconds.
    pub duration_s: f64,
    /// Score, 0 to 1.
    pub score: f64,
}

/// One channel's day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySummary {
    /// The channel.
    pub channel: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Stream sessions that started that day.
    pub sessions: u64,
    /// Their minutes.
    pub stream_minutes: f64,
    /// Largest viewer count of those sessions.
    pub peak_viewers: Option<i64>,
    /// Their average viewers, weighted by duration (a session of 0 s weighs 1 s).
    pub avg_viewers: Option<f64>,
    /// Their hours watched.
    pub hours_watched: f64,
    /// Their followers gained, over the sessions where it is known.
    pub followers_gained: Option<i64>,
    /// Their chat messages, over the sessions where it is known.
    pub messages: Option<i64>,
    /// Chat spikes whose onset fell in the day.
    pub spikes: u64,
    /// The `TOP` largest of them by lift (earlier first among equals).
    pub top_spikes: Vec<DaySpike>,
    /// Recommended ad slots starting in the day.
    pub ad_slots: u64,
    /// The `TOP` best of them by score (earlier first among equals).
    pub best_ad_slots: Vec<DaySlot>,
    /// Subs and resubs.
    pub subs: u64,
    /// Gifted subs, each once (the sum of `counted_gifts`).
    pub gifts: i64,
}

/// What a day's rows add up to, before the lists are cut.
#[derive(Debug, Default)]
struct Acc {
    sessions: u64,
    seconds: f64,
    peak: Option<i64>,
    weighted: f64,
    weight: f64,
    hours: f64,
    followers: Option<i64>,
    messages: Option<i64>,
    spikes: Vec<DaySpike>,
    slots: Vec<DaySlot>,
    subs: u64,
    gifts: i64,
}

/// Every channel's days so far.
#[derive(Debug, Default)]
pub struct DailySummaries {
    days: BTreeMap<(String, i64), Acc>,
}

fn num(row: &Value, name: &str) -> Option<f64> {
    row.get(name).and_then(Value::as_f64)
}

fn need(row: &Value, name: &str, what: &str) -> Result<f64, String> {
    num(row, name).ok_or_else(|| format!("{name} is missing or not a number: not {what}"))
}

fn channel(row: &Value, what: &str) -> Result<String, String> {
    row.get("channel")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("channel is missing: not {what}"))
}

fn add(total: &mut Option<i64>, x: Option<f64>) {
    if let Some(x) = x {
        *total = Some(total.unwrap_or(0) + x as i64);
    }
}

impl DailySummaries {
    fn day(&mut self, channel: String, at_ms: i64) -> &mut Acc {
        self.days
            .entry((channel, at_ms.div_euclid(DAY_MS)))
            .or_default()
    }

    /// A `twitch.streams.sessions` record (updates, `final = false`, are skipped).
    pub fn session(&mut self, row: &Value) -> Result<(), String> {
        const WHAT: &str = "a stream session";
        if row.get("final").and_then(Value::as_bool) == Some(false) {
            return Ok(());
        }
        let start = need(row, "start", WHAT)? as i64;
        let duration = need(row, "duration_s", WHAT)?;
        let avg = need(row, "avg_viewers", WHAT)?;
        let peak = need(row, "peak_viewers", WHAT)? as i64;
        let hours = need(row, "hours_watched", WHAT)?;
        let d = self.day(channel(row, WHAT)?, start);
        let weight = if duration > 0.0 { duration } else { 1.0 };
        d.sessions += 1;
        d.seconds += duration;
        d.peak = Some(d.peak.map_or(peak, |p| p.max(peak)));
        d.weighted += avg * weight;
        d.weight += weight;
        d.hours += hours;
        add(&mut d.followers, num(row, "followers_gained"));
        add(&mut d.messages, num(row, "messages"));
        Ok(())
    }

    /// A `twitch.spikes` record (onset records are skipped: the end record has the cause).
    pub fn spike(&mut self, row: &Value) -> Result<(), String> {
        const WHAT: &str = "a spike record";
        if row.get("phase").and_then(Value::as_str) != Some("end") {
            return Ok(());
        }
        let onset = need(row, "onset", WHAT)? as i64;
        let text = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
        let spike = DaySpike {
            onset,
            lift: need(row, "lift", WHAT)?,
            cause: text("cause"),
            cause_detail: text("cause_detail"),
        };
        self.day(channel(row, WHAT)?, onset).spikes.push(spike);
        Ok(())
    }

    /// A `twitch.ad_slots` (or `twitch.audience.ad_slots`) record.
    pub fn ad_slot(&mut self, row: &Value) -> Result<(), String> {
        const WHAT: &str = "an ad-slot record";
        let start = need(row, "start", WHAT)? as i64;
        let slot = DaySlot {
            start,
            duration_s: need(row, "duration_s", WHAT)?,
            score: need(row, "score", WHAT)?,
        };
        self.day(channel(row, WHAT)?, start).slots.push(slot);
        Ok(())
    }

    /// A `twitch.subscriptions` record.
    pub fn subscription(&mut self, row: &Value) -> Result<(), String> {
        const WHAT: &str = "a subscription record";
        let ts = need(row, "ts", WHAT)? as i64;
        let kind = row.get("kind").and_then(Value::as_str).unwrap_or_default();
        let gifts = num(row, "counted_gifts").unwrap_or(0.0) as i64;
        let d = self.day(channel(row, WHAT)?, ts);
        if kind == "sub" || kind == "resub" {
            d.subs += 1;
        }
        d.gifts += gifts;
        Ok(())
    }

    /// Every channel's day, by day then channel; `only_day` (days since the epoch) keeps one day.
    pub fn summaries(&self, only_day: Option<i64>) -> Vec<DaySummary> {
        let mut keys: Vec<&(String, i64)> = self
            .days
            .keys()
            .filter(|(_, d)| only_day.is_none_or(|o| o == *d))
            .collect();
        keys.sort_by_key(|(c, d)| (*d, c.clone()));
        keys.into_iter()
            .map(|key| {
                let a = &self.days[key];
                let mut spikes = a.spikes.clone();
                spikes.sort_by(|x, y| y.lift.total_cmp(&x.lift).then(x.onset.cmp(&y.onset)));
                spikes.truncate(TOP);
                let mut slots = a.slots.clone();
                slots.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.start.cmp(&y.start)));
                slots.truncate(TOP);
                DaySummary {
                    channel: key.0.clone(),
                    day: format_timestamp_ms(key.1 * DAY_MS)[..10].to_owned(),
                    sessions: a.sessions,
                    stream_minutes: (a.seconds / 60.0 * 10.0).round() / 10.0,
                    peak_viewers: a.peak,
                    avg_viewers: (a.weight > 0.0)
                        .then(|| (a.weighted / a.weight * 10.0).round() / 10.0),
                    hours_watched: (a.hours * 100.0).round() / 100.0,
                    followers_gained: a.followers,
                    messages: a.messages,
                    spikes: a.spikes.len() as u64,
                    top_spikes: spikes,
                    ad_slots: a.slots.len() as u64,
                    best_ad_slots: slots,
                    subs: a.subs,
                    gifts: a.gifts,
                }
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// Saturday 2024-01-06 00:00 UTC.
    const D: i64 = 1_704_499_200_000;
    const H: i64 = 3_600_000;

    /// Two channels' rows over two days: sessions (one across midnight, one update), spikes with
    /// tied lifts, an ad slot, subs and a gift bomb.
    pub(crate) fn example() -> DailySummaries {
        let mut s = DailySummaries::default();
        let session = |start: i64, secs: f64, avg: f64, followers: Option<i64>| {
            json!({"channel": "nymn", "start": start, "duration_s": secs, "avg_viewers": avg,
                   "peak_viewers": avg as i64 + 10, "hours_watched": avg * secs / 3600.0,
                   "followers_gained": followers, "messages": null, "final": true})
        };
        s.session(&session(D + H, 3_600.0, 100.0, Some(5))).unwrap();
        s.session(&session(D + 3 * H, 1_800.0, 400.0, None))
            .unwrap();
        // Starts on the 6th, ends on the 7th: it counts on the 6th.
        s.session(&session(D + 23 * H, 7_200.0, 50.0, Some(1)))
            .unwrap();
        let mut update = session(D + 5 * H, 60.0, 9_999.0, None);
        update["final"] = false.into();
        s.session(&update).unwrap();
        for (onset, lift, cause) in [
            (D + H, 2.0, None),
            (D + 2 * H, 5.0, Some("raid")),
            (D + 4 * H, 3.0, None),
            (D + 5 * H, 5.0, None),
        ] {
            s.spike(&json!({"channel": "nymn", "phase": "end", "onset": onset, "lift": lift, "cause": cause})).unwrap();
        }
        s.spike(&json!({"channel": "nymn", "phase": "onset", "onset": D, "lift": 9.0}))
            .unwrap();
        s.ad_slot(&json!({"channel": "nymn", "start": D + 2 * H, "duration_s": 90, "score": 0.7}))
            .unwrap();
        s.subscription(&json!({"channel": "nymn", "ts": D + H, "kind": "sub", "counted_gifts": 0}))
            .unwrap();
        s.subscription(
            &json!({"channel": "nymn", "ts": D + H, "kind": "submysterygift", "counted_gifts": 10}),
        )
        .unwrap();
        s.subscription(
            &json!({"channel": "forsen", "ts": D + 30 * H, "kind": "resub", "counted_gifts": 0}),
        )
        .unwrap();
        s
    }

    #[test]
    fn rows_sum_up_per_channel_and_utc_day() {
        let mut s = example();
        let all = s.summaries(None);
        assert_eq!(all.len(), 2);
        let n = &all[0];
        assert_eq!((n.channel.as_str(), n.day.as_str()), ("nymn", "2024-01-06"));
        assert_eq!(n.sessions, 3);
        assert_eq!(n.stream_minutes, 210.0);
        assert_eq!(n.peak_viewers, Some(410));
        // (100 x 3600 + 400 x 1800 + 50 x 7200) / 12600
        assert_eq!(n.avg_viewers, Some(114.3));
        assert_eq!(n.hours_watched, 100.0 + 200.0 + 100.0);
        assert_eq!(n.followers_gained, Some(6));
        assert_eq!(n.messages, None);
        assert_eq!(n.spikes, 4);
        let tops: Vec<(i64, f64)> = n.top_spikes.iter().map(|p| (p.onset, p.lift)).collect();
        assert_eq!(tops, [(D + 2 * H, 5.0), (D + 5 * H, 5.0), (D + 4 * H, 3.0)]);
        assert_eq!((n.ad_slots, n.subs, n.gifts), (1, 1, 10));
        assert_eq!(
            (all[1].channel.as_str(), all[1].day.as_str(), all[1].subs),
            ("forsen", "2024-01-07", 1)
        );
        assert_eq!(s.summaries(Some(D / 86_400_000 + 1)).len(), 1);
        assert!(s
            .session(&json!({"channel": "x"}))
            .unwrap_err()
            .starts_with("start is missing"));
    }
}
