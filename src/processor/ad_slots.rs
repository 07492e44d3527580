//! `ad_slots`: ad-break recommendations per channel (`twitch.ad_slots`). Each closed minute of chat
//! is scored as a break starting at its end by [`AdSlotRecommender`] (reach, calm, Twitch's rules; see
//! `score::ad_slot`) once the spikes detected up to the minute's end plus the settle time are known.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::gift_state::GiftState;
use super::kind::{BuildContext, KindConfig, WindowRule, DEFAULT_GRACE};
use super::options::options;
use super::spike_tracker::SpikeTracker;
use super::spikes::{track, SpikeOptions};
use super::state::{KeyedTable, StateTables, Table, TableName, WindowTable};
use super::Late;
use super::{Emitter, Input, Output, Processor};
use crate::analysis::{chatter_hash, Contribution};
use crate::detect::spike::{SpikeConfig, SpikeEvent};
use crate::score::ad_slot::{AdSlot, AdSlotConfig, AdSlotRecommender, AudienceMinute};
use crate::table::SharedTable;
use crate::time::duration::DurationMs;
use crate::window::tumbling::TumblingWindows;
use crate::window::{Admission, Aggregate, WindowOperator, WindowResult};

/// The recommender's defaults ([`AdSlotConfig::default`]), which the options start from.
fn defaults() -> AdSlotConfig {
    AdSlotConfig::default()
}

/// Seconds as a duration option.
fn secs(s: u32) -> DurationMs {
    DurationMs::secs(s.into())
}

options! {
    /// The options of `ad_slots`: lateness, the ad rules and scoring of [`crate::score::ad_slot`],
    /// and the spike detector that keeps breaks clear of hype moments.
    pub struct AdSlotsConfig {
        /// How late a record may arrive and still count.
        pub grace: DurationMs = DEFAULT_GRACE,
        /// No break before this long after the stream started.
        pub after_start: DurationMs = DurationMs(defaults().after_start_ms),
        /// Breaks at least this far apart (start to start).
        pub min_gap: DurationMs = DurationMs(defaults().min_gap_ms),
        /// Ads allowed per `budget_window` (whole seconds).
        pub budget: DurationMs = secs(defaults().budget_s),
        /// The rolling window of the budget.
        pub budget_window: DurationMs = DurationMs(defaults().budget_window_ms),
        /// The break length to suggest when the budget allows (whole seconds).
        pub preferred_duration: DurationMs = secs(defaults().preferred_duration_s),
        /// The shortest break worth suggesting (whole seconds).
        pub min_duration: DurationMs = secs(defaults().min_duration_s),
        /// The longest break (whole seconds).
        pub max_duration: DurationMs = secs(defaults().max_duration_s),
        /// Calm stays 0 this long after a spike ends...
        pub calm_hold: DurationMs = DurationMs(defaults().calm_hold_ms),
        /// ...then rises to 1 over this long.
        pub calm_ramp: DurationMs = DurationMs(defaults().calm_ramp_ms),
        /// Rate calm is 1 up to this ratio of the minute's messages to the usual rate...
        pub rate_calm_until: f64 = defaults().rate_calm_until,
        /// ...and 0 from this ratio.
        pub rate_calm_zero_at: f64 = defaults().rate_calm_zero_at,
        /// Minutes whose median is the usual rate.
        pub usual_minutes: usize = defaults().usual_minutes,
        /// Minutes over which reach is normalised (against their largest audience).
        pub reach_minutes: usize = defaults().reach_minutes,
        /// The lowest score (0 to 1) recommended.
        pub min_score: f64 = defaults().min_score,
        /// The smallest audience worth a recommendation.
        pub min_reach: u64 = defaults().min_reach,
        /// How long a recommendation stays valid.
        pub validity: DurationMs = DurationMs(defaults().validity_ms),
        /// How long after a minute's end spike events may still arrive for it (the detector's
        /// window plus one bucket); a minute is judged this late.
        pub settle: DurationMs = DurationMs(defaults().settle_ms),
        /// When every channel's stream started (epoch milliseconds); unset: its first minute seen.
        pub stream_start_ms: Option<i64> = defaults().stream_start_ms,
        /// The spike detector.
        pub spike: SpikeOptions = SpikeOptions::default(),
    }
}

impl AdSlotsConfig {
    /// The recommender's config, or the problems of the options in whole seconds.
    pub fn recommender(&self) -> Result<AdSlotConfig, Vec<String>> {
        let mut problems = Vec::new();
        let mut whole = |name: &str, d: DurationMs| {
            d.whole_secs().unwrap_or_else(|| {
                problems.push(format!(
                    "options.{name} = \"{d}\" must be a whole number of seconds, such as \"90s\""
                ));
                0
            })
        };
        let config = AdSlotConfig {
            after_start_ms: self.after_start.ms(),
            min_gap_ms: self.min_gap.ms(),
            budget_s: whole("budget", self.budget),
            budget_window_ms: self.budget_window.ms(),
            preferred_duration_s: whole("preferred_duration", self.preferred_duration),
            min_duration_s: whole("min_duration", self.min_duration),
            max_duration_s: whole("max_duration", self.max_duration),
            calm_hold_ms: self.calm_hold.ms(),
            calm_ramp_ms: self.calm_ramp.ms(),
            rate_calm_until: self.rate_calm_until,
            rate_calm_zero_at: self.rate_calm_zero_at,
            usual_minutes: self.usual_minutes,
            reach_minutes: self.reach_minutes,
            min_score: self.min_score,
            min_reach: self.min_reach,
            validity_ms: self.validity.ms(),
            settle_ms: self.settle.ms(),
            stream_start_ms: self.stream_start_ms,
        };
        problems.extend(
            config
                .validate()
                .into_iter()
                .map(|p| format!("options: {p}")),
        );
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }
}

impl KindConfig for AdSlotsConfig {
    const NAME: &'static str = "ad_slots";
    const SUMMARY: &'static str = "ad-break recommendations: reach, calm and Twitch's ad rules";
    const WINDOW: WindowRule = WindowRule::Forbidden;
    const JOINS: bool = true;

    fn problems(&self) -> Vec<String> {
        let mut problems = self.recommender().err().unwrap_or_default();
        problems.extend(self.spike.problems());
        problems
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        let config = self
            .recommender()
            .expect("validated: the options make a recommender config");
        Box::new(
            AdSlotsProcessor::new(
                ctx.name,
                ctx.sink,
                config,
                self.spike.config(),
                self.grace.ms(),
            )
            .with_table(ctx.table),
        )
    }
}

/// Minutes over which active chatters are counted.
pub const ACTIVE_MINUTES: i64 = 5;

/// Messages and distinct chatters (hashed) of a minute.
#[derive(Debug, Clone, Copy, Default)]
pub struct Audience;

/// The accumulator of [`Audience`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudienceAcc {
    /// Chat messages.
    pub messages: u64,
    /// Distinct chatters as hashes.
    pub chatters: BTreeSet<u64>,
}

impl Aggregate for Audience {
    type Input = Contribution;
    type Acc = AudienceAcc;
    type Output = AudienceAcc;

    fn init(&self) -> AudienceAcc {
        AudienceAcc::default()
    }

    fn add(&self, acc: &mut AudienceAcc, input: &Contribution) {
        if let Contribution::Message(m) = input {
            acc.messages += 1;
            acc.chatters.insert(chatter_hash(&m.chatter));
        }
    }

    fn merge(&self, into: &mut AudienceAcc, other: &AudienceAcc) {
        into.messages += other.messages;
        into.chatters.extend(other.chatters.iter().copied());
    }

    fn finish(&self, acc: &AudienceAcc) -> AudienceAcc {
        acc.clone()
    }
}

/// What the processor keeps per channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChannelState {
    recommender: AdSlotRecommender,
    /// The last recommended break.
    #[serde(default)]
    last_slot: Option<AdSlot>,
    /// The chatters of the last minutes: `(minute start, chatter hashes)`.
    recent: VecDeque<(i64, Vec<u64>)>,
}

/// The `ad_slots` processor of one task.
pub struct AdSlotsProcessor {
    name: String,
    sink: usize,
    config: AdSlotConfig,
    exit_hold_ms: i64,
    gifts: GiftState,
    tracker: SpikeTracker,
    minutes: WindowTable<Audience, TumblingWindows<Audience>>,
    closed: Vec<WindowResult<AudienceAcc>>,
    channels: KeyedTable<String, ChannelState>,
    /// The joined `twitch.streams` table: a minute's reach is its viewers when it knows them.
    table: Option<SharedTable>,
}

impl AdSlotsProcessor {
    /// Reads viewers from `table` (when given): a minute's reach is the channel's viewers as of
    /// the minute's last millisecond when a snapshot is known, its active chatters otherwise.
    pub fn with_table(mut self, table: Option<&SharedTable>) -> Self {
        self.table = table.cloned();
        self
    }

    /// The viewers of `channel` as of `ts_ms`, from the joined table.
    fn viewers(&self, channel: &str, ts_ms: i64) -> Option<u64> {
        let table = self
            .table
            .as_ref()?
            .read()
            .expect("a table lock is never poisoned");
        let (_, row) = table.as_of(channel, ts_ms)?;
        row.get("viewers")?.as_u64()
    }

    /// A processor named `name` writing to sink `sink`, detecting spikes with `spikes`; records
    /// are accepted `grace_ms` late.
    pub fn new(
        name: &str,
        sink: usize,
        config: AdSlotConfig,
        spikes: SpikeConfig,
        grace_ms: i64,
    ) -> Self {
        AdSlotsProcessor {
            name: name.to_owned(),
            sink,
            exit_hold_ms: spikes.exit_hold_ms,
            tracker: SpikeTracker::timing_only(spikes, grace_ms),
            // A minute is judged once the buckets up to its end + settle have closed.
            minutes: WindowTable::new(
                TableName::AD_SLOT_MINUTES,
                Box::new(TumblingWindows::new(
                    Audience,
                    60_000,
                    grace_ms + config.settle_ms,
                )),
            ),
            config,
            gifts: GiftState::default(),
            closed: Vec::new(),
            channels: KeyedTable::new(TableName::AD_SLOT_CHANNELS),
            table: None,
        }
    }

    fn channel(&mut self, channel: &str) -> &mut ChannelState {
        let config = &self.config;
        self.channels.get_or_insert_with(channel, || ChannelState {
            recommender: AdSlotRecommender::new(channel, config.clone()),
            last_slot: None,
            recent: VecDeque::new(),
        })
    }

    fn judge(&mut self, minute: WindowResult<AudienceAcc>) -> Option<AdSlot> {
        let start = minute.window.start_ms;
        let viewers = self.viewers(&minute.key, minute.window.end_ms - 1);
        let state = self.channel(&minute.key);
        while state
            .recent
            .front()
            .is_some_and(|(s, _)| *s <= start - ACTIVE_MINUTES * 60_000)
        {
            state.recent.pop_front();
        }
        state
            .recent
            .push_back((start, minute.value.chatters.iter().copied().collect()));
        let active: BTreeSet<u64> = state
            .recent
            .iter()
            .flat_map(|(_, c)| c.iter().copied())
            .collect();
        let slot = state.recommender.on_minute(&AudienceMinute {
            start_ms: start,
            messages: minute.value.messages,
            active_chatters: active.len() as u64,
            viewers,
        });
        if slot.is_some() {
            state.last_slot.clone_from(&slot);
        }
        slot
    }
}

/// When a spike event is known in event time: an onset at detection, an end once the rate has
/// stayed low for the exit hold.
fn known_at(e: &SpikeEvent, exit_hold_ms: i64) -> i64 {
    match e {
        SpikeEvent::Onset(o) => o.detected_ms,
        SpikeEvent::End(s) => (s.end_ms.saturating_add(exit_hold_ms)).max(s.detected_ms),
    }
}

/// An ad slot as a `twitch.ad_slots` record.
pub fn ad_slot_record(s: &AdSlot) -> Value {
    let mut m = Map::new();
    m.insert("channel".into(), s.channel.as_str().into());
    m.insert("window_start".into(), s.start_ms.into());
    m.insert(
        "window_end".into(),
        (s.start_ms + i64::from(s.duration_s) * 1000).into(),
    );
    m.insert("start".into(), s.start_ms.into());
    m.insert("duration_s".into(), s.duration_s.into());
    m.insert("score".into(), ((s.score * 1000.0).round() / 1000.0).into());
    m.insert("expected_reach".into(), s.expected_reach.into());
    m.insert("reason".into(), s.reason.as_str().into());
    m.insert("valid_from".into(), s.valid_from_ms.into());
    m.insert("valid_until".into(), s.valid_until_ms.into());
    Value::Object(m)
}

impl StateTables for AdSlotsProcessor {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        self.tracker.tables(visit);
        self.gifts.tables(visit);
        visit(&mut self.minutes);
        visit(&mut self.channels);
    }
}

impl Processor for AdSlotsProcessor {
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        let contribution = track(&self.name, &mut self.gifts, &mut self.tracker, input, out);
        let Some(message) = contribution.filter(|c| matches!(**c, Contribution::Message(_))) else {
            return;
        };
        let late = self.minutes.add(input.event.channel, input.ts_ms, &message) == Admission::Late;
        // One late report per record, even when both the bucket and the minute refused it.
        if late && out.late.last().is_none_or(|l| l.offset != input.offset) {
            out.late.push(Late {
                processor: self.name.clone(),
                partition: input.partition,
                offset: input.offset,
                ts_ms: input.ts_ms,
                watermark_ms: self.minutes.watermark(),
            });
        }
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter) {
        let mut events = self.tracker.advance(watermark_ms);
        events.sort_by_key(|e| known_at(e, self.exit_hold_ms));
        let mut pending: HashMap<String, VecDeque<SpikeEvent>> = HashMap::new();
        for e in events {
            let channel = match &e {
                SpikeEvent::Onset(o) => o.channel.clone(),
                SpikeEvent::End(s) => s.channel.clone(),
            };
            pending.entry(channel).or_default().push_back(e);
        }
        self.minutes.advance(watermark_ms, &mut self.closed);
        let settle = self.config.settle_ms;
        for minute in std::mem::take(&mut self.closed) {
            let judged_at = minute.window.end_ms + settle;
            if let Some(queue) = pending.get_mut(&minute.key) {
                while queue
                    .front()
                    .is_some_and(|e| known_at(e, self.exit_hold_ms) <= judged_at)
                {
                    let e = queue.pop_front().expect("checked");
                    self.channel(&minute.key).recommender.on_spike(&e);
                }
            }
            if let Some(slot) = self.judge(minute) {
                out.outputs.push(Output {
                    sink: self.sink,
                    key: slot.channel.clone(),
                    value: ad_slot_record(&slot),
                    ts_ms: slot.start_ms,
                });
            }
        }
        for (channel, queue) in pending {
            for e in queue {
                self.channel(&channel).recommender.on_spike(&e);
            }
        }
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.tracker.set_watermark(watermark_ms);
        self.minutes.set_watermark(watermark_ms);
    }

    fn open_entries(&self) -> usize {
        self.tracker.open_entries() + self.minutes.open_windows() + self.channels.len()
    }

    /// The last recommended break of channel `key` (with whether it is still valid at the current
    /// event time) and its spike state.
    fn query(&self, key: &str) -> Option<Value> {
        let state = self.channels.get(key)?;
        let now = self.minutes.watermark();
        let slot = state.last_slot.as_ref();
        Some(serde_json::json!({
            "channel": key,
            "last_slot": slot.map(ad_slot_record),
            "last_slot_valid": slot.is_some_and(|s| s.valid_from_ms <= now && now < s.valid_until_ms),
            "spikes": self.tracker.query(key),
        }))
    }

    /// The table is read as of each minute's end when the minute closes ([`Self::with_table`]).
    fn reads_joined(&self) -> bool {
        false
    }
}
