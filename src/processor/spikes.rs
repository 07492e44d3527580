//! `spikes`: chat-spike detection per channel (`twitch.spikes`). One record when a spike is
//! confirmed (`phase = "onset"`) and one when it ends (`phase = "end"`) with its peak, lift, unique
//! chatters, top terms, cause and the estimated on-stream moment.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::gift_state::GiftState;
use super::kind::{BuildContext, KindConfig, WindowRule, DEFAULT_GRACE};
use super::options::options;
use super::spike_tracker::SpikeTracker;
use super::state::{StateTables, Table};
use super::windowed::ranked;
use super::{Emitter, Input, Late, Output, Processor};
use crate::analysis::Contribution;
use crate::detect::spike::{Cause, SpikeConfig, SpikeEvent};
use crate::time::duration::DurationMs;
use crate::window::Admission;

/// The detector's defaults ([`SpikeConfig::default`]), which the options start from.
fn defaults() -> SpikeConfig {
    SpikeConfig::default()
}

options! {
    /// The spike detector's settings (`options.spike` of `spikes`, `sub_trend` and `ad_slots`); the
    /// module docs of [`crate::detect::spike`] explain each.
    pub struct SpikeOptions {
        /// Width of a bucket, the detector's step.
        pub bucket: DurationMs = DurationMs(defaults().bucket_ms),
        /// Width of the sliding rate window (a multiple of `bucket`).
        pub window: DurationMs = DurationMs(defaults().window_ms),
        /// Half-life of the baseline (EWMA).
        pub half_life: DurationMs = DurationMs(defaults().half_life_ms),
        /// Event time of learning before the baseline judges.
        pub warmup: DurationMs = DurationMs(defaults().warmup_ms),
        /// Learned samples are clipped this many standard deviations above the mean.
        pub clip_sigmas: f64 = defaults().clip_sigmas,
        /// Lift (rate over baseline) that starts a spike.
        pub k_on: f64 = defaults().k_on,
        /// Lift below which a spike may end (at most `k_on`).
        pub k_off: f64 = defaults().k_off,
        /// How long the lift must stay below `k_off` to end a spike.
        pub exit_hold: DurationMs = DurationMs(defaults().exit_hold_ms),
        /// z-score a spike needs when the baseline is large.
        pub z_on: f64 = defaults().z_on,
        /// Below this baseline (messages per window), the Poisson tail decides instead of the z-score.
        pub poisson_below: f64 = defaults().poisson_below,
        /// Poisson tail probability a spike needs on quiet channels (between 0 and 1).
        pub alpha: f64 = defaults().alpha,
        /// Messages a spike's window needs.
        pub min_messages: u64 = defaults().min_messages,
        /// Distinct chatters a spike's window needs.
        pub min_chatters: u64 = defaults().min_chatters,
        /// Assumed delay between the moment on stream and chat's reaction.
        pub chat_lag: DurationMs = DurationMs(defaults().chat_lag_ms),
        /// How far before the onset a cause (raid, gifts) may lie.
        pub cause_lookback: DurationMs = DurationMs(defaults().cause_lookback_ms),
        /// A longer gap between buckets resets the window (the stream was probably offline).
        pub max_gap: DurationMs = DurationMs(defaults().max_gap_ms),
        /// A spike longer than this ends and the baseline relearns the new level.
        pub max_spike: DurationMs = DurationMs(defaults().max_spike_ms),
        /// After this long in a spike the baseline learns again, so a plateau ends it.
        pub plateau_hold: DurationMs = DurationMs(defaults().plateau_hold_ms),
        /// Top terms reported per spike.
        pub top_terms: usize = defaults().top_terms,
        /// Raid viewers that make a raid the cause.
        pub raid_min_viewers: u64 = defaults().raid_min_viewers,
        /// Gifted subs that make a gift bomb the cause.
        pub gift_min: u64 = defaults().gift_min,
        /// Subs and resubs that make a sub burst the cause.
        pub sub_burst_min: u64 = defaults().sub_burst_min,
        /// Share of messages with a hype emote that makes that emote the cause.
        pub hype_min_share: f64 = defaults().hype_min_share,
    }
}

impl SpikeOptions {
    /// The detector's config.
    pub fn config(&self) -> SpikeConfig {
        SpikeConfig {
            bucket_ms: self.bucket.ms(),
            window_ms: self.window.ms(),
            half_life_ms: self.half_life.ms(),
            warmup_ms: self.warmup.ms(),
            clip_sigmas: self.clip_sigmas,
            k_on: self.k_on,
            k_off: self.k_off,
            exit_hold_ms: self.exit_hold.ms(),
            z_on: self.z_on,
            poisson_below: self.poisson_below,
            alpha: self.alpha,
            min_messages: self.min_messages,
            min_chatters: self.min_chatters,
            chat_lag_ms: self.chat_lag.ms(),
            cause_lookback_ms: self.cause_lookback.ms(),
            max_gap_ms: self.max_gap.ms(),
            max_spike_ms: self.max_spike.ms(),
            plateau_hold_ms: self.plateau_hold.ms(),
            top_terms: self.top_terms,
            raid_min_viewers: self.raid_min_viewers,
            gift_min: self.gift_min,
            sub_burst_min: self.sub_burst_min,
            hype_min_share: self.hype_min_share,
        }
    }

    /// The detector's problems with these settings, as `options.spike: ...`.
    pub fn problems(&self) -> Vec<String> {
        self.config()
            .validate()
            .into_iter()
            .map(|p| format!("options.spike: {p}"))
            .collect()
    }
}

options! {
    /// The options of `spikes`.
    pub struct SpikesConfig {
        /// How late a record may arrive and still count: its bucket closes this long after it ended.
        pub grace: DurationMs = DEFAULT_GRACE,
        /// The spike detector.
        pub spike: SpikeOptions = SpikeOptions::default(),
    }
}

impl KindConfig for SpikesConfig {
    const NAME: &'static str = "spikes";
    const SUMMARY: &'static str =
        "chat spikes against each channel's baseline: onset, peak, end, lift and cause";
    const WINDOW: WindowRule = WindowRule::Forbidden;

    fn problems(&self) -> Vec<String> {
        self.spike.problems()
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        Box::new(SpikesProcessor::new(
            ctx.name,
            ctx.sink,
            self.spike.config(),
            self.grace.ms(),
        ))
    }
}

/// The `spikes` processor of one task.
pub struct SpikesProcessor {
    name: String,
    sink: usize,
    gifts: GiftState,
    tracker: SpikeTracker,
}

impl SpikesProcessor {
    /// A processor named `name` writing to sink `sink`; buckets accept records `grace_ms` late.
    pub fn new(name: &str, sink: usize, config: SpikeConfig, grace_ms: i64) -> Self {
        SpikesProcessor {
            name: name.to_owned(),
            sink,
            gifts: GiftState::default(),
            tracker: SpikeTracker::new(config, grace_ms),
        }
    }
}

/// Feeds one event to a tracker and returns what it contributed; a refused (late) record is
/// reported for `processor`.
pub fn track<'i>(
    processor: &str,
    gifts: &mut GiftState,
    tracker: &mut SpikeTracker,
    input: &'i Input<'_>,
    out: &mut Emitter,
) -> Option<Cow<'i, Contribution>> {
    let tally = gifts.count(input.event);
    let contribution = input.contribution(tally)?;
    if tracker.add(input.event.channel, input.ts_ms, &contribution) == Admission::Late {
        out.late.push(Late {
            processor: processor.to_owned(),
            partition: input.partition,
            offset: input.offset,
            ts_ms: input.ts_ms,
            watermark_ms: tracker.watermark_ms(),
        });
    }
    Some(contribution)
}

/// A spike event as a `twitch.spikes` record.
pub fn spike_record(event: &SpikeEvent) -> (String, Value, i64) {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    let round = |x: f64| Value::from((x * 100.0).round() / 100.0);
    let (channel, ts) = match event {
        SpikeEvent::Onset(o) => {
            put("channel", o.channel.as_str().into());
            put("phase", "onset".into());
            put("window_start", o.onset_ms.into());
            put("window_end", o.detected_ms.into());
            put("onset", o.onset_ms.into());
            put("detected_at", o.detected_ms.into());
            put("estimated_moment", o.estimated_moment_ms.into());
            put("peak", Value::Null);
            put("end", Value::Null);
            put("rate_per_min", round(o.rate_per_min));
            put("baseline_rate_per_min", round(o.baseline_rate_per_min));
            put("lift", round(o.lift));
            put("messages", Value::Null);
            put("unique_chatters", Value::Null);
            put("top_terms", Value::Array(Vec::new()));
            put("cause", Value::Null);
            put("cause_detail", Value::Null);
            put(
                "description",
                format!(
                    "Chat in #{} is spiking: {} messages a minute, {:.1} times the usual.",
                    o.channel,
                    o.rate_per_min.round(),
                    o.lift
                )
                .into(),
            );
            (o.channel.clone(), o.detected_ms)
        }
        SpikeEvent::End(s) => {
            put("channel", s.channel.as_str().into());
            put("phase", "end".into());
            put("window_start", s.onset_ms.into());
            put("window_end", s.end_ms.into());
            put("onset", s.onset_ms.into());
            put("detected_at", s.detected_ms.into());
            put("estimated_moment", s.estimated_moment_ms.into());
            put("peak", s.peak_ms.into());
            put("end", s.end_ms.into());
            put("rate_per_min", round(s.peak_rate_per_min));
            put("baseline_rate_per_min", round(s.baseline_rate_per_min));
            put("lift", round(s.lift));
            put("messages", s.messages.into());
            put("unique_chatters", s.unique_chatters.into());
            put("top_terms", ranked(&s.top_terms, "term", "messages"));
            let (cause, detail) = match &s.cause {
                None => (Value::Null, Value::Null),
                Some(c) => {
                    let kind = match c {
                        Cause::Raid { .. } => "raid",
                        Cause::GiftBomb { .. } => "gift_bomb",
                        Cause::SubBurst { .. } => "sub_burst",
                        Cause::HypeEmote { .. } => "hype_emote",
                    };
                    (kind.into(), c.describe().into())
                }
            };
            put("cause", cause);
            put("cause_detail", detail);
            put("description", s.describe().into());
            (s.channel.clone(), s.end_ms.max(s.detected_ms))
        }
    };
    (channel, Value::Object(m), ts)
}

impl StateTables for SpikesProcessor {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        self.tracker.tables(visit);
        self.gifts.tables(visit);
    }
}

impl Processor for SpikesProcessor {
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        track(&self.name, &mut self.gifts, &mut self.tracker, input, out);
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter) {
        for e in self.tracker.advance(watermark_ms) {
            let (key, value, ts_ms) = spike_record(&e);
            out.outputs.push(Output {
                sink: self.sink,
                key,
                value,
                ts_ms,
            });
        }
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.tracker.set_watermark(watermark_ms);
    }

    fn open_entries(&self) -> usize {
        self.tracker.open_entries()
    }

    fn query(&self, key: &str) -> Option<Value> {
        self.tracker.query(key)
    }
}
