//! `audience_hour`: the hourly audience rollup of a channel (`twitch.audience.hour`): chat messages,
//! chatters and first-seen chatters of the hour, with the viewers and followers of the joined
//! `twitch.streams` table read as of each minute's end and the hour's bounds, for heatmaps by hour of week.

use serde_json::{Map, Value};

use super::ad_slots::{Audience, AudienceAcc};
use super::engagement::{horizon_days, hour_of_week, DEFAULT_HORIZON};
use super::kind::{BuildContext, KindConfig, WindowRule};
use super::options::options;
use super::state::{FirstSeenTable, Table, TableName};
use super::windowed::{Windowed, WindowedKind};
use super::{Input, Processor};
use crate::analysis::Contribution;
use crate::audience::first_seen::FirstSeen;
use crate::chat::gifts::GiftTally;
use crate::table::VersionedTable;
use crate::time::duration::DurationMs;
use crate::window::{EmitMode, Window, WindowSpec};

options! {
    /// The options of `audience_hour`.
    pub struct AudienceHourConfig {
        /// How far back `first_seen_chatters` remembers a chatter (whole days).
        pub first_seen_horizon: DurationMs = DEFAULT_HORIZON,
    }
}

impl KindConfig for AudienceHourConfig {
    const NAME: &'static str = "audience_hour";
    const SUMMARY: &'static str =
        "per window (an hour): messages, chatters, first-seen chatters, average and peak viewers, engagement rate, followers gained";
    const WINDOW: WindowRule = WindowRule::Required;
    const JOINS: bool = true;

    fn problems(&self) -> Vec<String> {
        horizon_days("first_seen_horizon", self.first_seen_horizon)
            .err()
            .into_iter()
            .collect()
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        let days = horizon_days("first_seen_horizon", self.first_seen_horizon)
            .expect("validated: a whole number of days");
        Box::new(
            AudienceHourProcessor::audience_hour(ctx.name, ctx.sink, ctx.window(), ctx.emit, days)
                .with_table(ctx.table),
        )
    }
}

/// Milliseconds per minute: the step at which an hour's viewers are read.
const MINUTE_MS: i64 = 60_000;

/// The `audience_hour` kind: message contributions per channel, and the chatters seen.
#[derive(Debug)]
pub struct AudienceHourKind {
    first_seen: FirstSeenTable,
}

/// The `audience_hour` processor of one task.
pub type AudienceHourProcessor = Windowed<AudienceHourKind>;

impl AudienceHourProcessor {
    /// An `audience_hour` processor named `name` writing to sink `sink`, remembering chatters for
    /// `horizon_days` days.
    pub fn audience_hour(
        name: &str,
        sink: usize,
        window: WindowSpec,
        emit: EmitMode,
        horizon_days: i64,
    ) -> Self {
        let kind = AudienceHourKind {
            first_seen: FirstSeenTable::new(TableName::FIRST_SEEN, FirstSeen::new(horizon_days)),
        };
        Windowed::new(name, sink, window, emit, Audience, kind)
    }
}

/// What the joined table says of one hour: the viewers as of each minute's end (known ones only)
/// and the followers as of the hour's start and end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourAudience {
    /// Viewers as of the last millisecond of each minute with a known snapshot, in minute order.
    pub viewers: Vec<i64>,
    /// Followers as of the millisecond before the hour (the previous hour's end).
    pub followers_start: Option<i64>,
    /// Followers as of the hour's last millisecond.
    pub followers_end: Option<i64>,
}

impl HourAudience {
    /// Reads `table` for `key` over `window`.
    pub fn read(table: &VersionedTable, key: &str, window: Window) -> HourAudience {
        let field = |ts: i64, name: &str| {
            table
                .as_of(key, ts)
                .and_then(|(_, row)| row.get(name)?.as_i64())
        };
        let minutes = (window.end_ms - window.start_ms)
            .div_euclid(MINUTE_MS)
            .max(1);
        HourAudience {
            viewers: (1..=minutes)
                .filter_map(|m| field(window.start_ms + m * MINUTE_MS - 1, "viewers"))
                .collect(),
            followers_start: field(window.start_ms - 1, "followers"),
            followers_end: field(window.end_ms - 1, "followers"),
        }
    }

    /// Writes the hour's audience fields for `chatters` chatters (all null when nothing is known).
    pub fn fields(&self, chatters: u64, out: &mut Map<String, Value>) {
        let avg = (!self.viewers.is_empty())
            .then(|| self.viewers.iter().sum::<i64>() as f64 / self.viewers.len() as f64);
        let put = |out: &mut Map<String, Value>, k: &str, v: Option<Value>| {
            out.insert(k.to_owned(), v.unwrap_or(Value::Null));
        };
        put(out, "viewers_avg", avg.map(|a| round(a, 100.0).into()));
        put(
            out,
            "viewers_peak",
            self.viewers.iter().max().map(|&v| v.into()),
        );
        put(
            out,
            "engagement_rate",
            avg.filter(|a| *a > 0.0)
                .map(|a| round(chatters as f64 * 100.0 / a, 1000.0).into()),
        );
        put(
            out,
            "followers_start",
            self.followers_start.map(Value::from),
        );
        put(out, "followers_end", self.followers_end.map(Value::from));
        let gained = self.followers_start.zip(self.followers_end);
        put(out, "followers_gained", gained.map(|(s, e)| (e - s).into()));
    }
}

/// `x` rounded to `1 / scale`.
fn round(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

impl WindowedKind for AudienceHourKind {
    type Agg = Audience;

    fn extract(&mut self, input: &Input<'_>, add: &mut dyn FnMut(&str, &Contribution)) {
        // The gift tally matters only for gift notices, which the hour does not count.
        input.with_contribution(GiftTally::default(), |c| {
            if matches!(c, Contribution::Message(_)) {
                add(input.event.channel, c);
            }
        });
    }

    fn fields(&self, key: &str, window: Window, value: &AudienceAcc, out: &mut Map<String, Value>) {
        out.insert("hour_of_week".into(), hour_of_week(window.start_ms).into());
        out.insert("messages".into(), value.messages.into());
        out.insert("chatters".into(), (value.chatters.len() as u64).into());
        let new = self
            .first_seen
            .count_new(key, value.chatters.iter().copied(), window.start_ms);
        out.insert("first_seen_chatters".into(), new.into());
    }

    /// Viewers as of each minute's end, followers as of the hour's start and end.
    fn table_fields(
        &self,
        key: &str,
        window: Window,
        value: &AudienceAcc,
        table: Option<&VersionedTable>,
        out: &mut Map<String, Value>,
    ) {
        let audience = table.map_or_else(HourAudience::default, |t| {
            HourAudience::read(t, key, window)
        });
        audience.fields(value.chatters.len() as u64, out);
    }

    fn closing(&mut self, key: &str, window: Window, value: &AudienceAcc) {
        self.first_seen
            .record(key, value.chatters.iter().copied(), window.start_ms);
    }

    fn reads_terms(&self) -> bool {
        false
    }

    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.first_seen);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::processor::Emitter;
    use crate::window::WindowSpec;

    const H: i64 = 3_600_000;

    /// Rows of channel "c": `(ts, viewers, followers)`, with a gap and a row without followers.
    fn rows() -> Vec<(i64, i64, Option<i64>)> {
        vec![
            (H - 10_000, 900, Some(40)),
            (H + 90_000, 1_000, Some(50)),
            (H + 30 * 60_000 + 1, 1_300, None),
            (H + 45 * 60_000, 700, Some(58)),
            (2 * H + 5_000, 2_000, Some(60)),
        ]
    }

    fn table() -> VersionedTable {
        let mut t = VersionedTable::new(i64::MAX);
        for (ts, v, f) in rows() {
            let mut row = json!({"channel": "c", "viewers": v});
            if let Some(f) = f {
                row["followers"] = json!(f);
            }
            t.put("c", ts, row);
        }
        t
    }

    /// The newest row at or before `t`, by a scan.
    fn brute(t: i64) -> Option<(i64, i64, Option<i64>)> {
        rows().into_iter().filter(|r| r.0 <= t).max_by_key(|r| r.0)
    }

    #[test]
    fn an_hour_reads_the_viewers_of_each_minute_end_and_the_followers_of_its_bounds() {
        let window = Window {
            start_ms: H,
            end_ms: 2 * H,
        };
        let got = HourAudience::read(&table(), "c", window);
        let viewers: Vec<i64> = (1..=60)
            .filter_map(|m| brute(H + m * 60_000 - 1).map(|r| r.1))
            .collect();
        assert_eq!(
            viewers.len(),
            60,
            "the row before the hour covers its first minute"
        );
        assert_eq!(got.viewers, viewers);
        assert_eq!(got.followers_start, Some(40));
        assert_eq!(got.followers_end, Some(58));
        let mut out = Map::new();
        got.fields(12, &mut out);
        let avg = viewers.iter().sum::<i64>() as f64 / 60.0;
        assert_eq!(out["viewers_avg"], json!((avg * 100.0).round() / 100.0));
        assert_eq!(out["viewers_peak"], json!(1_300));
        assert_eq!(
            out["engagement_rate"],
            json!((1200.0 / avg * 1000.0).round() / 1000.0)
        );
        assert_eq!(out["followers_gained"], json!(18));

        // Minute 31 reads the row without followers: an hour ending there knows none.
        let half = HourAudience::read(
            &table(),
            "c",
            Window {
                start_ms: H,
                end_ms: H + 31 * 60_000,
            },
        );
        assert_eq!(half.followers_end, None);
        let mut out = Map::new();
        half.fields(3, &mut out);
        assert!(out["followers_gained"].is_null());

        // No snapshot at all: every audience field is null.
        let mut out = Map::new();
        HourAudience::read(&table(), "other", window).fields(3, &mut out);
        for f in [
            "viewers_avg",
            "viewers_peak",
            "engagement_rate",
            "followers_start",
            "followers_end",
            "followers_gained",
        ] {
            assert!(out[f].is_null(), "{f}");
        }
    }

    #[test]
    fn zero_viewers_give_no_engagement_rate() {
        let a = HourAudience {
            viewers: vec![0, 0],
            followers_start: None,
            followers_end: None,
        };
        let mut out = Map::new();
        a.fields(5, &mut out);
        assert_eq!(out["viewers_avg"], json!(0.0));
        assert!(out["engagement_rate"].is_null());
    }

    /// A message line of `user` in #c at `ts`.
    fn line(user: &str, ts: i64) -> String {
        format!("@tmi-sent-ts={ts} :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #c :hello there")
    }

    fn results(p: &mut AudienceHourProcessor, lines: &[String], watermark: i64) -> Vec<Value> {
        let mut out = Emitter::default();
        for (i, l) in lines.iter().enumerate() {
            let event = crate::chat::ChatEvent::parse(l).unwrap();
            let message = std::cell::OnceCell::new();
            let input = Input {
                partition: 0,
                offset: i as i64,
                ts_ms: event.ts_ms.unwrap(),
                event: &event,
                message: &message,
                terms: false,
                joined: None,
            };
            p.process(&input, &mut out);
        }
        p.on_watermark(watermark, &mut out);
        out.outputs.into_iter().map(|o| o.value).collect()
    }

    #[test]
    fn hours_count_messages_chatters_and_first_seen_ones_in_memory() {
        let window = WindowSpec::Tumbling {
            size_ms: H,
            grace_ms: 5_000,
            allowed_lateness_ms: 0,
        };
        let mut p = AudienceHourProcessor::audience_hour("hour", 0, window, EmitMode::Final, 1);
        let day = 86_400_000;
        let lines = [
            line("a", 1_000),
            line("b", 2_000),
            line("a", 3_000),
            line("a", H + 1),
            line("c", H + 2),
            line("b", 2 * day + 10),
            line("a", 3 * day + 10),
        ];
        let out = results(&mut p, &lines, 10 * day);
        let got: Vec<(i64, u64, u64, u64)> = out
            .iter()
            .map(|r| {
                (
                    r["window_start"].as_i64().unwrap(),
                    r["messages"].as_u64().unwrap(),
                    r["chatters"].as_u64().unwrap(),
                    r["first_seen_chatters"].as_u64().unwrap(),
                )
            })
            .collect();
        // Horizon 1 day: b (day 0, then day 2) is new again, a (hour 1 of day 0, then day 3) too.
        assert_eq!(
            got,
            [
                (0, 3, 2, 2),
                (H, 2, 2, 1),
                (2 * day, 1, 1, 1),
                (3 * day, 1, 1, 1)
            ]
        );
        assert!(out.iter().all(|r| r["viewers_avg"].is_null()), "no table");
        assert_eq!(
            out[0]["hour_of_week"],
            json!(3 * 24),
            "1970-01-01 was a Thursday"
        );
    }
}
