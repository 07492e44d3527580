//! `spikes`: chat-spike detection per channel (`twitch.spikes`). One record when a spike is
//! confirmed (`phase = "onset"`) and one when it ends (`phase = "end"`) with its peak, lift, unique
//! chatters, top terms, cause and the estimated on-stream moment.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::gift_state::GiftState;
use super::spike_tracker::SpikeTracker;
use super::state::{StateTables, Table};
use super::windowed::ranked;
use super::{Emitter, Input, Late, Output, Processor};
use crate::analysis::Contribution;
use crate::detect::spike::{Cause, SpikeConfig, SpikeEvent};
use crate::window::Admission;

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
