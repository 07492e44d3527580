//! `highlights`: ranked clip candidates per channel (`twitch.highlights`), each with its estimated
//! on-stream moment, clip bounds, score, ranks, features, top messages and terms. Final per hour when
//! the hour closes, and again as the session's ranking at its end ([`crate::detect::highlight`]).

use serde_json::{json, Value};

use super::kind::{BuildContext, KindConfig, WindowRule, DEFAULT_GRACE};
use super::options::options;
use super::state::{KeyedTable, StateTables, Table, TableName};
use super::windowed::ranked;
use super::{Emitter, Input, Output, Processor};
use crate::detect::highlight::{Highlight, HighlightConfig, HighlightDetector, Phase};
use crate::time::civil::parse_timestamp_ms;
use crate::time::duration::DurationMs;

fn d() -> HighlightConfig {
    HighlightConfig::default()
}

options! {
    /// The options of `highlights`; the module docs of [`crate::detect::highlight`] explain each.
    pub struct HighlightsConfig {
        /// How late a message may arrive and still count in its bin.
        pub grace: DurationMs = DEFAULT_GRACE,
        /// Width of a bin of the message-count curve.
        pub bin: DurationMs = DurationMs(d().bin_ms),
        /// Bins summed into the smoothed curve.
        pub smooth_bins: usize = d().smooth_bins,
        /// Half-life of the local baseline.
        pub half_life: DurationMs = DurationMs(d().half_life_ms),
        /// Event time of learning before peaks are judged.
        pub warmup: DurationMs = DurationMs(d().warmup_ms),
        /// Curve over baseline that starts a peak.
        pub k_on: f64 = d().k_on,
        /// Curve over baseline below which a peak ends (at most `k_on`).
        pub k_off: f64 = d().k_off,
        /// Spreads above the baseline a peak needs.
        pub z_on: f64 = d().z_on,
        /// Messages in the smoothed curve a peak needs.
        pub min_messages: u64 = d().min_messages,
        /// Longest peak.
        pub max_peak: DurationMs = DurationMs(d().max_peak_ms),
        /// Stream delay part of the lag (moment = chat peak - latency - reaction).
        pub latency: DurationMs = DurationMs(d().latency_ms),
        /// Reaction time assumed until a channel's own peaks estimate it.
        pub reaction: DurationMs = DurationMs(d().reaction_ms),
        /// Clip start before the moment.
        pub pre_roll: DurationMs = DurationMs(d().pre_roll_ms),
        /// Clip end after the chat peak.
        pub post_roll: DurationMs = DurationMs(d().post_roll_ms),
        /// Candidates emitted per channel and hour, at most.
        pub per_hour: usize = d().per_hour,
        /// Least distance between emitted candidates.
        pub min_gap: DurationMs = DurationMs(d().min_gap_ms),
        /// Chat silence that ends a session (and emits its ranking).
        pub session_gap: DurationMs = DurationMs(d().session_gap_ms),
        /// Top messages per candidate.
        pub top_messages: usize = d().top_messages,
        /// Top terms per candidate.
        pub top_terms: usize = d().top_terms,
        /// Start of the VOD in epoch ms, for `vod_offset_ms` (a joined table's `started_at` wins).
        pub vod_start_ms: Option<i64> = None,
    }
}

impl HighlightsConfig {
    /// The detector's config.
    pub fn detector(&self) -> HighlightConfig {
        HighlightConfig {
            bin_ms: self.bin.ms(),
            smooth_bins: self.smooth_bins,
            half_life_ms: self.half_life.ms(),
            warmup_ms: self.warmup.ms(),
            k_on: self.k_on,
            k_off: self.k_off,
            z_on: self.z_on,
            min_messages: self.min_messages,
            max_peak_ms: self.max_peak.ms(),
            latency_ms: self.latency.ms(),
            reaction_ms: self.reaction.ms(),
            pre_roll_ms: self.pre_roll.ms(),
            post_roll_ms: self.post_roll.ms(),
            per_hour: self.per_hour,
            min_gap_ms: self.min_gap.ms(),
            session_gap_ms: self.session_gap.ms(),
            top_messages: self.top_messages,
            top_terms: self.top_terms,
        }
    }
}

impl KindConfig for HighlightsConfig {
    const NAME: &'static str = "highlights";
    const SUMMARY: &'static str =
        "ranked clip candidates per channel: on-stream moment, clip, score, ranks per hour and session";
    const WINDOW: WindowRule = WindowRule::Forbidden;
    const JOINS: bool = true;

    fn problems(&self) -> Vec<String> {
        self.detector()
            .validate()
            .into_iter()
            .map(|p| format!("options: {p}"))
            .collect()
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        Box::new(HighlightsProcessor {
            sink: ctx.sink,
            config: self.detector(),
            grace_ms: self.grace.ms(),
            vod_start_ms: self.vod_start_ms,
            joins: ctx.table.is_some(),
            detectors: KeyedTable::new(TableName::HIGHLIGHT_CHANNELS),
            step: i64::MIN,
            emitted: Vec::new(),
        })
    }
}

/// The `highlights` processor of one task.
pub struct HighlightsProcessor {
    sink: usize,
    config: HighlightConfig,
    grace_ms: i64,
    vod_start_ms: Option<i64>,
    joins: bool,
    detectors: KeyedTable<String, HighlightDetector>,
    /// The last bin the watermark reached (work is done once per bin, not per record).
    step: i64,
    emitted: Vec<Highlight>,
}

/// A stream start from a joined row: `started_at` as epoch ms or an ISO-8601 time.
fn started_at(row: &Value) -> Option<i64> {
    match row.get("started_at")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_timestamp_ms(s, 0),
        _ => None,
    }
}

/// A highlight as a `twitch.highlights` record.
pub fn highlight_record(h: &Highlight) -> Value {
    let c = &h.candidate;
    let f = &c.features;
    let r = |x: f64| (x * 1000.0).round() / 1000.0;
    let top_messages: Vec<(String, u64)> = c.top_messages.clone();
    json!({
        "channel": c.channel,
        "phase": match h.phase { Phase::Hour => "hour", Phase::Session => "session" },
        "final": true,
        "period_start": h.period_start,
        "moment": c.moment,
        "chat_onset": c.onset_ms,
        "chat_peak": c.peak_ms,
        "lag_ms": c.lag_ms,
        "clip_start": c.clip_start,
        "clip_end": c.clip_end,
        "score": c.score,
        "rank_hour": c.rank_hour,
        "rank_session": c.rank_session,
        "rate_lift": r(f.rate_lift),
        "messages": f.messages,
        "unique_chatters": f.unique_chatters,
        "emote_share": r(f.emote_share),
        "laughter_share": r(f.laughter_share),
        "repetition": r(f.repetition),
        "mean_length": r(f.mean_length),
        "top_messages": ranked(&top_messages, "text", "messages"),
        "top_terms": ranked(&c.top_terms, "term", "messages"),
        "vod_offset_ms": c.vod_offset_ms,
    })
}

impl HighlightsProcessor {
    fn flush(&mut self, out: &mut Emitter) {
        for h in self.emitted.drain(..) {
            out.outputs.push(Output {
                sink: self.sink,
                key: h.candidate.channel.clone(),
                value: highlight_record(&h),
                ts_ms: h.candidate.moment,
            });
        }
    }
}

impl StateTables for HighlightsProcessor {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.detectors);
    }
}

impl Processor for HighlightsProcessor {
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        let Some(m) = input.own_message() else {
            return;
        };
        let config = &self.config;
        let channel = input.event.channel;
        let d = self
            .detectors
            .get_or_insert_with(channel, || HighlightDetector::new(channel, config.clone()));
        if let Some(start) = self.vod_start_ms {
            d.set_vod_start(start);
        }
        if self.joins {
            if let Some(start) = input.joined.and_then(|row| started_at(row)) {
                d.set_vod_start(start);
            }
        }
        d.message(input.ts_ms, m.user.login, m.text, &mut self.emitted);
        if !self.emitted.is_empty() {
            self.flush(out);
        }
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter) {
        if watermark_ms == i64::MAX {
            let channels: Vec<String> = self.detectors.iter().map(|(k, _)| k.clone()).collect();
            for c in channels {
                if let Some(d) = self.detectors.get_mut(&c) {
                    d.end_session(&mut self.emitted);
                }
            }
            self.flush(out);
            return;
        }
        let now = watermark_ms.saturating_sub(self.grace_ms);
        let step = now.div_euclid(self.config.bin_ms.max(1));
        if step <= self.step {
            return;
        }
        self.step = step;
        let due: Vec<String> = self
            .detectors
            .iter()
            .filter(|(_, d)| d.due(now))
            .map(|(k, _)| k.clone())
            .collect();
        for c in due {
            if let Some(d) = self.detectors.get_mut(&c) {
                d.advance(now, &mut self.emitted);
            }
        }
        self.flush(out);
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        let now = watermark_ms.saturating_sub(self.grace_ms);
        self.step = now.div_euclid(self.config.bin_ms.max(1));
    }

    fn open_entries(&self) -> usize {
        self.detectors.iter().map(|(_, d)| 1 + d.held()).sum()
    }

    fn query(&self, key: &str) -> Option<Value> {
        let d = self.detectors.get(key)?;
        Some(json!({ "channel": key, "lag_ms": d.lag_ms(), "held": d.held() }))
    }

    fn reads_terms(&self) -> bool {
        false
    }

    fn reads_joined(&self) -> bool {
        self.joins
    }
}

#[cfg(all(test, feature = "runtime"))]
mod tests {
    use super::*;
    use crate::avro::encode::encode_datum;
    use crate::avro::schemas::AvroSchema;
    use crate::detect::highlight::{Candidate, Features};

    #[test]
    fn a_record_encodes_with_the_shipped_schema() {
        let schema = AvroSchema::builtin("highlight").unwrap();
        for vod in [None, Some(90_000)] {
            let h = Highlight {
                candidate: Candidate {
                    channel: "c".into(),
                    moment: 1_000,
                    onset_ms: 2_000,
                    peak_ms: 3_000,
                    lag_ms: 2_000,
                    clip_start: 0,
                    clip_end: 4_000,
                    score: 1.5,
                    features: Features::default(),
                    top_messages: vec![("KEKW".into(), 3)],
                    top_terms: vec![("KEKW".into(), 3)],
                    rank_hour: 1,
                    rank_session: 2,
                    vod_offset_ms: vod,
                },
                phase: Phase::Session,
                period_start: 0,
            };
            encode_datum(&highlight_record(&h), &schema).unwrap();
        }
    }
}
