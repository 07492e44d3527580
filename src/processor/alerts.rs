//! `alert`: one alert rule (the processor's name is the rule's) over one result topic read as rows —
//! viewers falling or rising, a follower surge, a chat spike, a gift bomb, a raid, a stream start or
//! end — gated per channel by a cooldown and deduplication, one `twitch.alerts` record per alert.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kind::{BuildContext, KindConfig, Reads, WindowRule};
use super::options::options;
use super::state::{KeyedTable, StateTables, Table, TableName};
use super::{Emitter, Input, Invalid, Output, Processor, RowInput};
use crate::alerts::followers::FollowerSurge;
use crate::alerts::gate::{Gate, Verdict};
use crate::alerts::gift_bomb::GiftBomb;
use crate::alerts::raid::Raid;
use crate::alerts::rule::{Row, Rule};
use crate::alerts::scope::Scope;
use crate::alerts::spike::ChatSpike;
use crate::alerts::stream_end::StreamEnd;
use crate::alerts::stream_start::StreamStart;
use crate::alerts::viewers::{Direction, ViewerChange};
use crate::time::duration::DurationMs;

options! {
    /// `viewers`: viewers fell or rose within a span (rows with `viewers`: `twitch.audience.minute`
    /// or `twitch.streams`).
    pub struct ViewersOptions {
        /// Alert when viewers fall by at least this many percent of the span's highest figure (set
        /// this or `rise_pct`).
        pub drop_pct: Option<f64> = None,
        /// Alert when viewers rise by at least this many percent over the span's lowest figure.
        pub rise_pct: Option<f64> = None,
        /// The span before each figure it is compared over.
        pub within: DurationMs = DurationMs::mins(10),
        /// The larger of the two figures compared must be at least this many viewers.
        pub min_viewers: u64 = 100,
    }
}

options! {
    /// `followers`: followers gained in an hour against the channel's usual
    /// (`twitch.audience.hour`).
    pub struct FollowersOptions {
        /// The hour's gain must be at least this multiple of the usual gain per hour.
        pub factor: f64 = 3.0,
        /// And at least this many followers.
        pub min_gained: u64 = 20,
        /// The usual is the mean gain of this many of the channel's latest hours with a known gain.
        pub usual_hours: u64 = 24,
        /// No alert until this many such hours are known.
        pub min_history: u64 = 3,
    }
}

options! {
    /// `spike`: a chat spike with its cause (`twitch.spikes`).
    pub struct ChatSpikeOptions {
        /// Alert with the onset record (sooner, no cause known yet) instead of the end record.
        pub at_onset: bool = false,
        /// Only spikes whose lift (rate over the usual) reaches this.
        pub min_lift: f64 = 0.0,
    }
}

options! {
    /// `gift_bomb`: a gift bomb (`twitch.subscriptions`).
    pub struct GiftBombOptions {
        /// Gifted subs a bomb must have.
        pub min_gifts: u64 = 20,
    }
}

options! {
    /// `raid`: a raid (`twitch.chat.events`).
    pub struct RaidOptions {
        /// Viewers a raid must bring.
        pub min_viewers: u64 = 50,
    }
}

options! {
    /// `stream_start`: a stream went live (`twitch.streams`).
    pub struct StreamStartOptions {
        /// A live snapshot this long after the channel's previous live one is a new stream.
        pub gap: DurationMs = DurationMs::mins(30),
    }
}

options! {
    /// `stream_end`: a stream ended, with its summary (`twitch.streams.sessions`).
    pub struct StreamEndOptions {
        /// Streams shorter than this are not reported.
        pub min_duration: DurationMs = DurationMs(0),
    }
}

options! {
    /// The options of `alert`: common settings and exactly one rule table.
    pub struct AlertConfig {
        /// Only these channels (lowercase logins); empty: every channel.
        pub channels: Vec<String> = Vec::new(),
        /// After an alert, the rule stays quiet for this long (event time) in that channel.
        pub cooldown: DurationMs = DurationMs::mins(30),
        /// Viewers fell or rose by a percentage within a span.
        pub viewers: Option<ViewersOptions> = None,
        /// Followers gained in an hour at least a multiple of the channel's usual.
        pub followers: Option<FollowersOptions> = None,
        /// A chat spike, with its cause.
        pub spike: Option<ChatSpikeOptions> = None,
        /// A gift bomb of at least `min_gifts`.
        pub gift_bomb: Option<GiftBombOptions> = None,
        /// A raid of at least `min_viewers`.
        pub raid: Option<RaidOptions> = None,
        /// A stream went live.
        pub stream_start: Option<StreamStartOptions> = None,
        /// A stream ended, with its session's summary.
        pub stream_end: Option<StreamEndOptions> = None,
    }
}

/// The rule tables of [`AlertConfig`], by name, and whether each is set.
fn rules_set(c: &AlertConfig) -> Vec<&'static str> {
    [
        ("viewers", c.viewers.is_some()),
        ("followers", c.followers.is_some()),
        ("spike", c.spike.is_some()),
        ("gift_bomb", c.gift_bomb.is_some()),
        ("raid", c.raid.is_some()),
        ("stream_start", c.stream_start.is_some()),
        ("stream_end", c.stream_end.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

const RULES: &str = "viewers, followers, spike, gift_bomb, raid, stream_start or stream_end";

impl KindConfig for AlertConfig {
    const NAME: &'static str = "alert";
    const SUMMARY: &'static str =
        "one alert rule (viewers, followers, spike, gift bomb, raid, stream start or end) over a result topic";
    const WINDOW: WindowRule = WindowRule::Forbidden;
    const READS: Reads = Reads::Rows;

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let set = rules_set(self);
        match set.len() {
            1 => {}
            0 => p.push(format!(
                "options: set one rule table ({RULES}), such as options.raid = {{ min_viewers = 50 }}"
            )),
            _ => p.push(format!(
                "options: {} are set; a processor is one rule: declare one [[processor]] per rule",
                set.join(", ")
            )),
        }
        if let Some(v) = &self.viewers {
            match (v.drop_pct, v.rise_pct) {
                (Some(d), None) if d > 0.0 && d < 100.0 => {}
                (Some(d), None) => p.push(format!(
                    "options.viewers.drop_pct {d} must be above 0 and below 100 (30 is usual)"
                )),
                (None, Some(r)) if r > 0.0 => {}
                (None, Some(r)) => p.push(format!(
                    "options.viewers.rise_pct {r} must be above 0 (50 is usual)"
                )),
                _ => p.push(
                    "options.viewers: set one of drop_pct and rise_pct (one direction per rule)"
                        .to_owned(),
                ),
            }
            if v.within.ms() <= 0 {
                p.push("options.viewers.within must be above 0 (\"10m\" is usual)".to_owned());
            }
        }
        if let Some(f) = &self.followers {
            if f.factor <= 0.0 {
                p.push(format!(
                    "options.followers.factor {} must be above 0 (3.0 is usual)",
                    f.factor
                ));
            }
            if f.usual_hours == 0 || f.min_history == 0 || f.min_history > f.usual_hours {
                p.push(format!(
                    "options.followers: min_history {} must be at least 1 and at most usual_hours {}",
                    f.min_history, f.usual_hours
                ));
            }
        }
        if let Some(s) = &self.spike {
            if s.min_lift < 0.0 {
                p.push(format!(
                    "options.spike.min_lift {} must be at least 0",
                    s.min_lift
                ));
            }
        }
        p
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        let common = Common {
            name: ctx.name.to_owned(),
            sink: ctx.sink,
            scope: Scope::new(&self.channels),
            cooldown_ms: self.cooldown.ms(),
        };
        if let Some(v) = &self.viewers {
            let direction = match (v.drop_pct, v.rise_pct) {
                (Some(d), _) => Direction::Drop(d),
                (None, r) => Direction::Rise(r.expect("validated: one direction")),
            };
            return AlertProcessor::boxed(
                common,
                ViewerChange {
                    direction,
                    within_ms: v.within.ms(),
                    min_viewers: v.min_viewers as i64,
                },
            );
        }
        if let Some(f) = &self.followers {
            return AlertProcessor::boxed(
                common,
                FollowerSurge {
                    factor: f.factor,
                    min_gained: f.min_gained as i64,
                    usual_hours: f.usual_hours as usize,
                    min_history: f.min_history as usize,
                },
            );
        }
        if let Some(s) = &self.spike {
            return AlertProcessor::boxed(
                common,
                ChatSpike {
                    at_onset: s.at_onset,
                    min_lift: s.min_lift,
                },
            );
        }
        if let Some(g) = &self.gift_bomb {
            return AlertProcessor::boxed(
                common,
                GiftBomb {
                    min_gifts: g.min_gifts as i64,
                },
            );
        }
        if let Some(r) = &self.raid {
            return AlertProcessor::boxed(
                common,
                Raid {
                    min_viewers: r.min_viewers as i64,
                },
            );
        }
        if let Some(s) = &self.stream_start {
            return AlertProcessor::boxed(common, StreamStart { gap_ms: s.gap.ms() });
        }
        let e = self
            .stream_end
            .as_ref()
            .expect("validated: one rule table is set");
        AlertProcessor::boxed(
            common,
            StreamEnd {
                min_duration_ms: e.min_duration.ms(),
            },
        )
    }
}

/// The settings every rule's processor has.
#[derive(Debug)]
struct Common {
    name: String,
    sink: usize,
    scope: Scope,
    cooldown_ms: i64,
}

/// What a rule keeps per channel: its gate and its memory of earlier rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound = "M: Serialize + serde::de::DeserializeOwned + Default")]
struct ChannelState<M> {
    #[serde(default)]
    gate: Gate,
    #[serde(default)]
    memory: M,
}

/// The `alert` processor of one task: one rule.
#[derive(Debug)]
pub struct AlertProcessor<R: Rule> {
    common: Common,
    rule: R,
    channels: KeyedTable<String, ChannelState<R::Memory>>,
}

impl<R: Rule + 'static> AlertProcessor<R> {
    fn boxed(common: Common, rule: R) -> Box<dyn Processor> {
        Box::new(AlertProcessor {
            common,
            rule,
            channels: KeyedTable::new(TableName::ALERT_CHANNELS),
        })
    }
}

impl<R: Rule> StateTables for AlertProcessor<R> {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.channels);
    }
}

impl<R: Rule> Processor for AlertProcessor<R> {
    fn process(&mut self, _input: &Input<'_>, _out: &mut Emitter) {}

    fn process_row(&mut self, input: &RowInput<'_>, out: &mut Emitter) {
        let channel = input.key;
        if !self.common.scope.covers(channel) {
            return;
        }
        let row = Row {
            channel,
            ts_ms: input.ts_ms,
            value: input.row,
        };
        let state = self
            .channels
            .get_or_insert_with(channel, ChannelState::default);
        let alert = match self.rule.read(&row, &mut state.memory) {
            Ok(Some(a)) => a.of_rule(&self.common.name),
            Ok(None) => return,
            Err(reason) => {
                out.invalid.push(Invalid {
                    processor: self.common.name.clone(),
                    reason,
                });
                return;
            }
        };
        let verdict = state
            .gate
            .admit(&alert.alert_id, alert.window_end, self.common.cooldown_ms);
        if verdict == Verdict::Fire {
            out.outputs.push(Output {
                sink: self.common.sink,
                key: alert.channel.clone(),
                ts_ms: alert.window_end,
                value: alert.to_value(),
            });
        }
    }

    fn on_watermark(&mut self, _watermark_ms: i64, _out: &mut Emitter) {}

    fn set_watermark(&mut self, _watermark_ms: i64) {}

    fn open_entries(&self) -> usize {
        self.channels.len()
    }

    /// The channel's last alert (id and window end) and the rule's memory of it.
    fn query(&self, key: &str) -> Option<Value> {
        self.channels
            .get(key)
            .map(|s| serde_json::to_value(s).expect("alert state serializes"))
    }

    fn reads_terms(&self) -> bool {
        false
    }

    fn reads_joined(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::processor::kind::Kind;
    use crate::processor::state;

    const MIN: i64 = 60_000;

    fn config(options: &str) -> Result<AlertConfig, Vec<String>> {
        let parsed = (Kind::of::<AlertConfig>().parse)(&toml::from_str(options).unwrap())?;
        Ok(parsed
            .as_any()
            .downcast_ref::<AlertConfig>()
            .unwrap()
            .clone())
    }

    fn build(options: &str) -> Box<dyn Processor> {
        config(options).unwrap().build(&BuildContext {
            name: "raids",
            sink: 0,
            window: None,
            emit: Default::default(),
            store: "raids",
            table: None,
        })
    }

    fn raid(channel: &str, ts_ms: i64, viewers: i64) -> (String, i64, Value) {
        (
            channel.to_owned(),
            ts_ms,
            json!({"kind": "raid", "raid_viewers": viewers, "user_login": "r", "shared_copy": false}),
        )
    }

    fn feed(p: &mut dyn Processor, rows: &[(String, i64, Value)]) -> Emitter {
        let mut out = Emitter::default();
        for (offset, (key, ts_ms, row)) in rows.iter().enumerate() {
            p.process_row(
                &RowInput {
                    partition: 0,
                    offset: offset as i64,
                    ts_ms: *ts_ms,
                    key,
                    row,
                },
                &mut out,
            );
        }
        out
    }

    #[test]
    fn one_rule_per_processor_with_every_problem_named() {
        assert_eq!(
            config("").unwrap_err(),
            [format!(
                "options: set one rule table ({RULES}), such as options.raid = {{ min_viewers = 50 }}"
            )]
        );
        assert_eq!(
            config("raid = {}\ngift_bomb = {}").unwrap_err(),
            ["options: gift_bomb, raid are set; a processor is one rule: declare one [[processor]] per rule"]
        );
        assert_eq!(
            config("viewers = { drop_pct = 30.0, rise_pct = 50.0 }").unwrap_err(),
            ["options.viewers: set one of drop_pct and rise_pct (one direction per rule)"]
        );
        assert_eq!(
            config("viewers = { drop_pct = 130 }\nchannels = [\"a\"]").unwrap_err(),
            ["options.viewers.drop_pct 130 must be above 0 and below 100 (30 is usual)"]
        );
        assert_eq!(
            config("followers = { min_history = 30 }").unwrap_err(),
            ["options.followers: min_history 30 must be at least 1 and at most usual_hours 24"]
        );
        let e = config("raid = { min_viewrs = 5 }").unwrap_err();
        assert_eq!(
            e,
            ["option \"raid.min_viewrs\" is unknown for kind alert: use raid.min_viewers"]
        );
        let c = config("stream_end = {}\ncooldown = \"0s\"").unwrap();
        assert_eq!(c.stream_end, Some(StreamEndOptions::default()));
        assert_eq!(c.cooldown.ms(), 0);
    }

    #[test]
    fn alerts_are_gated_per_channel_scoped_and_unreadable_rows_refused() {
        let mut p = build(
            "raid = { min_viewers = 50 }\ncooldown = \"10m\"\nchannels = [\"nymn\", \"forsen\"]",
        );
        let rows = [
            raid("nymn", 0, 100),
            raid("nymn", 0, 100),        // a repeat: one event, one alert
            raid("nymn", 5 * MIN, 500),  // within the cooldown
            raid("forsen", 5 * MIN, 60), // another channel has its own gate
            raid("xqc", 5 * MIN, 9_000), // out of scope
            raid("nymn", 10 * MIN, 49),  // too small
            raid("nymn", 10 * MIN, 50),  // the cooldown is over
            ("nymn".to_owned(), 11 * MIN, json!({"no": "kind"})),
        ];
        let out = feed(p.as_mut(), &rows);
        let got: Vec<(&str, i64)> = out
            .outputs
            .iter()
            .map(|o| (o.key.as_str(), o.ts_ms))
            .collect();
        assert_eq!(got, [("nymn", 0), ("forsen", 5 * MIN), ("nymn", 10 * MIN)]);
        let first = &out.outputs[0].value;
        assert_eq!(first["rule"], "raids");
        assert_eq!(first["kind"], "raid");
        assert_eq!(
            first["alert_id"],
            crate::alerts::id::alert_id("raids", "nymn", 0, 0)
        );
        assert_eq!(out.invalid.len(), 1);
        assert_eq!(out.invalid[0].processor, "raids");
        assert!(out.invalid[0].reason.starts_with("field kind is missing"));
    }

    #[test]
    fn a_restored_processor_alerts_as_the_original_would() {
        let rows: Vec<_> = (0..12).map(|i| raid("nymn", i * 7 * MIN, 100)).collect();
        let options = "raid = {}\ncooldown = \"20m\"";
        let mut whole = build(options);
        let all = feed(whole.as_mut(), &rows);
        let mut first = build(options);
        let mut got = feed(first.as_mut(), &rows[..5]).outputs;
        let writes = state::take_writes(first.as_mut());
        assert_eq!(writes[0].0, b"\x01lnymn".to_vec(), "one entry per channel");
        let mut restored = build(options);
        for (k, v) in &writes {
            state::restore(restored.as_mut(), k, v.as_ref().unwrap()).unwrap();
        }
        // Replaying the last two rows of the first part again changes nothing (duplicates).
        got.extend(feed(restored.as_mut(), &rows[3..]).outputs);
        assert_eq!(got, all.outputs);
        // 0, 21, 42, 63 min: every third row (cooldown 20 min).
        assert_eq!(all.outputs.len(), 4);
    }
}
