//! `rising`: per UTC day and ISO week, the channels whose average viewers (one board) and followers
//! gained (another) grew most against the mean of their own last 4 periods with the figure
//! ([`crate::audience::boards::rise`]); one record per channel, rank and metric when a period closes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::kind::{BuildContext, KindConfig, Reads, WindowRule};
use super::open_periods::OpenPeriods;
use super::options::options;
use super::state::{KeyedTable, StateTables, Table, TableName};
use super::{Emitter, Input, Output, Processor, RowInput};
use crate::audience::boards::board::{Board, PeriodTotals};
use crate::audience::boards::period::{Period, PeriodKind};
use crate::audience::boards::rise::{growth, reason, Growth, History};
use crate::time::duration::DurationMs;

options! {
    /// The options of `rising`.
    pub struct RisingConfig {
        /// A day or week closes this long after its end. Sessions arrive when they end, and belong
        /// to the period they started in: one ending later than this after its period is late.
        pub grace: DurationMs = DurationMs::mins(60),
        /// Channels per metric and period.
        pub top: u64 = 10,
        /// Average viewers are judged only against a baseline of at least this many viewers.
        pub min_avg_viewers: f64 = 50.0,
        /// Followers gained are judged only against a baseline of at least this many followers.
        pub min_followers_gained: f64 = 10.0,
    }
}

impl KindConfig for RisingConfig {
    const NAME: &'static str = "rising";
    const SUMMARY: &'static str =
        "stream-session rows: channels whose viewers or followers grew most against their last 4 days or weeks";
    const WINDOW: WindowRule = WindowRule::Forbidden;
    const READS: Reads = Reads::Rows;

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.top == 0 {
            p.push("options.top = 0: list at least 1 channel (10 is usual)".to_owned());
        }
        for (name, v, usual) in [
            ("min_avg_viewers", self.min_avg_viewers, 50),
            ("min_followers_gained", self.min_followers_gained, 10),
        ] {
            if !(v.is_finite() && v > 0.0) {
                p.push(format!(
                    "options.{name} = {v}: a growth needs a positive baseline ({usual} is usual)"
                ));
            }
        }
        p
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        Box::new(Rising::new(ctx.name, ctx.sink, self))
    }
}

/// The metrics `rising` judges, with the board each is read from.
const METRICS: [Board; 2] = [Board::AvgViewers, Board::FollowersGained];

/// One rising channel, as a record of the sink (key = channel).
#[derive(Debug, Serialize)]
struct RisingRecord<'a> {
    metric: &'a str,
    period: &'a str,
    period_start: i64,
    period_end: i64,
    channel: &'a str,
    value: f64,
    baseline: f64,
    growth: f64,
    rank: u64,
    reason: String,
}

/// A channel's history of each metric for one period kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ChannelHistory {
    avg_viewers: History,
    followers_gained: History,
}

impl ChannelHistory {
    fn of(&self, metric: Board) -> &History {
        match metric {
            Board::FollowersGained => &self.followers_gained,
            _ => &self.avg_viewers,
        }
    }

    fn of_mut(&mut self, metric: Board) -> &mut History {
        match metric {
            Board::FollowersGained => &mut self.followers_gained,
            _ => &mut self.avg_viewers,
        }
    }
}

/// The key of a channel's history for a period kind: `day nymn`.
fn history_key(kind: PeriodKind, channel: &str) -> String {
    format!("{} {channel}", kind.as_str())
}

/// The `rising` processor of one task.
#[derive(Debug)]
pub struct Rising {
    name: String,
    sink: usize,
    top: usize,
    min_avg_viewers: f64,
    min_followers_gained: f64,
    open: OpenPeriods,
    history: KeyedTable<String, ChannelHistory>,
}

impl Rising {
    /// A processor named `name` writing to sink `sink`, with `config`'s settings.
    pub fn new(name: &str, sink: usize, config: &RisingConfig) -> Self {
        Rising {
            name: name.to_owned(),
            sink,
            top: config.top as usize,
            min_avg_viewers: config.min_avg_viewers,
            min_followers_gained: config.min_followers_gained,
            open: OpenPeriods::new(config.grace.ms()),
            history: KeyedTable::new(TableName::RISING_HISTORY),
        }
    }

    fn minimum(&self, metric: Board) -> f64 {
        match metric {
            Board::FollowersGained => self.min_followers_gained,
            _ => self.min_avg_viewers,
        }
    }

    fn close(&mut self, period: Period, channels: &[(String, PeriodTotals)], out: &mut Emitter) {
        out.windows_closed += 1;
        for metric in METRICS {
            let values: Vec<(&str, f64)> = channels
                .iter()
                .filter_map(|(c, t)| Some((c.as_str(), t.value(metric)?)))
                .collect();
            let mut risen: Vec<(&str, f64, Growth)> = values
                .iter()
                .filter_map(|&(c, v)| {
                    let history = self.history.get(&history_key(period.kind, c))?;
                    Some((c, v, growth(v, history.of(metric), self.minimum(metric))?))
                })
                .collect();
            risen.sort_by(|a, b| b.2.growth.total_cmp(&a.2.growth).then_with(|| a.0.cmp(b.0)));
            for (i, (channel, value, g)) in risen.iter().take(self.top).enumerate() {
                let record = RisingRecord {
                    metric: metric.as_str(),
                    period: period.kind.as_str(),
                    period_start: period.start_ms,
                    period_end: period.end_ms(),
                    channel,
                    value: *value,
                    baseline: g.baseline,
                    growth: g.growth,
                    rank: i as u64 + 1,
                    reason: reason(channel, metric, period, *value, g),
                };
                out.outputs.push(Output {
                    sink: self.sink,
                    key: (*channel).to_owned(),
                    value: serde_json::to_value(&record).expect("rising records serialize"),
                    ts_ms: period.end_ms(),
                });
            }
            for (channel, value) in values {
                self.history
                    .get_or_insert_with(&history_key(period.kind, channel), Default::default)
                    .of_mut(metric)
                    .push(value);
            }
        }
    }
}

impl Processor for Rising {
    fn process(&mut self, _input: &Input<'_>, _out: &mut Emitter) {}

    fn process_row(&mut self, input: &RowInput<'_>, out: &mut Emitter) {
        self.open.admit(&self.name, input, out);
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter) {
        for (period, channels) in self.open.advance(watermark_ms) {
            self.close(period, &channels, out);
        }
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.open.set_watermark(watermark_ms);
    }

    fn open_entries(&self) -> usize {
        self.open.len()
    }

    /// Channel `key`'s history: its last values of each metric per day and week, oldest first.
    fn query(&self, key: &str) -> Option<Value> {
        let mut found = false;
        let mut periods = serde_json::Map::new();
        for kind in PeriodKind::ALL {
            let h = self.history.get(&history_key(kind, key));
            found |= h.is_some();
            let h = h.cloned().unwrap_or_default();
            periods.insert(
                kind.as_str().to_owned(),
                json!({
                    "avg_viewers": h.avg_viewers.values,
                    "followers_gained": h.followers_gained.values,
                }),
            );
        }
        found.then(|| json!({"channel": key, "history": periods}))
    }

    fn reads_terms(&self) -> bool {
        false
    }

    fn reads_joined(&self) -> bool {
        false
    }
}

impl StateTables for Rising {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        self.open.tables(visit);
        visit(&mut self.history);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::state;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: i64 = 1_704_067_200_000;

    fn session(start: i64, avg: f64, followers: Option<i64>) -> Value {
        json!({"start": start, "end": start + HOUR, "duration_s": 3600.0, "avg_viewers": avg,
               "peak_viewers": avg as i64, "hours_watched": avg, "followers_gained": followers,
               "final": true})
    }

    fn processor() -> Rising {
        Rising::new("rising", 0, &RisingConfig::default())
    }

    fn feed(p: &mut Rising, rows: &[(&str, Value)], out: &mut Emitter) {
        for (offset, (channel, row)) in rows.iter().enumerate() {
            let ts_ms = row["end"].as_i64().unwrap();
            let input = RowInput {
                partition: 0,
                offset: offset as i64,
                ts_ms,
                key: channel,
                row,
            };
            p.process_row(&input, out);
            p.on_watermark(ts_ms, out);
        }
    }

    /// nymn on five days (1,000 then 2,000, 2,400, 2,520, 3,000 viewers, then 5,208 on day 6),
    /// a tiny channel that grows tenfold, and forsen with followers only.
    fn week() -> Vec<(&'static str, Value)> {
        let mut rows = Vec::new();
        for (d, avg) in [1_000.0, 2_000.0, 2_400.0, 2_520.0, 3_000.0, 5_208.0]
            .into_iter()
            .enumerate()
        {
            let day = MONDAY + d as i64 * DAY;
            rows.push(("nymn", session(day + HOUR, avg, None)));
            rows.push((
                "tiny",
                session(day + HOUR, 4.0 * 10f64.powi(d as i32), None),
            ));
            rows.push((
                "forsen",
                session(day + 2 * HOUR, 40.0, Some(20 * (d as i64 + 1))),
            ));
        }
        rows
    }

    #[test]
    fn growth_is_against_the_last_four_periods_above_the_minimum_baseline() {
        let mut p = processor();
        let mut out = Emitter::default();
        feed(&mut p, &week(), &mut out);
        p.on_watermark(MONDAY + 6 * DAY + HOUR, &mut out);
        let saturday: Vec<&Value> = out
            .outputs
            .iter()
            .map(|o| &o.value)
            .filter(|v| v["period_start"] == MONDAY + 5 * DAY)
            .collect();
        let viewers: Vec<&&Value> = saturday
            .iter()
            .filter(|v| v["metric"] == "avg_viewers")
            .collect();
        // tiny's baseline on Saturday (the mean of 40, 400, 4,000 and 40,000) is above 50, so it is
        // judged too, and grew most.
        let names: Vec<&str> = viewers
            .iter()
            .map(|v| v["channel"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["tiny", "nymn"]);
        let nymn = viewers[1];
        assert_eq!(nymn["baseline"], 2_480.0);
        assert_eq!(nymn["rank"], 2);
        assert!((nymn["growth"].as_f64().unwrap() - 1.1).abs() < 1e-12);
        assert_eq!(
            nymn["reason"],
            "nymn averaged 5,208 viewers on 2024-01-06, 2.1× its previous 4 days' mean of 2,480"
        );
        let followers: Vec<&&Value> = saturday
            .iter()
            .filter(|v| v["metric"] == "followers_gained")
            .collect();
        assert_eq!(followers.len(), 1);
        // 120 against the mean of 40, 60, 80 and 100.
        assert_eq!(
            (&followers[0]["value"], &followers[0]["baseline"]),
            (&json!(120.0), &json!(70.0))
        );
        // Tuesday: tiny's baseline (4) is under 50; nymn doubled against Monday alone.
        let tuesday: Vec<&Value> = out
            .outputs
            .iter()
            .map(|o| &o.value)
            .filter(|v| v["period_start"] == MONDAY + DAY && v["metric"] == "avg_viewers")
            .collect();
        assert_eq!(tuesday.len(), 1);
        assert_eq!(
            tuesday[0]["reason"],
            "nymn averaged 2,000 viewers on 2024-01-02, 2.0× its previous day's 1,000"
        );
        assert_eq!(out.outputs[0].key, "nymn");
        // The week has no history yet: nothing for it.
        p.on_watermark(i64::MAX, &mut out);
        assert!(out.outputs.iter().all(|o| o.value["period"] == "day"));
    }

    #[test]
    fn a_restored_processor_remembers_the_history() {
        let rows = week();
        let mut p = processor();
        let mut out = Emitter::default();
        feed(&mut p, &rows[..12], &mut out);
        let writes = state::take_writes(&mut p);
        let mut restored = processor();
        for (k, v) in &writes {
            if let Some(v) = v {
                state::restore(&mut restored, k, v).unwrap();
            }
        }
        restored.set_watermark(MONDAY + 3 * DAY + 3 * HOUR);
        assert_eq!(restored.query("nymn"), p.query("nymn"));
        assert_eq!(
            p.query("nymn").unwrap()["history"]["day"]["avg_viewers"],
            json!([1_000.0, 2_000.0, 2_400.0])
        );
        assert_eq!(p.query("nobody"), None);
        let (mut a, mut b) = (Emitter::default(), Emitter::default());
        feed(&mut p, &rows[12..], &mut a);
        feed(&mut restored, &rows[12..], &mut b);
        p.on_watermark(i64::MAX, &mut a);
        restored.on_watermark(i64::MAX, &mut b);
        assert_eq!(a.outputs, b.outputs);
        assert!(!a.outputs.is_empty());
    }

    #[test]
    fn options_need_a_positive_baseline_and_a_top() {
        let c = RisingConfig {
            top: 0,
            min_avg_viewers: 0.0,
            ..RisingConfig::default()
        };
        assert_eq!(
            c.problems(),
            [
                "options.top = 0: list at least 1 channel (10 is usual)",
                "options.min_avg_viewers = 0: a growth needs a positive baseline (50 is usual)",
            ]
        );
        assert!(RisingConfig::default().problems().is_empty());
    }

    #[test]
    fn the_history_layout_is_pinned() {
        let mut p = processor();
        let mut out = Emitter::default();
        feed(
            &mut p,
            &[("nymn", session(MONDAY, 100.0, Some(3)))],
            &mut out,
        );
        p.on_watermark(MONDAY + DAY + HOUR, &mut out);
        let writes = state::take_writes(&mut p);
        let history = writes
            .iter()
            .find(|(k, _)| k.as_slice() == b"\x01rday nymn")
            .unwrap();
        assert_eq!(
            history.1.as_deref(),
            Some(&br#"{"avg_viewers":{"values":[100.0]},"followers_gained":{"values":[3.0]}}"#[..])
        );
    }
}
