//! `engagement`: the engagement of each channel per window (messages, unique, new and returning
//! chatters, emotes, bits, subs, gifts counted once, raids, moderation, sentiment; optionally the
//! first-seen chatters of `FirstSeen`). With a 1-minute window it feeds `twitch.engagement.minute`;
//! with 1 hour, the hour-of-week heatmap.

use serde_json::{Map, Value};

use super::gift_state::GiftState;
use super::kind::{BuildContext, KindConfig, WindowRule};
use super::options::options;
use super::state::{FirstSeenTable, StateTables, Table, TableName};
use super::windowed::{ranked, Windowed, WindowedKind};
use super::{Input, Processor};
use crate::analysis::{Contribution, DEFAULT_MAX_TERMS};
use crate::audience::first_seen::FirstSeen;
use crate::score::engagement::{Engagement, EngagementMetrics, TOP_EMOTES};
use crate::time::duration::DurationMs;
use crate::window::{EmitMode, Window, WindowSpec};

options! {
    /// The options of `engagement`.
    pub struct EngagementConfig {
        /// Distinct emotes and emote candidates tracked per window and channel; beyond that the
        /// rarest give way (counts stay exact while a window has no more).
        pub max_terms: usize = DEFAULT_MAX_TERMS,
        /// Emotes reported per window (`top_emotes`), most used first.
        pub top_emotes: usize = TOP_EMOTES,
        /// Adds `first_seen_chatters`: the window's chatters never seen in the channel within
        /// `first_seen_horizon` (kept in state); off, the field is null and nothing is kept.
        pub first_seen_chatters: bool = false,
        /// How far back `first_seen_chatters` remembers a chatter (whole days).
        pub first_seen_horizon: DurationMs = DEFAULT_HORIZON,
    }
}

/// The default memory of first-seen chatters: 30 days.
pub const DEFAULT_HORIZON: DurationMs = DurationMs(30 * 86_400_000);

/// The whole days of a first-seen horizon option, or the problem with it.
pub fn horizon_days(name: &str, horizon: DurationMs) -> Result<i64, String> {
    match horizon.ms() {
        ms if ms >= 86_400_000 && ms % 86_400_000 == 0 => Ok(ms / 86_400_000),
        _ => Err(format!(
            "options.{name} = \"{horizon}\" must be a whole number of days, at least 1, such as \"30d\""
        )),
    }
}

impl KindConfig for EngagementConfig {
    const NAME: &'static str = "engagement";
    const SUMMARY: &'static str =
        "messages, chatters, emotes, bits, subs, gifts, raids, moderation and sentiment per window";
    const WINDOW: WindowRule = WindowRule::Required;
    const JOINS: bool = true;

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_terms == 0 {
            problems.push("options.max_terms = 0: track at least 1 term (256 is usual)".to_owned());
        }
        problems.extend(horizon_days("first_seen_horizon", self.first_seen_horizon).err());
        problems
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        let aggregate = Engagement {
            max_terms: self.max_terms,
            top_emotes: self.top_emotes,
            hash_chatters: self.first_seen_chatters,
        };
        let mut processor =
            EngagementProcessor::engagement(ctx.name, ctx.sink, ctx.window(), ctx.emit, aggregate)
                .with_table(ctx.table);
        if self.first_seen_chatters {
            let days = horizon_days("first_seen_horizon", self.first_seen_horizon)
                .expect("validated: a whole number of days");
            processor.kind_mut().first_seen = Some(FirstSeenTable::new(
                TableName::FIRST_SEEN,
                FirstSeen::new(days),
            ));
        }
        Box::new(processor)
    }
}

/// The `engagement` kind.
#[derive(Debug, Default)]
pub struct EngagementKind {
    gifts: GiftState,
    /// The chatters seen per channel, with `first_seen_chatters`.
    first_seen: Option<FirstSeenTable>,
}

/// The `engagement` processor of one task.
pub type EngagementProcessor = Windowed<EngagementKind>;

impl EngagementProcessor {
    /// An `engagement` processor named `name` writing to sink `sink`.
    pub fn engagement(
        name: &str,
        sink: usize,
        window: WindowSpec,
        emit: EmitMode,
        aggregate: Engagement,
    ) -> Self {
        Windowed::new(
            name,
            sink,
            window,
            emit,
            aggregate,
            EngagementKind::default(),
        )
    }
}

/// The hour of the week of `ms` in UTC, 0 (Monday 00:00-01:00) to 167, for heatmaps.
pub fn hour_of_week(ms: i64) -> i64 {
    // 1970-01-01 was a Thursday: day 0 is Thursday, so Monday-based days are shifted by 3.
    let hours = ms.div_euclid(3_600_000);
    let day = (hours.div_euclid(24) + 3).rem_euclid(7);
    day * 24 + hours.rem_euclid(24)
}

/// `chatters / viewers` rounded to 4 decimals; null without a positive viewer count.
pub fn chatters_per_viewer(chatters: u64, viewers: Option<i64>) -> Value {
    match viewers {
        Some(v) if v > 0 => Value::from((chatters as f64 / v as f64 * 10_000.0).round() / 10_000.0),
        _ => Value::Null,
    }
}

/// Writes an [`EngagementMetrics`] as the fields of an engagement record.
pub fn engagement_fields(m: &EngagementMetrics, out: &mut Map<String, Value>) {
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    put("messages", m.messages.into());
    put("unique_chatters", m.unique_chatters.into());
    put("new_chatters", m.new_chatters.into());
    put("returning_chatters", m.returning_chatters.into());
    put(
        "messages_per_chatter",
        ((m.messages_per_chatter * 1000.0).round() / 1000.0).into(),
    );
    put("emote_uses", m.emote_uses.into());
    put("top_emotes", ranked(&m.top_emotes, "emote", "uses"));
    put("hype_messages", m.hype_messages.into());
    put("bits", m.bits.into());
    put("subs", m.subs.into());
    put("resubs", m.resubs.into());
    put("gifted_subs", m.gifted_subs.into());
    put("gift_bombs", m.gift_bombs.into());
    put("raids", m.raids.into());
    put("raid_viewers", m.raid_viewers.into());
    put("timeouts", m.timeouts.into());
    put("bans", m.bans.into());
    put(
        "sentiment",
        m.sentiment
            .map_or(Value::Null, |s| ((s * 1000.0).round() / 1000.0).into()),
    );
    put("sentiment_messages", m.sentiment_messages.into());
}

impl WindowedKind for EngagementKind {
    type Agg = Engagement;

    fn extract(&mut self, input: &Input<'_>, add: &mut dyn FnMut(&str, &Contribution)) {
        let tally = self.gifts.count(input.event);
        input.with_contribution(tally, |contribution| add(input.event.channel, contribution));
    }

    fn fields(
        &self,
        key: &str,
        window: Window,
        value: &EngagementMetrics,
        out: &mut Map<String, Value>,
    ) {
        out.insert(
            "hour_of_week".into(),
            Value::from(hour_of_week(window.start_ms)),
        );
        engagement_fields(value, out);
        // Null without the option, as the Avro schema's default reads it.
        let first_seen = self.first_seen.as_ref().map_or(Value::Null, |seen| {
            Value::from(seen.count_new(key, value.chatter_hashes.iter().copied(), window.start_ms))
        });
        out.insert("first_seen_chatters".into(), first_seen);
    }

    /// Remembers a final window's chatters (with `first_seen_chatters`).
    fn closing(&mut self, key: &str, window: Window, value: &EngagementMetrics) {
        if let Some(seen) = &mut self.first_seen {
            seen.record(key, value.chatter_hashes.iter().copied(), window.start_ms);
        }
    }

    /// `viewers` from a joined `twitch.streams` snapshot, and chatters per viewer.
    fn joined_fields(
        &self,
        _key: &str,
        value: &EngagementMetrics,
        joined: Option<&Value>,
        out: &mut Map<String, Value>,
    ) {
        let viewers = joined
            .and_then(|j| j.get("viewers"))
            .and_then(Value::as_i64);
        out.insert("viewers".into(), viewers.map_or(Value::Null, Value::from));
        out.insert(
            "chatters_per_viewer".into(),
            chatters_per_viewer(value.unique_chatters, viewers),
        );
    }

    fn reads_terms(&self) -> bool {
        false
    }

    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        self.gifts.tables(visit);
        if let Some(seen) = &mut self.first_seen {
            visit(seen);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_of_the_week_start_on_monday_utc() {
        // 2024-01-06 was a Saturday; 13:05 UTC is hour 5 * 24 + 13.
        assert_eq!(hour_of_week(1_704_546_300_000), 5 * 24 + 13);
        // 2024-01-08 00:00 UTC, a Monday.
        assert_eq!(hour_of_week(1_704_672_000_000), 0);
        assert_eq!(hour_of_week(1_704_672_000_000 - 1), 167);
    }
}
