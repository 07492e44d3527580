//! What the live dashboard shows, kept from the result records as they arrive: per channel its
//! recent minutes, spikes, subscriptions, ad slots and hour-of-week heatmap, plus the global
//! leaderboards, rising channels and alerts. Pure: records in, JSON views out; nothing here reads
//! Kafka or a clock.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Map, Value};

use super::feed::Feed;

/// Five minutes, the width of a subscription bucket, in ms.
const FIVE_MINUTES_MS: i64 = 300_000;
/// One minute, the width of an engagement bucket, in ms.
const MINUTE_MS: i64 = 60_000;

/// How much the board keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardLimits {
    /// Event time kept per channel behind its newest record, in ms (minutes, spikes, subs, ads).
    pub keep_ms: i64,
    /// Alerts kept (the newest).
    pub alerts: usize,
}

impl Default for BoardLimits {
    fn default() -> Self {
        BoardLimits {
            keep_ms: 6 * 3_600_000,
            alerts: 200,
        }
    }
}

/// One channel's recent results.
#[derive(Debug, Default, Clone)]
struct Channel {
    /// Engagement minutes by window start: the newest revision of each.
    minutes: BTreeMap<i64, Value>,
    /// Spikes by onset: the onset record, replaced by the end record when it comes.
    spikes: BTreeMap<i64, Value>,
    /// Subscription buckets (5 minutes) by window start.
    subs: BTreeMap<i64, Value>,
    /// Recommended ad breaks by start.
    ad_slots: BTreeMap<i64, Value>,
    /// Hour-of-week heatmap cells: the newest hour seen for each hour of the week.
    hours: BTreeMap<i64, Value>,
    /// The last finished stream session.
    session: Option<Value>,
    /// Event time of the newest record.
    newest_ms: i64,
}

/// The dashboard's state.
#[derive(Debug, Default, Clone)]
pub struct Board {
    limits: BoardLimits,
    channels: BTreeMap<String, Channel>,
    /// Leaderboards by `(period, board)`: the newest period of each.
    boards: BTreeMap<(String, String), Value>,
    /// Rising channels by `(period, metric)`: the newest period's entries, by rank.
    rising: BTreeMap<(String, String), Vec<Value>>,
    alerts: VecDeque<Value>,
    /// Records applied so far; a view's `version` tells a client whether it changed.
    version: u64,
    /// The feeds that have delivered at least one record.
    seen: Vec<Feed>,
    /// The feeds whose topic does not exist (a view whose topic is absent says so).
    absent: Vec<Feed>,
}

/// Why a record was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{feed} record not shown: {reason}")]
pub struct Unshown {
    /// The feed it came from.
    pub feed: Feed,
    /// What it lacks.
    pub reason: String,
}

/// The texts of fields `a` and `b`, when both are strings (a global feed's key).
fn texts(v: &Value, a: &str, b: &str) -> Option<(String, String)> {
    let text = |f: &str| v.get(f).and_then(Value::as_str).map(str::to_owned);
    Some((text(a)?, text(b)?))
}

fn ms(v: &Value, field: &str) -> Option<i64> {
    v.get(field).and_then(Value::as_i64)
}

impl Board {
    /// An empty board keeping `limits`.
    pub fn new(limits: BoardLimits) -> Board {
        Board {
            limits,
            ..Board::default()
        }
    }

    /// Records applied so far.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Records whether `feed`'s topic exists (the reader checks; a feed is taken to exist until
    /// it says otherwise).
    pub fn set_topic_exists(&mut self, feed: Feed, exists: bool) {
        let was = self.absent.contains(&feed);
        if exists {
            self.absent.retain(|f| *f != feed);
        } else if !was {
            self.absent.push(feed);
        }
        if was == exists {
            self.version += 1;
        }
    }

    /// Applies one result record from `feed`; returns the channel it changed, if it is a
    /// channel's (leaderboards are not).
    pub fn apply(&mut self, feed: Feed, value: Value) -> Result<Option<String>, Unshown> {
        let unshown = |reason: &str| Unshown {
            feed,
            reason: reason.to_owned(),
        };
        if !self.seen.contains(&feed) {
            self.seen.push(feed);
        }
        let changed = match feed {
            Feed::Leaderboards => {
                let key = texts(&value, "period", "board")
                    .ok_or_else(|| unshown("no period or board"))?;
                if newer(self.boards.get(&key), &value, "period_start") {
                    self.boards.insert(key, value);
                }
                None
            }
            Feed::Rising => {
                let key = texts(&value, "period", "metric")
                    .ok_or_else(|| unshown("no period or metric"))?;
                let entries = self.rising.entry(key).or_default();
                let start = ms(&value, "period_start");
                if entries
                    .first()
                    .is_some_and(|e| ms(e, "period_start") < start)
                {
                    entries.clear();
                }
                if entries
                    .first()
                    .is_none_or(|e| ms(e, "period_start") == start)
                {
                    entries.retain(|e| e.get("channel") != value.get("channel"));
                    entries.push(value.clone());
                    entries.sort_by_key(|e| ms(e, "rank"));
                }
                value
                    .get("channel")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }
            Feed::Alerts => {
                let channel = value
                    .get("channel")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.alerts.push_front(value);
                self.alerts.truncate(self.limits.alerts);
                channel
            }
            _ => {
                let channel = value
                    .get("channel")
                    .and_then(Value::as_str)
                    .ok_or_else(|| unshown("no channel"))?
                    .to_owned();
                self.apply_channel(feed, &channel, value).map_err(unshown)?;
                Some(channel)
            }
        };
        self.version += 1;
        Ok(changed)
    }

    fn apply_channel(
        &mut self,
        feed: Feed,
        channel: &str,
        value: Value,
    ) -> Result<(), &'static str> {
        let c = self.channels.entry(channel.to_owned()).or_default();
        let (start, end) = (ms(&value, "window_start"), ms(&value, "window_end"));
        let time = match feed {
            Feed::Minutes | Feed::SubTrend | Feed::AdSlots | Feed::Spikes | Feed::Hours => {
                start.ok_or("no window_start")?
            }
            Feed::Sessions => ms(&value, "end").ok_or("no end")?,
            Feed::Leaderboards | Feed::Rising | Feed::Alerts => unreachable!("global feeds"),
        };
        match feed {
            Feed::Minutes => {
                // The minute topic only: an hour window of the same schema is not a minute.
                if end.map(|e| e - time) != Some(MINUTE_MS) {
                    return Err("not a one-minute window");
                }
                replace_revision(&mut c.minutes, time, value);
            }
            Feed::SubTrend => {
                if end.map(|e| e - time) != Some(FIVE_MINUTES_MS) {
                    return Err("not a five-minute window");
                }
                replace_revision(&mut c.subs, time, value);
            }
            Feed::Spikes => {
                let onset = ms(&value, "onset").unwrap_or(time);
                c.spikes.insert(onset, value);
            }
            Feed::AdSlots => {
                let at = ms(&value, "start").unwrap_or(time);
                c.ad_slots.insert(at, value);
            }
            Feed::Hours => {
                let hour = ms(&value, "hour_of_week").ok_or("no hour_of_week")?;
                if newer(c.hours.get(&hour), &value, "window_start") {
                    c.hours.insert(hour, value);
                }
            }
            Feed::Sessions => {
                if newer(c.session.as_ref(), &value, "end") {
                    c.session = Some(value);
                }
            }
            Feed::Leaderboards | Feed::Rising | Feed::Alerts => unreachable!("global feeds"),
        }
        c.newest_ms = c.newest_ms.max(time);
        let horizon = c.newest_ms - self.limits.keep_ms;
        for series in [&mut c.minutes, &mut c.spikes, &mut c.subs, &mut c.ad_slots] {
            *series = series.split_off(&horizon);
        }
        Ok(())
    }

    /// The channel list: per channel its newest minute's figures and its state.
    pub fn channels(&self) -> Value {
        let rows: Vec<Value> = self
            .channels
            .iter()
            .map(|(name, c)| {
                let minute = c.minutes.values().next_back();
                let field = |f: &str| {
                    minute
                        .and_then(|m| m.get(f))
                        .cloned()
                        .unwrap_or(Value::Null)
                };
                let newest = c.newest_ms;
                let in_spike = c
                    .spikes
                    .values()
                    .next_back()
                    .is_some_and(|s| s["phase"] == "onset");
                let ad_now = c.ad_slots.values().any(|a| {
                    ms(a, "valid_from").is_some_and(|f| f <= newest)
                        && ms(a, "valid_until").is_some_and(|u| newest < u)
                });
                json!({
                    "channel": name,
                    "minute": field("window_start"),
                    "messages": field("messages"),
                    "chatters": field("unique_chatters"),
                    "viewers": field("viewers"),
                    "chatters_per_viewer": field("chatters_per_viewer"),
                    "in_spike": in_spike,
                    "ad_break_recommended": ad_now,
                    "newest": newest,
                })
            })
            .collect();
        json!({"version": self.version, "channels": rows, "feeds": self.feeds()})
    }

    /// One channel's page, or `None` for a channel never seen.
    pub fn channel(&self, name: &str) -> Option<Value> {
        let c = self.channels.get(name)?;
        let minutes: Vec<Value> = c
            .minutes
            .values()
            .map(|m| {
                json!({"start": m["window_start"], "messages": m["messages"],
                    "chatters": m["unique_chatters"], "viewers": m["viewers"]})
            })
            .collect();
        let latest = c.minutes.values().next_back();
        let subs: Vec<Value> = c
            .subs
            .values()
            .map(|s| {
                json!({"start": s["window_start"], "subs": s["subs"], "resubs": s["resubs"],
                    "gifted_subs": s["gifted_subs"], "total": s["total"]})
            })
            .collect();
        let mut heatmap = Map::new();
        for (hour, h) in &c.hours {
            heatmap.insert(
                hour.to_string(),
                json!({"messages": h["messages"], "engagement_rate": h["engagement_rate"]}),
            );
        }
        Some(json!({
            "version": self.version,
            "channel": name,
            "newest": c.newest_ms,
            "minutes": minutes,
            "spikes": c.spikes.values().collect::<Vec<_>>(),
            "subs": subs,
            "ad_slots": c.ad_slots.values().collect::<Vec<_>>(),
            "top_emotes": latest.map_or(Value::Null, |m| m["top_emotes"].clone()),
            "sentiment": latest.map_or(Value::Null, |m| m["sentiment"].clone()),
            "heatmap": heatmap,
            "session": c.session,
            "feeds": self.feeds(),
        }))
    }

    /// The leaderboards, rising channels and alerts.
    pub fn global(&self) -> Value {
        let boards: Vec<&Value> = self.boards.values().collect();
        let rising: Vec<&Value> = self.rising.values().flatten().collect();
        json!({
            "version": self.version,
            "leaderboards": boards,
            "rising": rising,
            "alerts": self.alerts,
            "feeds": self.feeds(),
        })
    }

    /// Each feed's state by name: `live` (it delivered a record), `absent` (its topic does not
    /// exist) or `waiting` (it exists and has delivered nothing yet).
    fn feeds(&self) -> Value {
        let mut m = Map::new();
        for feed in Feed::ALL {
            let state = if self.seen.contains(&feed) {
                "live"
            } else if self.absent.contains(&feed) {
                "absent"
            } else {
                "waiting"
            };
            m.insert(feed.name().into(), state.into());
        }
        Value::Object(m)
    }
}

/// Keeps the record of the highest revision for a window (a correction replaces its final).
fn replace_revision(series: &mut BTreeMap<i64, Value>, start: i64, value: Value) {
    let revision = |v: &Value| v.get("revision").and_then(Value::as_i64).unwrap_or(0);
    if series
        .get(&start)
        .is_none_or(|old| revision(old) <= revision(&value))
    {
        series.insert(start, value);
    }
}

/// Whether `value` is at least as new as `old` by `field`.
fn newer(old: Option<&Value>, value: &Value, field: &str) -> bool {
    old.is_none_or(|o| ms(o, field) <= ms(value, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_704_067_200_000;

    fn minute(channel: &str, start: i64, messages: i64, revision: i64) -> Value {
        json!({"channel": channel, "window_start": start, "window_end": start + MINUTE_MS,
            "revision": revision, "messages": messages, "unique_chatters": messages / 2,
            "viewers": 100, "chatters_per_viewer": 0.5, "top_emotes": [], "sentiment": 0.1})
    }

    #[test]
    fn minutes_keep_the_newest_revision_and_the_list_shows_the_newest_minute() {
        let mut b = Board::new(BoardLimits::default());
        b.apply(Feed::Minutes, minute("nymn", T0, 10, 0)).unwrap();
        b.apply(Feed::Minutes, minute("nymn", T0 + MINUTE_MS, 30, 0))
            .unwrap();
        b.apply(Feed::Minutes, minute("nymn", T0, 12, 1)).unwrap();
        // An older revision arriving late does not undo the correction.
        b.apply(Feed::Minutes, minute("nymn", T0, 10, 0)).unwrap();
        let page = b.channel("nymn").unwrap();
        let messages: Vec<i64> = page["minutes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["messages"].as_i64().unwrap())
            .collect();
        assert_eq!(messages, [12, 30]);
        let list = b.channels();
        assert_eq!(list["channels"][0]["messages"], 30);
        assert_eq!(list["version"], 4);
        assert_eq!(list["feeds"]["minutes"], "live");
        assert_eq!(list["feeds"]["alerts"], "waiting");
        b.set_topic_exists(Feed::Alerts, false);
        b.set_topic_exists(Feed::Minutes, false);
        let list = b.channels();
        assert_eq!(list["feeds"]["alerts"], "absent");
        assert_eq!(list["feeds"]["minutes"], "live", "records win");
        assert_eq!(list["version"], 6, "a change of state is a new version");
        b.set_topic_exists(Feed::Alerts, false);
        assert_eq!(b.version(), 6, "no change, no new version");
    }

    #[test]
    fn an_hour_window_on_the_minute_feed_is_not_shown_as_a_minute() {
        let mut b = Board::new(BoardLimits::default());
        let mut hour = minute("nymn", T0, 10, 0);
        hour["window_end"] = json!(T0 + 3_600_000);
        let e = b.apply(Feed::Minutes, hour).unwrap_err();
        assert!(e.to_string().contains("not a one-minute window"), "{e}");
    }

    #[test]
    fn old_results_fall_out_behind_the_newest_by_keep() {
        let mut b = Board::new(BoardLimits {
            keep_ms: 10 * MINUTE_MS,
            alerts: 2,
        });
        for i in 0..30 {
            b.apply(Feed::Minutes, minute("nymn", T0 + i * MINUTE_MS, i, 0))
                .unwrap();
        }
        let page = b.channel("nymn").unwrap();
        let starts: Vec<i64> = page["minutes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["start"].as_i64().unwrap())
            .collect();
        // Brute force: the minutes whose start is within 10 minutes of the newest start.
        let newest = T0 + 29 * MINUTE_MS;
        let want: Vec<i64> = (0..30)
            .map(|i| T0 + i * MINUTE_MS)
            .filter(|s| *s >= newest - 10 * MINUTE_MS)
            .collect();
        assert_eq!(starts, want);
        for i in 0..3 {
            b.apply(Feed::Alerts, json!({"channel": "nymn", "alert_id": i}))
                .unwrap();
        }
        let alerts: Vec<i64> = b.global()["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["alert_id"].as_i64().unwrap())
            .collect();
        assert_eq!(alerts, [2, 1], "newest first, at most 2");
    }

    #[test]
    fn a_spike_is_current_from_its_onset_until_its_end_record() {
        let mut b = Board::new(BoardLimits::default());
        b.apply(Feed::Minutes, minute("nymn", T0, 10, 0)).unwrap();
        let onset = json!({"channel": "nymn", "phase": "onset", "window_start": T0 + 5_000,
            "onset": T0 + 5_000, "cause": "raid"});
        b.apply(Feed::Spikes, onset).unwrap();
        assert_eq!(b.channels()["channels"][0]["in_spike"], true);
        let end = json!({"channel": "nymn", "phase": "end", "window_start": T0 + 5_000,
            "onset": T0 + 5_000, "end": T0 + 60_000, "cause": "raid"});
        b.apply(Feed::Spikes, end).unwrap();
        let list = b.channels();
        assert_eq!(list["channels"][0]["in_spike"], false);
        let page = b.channel("nymn").unwrap();
        assert_eq!(page["spikes"].as_array().unwrap().len(), 1, "one spike");
        assert_eq!(page["spikes"][0]["phase"], "end");
    }

    #[test]
    fn an_ad_break_is_recommended_while_the_newest_time_is_within_its_validity() {
        let mut b = Board::new(BoardLimits::default());
        let slot = json!({"channel": "nymn", "window_start": T0, "start": T0 + 60_000,
            "valid_from": T0 + 60_000, "valid_until": T0 + 180_000, "reason": "quiet"});
        b.apply(Feed::AdSlots, slot).unwrap();
        b.apply(Feed::Minutes, minute("nymn", T0 + 60_000, 3, 0))
            .unwrap();
        assert_eq!(b.channels()["channels"][0]["ad_break_recommended"], true);
        b.apply(Feed::Minutes, minute("nymn", T0 + 180_000, 3, 0))
            .unwrap();
        assert_eq!(b.channels()["channels"][0]["ad_break_recommended"], false);
    }

    #[test]
    fn leaderboards_and_rising_keep_the_newest_period() {
        let mut b = Board::new(BoardLimits::default());
        let board = |start: i64, top: &str| {
            json!({"board": "hours_watched", "period": "day", "period_start": start,
                "entries": [{"channel": top, "rank": 1}]})
        };
        b.apply(Feed::Leaderboards, board(T0 + 86_400_000, "nymn"))
            .unwrap();
        b.apply(Feed::Leaderboards, board(T0, "forsen")).unwrap();
        let g = b.global();
        assert_eq!(g["leaderboards"].as_array().unwrap().len(), 1);
        assert_eq!(g["leaderboards"][0]["entries"][0]["channel"], "nymn");
        let rising = |start: i64, channel: &str, rank: i64| {
            json!({"metric": "avg_viewers", "period": "day", "period_start": start,
                "channel": channel, "rank": rank})
        };
        b.apply(Feed::Rising, rising(T0, "a", 2)).unwrap();
        b.apply(Feed::Rising, rising(T0, "b", 1)).unwrap();
        let g = b.global();
        let got: Vec<&str> = g["rising"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["channel"].as_str().unwrap())
            .collect();
        assert_eq!(got, ["b", "a"], "by rank");
        b.apply(Feed::Rising, rising(T0 + 86_400_000, "c", 1))
            .unwrap();
        b.apply(Feed::Rising, rising(T0, "d", 3)).unwrap();
        let g = b.global();
        let got: Vec<&str> = g["rising"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["channel"].as_str().unwrap())
            .collect();
        assert_eq!(got, ["c"], "a new period replaces the old one");
    }

    #[test]
    fn the_heatmap_keeps_each_hour_of_week_and_subs_only_five_minute_buckets() {
        let mut b = Board::new(BoardLimits::default());
        let hour = |start: i64, how: i64, messages: i64| {
            json!({"channel": "nymn", "window_start": start, "window_end": start + 3_600_000,
                "hour_of_week": how, "messages": messages, "engagement_rate": 2.5})
        };
        b.apply(Feed::Hours, hour(T0, 5, 100)).unwrap();
        b.apply(Feed::Hours, hour(T0 + 3_600_000, 6, 50)).unwrap();
        b.apply(Feed::Hours, hour(T0 + 7 * 86_400_000, 5, 300))
            .unwrap();
        let trend = |start: i64, width: i64| {
            json!({"channel": "nymn", "window_start": start, "window_end": start + width,
                "subs": 1, "resubs": 0, "gifted_subs": 2, "total": 3})
        };
        // Subs of the newest week (older ones fall behind `keep`, see `old_results_fall_out_behind_the_newest_by_keep`).
        let week = T0 + 7 * 86_400_000;
        b.apply(Feed::SubTrend, trend(week, FIVE_MINUTES_MS))
            .unwrap();
        assert!(b.apply(Feed::SubTrend, trend(week, 3_600_000)).is_err());
        let page = b.channel("nymn").unwrap();
        assert_eq!(
            page["heatmap"]["5"]["messages"], 300,
            "the newest week's hour"
        );
        assert_eq!(page["heatmap"]["6"]["messages"], 50);
        assert_eq!(page["subs"].as_array().unwrap().len(), 1);
        assert_eq!(page["subs"][0]["total"], 3);
        assert!(b.channel("forsen").is_none());
    }
}
