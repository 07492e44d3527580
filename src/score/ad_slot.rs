//! Ad-slot recommendations: when a 30-180 s break would reach the most active viewers of one channel
//! without cutting into a hype moment, within Twitch's ad rules. Pure and deterministic: the
//! recommender is fed closed minutes and spike events, and explains every slot in a sentence.
//!
//! # Scoring
//!
//! Each closed minute is scored as a candidate break starting at its end, `t`:
//!
//! `score = reach x calm x rules`, from 0 to 1.
//!
//! - **reach**: the audience now divided by the largest audience of the last 60 minutes, so every
//!   channel is judged against itself. The audience is the viewer count when one is given. Otherwise
//!   it is the number of distinct people who chatted in the last 5 minutes.
//! - **calm**: the lower of two factors.
//!   - Hype moments: 0 when a detected spike is under way, or overlaps `[t, t + duration]`, or ended
//!     less than 2 minutes before `t`. It then rises in a straight line to 1 over the next 5
//!     minutes. Nobody wants an ad to cut into the moment chat is exploding about.
//!   - Chat rate: 1 while this minute's messages are at most 1.5 times the median of the 15
//!     minutes before, falling in a straight line to 0 at 2.5 times. This catches a rise the spike
//!     detector has not confirmed yet.
//! - **rules**: 1 when all of Twitch's rules hold, else 0. The break starts at least 8 minutes after
//!   the stream started, and at least 15 minutes after the previous recommended break (so also 8
//!   minutes after it). Some of the 180 s hourly budget must be left: the break lasts 90 s, or what
//!   remains of the budget over the last 60 minutes, in whole 30 s steps, and never under 30 s.
//!
//! A slot is recommended when the score is at least 0.6 and at least 5 people are reached. It is
//! valid from `t` for 3 minutes. Its reason names each factor, for example: "Chat is calm and 1,240
//! people chatted in the last 5 minutes (92% of the most in the last hour); the last hype moment
//! ended 6 minutes ago; no break in the last 22 minutes; a 90-second break fits the budget of 180
//! seconds of ads per hour." The recommender assumes a recommended break is taken, so the next
//! one waits 15 minutes and the budget counts it.
//!
//! Spikes are confirmed up to 30 s after their onset. So call [`AdSlotRecommender::on_minute`] for
//! a minute only after the spike events detected up to `minute end + settle_ms` (35 s) were given to
//! [`AdSlotRecommender::on_spike`]. Then a slot never starts inside a spike that had begun.
//! [`recommend`] does this for a recorded timeline.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::detect::spike::{thousands, Spike, SpikeEvent};

/// The recommender's settings; the defaults are Twitch's rules and the formula in the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdSlotConfig {
    /// No break before this long after the stream started.
    pub after_start_ms: i64,
    /// Breaks at least this far apart (start to start).
    pub min_gap_ms: i64,
    /// Seconds of ads allowed per `budget_window_ms`.
    pub budget_s: u32,
    /// The rolling window of the budget.
    pub budget_window_ms: i64,
    /// The break length to suggest when the budget allows.
    pub preferred_duration_s: u32,
    /// The shortest break worth suggesting.
    pub min_duration_s: u32,
    /// The longest break.
    pub max_duration_s: u32,
    /// Calm stays 0 this long after a spike ends.
    pub calm_hold_ms: i64,
    /// Then rises to 1 over this long.
    pub calm_ramp_ms: i64,
    /// Rate calm is 1 up to this ratio to the usual rate...
    pub rate_calm_until: f64,
    /// ...and 0 from this ratio.
    pub rate_calm_zero_at: f64,
    /// Minutes whose median is the usual rate.
    pub usual_minutes: usize,
    /// Minutes over which reach is normalised.
    pub reach_minutes: usize,
    /// The lowest score recommended.
    pub min_score: f64,
    /// The smallest audience worth a recommendation.
    pub min_reach: u64,
    /// How long a recommendation stays valid.
    pub validity_ms: i64,
    /// How long after a minute's end spike events may still arrive for it (the detector's window
    /// plus one bucket).
    pub settle_ms: i64,
    /// When the stream started; the first minute seen when not set.
    pub stream_start_ms: Option<i64>,
}

impl Default for AdSlotConfig {
    fn default() -> Self {
        AdSlotConfig {
            after_start_ms: 8 * 60_000,
            min_gap_ms: 15 * 60_000,
            budget_s: 180,
            budget_window_ms: 60 * 60_000,
            preferred_duration_s: 90,
            min_duration_s: 30,
            max_duration_s: 180,
            calm_hold_ms: 2 * 60_000,
            calm_ramp_ms: 5 * 60_000,
            rate_calm_until: 1.5,
            rate_calm_zero_at: 2.5,
            usual_minutes: 15,
            reach_minutes: 60,
            min_score: 0.6,
            min_reach: 5,
            validity_ms: 3 * 60_000,
            settle_ms: 35_000,
            stream_start_ms: None,
        }
    }
}

impl AdSlotConfig {
    /// Every problem with the settings, each saying what to change; empty when they are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.min_duration_s > self.max_duration_s {
            errors.push(format!(
                "min_duration ({} s) must be at most max_duration ({} s)",
                self.min_duration_s, self.max_duration_s
            ));
        }
        if self.rate_calm_until.partial_cmp(&self.rate_calm_zero_at)
            != Some(std::cmp::Ordering::Less)
        {
            errors.push(format!(
                "rate_calm_until {} must be below rate_calm_zero_at {}",
                self.rate_calm_until, self.rate_calm_zero_at
            ));
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            errors.push(format!(
                "min_score {} must be between 0 and 1 (0.6 is usual)",
                self.min_score
            ));
        }
        let durations = [
            self.after_start_ms,
            self.min_gap_ms,
            self.calm_hold_ms,
            self.calm_ramp_ms,
            self.validity_ms,
            self.settle_ms,
        ];
        if self.budget_window_ms <= 0 || durations.iter().any(|d| *d < 0) {
            errors.push("budget_window must be positive; after_start, min_gap, calm_hold, calm_ramp, validity and settle not negative".into());
        }
        errors
    }
}

/// One closed minute of one channel's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceMinute {
    /// Start of the minute.
    pub start_ms: i64,
    /// Chat messages in the minute.
    pub messages: u64,
    /// Distinct chatters over the 5 minutes ending with this one (a 5-minute hopping window advancing
    /// by 1 minute).
    pub active_chatters: u64,
    /// Viewers, when a stream snapshot gave them.
    pub viewers: Option<u64>,
}

/// A recommended ad break.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdSlot {
    /// The channel.
    pub channel: String,
    /// When to start the break.
    pub start_ms: i64,
    /// How long, in seconds (30 to 180).
    pub duration_s: u32,
    /// reach x calm x rules, 0 to 1.
    pub score: f64,
    /// Viewers (when known) or active chatters the break would reach.
    pub expected_reach: u64,
    /// Why, in a sentence a marketer understands.
    pub reason: String,
    /// The recommendation holds from...
    pub valid_from_ms: i64,
    /// ...until.
    pub valid_until_ms: i64,
}

/// How one candidate scored, factor by factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The candidate start.
    pub start_ms: i64,
    /// The audience (viewers or active chatters).
    pub reach: u64,
    /// Reach over the recent maximum, 0 to 1.
    pub reach_factor: f64,
    /// The hype-moment part of calm, 0 to 1.
    pub spike_calm: f64,
    /// The chat-rate part of calm, 0 to 1.
    pub rate_calm: f64,
    /// 1 when every rule holds, else 0.
    pub rules: f64,
    /// The break length the budget allows (0 when none).
    pub duration_s: u32,
    /// reach_factor x min(spike_calm, rate_calm) x rules.
    pub score: f64,
}

/// The ad-slot recommender of one channel; its state serializes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdSlotRecommender {
    channel: String,
    config: AdSlotConfig,
    minutes: VecDeque<AudienceMinute>,
    stream_start_ms: Option<i64>,
    open_spike_onset: Option<i64>,
    /// Ended spikes `(onset, end)` of the last hours.
    spikes: VecDeque<(i64, i64)>,
    /// Recommended breaks `(start, duration_s)` within the budget window.
    breaks: VecDeque<(i64, u32)>,
    last_break_ms: Option<i64>,
}

impl AdSlotRecommender {
    /// A recommender for `channel`.
    pub fn new(channel: &str, config: AdSlotConfig) -> Self {
        AdSlotRecommender {
            channel: channel.to_owned(),
            stream_start_ms: config.stream_start_ms,
            config,
            minutes: VecDeque::new(),
            open_spike_onset: None,
            spikes: VecDeque::new(),
            breaks: VecDeque::new(),
            last_break_ms: None,
        }
    }

    /// Takes a spike event of this channel.
    pub fn on_spike(&mut self, event: &SpikeEvent) {
        match event {
            SpikeEvent::Onset(o) => self.open_spike_onset = Some(o.onset_ms),
            SpikeEvent::End(s) => {
                self.open_spike_onset = None;
                self.spikes.push_back((s.onset_ms, s.end_ms));
            }
        }
    }

    /// Takes a closed minute and returns a recommended break starting at its end, if it is a good one.
    /// See the module docs for when to call it.
    pub fn on_minute(&mut self, minute: &AudienceMinute) -> Option<AdSlot> {
        let t = minute.start_ms + 60_000;
        self.stream_start_ms.get_or_insert(minute.start_ms);
        let keep = (self.config.reach_minutes.max(self.config.usual_minutes) as i64 + 1) * 60_000;
        while self.minutes.front().is_some_and(|m| m.start_ms < t - keep) {
            self.minutes.pop_front();
        }
        let horizon = t - self
            .config
            .budget_window_ms
            .max(self.config.calm_hold_ms + self.config.calm_ramp_ms);
        while self.spikes.len() > 1 && self.spikes.front().is_some_and(|s| s.1 < horizon) {
            self.spikes.pop_front();
        }
        while self
            .breaks
            .front()
            .is_some_and(|b| b.0 <= t - self.config.budget_window_ms)
        {
            self.breaks.pop_front();
        }
        let e = self.evaluate(minute);
        self.minutes.push_back(*minute);
        if e.score < self.config.min_score || e.reach < self.config.min_reach || e.duration_s == 0 {
            return None;
        }
        let reason = self.reason(minute, &e);
        self.breaks.push_back((t, e.duration_s));
        self.last_break_ms = Some(t);
        Some(AdSlot {
            channel: self.channel.clone(),
            start_ms: t,
            duration_s: e.duration_s,
            score: e.score,
            expected_reach: e.reach,
            reason,
            valid_from_ms: t,
            valid_until_ms: t + self.config.validity_ms,
        })
    }

    /// Scores a break starting at the end of `minute` against the state so far (`minute` itself not
    /// yet recorded), without changing anything.
    pub fn evaluate(&self, minute: &AudienceMinute) -> Evaluation {
        let c = &self.config;
        let t = minute.start_ms + 60_000;
        let recent = |n: usize| {
            self.minutes
                .iter()
                .filter(move |m| m.start_ms >= t - 60_000 * (n as i64 + 1))
        };
        let (reach, best) = match minute.viewers {
            Some(v) => (
                v,
                recent(c.reach_minutes)
                    .filter_map(|m| m.viewers)
                    .max()
                    .unwrap_or(0),
            ),
            None => (
                minute.active_chatters,
                recent(c.reach_minutes)
                    .map(|m| m.active_chatters)
                    .max()
                    .unwrap_or(0),
            ),
        };
        let best = best.max(reach);
        let reach_factor = if best == 0 {
            0.0
        } else {
            reach as f64 / best as f64
        };

        let mut usual: Vec<u64> = recent(c.usual_minutes).map(|m| m.messages).collect();
        let rate_calm = if usual.len() < 3 {
            1.0
        } else {
            usual.sort_unstable();
            let median = usual[usual.len() / 2].max(1) as f64;
            let ratio = minute.messages as f64 / median;
            ramp_down(ratio, c.rate_calm_until, c.rate_calm_zero_at)
        };

        let used: u32 = self
            .breaks
            .iter()
            .filter(|b| b.0 > t - c.budget_window_ms)
            .map(|b| b.1)
            .sum();
        let left = c.budget_s.saturating_sub(used);
        let mut duration_s = c.preferred_duration_s.min(left).min(c.max_duration_s) / 30 * 30;
        if duration_s < c.min_duration_s.max(30) {
            duration_s = 0;
        }
        let spike_calm = self.spike_calm(t, t + i64::from(duration_s) * 1000);
        let started = self.stream_start_ms.unwrap_or(minute.start_ms);
        let rules_hold = t - started >= c.after_start_ms
            && self.last_break_ms.is_none_or(|b| t - b >= c.min_gap_ms)
            && duration_s > 0;
        let rules = if rules_hold { 1.0 } else { 0.0 };
        let score = (reach_factor * spike_calm.min(rate_calm) * rules).clamp(0.0, 1.0);
        Evaluation {
            start_ms: t,
            reach,
            reach_factor,
            spike_calm,
            rate_calm,
            rules,
            duration_s,
            score: (score * 1000.0).round() / 1000.0,
        }
    }

    /// The hype-moment calm of a break over `[from, to]`.
    fn spike_calm(&self, from: i64, to: i64) -> f64 {
        if self.open_spike_onset.is_some_and(|onset| onset <= to) {
            return 0.0;
        }
        if self
            .spikes
            .iter()
            .any(|&(onset, end)| onset <= to && end >= from)
        {
            return 0.0;
        }
        match self.spikes.iter().filter(|s| s.1 < from).map(|s| s.1).max() {
            None => 1.0,
            Some(end) => {
                let since = (from - end - self.config.calm_hold_ms) as f64;
                (since / self.config.calm_ramp_ms.max(1) as f64).clamp(0.0, 1.0)
            }
        }
    }

    fn reason(&self, minute: &AudienceMinute, e: &Evaluation) -> String {
        let c = &self.config;
        let audience = match minute.viewers {
            Some(v) => format!("about {} viewers are watching", thousands(v)),
            None => format!(
                "{} people chatted in the last 5 minutes",
                thousands(e.reach)
            ),
        };
        let share = (e.reach_factor * 100.0).round() as u64;
        let calm = if e.rate_calm >= 1.0 {
            "chat is calm"
        } else {
            "chat is fairly calm"
        };
        let hype = match self
            .spikes
            .iter()
            .filter(|s| s.1 < e.start_ms)
            .map(|s| s.1)
            .max()
        {
            Some(end) => format!(
                "the last hype moment ended {} ago",
                minutes(e.start_ms - end)
            ),
            None => "there has been no hype moment lately".to_owned(),
        };
        let last = match (self.last_break_ms, self.stream_start_ms) {
            (Some(b), _) => format!("no break in the last {}", minutes(e.start_ms - b)),
            (None, Some(s)) => format!(
                "no break since the stream started {} ago",
                minutes(e.start_ms - s)
            ),
            (None, None) => "no break yet".to_owned(),
        };
        let mut text = format!(
            "{calm} and {audience} ({share}% of the most in the last hour); {hype}; {last}; a {}-second break \
             fits the budget of {} seconds of ads per hour.",
            e.duration_s, c.budget_s
        );
        if let Some(first) = text.get(..1) {
            text.replace_range(..1, &first.to_uppercase());
        }
        text
    }

    /// The channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

/// 1 up to `from`, 0 from `to`, a straight line between.
fn ramp_down(x: f64, from: f64, to: f64) -> f64 {
    if x <= from {
        1.0
    } else if x >= to {
        0.0
    } else {
        (to - x) / (to - from)
    }
}

/// A duration in whole minutes, in words.
fn minutes(ms: i64) -> String {
    match ms / 60_000 {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}

/// Recommendations over a recorded timeline of one channel: `minutes` in time order and the detector's
/// `spikes`. It runs as the live engine would: each spike's onset is known from its `detected_ms`
/// and its end from its `end_ms`, and each minute is judged once the events up to
/// `minute end + settle_ms` are in.
pub fn recommend(
    channel: &str,
    config: AdSlotConfig,
    minutes: &[AudienceMinute],
    spikes: &[Spike],
) -> Vec<AdSlot> {
    let settle = config.settle_ms;
    let mut events: Vec<(i64, SpikeEvent)> = Vec::new();
    for s in spikes {
        events.push((
            s.detected_ms,
            SpikeEvent::Onset(crate::detect::spike::SpikeOnset {
                channel: s.channel.clone(),
                onset_ms: s.onset_ms,
                detected_ms: s.detected_ms,
                estimated_moment_ms: s.estimated_moment_ms,
                rate_per_min: s.peak_rate_per_min,
                baseline_rate_per_min: s.baseline_rate_per_min,
                lift: s.lift,
            }),
        ));
        events.push((s.end_ms.max(s.detected_ms), SpikeEvent::End(s.clone())));
    }
    events.sort_by_key(|(at, e)| (*at, matches!(e, SpikeEvent::End(_))));
    let mut r = AdSlotRecommender::new(channel, config);
    let mut next = events.into_iter().peekable();
    let mut out = Vec::new();
    for m in minutes {
        while let Some((_, e)) = next.next_if(|(at, _)| *at <= m.start_ms + 60_000 + settle) {
            r.on_spike(&e);
        }
        out.extend(r.on_minute(m));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(i: i64, messages: u64, active: u64) -> AudienceMinute {
        AudienceMinute {
            start_ms: i * 60_000,
            messages,
            active_chatters: active,
            viewers: None,
        }
    }

    fn spike(onset_min: f64, end_min: f64) -> Spike {
        let onset_ms = (onset_min * 60_000.0) as i64;
        Spike {
            channel: "c".into(),
            onset_ms,
            peak_ms: onset_ms + 10_000,
            end_ms: (end_min * 60_000.0) as i64,
            detected_ms: onset_ms + 20_000,
            estimated_moment_ms: onset_ms - 7_000,
            peak_rate_per_min: 600.0,
            baseline_rate_per_min: 100.0,
            lift: 6.0,
            messages: 1_000,
            unique_chatters: 300,
            top_terms: vec![],
            cause: None,
        }
    }

    #[test]
    fn steady_chat_gets_breaks_every_15_minutes_within_the_budget() {
        let minutes: Vec<_> = (0..120).map(|i| minute(i, 100, 200)).collect();
        let slots = recommend("c", AdSlotConfig::default(), &minutes, &[]);
        let starts: Vec<i64> = slots.iter().map(|s| s.start_ms / 60_000).collect();
        // 8 minutes after the start (the first minute starts at 0), then every 15 minutes while the
        // budget lasts: 90 + 90 = 180 s per rolling hour.
        assert_eq!(starts, [8, 23, 68, 83]);
        assert!(slots.iter().all(|s| s.duration_s == 90 && s.score == 1.0));
        let first = &slots[0];
        assert_eq!(
            first.reason,
            "Chat is calm and 200 people chatted in the last 5 minutes (100% of the most in the last hour); \
             there has been no hype moment lately; no break since the stream started 8 minutes ago; a 90-second \
             break fits the budget of 180 seconds of ads per hour."
        );
        assert_eq!(
            slots[1].reason.split("; ").nth(2),
            Some("no break in the last 15 minutes")
        );
        assert_eq!(
            (first.valid_from_ms, first.valid_until_ms),
            (8 * 60_000, 11 * 60_000)
        );
    }

    #[test]
    fn no_slot_inside_or_just_after_a_spike_and_calm_ramps_back() {
        let minutes: Vec<_> = (0..40).map(|i| minute(i, 100, 200)).collect();
        // A spike from minute 7.5 to 12: nothing until 12 + 2 (hold), then the score ramps up and
        // passes 0.6 once 60% of the 5-minute ramp is done (minute 17).
        let slots = recommend("c", AdSlotConfig::default(), &minutes, &[spike(7.5, 12.0)]);
        assert_eq!(slots[0].start_ms, 17 * 60_000, "{slots:?}");
        assert_eq!(slots[0].score, 0.6);
        assert!(
            slots[0]
                .reason
                .contains("the last hype moment ended 5 minutes ago"),
            "{}",
            slots[0].reason
        );
    }

    #[test]
    fn a_chat_rate_jump_and_a_low_reach_lower_the_score() {
        let mut minutes: Vec<_> = (0..9).map(|i| minute(i, 100, 200)).collect();
        minutes.push(minute(9, 300, 200)); // three times the usual rate: calm 0
        minutes.push(minute(10, 100, 100)); // half the recent reach: 0.5
        minutes.push(minute(11, 100, 150)); // 0.75
        let slots = recommend("c", AdSlotConfig::default(), &minutes[..7], &[]);
        assert!(slots.is_empty(), "the first 8 minutes are closed to breaks");
        let mut r = AdSlotRecommender::new("c", AdSlotConfig::default());
        for m in &minutes[..7] {
            assert_eq!(r.on_minute(m), None);
        }
        let e = r.evaluate(&minutes[9]);
        assert_eq!((e.rate_calm, e.score), (0.0, 0.0));
        let slot = r.on_minute(&minutes[7]).expect("a slot at 8:00");
        assert_eq!(slot.start_ms, 8 * 60_000);
        let e = r.evaluate(&minutes[10]);
        assert_eq!(
            (e.reach_factor, e.rules),
            (0.5, 0.0),
            "15 minutes have not passed"
        );
        let e = r.evaluate(&minutes[11]);
        assert_eq!(e.reach_factor, 0.75);
    }

    #[test]
    fn viewers_replace_chatters_when_known_and_state_round_trips() {
        let minutes: Vec<_> = (0..12)
            .map(|i| AudienceMinute {
                viewers: Some(12_000),
                ..minute(i, 100, 200)
            })
            .collect();
        let mut r = AdSlotRecommender::new("c", AdSlotConfig::default());
        let slots: Vec<_> = minutes.iter().filter_map(|m| r.on_minute(m)).collect();
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].expected_reach, 12_000);
        assert!(
            slots[0]
                .reason
                .starts_with("Chat is calm and about 12,000 viewers are watching"),
            "{}",
            slots[0].reason
        );
        let back: AdSlotRecommender =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
