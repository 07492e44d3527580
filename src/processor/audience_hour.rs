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
