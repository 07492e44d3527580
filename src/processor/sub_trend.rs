//! `sub_trend`: subscriptions per channel per window (5 minutes or an hour) for
//! `twitch.subscriptions.trend`: the mix of subs, resubs, gifts and upgrades, and whether the window
//! is a sub spike, linked to the chat spike it falls in (the moment that drove the subs).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::gift_state::GiftState;
use super::kind::{BuildContext, KindConfig, WindowRule};
use super::options::options;
use super::spike_tracker::SpikeTracker;
use super::spikes::SpikeOptions;
use super::state::{StateTables, Table, TableName, ValueTable};
use super::subscriptions::plan_name;
use super::windowed::{ranked, Windowed, WindowedKind};
use super::{Input, Processor};
use crate::chat::event::SubPlan;
use crate::detect::spike::SpikeEvent;
use crate::score::subs::{SubTrend, SubTrendMetrics, SubscriptionEvent};
use crate::time::duration::DurationMs;
use crate::window::{EmitMode, Window, WindowSpec};

/// A window is a sub spike when it has at least this many subs...
pub const SUB_SPIKE_MIN: u64 = 5;
/// ...and at least this many times the channel's usual subs per window.
pub const SUB_SPIKE_LIFT: f64 = 3.0;
/// Weight of the newest window in the usual subs per window (EWMA).
const USUAL_WEIGHT: f64 = 0.2;
/// Chat spikes are remembered this long after they end, to link windows to them.
const SPIKE_MEMORY_MS: i64 = 6 * 3_600_000;

options! {
    /// The options of `sub_trend`.
    pub struct SubTrendConfig {
        /// A window is a sub spike when it has at least this many subs...
        pub sub_spike_min: u64 = SUB_SPIKE_MIN,
        /// ...and at least this many times the channel's usual subs per window.
        pub sub_spike_lift: f64 = SUB_SPIKE_LIFT,
        /// Weight of the newest window in the usual subs per window (EWMA, above 0 and at most 1).
        pub usual_weight: f64 = USUAL_WEIGHT,
        /// Chat spikes are remembered this long after they end, to link windows to them.
        pub spike_memory: DurationMs = DurationMs(SPIKE_MEMORY_MS),
        /// The chat spike detector whose spikes windows are linked to.
        pub spike: SpikeOptions = SpikeOptions::default(),
    }
}

impl KindConfig for SubTrendConfig {
    const NAME: &'static str = "sub_trend";
    const SUMMARY: &'static str =
        "subscriptions per window, sub spikes linked to the chat spike they fall in";
    const WINDOW: WindowRule = WindowRule::Required;

    fn problems(&self) -> Vec<String> {
        let mut problems = self.spike.problems();
        if !(self.usual_weight > 0.0 && self.usual_weight <= 1.0) {
            problems.push(format!(
                "options.usual_weight {} must be above 0 and at most 1 (0.2 is usual)",
                self.usual_weight
            ));
        }
        problems
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        Box::new(SubTrendProcessor::sub_trend(
            ctx.name,
            ctx.sink,
            ctx.window(),
            ctx.emit,
            self,
        ))
    }
}

/// The `sub_trend` kind.
pub struct SubTrendKind {
    options: SubTrendConfig,
    gifts: GiftState,
    tracker: SpikeTracker,
    memory: ValueTable<TrendMemory>,
    /// The hour of event time old spikes were last forgotten in.
    pruned_hour: i64,
}

/// What `sub_trend` remembers per channel beside its windows, stored as one entry (a JSON array).
#[derive(Debug, Default, Serialize, Deserialize)]
struct TrendMemory(
    /// Usual subs per window per channel.
    BTreeMap<String, f64>,
    /// Chat spikes per channel: onset -> end (`None` while in progress).
    HashMap<String, BTreeMap<i64, Option<i64>>>,
);

/// The `sub_trend` processor of one task.
pub type SubTrendProcessor = Windowed<SubTrendKind>;

impl SubTrendProcessor {
    /// A `sub_trend` processor named `name` writing to sink `sink`.
    pub fn sub_trend(
        name: &str,
        sink: usize,
        window: WindowSpec,
        emit: EmitMode,
        options: &SubTrendConfig,
    ) -> Self {
        let grace = window.grace_ms();
        Windowed::new(
            name,
            sink,
            window,
            emit,
            SubTrend::default(),
            SubTrendKind {
                options: options.clone(),
                gifts: GiftState::default(),
                tracker: SpikeTracker::timing_only(options.spike.config(), grace),
                memory: ValueTable::new(TableName::SUB_TREND_MEMORY, TrendMemory::default()),
                pruned_hour: i64::MIN,
            },
        )
    }
}

fn tiers(m: &SubTrendMetrics) -> Value {
    let mut t = Map::new();
    for (plan, n) in [
        (SubPlan::Prime, m.tiers.prime),
        (SubPlan::Tier1, m.tiers.tier1),
        (SubPlan::Tier2, m.tiers.tier2),
        (SubPlan::Tier3, m.tiers.tier3),
    ] {
        t.insert(plan_name(plan).into(), n.into());
    }
    t.insert("unknown".into(), m.tiers.unknown.into());
    Value::Object(t)
}

impl WindowedKind for SubTrendKind {
    type Agg = SubTrend;

    fn extract(&mut self, input: &Input<'_>, add: &mut dyn FnMut(&str, &SubscriptionEvent)) {
        let tally = self.gifts.count(input.event);
        if let Some(c) = input.contribution(tally) {
            // Late records are reported by the trend window; the tracker just skips them.
            let _ = self.tracker.add(input.event.channel, input.ts_ms, &c);
        }
        if let Some(s) = SubscriptionEvent::from_event(input.event, tally) {
            add(input.event.channel, &s);
        }
    }

    fn fields(&self, key: &str, window: Window, m: &SubTrendMetrics, out: &mut Map<String, Value>) {
        out.insert("subs".into(), m.subs.into());
        out.insert("resubs".into(), m.resubs.into());
        out.insert("gifted_subs".into(), m.gifted_subs.into());
        out.insert("gift_bombs".into(), m.gift_bombs.into());
        out.insert("upgrades".into(), m.upgrades.into());
        out.insert("total".into(), m.total.into());
        out.insert(
            "prime_share".into(),
            m.prime_share
                .map_or(Value::Null, |p| ((p * 1000.0).round() / 1000.0).into()),
        );
        out.insert("tiers".into(), tiers(m));
        out.insert(
            "top_gifters".into(),
            ranked(&m.top_gifters, "gifter", "gifts"),
        );
        let TrendMemory(usual, spikes) = self.memory.get();
        let usual = usual.get(key).copied();
        let total = m.total as f64;
        let o = &self.options;
        let is_spike =
            m.total >= o.sub_spike_min && usual.is_none_or(|u| total >= o.sub_spike_lift * u);
        out.insert(
            "usual_total".into(),
            usual.map_or(Value::Null, |u| ((u * 100.0).round() / 100.0).into()),
        );
        out.insert("sub_spike".into(), is_spike.into());
        let linked = spikes.get(key).and_then(|s| {
            s.range(..window.end_ms)
                .rev()
                .find(|(_, end)| end.is_none_or(|e| e >= window.start_ms))
                .map(|(onset, _)| *onset)
        });
        out.insert(
            "chat_spike_onset".into(),
            linked.map_or(Value::Null, Value::from),
        );
    }

    fn emitted(&mut self, key: &str, m: &SubTrendMetrics) {
        let total = m.total as f64;
        let usual = &mut self.memory.get_mut().0;
        let next = usual
            .get(key)
            .map_or(total, |u| u + self.options.usual_weight * (total - u));
        usual.insert(key.to_owned(), next);
    }

    fn advance(&mut self, watermark_ms: i64) {
        for e in self.tracker.advance(watermark_ms) {
            let spikes = &mut self.memory.get_mut().1;
            match e {
                SpikeEvent::Onset(o) => {
                    spikes
                        .entry(o.channel)
                        .or_default()
                        .insert(o.onset_ms, None);
                }
                SpikeEvent::End(s) => {
                    spikes
                        .entry(s.channel)
                        .or_default()
                        .insert(s.onset_ms, Some(s.end_ms));
                }
            }
        }
        // Forgetting old spikes walks every channel: once per hour of event time is enough, not
        // once per record.
        let hour = watermark_ms.div_euclid(3_600_000);
        if hour != self.pruned_hour {
            self.pruned_hour = hour;
            let horizon = watermark_ms.saturating_sub(self.options.spike_memory.ms());
            let kept = |end: &Option<i64>| end.is_none_or(|e| e >= horizon);
            // Only a change marks the memory for writing.
            if !self.memory.get().1.values().all(|s| s.values().all(kept)) {
                self.memory.get_mut().1.retain(|_, spikes| {
                    spikes.retain(|_, end| kept(end));
                    !spikes.is_empty()
                });
            }
        }
    }

    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        self.tracker.tables(visit);
        self.gifts.tables(visit);
        visit(&mut self.memory);
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.tracker.set_watermark(watermark_ms);
    }
}
