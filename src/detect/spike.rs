//! Chat spikes: when a channel's chat suddenly explodes, and why. [`SpikeDetector`] is a plain state
//! machine fed one [`Bucket`] of counts at a time in event-time order. It emits an onset event when a
//! spike starts and an end event with the full [`Spike`] summary; its state serializes.
//!
//! # Algorithm
//!
//! - **Rate.** Every bucket (5 s by default) carries its message count. The detector sums the last
//!   `window_ms` (30 s) of buckets: a sliding window of the message rate, less bursty than single
//!   buckets, which matters for logs whose socket batching piles messages into single seconds.
//! - **Baseline.** A [`Baseline`] (EWMA mean and variance, half-life `half_life_ms` = 5 min, warm
//!   after `warmup_ms` = 2 min, winsorised at 4 sd) of that 30 s count. A window's count is learned
//!   only after the window has slid past (`window_ms` later), and only if no bucket in it belonged
//!   to a spike. The baseline therefore never learns from a spike, nor from the rise the detector
//!   had not confirmed yet.
//! - **Onset.** The detector enters a spike when the baseline is warm and the 30 s count `C`
//!   - reaches `min_messages` (20) from at least `min_chatters` (5) distinct chatters,
//!   - is at least `k_on` (2.0) times the baseline mean `m` (the lift), and
//!   - is significant. On quiet channels (`m < poisson_below`, 50 messages per window) this uses
//!     the Poisson tail `P(X >= C | lambda = m) < alpha` (1e-4). Otherwise it uses a z-score
//!     `(C - m) / sd >= z_on` (5), with `sd` floored at `sqrt(m)`.
//!
//!   The onset is the first bucket in the window at or above `max(k_on, 1 + 2/sqrt(e)) * e`, where `e`
//!   is the expected count per bucket, so `detected_ms - onset_ms <= window_ms`.
//! - **Hysteresis.** The spike lasts while the lift stays at or above `k_off` (1.5). It ends once
//!   the lift has stayed below `k_off` for `exit_hold_ms` (60 s). One burst is therefore one spike,
//!   even when batching makes the rate flicker. The end is the moment the lift first fell below
//!   `k_off`.
//! - **Plateaus.** A burst is short; a sustained new level is not a spike. After `plateau_hold_ms`
//!   (2 min) of a spike, its windows are learned again and the lift is judged against the larger of
//!   the baseline at onset and the relearning one, so a plateau falls below `k_off` and ends the spike.
//!   Whatever happens, a spike ends at `max_spike_ms` (5 min) and the baseline warms up again: no
//!   spike lasts longer than that bound. One burst stays one spike: the hold outlasts any burst.
//! - **Moment.** Chat lags the picture: stream latency plus reaction time. The estimated on-stream
//!   moment is `onset_ms - chat_lag_ms` (7 s, from a typical 2-5 s of latency plus 2-4 s to react and
//!   type).
//! - **Cause.** The cause is counted over the spike and the `cause_lookback_ms` (60 s) before its
//!   onset, and the first rule that holds names it:
//!   1. a raid that brought at least `raid_min_viewers` (20) viewers,
//!   2. at least `gift_min` (5) gifted subs (a gift bomb),
//!   3. at least `sub_burst_min` (5) subs and resubs,
//!   4. at least `hype_min_share` (25%) of the spike's messages using a hype emote of the lexicon,
//!      in which case it names the most used one.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::analysis::sentiment::Lexicon;
use crate::analysis::{chatter_hash, Contribution, TermCounter, TermKind};
use crate::detect::baseline::{poisson_tail, Baseline};
use crate::time::civil::format_timestamp_ms;
use crate::window::Aggregate;

/// Terms a bucket keeps.
pub const BUCKET_TERMS: usize = 20;
/// Distinct chatters remembered per spike; beyond that, `unique_chatters` is a lower bound.
pub const MAX_SPIKE_CHATTERS: usize = 200_000;

/// The detector's settings; every default is documented in the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    /// Width of a bucket.
    pub bucket_ms: i64,
    /// Width of the sliding rate window (a multiple of `bucket_ms`).
    pub window_ms: i64,
    /// Half-life of the baseline.
    pub half_life_ms: i64,
    /// Event time of learning before the baseline judges.
    pub warmup_ms: i64,
    /// Learned samples are clipped this many sd above the mean.
    pub clip_sigmas: f64,
    /// Lift that starts a spike.
    pub k_on: f64,
    /// Lift below which a spike may end.
    pub k_off: f64,
    /// How long the lift must stay below `k_off` to end a spike.
    pub exit_hold_ms: i64,
    /// z-score a spike needs when the baseline is large.
    pub z_on: f64,
    /// Below this baseline (messages per window), the Poisson tail decides instead of the z-score.
    pub poisson_below: f64,
    /// Poisson tail probability a spike needs on quiet channels.
    pub alpha: f64,
    /// Messages a spike's window needs.
    pub min_messages: u64,
    /// Distinct chatters a spike's window needs.
    pub min_chatters: u64,
    /// Assumed delay between the moment on stream and chat's reaction.
    pub chat_lag_ms: i64,
    /// How far before the onset a cause (raid, gifts) may lie.
    pub cause_lookback_ms: i64,
    /// A longer gap between buckets resets the window (the stream was probably offline).
    pub max_gap_ms: i64,
    /// A spike longer than this ends and the baseline relearns the new level (the bound).
    pub max_spike_ms: i64,
    /// After this long in a spike the baseline learns its windows again (a plateau is a new level).
    /// Not written at its default, so state of the earlier code reads and writes back unchanged.
    #[serde(skip_serializing_if = "is_default_plateau_hold")]
    pub plateau_hold_ms: i64,
    /// Top terms reported per spike.
    pub top_terms: usize,
    /// Raid viewers that make a raid the cause.
    pub raid_min_viewers: u64,
    /// Gifted subs that make a gift bomb the cause.
    pub gift_min: u64,
    /// Subs and resubs that make a sub burst the cause.
    pub sub_burst_min: u64,
    /// Share of messages with a hype emote that makes that emote the cause.
    pub hype_min_share: f64,
}

/// The default of [`SpikeConfig::plateau_hold_ms`].
const DEFAULT_PLATEAU_HOLD_MS: i64 = 120_000;

fn is_default_plateau_hold(ms: &i64) -> bool {
    *ms == DEFAULT_PLATEAU_HOLD_MS
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            bucket_ms: 5_000,
            window_ms: 30_000,
            half_life_ms: 300_000,
            warmup_ms: 120_000,
            clip_sigmas: 4.0,
            k_on: 2.0,
            k_off: 1.5,
            exit_hold_ms: 60_000,
            z_on: 5.0,
            poisson_below: 50.0,
            alpha: 1e-4,
            min_messages: 20,
            min_chatters: 5,
            chat_lag_ms: 7_000,
            cause_lookback_ms: 60_000,
            max_gap_ms: 300_000,
            max_spike_ms: 300_000,
            plateau_hold_ms: DEFAULT_PLATEAU_HOLD_MS,
            top_terms: 5,
            raid_min_viewers: 20,
            gift_min: 5,
            sub_burst_min: 5,
            hype_min_share: 0.25,
        }
    }
}

impl SpikeConfig {
    /// Every problem with the settings, each saying what to change; empty when they are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.bucket_ms <= 0 {
            errors.push(format!(
                "bucket is {} ms: make it positive (5 s is usual)",
                self.bucket_ms
            ));
        } else if self.window_ms < self.bucket_ms || self.window_ms % self.bucket_ms != 0 {
            errors.push(format!(
                "window ({} ms) must be a positive multiple of bucket ({} ms)",
                self.window_ms, self.bucket_ms
            ));
        }
        if !(self.k_off > 0.0 && self.k_off <= self.k_on) {
            errors.push(format!(
                "k_off {} must be positive and at most k_on {} (hysteresis)",
                self.k_off, self.k_on
            ));
        }
        if self.half_life_ms <= 0
            || self.warmup_ms < 0
            || self.exit_hold_ms < 0
            || self.max_gap_ms < 0
            || self.plateau_hold_ms < 0
        {
            errors.push(
                "half_life must be positive; warmup, exit_hold, max_gap and plateau_hold not negative"
                    .into(),
            );
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            errors.push(format!("alpha {} must be between 0 and 1", self.alpha));
        }
        errors
    }

    fn buckets(&self, ms: i64) -> usize {
        (ms / self.bucket_ms.max(1)).max(1) as usize
    }

    fn per_min(&self, window_count: f64) -> f64 {
        window_count * 60_000.0 / self.window_ms as f64
    }
}

/// What one bucket of one channel holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketStats {
    /// Chat messages.
    pub messages: u64,
    /// Distinct chatters as [`chatter_hash()`]es, ascending.
    pub chatters: Vec<u64>,
    /// Messages with a hype emote.
    pub hype_messages: u64,
    /// The most used terms (messages containing them), at most [`BUCKET_TERMS`].
    pub terms: Vec<(String, u64)>,
    /// Subs and resubs.
    pub subs: u64,
    /// Gifted subs, counted once.
    pub gifted_subs: u64,
    /// Gift bombs.
    pub gift_bombs: u64,
    /// Raids.
    pub raids: u64,
    /// Viewers brought by raids.
    pub raid_viewers: u64,
}

/// One bucket: its start and what it holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// First millisecond of the bucket.
    pub start_ms: i64,
    /// Its counts.
    pub stats: BucketStats,
}

/// Builds [`BucketStats`] from [`Contribution`]s, for a tumbling window of `bucket_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketAggregate {
    /// Distinct terms tracked per bucket.
    pub max_terms: usize,
    /// Whether terms are counted at all. They serve only a spike's summary (its top terms and a
    /// hype-emote cause), never its onset or end: users that read only when spikes happen (ad
    /// slots, the subscription trend, stream sessions) leave them out, and their buckets' terms
    /// stay empty.
    pub terms: bool,
}

impl Default for BucketAggregate {
    fn default() -> Self {
        BucketAggregate {
            max_terms: 256,
            terms: true,
        }
    }
}

/// The running state of [`BucketAggregate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketAcc {
    /// Messages.
    pub messages: u64,
    /// Distinct chatter hashes.
    pub chatters: BTreeSet<u64>,
    /// Terms.
    pub terms: TermCounter,
    /// Messages with a hype emote.
    pub hype_messages: u64,
    /// Subs and resubs.
    pub subs: u64,
    /// Gifted subs.
    pub gifted_subs: u64,
    /// Gift bombs.
    pub gift_bombs: u64,
    /// Raids.
    pub raids: u64,
    /// Raid viewers.
    pub raid_viewers: u64,
}

impl Aggregate for BucketAggregate {
    type Input = Contribution;
    type Acc = BucketAcc;
    type Output = BucketStats;

    fn init(&self) -> BucketAcc {
        BucketAcc {
            messages: 0,
            chatters: BTreeSet::new(),
            terms: TermCounter::new(self.max_terms),
            hype_messages: 0,
            subs: 0,
            gifted_subs: 0,
            gift_bombs: 0,
            raids: 0,
            raid_viewers: 0,
        }
    }

    fn add(&self, acc: &mut BucketAcc, input: &Contribution) {
        match input {
            Contribution::Message(m) => {
                acc.messages += 1;
                let who = chatter_hash(&m.chatter);
                acc.chatters.insert(who);
                acc.hype_messages += u64::from(m.hype);
                if self.terms {
                    for (term, kind) in &m.terms {
                        acc.terms.add(term, *kind, who, 1);
                    }
                }
            }
            Contribution::Sub | Contribution::Resub => acc.subs += 1,
            Contribution::Gifts { gifts, bombs } => {
                acc.gifted_subs += u64::from(*gifts);
                acc.gift_bombs += u64::from(*bombs);
            }
            Contribution::Raid { viewers } => {
                acc.raids += 1;
                acc.raid_viewers += u64::from(*viewers);
            }
            Contribution::Timeout | Contribution::Ban => {}
        }
    }

    fn merge(&self, into: &mut BucketAcc, o: &BucketAcc) {
        into.messages += o.messages;
        into.chatters.extend(o.chatters.iter().copied());
        into.terms.merge(&o.terms);
        into.hype_messages += o.hype_messages;
        into.subs += o.subs;
        into.gifted_subs += o.gifted_subs;
        into.gift_bombs += o.gift_bombs;
        into.raids += o.raids;
        into.raid_viewers += o.raid_viewers;
    }

    fn finish(&self, acc: &BucketAcc) -> BucketStats {
        BucketStats {
            messages: acc.messages,
            chatters: acc.chatters.iter().copied().collect(),
            hype_messages: acc.hype_messages,
            terms: acc.terms.top(BUCKET_TERMS, |_, _| true),
            subs: acc.subs,
            gifted_subs: acc.gifted_subs,
            gift_bombs: acc.gift_bombs,
            raids: acc.raids,
            raid_viewers: acc.raid_viewers,
        }
    }
}

/// What probably set a spike off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Cause {
    /// A raid brought viewers.
    Raid {
        /// Viewers the raid brought.
        viewers: u64,
    },
    /// Someone gifted many subs.
    GiftBomb {
        /// Gifted subs, counted once.
        gifts: u64,
    },
    /// Many subs and resubs at once.
    SubBurst {
        /// Subs and resubs.
        subs: u64,
    },
    /// Chat spammed a hype emote.
    HypeEmote {
        /// The most used hype emote.
        emote: String,
    },
}

impl Cause {
    /// The cause as words: "a raid that brought 2,000 viewers".
    pub fn describe(&self) -> String {
        match self {
            Cause::Raid { viewers } => {
                format!("a raid that brought {} viewers", thousands(*viewers))
            }
            Cause::GiftBomb { gifts } => format!("a gift bomb of {} subs", thousands(*gifts)),
            Cause::SubBurst { subs } => format!("a burst of {} subscriptions", thousands(*subs)),
            Cause::HypeEmote { emote } => format!("a wave of {emote}"),
        }
    }
}

/// A spike, reported when it has ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spike {
    /// The channel.
    pub channel: String,
    /// When chat started to rise (first bucket above the onset threshold).
    pub onset_ms: i64,
    /// The middle of the 30 s window with the highest rate.
    pub peak_ms: i64,
    /// When the rate fell back below `k_off` times the baseline (for good).
    pub end_ms: i64,
    /// When the detector confirmed the spike (end of the bucket that crossed the threshold).
    pub detected_ms: i64,
    /// The estimated moment on stream: `onset_ms - chat_lag_ms`.
    pub estimated_moment_ms: i64,
    /// The highest rate, messages per minute (from the 30 s window).
    pub peak_rate_per_min: f64,
    /// The baseline rate when the spike started, messages per minute.
    pub baseline_rate_per_min: f64,
    /// `peak_rate_per_min / baseline_rate_per_min`.
    pub lift: f64,
    /// Messages from onset to end.
    pub messages: u64,
    /// Distinct chatters from onset to end.
    pub unique_chatters: u64,
    /// The terms used in most messages, with their message counts.
    pub top_terms: Vec<(String, u64)>,
    /// What probably set it off.
    pub cause: Option<Cause>,
}

impl Spike {
    /// The spike as a sentence a streamer or marketer reads.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "Chat in #{} spiked at {} UTC: {} messages a minute at the peak ({} UTC), {:.1} times the usual {}, \
             from {} chatters over {}.",
            self.channel,
            clock(self.onset_ms),
            thousands(self.peak_rate_per_min.round() as u64),
            clock(self.peak_ms),
            self.lift,
            thousands(self.baseline_rate_per_min.round() as u64),
            thousands(self.unique_chatters),
            duration((self.end_ms - self.onset_ms).max(0)),
        );
        s.push_str(&format!(
            " The moment on stream was about {} UTC.",
            clock(self.estimated_moment_ms)
        ));
        if !self.top_terms.is_empty() {
            let terms: Vec<&str> = self.top_terms.iter().map(|(t, _)| t.as_str()).collect();
            s.push_str(&format!(" Top terms: {}.", terms.join(", ")));
        }
        if let Some(c) = &self.cause {
            s.push_str(&format!(" Likely cause: {}.", c.describe()));
        }
        s
    }
}

/// A spike has started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeOnset {
    /// The channel.
    pub channel: String,
    /// When chat started to rise.
    pub onset_ms: i64,
    /// When the detector confirmed it.
    pub detected_ms: i64,
    /// The estimated moment on stream.
    pub estimated_moment_ms: i64,
    /// The rate at detection, messages per minute.
    pub rate_per_min: f64,
    /// The baseline rate, messages per minute.
    pub baseline_rate_per_min: f64,
    /// `rate_per_min / baseline_rate_per_min`.
    pub lift: f64,
}

/// What the detector reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SpikeEvent {
    /// A spike started (sent as soon as it is confirmed).
    Onset(SpikeOnset),
    /// A spike ended; the summary.
    End(Spike),
}

/// One bucket as the detector remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Slot {
    start_ms: i64,
    stats: BucketStats,
    /// Message count of the window ending with this bucket; `None` until the window is full.
    window_count: Option<u64>,
    in_spike: bool,
    /// In a spike past `plateau_hold_ms`: learned all the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    relearn: bool,
}

/// Totals over a stretch of buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Totals {
    messages: u64,
    chatters: BTreeSet<u64>,
    terms: TermCounter,
    hype_messages: u64,
    subs: u64,
    gifted_subs: u64,
    raid_viewers: u64,
}

impl Totals {
    fn new() -> Self {
        Totals {
            messages: 0,
            chatters: BTreeSet::new(),
            terms: TermCounter::new(512),
            hype_messages: 0,
            subs: 0,
            gifted_subs: 0,
            raid_viewers: 0,
        }
    }

    fn add(&mut self, s: &BucketStats) {
        self.messages += s.messages;
        for c in &s.chatters {
            if self.chatters.len() >= MAX_SPIKE_CHATTERS {
                break;
            }
            self.chatters.insert(*c);
        }
        for (t, n) in &s.terms {
            self.terms.add(t, TermKind::Word, 0, *n);
        }
        self.hype_messages += s.hype_messages;
        self.subs += s.subs;
        self.gifted_subs += s.gifted_subs;
        self.raid_viewers += s.raid_viewers;
    }

    fn merge(&mut self, o: &Totals) {
        self.messages += o.messages;
        for c in &o.chatters {
            if self.chatters.len() >= MAX_SPIKE_CHATTERS {
                break;
            }
            self.chatters.insert(*c);
        }
        self.terms.merge(&o.terms);
        self.hype_messages += o.hype_messages;
        self.subs += o.subs;
        self.gifted_subs += o.gifted_subs;
        self.raid_viewers += o.raid_viewers;
    }
}

/// A spike in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Active {
    onset_ms: i64,
    detected_ms: i64,
    baseline: f64,
    peak_count: u64,
    peak_ms: i64,
    totals: Totals,
    /// Raid viewers, gifts and subs in the lookback before the onset.
    before: Totals,
    /// Buckets since the lift fell below `k_off`, kept apart until the spike ends or recovers.
    tail: Totals,
    below_since: Option<i64>,
}

/// The spike detector of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeDetector {
    channel: String,
    config: SpikeConfig,
    baseline: Baseline,
    history: VecDeque<Slot>,
    next_ms: Option<i64>,
    active: Option<Active>,
    late_buckets: u64,
}

impl SpikeDetector {
    /// A detector for `channel`. Check `config` with [`SpikeConfig::validate`] first; unusable
    /// values are clamped.
    pub fn new(channel: &str, config: SpikeConfig) -> Self {
        let mut config = config;
        config.bucket_ms = config.bucket_ms.max(1);
        config.window_ms = (config.window_ms / config.bucket_ms).max(1) * config.bucket_ms;
        let baseline = Baseline::new(
            config.half_life_ms as f64 / config.bucket_ms as f64,
            config.warmup_ms.max(0) as u64 / config.bucket_ms as u64,
            config.clip_sigmas,
        );
        SpikeDetector {
            channel: channel.to_owned(),
            config,
            baseline,
            history: VecDeque::new(),
            next_ms: None,
            active: None,
            late_buckets: 0,
        }
    }

    /// The channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The settings in use.
    pub fn config(&self) -> &SpikeConfig {
        &self.config
    }

    /// The baseline rate in messages per minute (0 before any learning).
    pub fn baseline_rate_per_min(&self) -> f64 {
        self.config.per_min(self.baseline.mean())
    }

    /// True while a spike is in progress.
    pub fn in_spike(&self) -> bool {
        self.active.is_some()
    }

    /// Start of the last bucket processed (`None` before any).
    pub fn last_bucket_ms(&self) -> Option<i64> {
        self.next_ms.map(|n| n - self.config.bucket_ms)
    }

    /// Buckets ignored because they came before an already processed one.
    pub fn late_buckets(&self) -> u64 {
        self.late_buckets
    }

    /// Processes the next bucket. Buckets must come in event-time order. A missing bucket between two
    /// others counts as empty. A gap longer than `max_gap_ms` ends any spike and refills the window.
    /// A bucket older than the last one is ignored.
    pub fn on_bucket(&mut self, bucket: &Bucket) -> Vec<SpikeEvent> {
        let mut events = Vec::new();
        if let Some(mut next) = self.next_ms {
            if bucket.start_ms < next {
                self.late_buckets += 1;
                return events;
            }
            if bucket.start_ms - next > self.config.max_gap_ms {
                events.extend(self.finish());
                self.history.clear();
            } else {
                while next + self.config.bucket_ms <= bucket.start_ms {
                    self.push(next, BucketStats::default(), &mut events);
                    next += self.config.bucket_ms;
                }
            }
        }
        self.push(bucket.start_ms, bucket.stats.clone(), &mut events);
        self.next_ms = Some(bucket.start_ms + self.config.bucket_ms);
        events
    }

    /// Ends a spike in progress at the end of the last bucket (the stream ended or went quiet).
    pub fn finish(&mut self) -> Vec<SpikeEvent> {
        let Some(active) = self.active.take() else {
            return Vec::new();
        };
        let end_ms = active
            .below_since
            .or(self.next_ms)
            .unwrap_or(active.detected_ms);
        vec![SpikeEvent::End(self.summarise(active, end_ms))]
    }

    fn push(&mut self, start_ms: i64, stats: BucketStats, events: &mut Vec<SpikeEvent>) {
        let w = self.config.buckets(self.config.window_ms);
        self.history.push_back(Slot {
            start_ms,
            stats,
            window_count: None,
            in_spike: false,
            relearn: false,
        });
        let n = self.history.len();
        let count = (n >= w).then(|| {
            self.history
                .iter()
                .skip(n - w)
                .map(|s| s.stats.messages)
                .sum::<u64>()
        });
        self.history[n - 1].window_count = count;
        self.learn_leaving(w);
        let lookback = self.config.buckets(self.config.cause_lookback_ms);
        while self.history.len() > 2 * w + lookback {
            self.history.pop_front();
        }
        let Some(count) = count else {
            return;
        };
        let end_ms = start_ms + self.config.bucket_ms;
        if self.active.is_some() {
            self.step_active(count, end_ms, events);
        } else if self.baseline.is_warm() && self.starts_spike(count, w) {
            self.start(count, end_ms, w, events);
        }
    }

    /// Learns the window that ended `w` buckets ago, now that it has slid past, if it is clean.
    fn learn_leaving(&mut self, w: usize) {
        let n = self.history.len();
        if n < w + 1 {
            return;
        }
        let leaving = n - 1 - w;
        let Some(count) = self.history[leaving].window_count else {
            return;
        };
        let from = (leaving + 1).saturating_sub(w);
        if self
            .history
            .range(from..=leaving)
            .any(|s| s.in_spike && !s.relearn)
        {
            return;
        }
        self.baseline.learn(count as f64);
    }

    fn starts_spike(&self, count: u64, w: usize) -> bool {
        let c = &self.config;
        let mean = self.baseline.mean();
        if count < c.min_messages || (count as f64) < c.k_on * mean {
            return false;
        }
        let significant = if mean < c.poisson_below {
            poisson_tail(count, mean) < c.alpha
        } else {
            self.baseline.z(count as f64) >= c.z_on
        };
        if !significant {
            return false;
        }
        let n = self.history.len();
        let mut chatters = BTreeSet::new();
        for s in self.history.range(n - w..) {
            chatters.extend(s.stats.chatters.iter().copied());
            if chatters.len() as u64 >= c.min_chatters {
                return true;
            }
        }
        false
    }

    fn start(&mut self, count: u64, end_ms: i64, w: usize, events: &mut Vec<SpikeEvent>) {
        let mean = self.baseline.mean();
        let per_bucket = mean / w as f64;
        let threshold =
            (self.config.k_on * per_bucket).max(per_bucket + 2.0 * per_bucket.max(1.0).sqrt());
        let n = self.history.len();
        let window = n - w..n;
        let onset_idx = self
            .history
            .range(window.clone())
            .position(|s| s.stats.messages as f64 >= threshold)
            .or_else(|| {
                self.history
                    .range(window.clone())
                    .position(|s| s.stats.messages as f64 > per_bucket)
            })
            .unwrap_or(0)
            + window.start;
        let onset_ms = self.history[onset_idx].start_ms;
        let mut totals = Totals::new();
        for s in self.history.range_mut(onset_idx..) {
            s.in_spike = true;
            totals.add(&s.stats);
        }
        let mut before = Totals::new();
        let lookback_from = onset_ms - self.config.cause_lookback_ms;
        for s in self.history.range(..onset_idx) {
            if s.start_ms >= lookback_from {
                before.add(&s.stats);
            }
        }
        let active = Active {
            onset_ms,
            detected_ms: end_ms,
            baseline: mean,
            peak_count: count,
            peak_ms: end_ms - self.config.window_ms / 2,
            totals,
            before,
            tail: Totals::new(),
            below_since: None,
        };
        events.push(SpikeEvent::Onset(SpikeOnset {
            channel: self.channel.clone(),
            onset_ms,
            detected_ms: end_ms,
            estimated_moment_ms: onset_ms - self.config.chat_lag_ms,
            rate_per_min: self.config.per_min(count as f64),
            baseline_rate_per_min: self.config.per_min(mean),
            lift: count as f64 / mean.max(f64::MIN_POSITIVE),
        }));
        self.active = Some(active);
    }

    fn step_active(&mut self, count: u64, end_ms: i64, events: &mut Vec<SpikeEvent>) {
        let config = &self.config;
        let relearned = self.baseline.mean();
        let slot = self.history.back_mut().expect("pushed");
        slot.in_spike = true;
        let start_ms = slot.start_ms;
        let active = self.active.as_mut().expect("active");
        let plateau = start_ms - active.onset_ms >= config.plateau_hold_ms;
        slot.relearn = plateau;
        let base = if plateau {
            active.baseline.max(relearned)
        } else {
            active.baseline
        };
        let lift = count as f64 / base.max(f64::MIN_POSITIVE);
        if lift >= config.k_off {
            let tail = std::mem::replace(&mut active.tail, Totals::new());
            active.totals.merge(&tail);
            active.totals.add(&slot.stats);
            active.below_since = None;
            if count > active.peak_count {
                active.peak_count = count;
                active.peak_ms = end_ms - config.window_ms / 2;
            }
        } else {
            active.tail.add(&slot.stats);
            let since = *active.below_since.get_or_insert(start_ms);
            if end_ms - since >= config.exit_hold_ms {
                let active = self.active.take().expect("active");
                events.push(SpikeEvent::End(self.summarise(active, since)));
                return;
            }
        }
        if end_ms - active.onset_ms >= config.max_spike_ms {
            let active = self.active.take().expect("active");
            events.push(SpikeEvent::End(self.summarise(active, end_ms)));
            self.baseline.reset();
        }
    }

    fn summarise(&self, active: Active, end_ms: i64) -> Spike {
        let c = &self.config;
        let t = &active.totals;
        let lexicon = Lexicon::builtin();
        let raid_viewers = t.raid_viewers + active.before.raid_viewers;
        let gifts = t.gifted_subs + active.before.gifted_subs;
        let subs = t.subs + active.before.subs;
        let hype_share = if t.messages == 0 {
            0.0
        } else {
            t.hype_messages as f64 / t.messages as f64
        };
        let hype_emote = t.terms.top(1, |term, _| lexicon.is_hype_emote(term)).pop();
        let cause = if raid_viewers >= c.raid_min_viewers {
            Some(Cause::Raid {
                viewers: raid_viewers,
            })
        } else if gifts >= c.gift_min {
            Some(Cause::GiftBomb { gifts })
        } else if subs >= c.sub_burst_min {
            Some(Cause::SubBurst { subs })
        } else if hype_share >= c.hype_min_share {
            hype_emote.map(|(emote, _)| Cause::HypeEmote { emote })
        } else {
            None
        };
        let peak_rate = c.per_min(active.peak_count as f64);
        let baseline_rate = c.per_min(active.baseline);
        Spike {
            channel: self.channel.clone(),
            onset_ms: active.onset_ms,
            peak_ms: active.peak_ms,
            end_ms: end_ms.max(active.onset_ms),
            detected_ms: active.detected_ms,
            estimated_moment_ms: active.onset_ms - c.chat_lag_ms,
            peak_rate_per_min: peak_rate,
            baseline_rate_per_min: baseline_rate,
            lift: peak_rate / baseline_rate.max(f64::MIN_POSITIVE),
            messages: t.messages,
            unique_chatters: t.chatters.len() as u64,
            top_terms: t.terms.top(c.top_terms, |_, _| true),
            cause,
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `HH:MM:SS` of an epoch-millisecond time (UTC).
fn clock(ms: i64) -> String {
    format_timestamp_ms(ms)[11..19].to_owned()
}

/// A duration in words: `45 s`, `3 min 5 s`.
fn duration(ms: i64) -> String {
    let s = ms / 1000;
    match (s / 60, s % 60) {
        (0, sec) => format!("{sec} s"),
        (min, 0) => format!("{min} min"),
        (min, sec) => format!("{min} min {sec} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(messages: u64, chatters: u64) -> BucketStats {
        BucketStats {
            messages,
            chatters: (0..chatters.min(messages)).collect(),
            ..BucketStats::default()
        }
    }

    /// Feeds per-bucket message counts (one chatter per message) from t = 0.
    fn run(detector: &mut SpikeDetector, counts: &[u64]) -> Vec<SpikeEvent> {
        let mut out = Vec::new();
        for (i, c) in counts.iter().enumerate() {
            out.extend(detector.on_bucket(&Bucket {
                start_ms: i as i64 * 5_000,
                stats: stats(*c, *c),
            }));
        }
        out.extend(detector.finish());
        out
    }

    fn ends(events: &[SpikeEvent]) -> Vec<&Spike> {
        events
            .iter()
            .filter_map(|e| match e {
                SpikeEvent::End(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    /// A deterministic wobble around `level` (80% to 120%) whose 30 s sums are all `6 * level`.
    fn steady(level: u64, n: usize) -> Vec<u64> {
        (0..n)
            .map(|i| level * [8, 10, 12, 9, 11, 10][i % 6] / 10)
            .collect()
    }

    #[test]
    fn a_steady_channel_has_no_spike() {
        let mut d = SpikeDetector::new("c", SpikeConfig::default());
        let events = run(&mut d, &steady(20, 720));
        assert!(events.is_empty(), "{events:?}");
        assert!(
            (d.baseline_rate_per_min() - 240.0).abs() < 40.0,
            "{}",
            d.baseline_rate_per_min()
        );
    }

    #[test]
    fn one_burst_is_one_spike_with_onset_inside_the_window_and_end_after_the_hold() {
        let mut counts = steady(20, 60);
        counts.extend([120, 30, 150, 20, 140, 130, 25, 160, 140, 120]);
        let burst_start = 60 * 5_000;
        counts.extend(steady(20, 60));
        let mut d = SpikeDetector::new("c", SpikeConfig::default());
        let events = run(&mut d, &counts);
        assert_eq!(events.len(), 2, "{events:?}");
        let SpikeEvent::Onset(on) = &events[0] else {
            panic!("{events:?}")
        };
        let spike = ends(&events)[0];
        assert_eq!(on.onset_ms, burst_start);
        assert_eq!(spike.onset_ms, burst_start);
        assert!(spike.detected_ms - spike.onset_ms <= 30_000);
        assert_eq!(spike.estimated_moment_ms, burst_start - 7_000);
        assert!(
            spike.end_ms > burst_start + 45_000 && spike.end_ms <= burst_start + 90_000,
            "{spike:?}"
        );
        assert!(spike.peak_ms > spike.onset_ms && spike.peak_ms < spike.end_ms);
        assert!(spike.lift > 3.0, "{spike:?}");
        assert!(spike.messages >= 1035, "{spike:?}");
        assert!(!d.in_spike());
    }

    #[test]
    fn the_baseline_does_not_learn_from_a_burst() {
        let mut counts = steady(20, 60);
        counts.extend(vec![100; 18]); // 90 s at five times the level, shorter than plateau_hold
        let mut d = SpikeDetector::new("c", SpikeConfig::default());
        let before = {
            let mut probe = d.clone();
            run(&mut probe, &counts[..60]);
            probe.baseline_rate_per_min()
        };
        let events = run(&mut d, &counts);
        assert_eq!(ends(&events).len(), 1);
        assert!(
            (d.baseline_rate_per_min() - before).abs() < 1e-9,
            "{before} -> {}",
            d.baseline_rate_per_min()
        );
    }

    #[test]
    fn a_plateau_ends_its_spike_by_relearning_before_the_hard_bound() {
        // Issue 19: 15 minutes at five times the level, with the hard bound out of the way.
        let config = SpikeConfig {
            max_spike_ms: 3_600_000,
            ..SpikeConfig::default()
        };
        let mut counts = steady(20, 60);
        counts.extend(vec![100; 180]);
        let mut d = SpikeDetector::new("c", config.clone());
        let events = run(&mut d, &counts);
        let spikes = ends(&events);
        assert_eq!(spikes.len(), 1, "{spikes:#?}");
        let lasted = spikes[0].end_ms - spikes[0].onset_ms;
        println!("the plateau's spike lasted {} s", lasted / 1000);
        // Relearning alone (clipped at 4 sd) ends a five-fold plateau in about 10.5 minutes, within
        // the 15 the old code ran to; the default `max_spike_ms` (5 minutes) ends it sooner.
        assert!(
            lasted > config.plateau_hold_ms && lasted < 900_000,
            "{lasted}"
        );
    }

    #[test]
    fn a_new_level_that_lasts_ends_the_spike_and_is_relearned() {
        let config = SpikeConfig {
            max_spike_ms: 120_000,
            ..SpikeConfig::default()
        };
        let mut counts = steady(20, 60);
        counts.extend(vec![100; 240]);
        let mut d = SpikeDetector::new("c", config);
        let events = run(&mut d, &counts);
        assert_eq!(ends(&events).len(), 1, "{events:?}");
        assert!(
            d.baseline_rate_per_min() > 1000.0,
            "{}",
            d.baseline_rate_per_min()
        );
    }

    #[test]
    fn quiet_channels_use_the_poisson_tail_and_the_minimum_volume() {
        // About 1 message per bucket; 4 in one bucket is not a spike (volume), 30 in 15 s is.
        let mut counts: Vec<u64> = (0..60)
            .map(|i| (i % 3 == 0) as u64 * 2 + (i % 2) as u64)
            .collect();
        counts[40] = 4;
        let mut d = SpikeDetector::new("c", SpikeConfig::default());
        assert!(run(&mut d, &counts).is_empty());
        counts.extend([10, 10, 10]);
        counts.extend(vec![1; 30]);
        let mut d = SpikeDetector::new("c", SpikeConfig::default());
        let events = run(&mut d, &counts);
        assert_eq!(ends(&events).len(), 1, "{events:?}");
        // The same 30 messages from 2 chatters are not a spike.
        let mut d = SpikeDetector::new("c", SpikeConfig::default());
        let mut quiet = Vec::new();
        for (i, c) in counts.iter().enumerate() {
            quiet.extend(d.on_bucket(&Bucket {
                start_ms: i as i64 * 5_000,
                stats: stats(*c, 2),
            }));
        }
        assert!(quiet.is_empty(), "{quiet:?}");
    }

    #[test]
    fn gaps_are_empty_buckets_late_buckets_are_ignored_and_state_round_trips() {
        let mut d = SpikeDetector::new("c", SpikeConfig::default());
        for i in 0..40 {
            d.on_bucket(&Bucket {
                start_ms: i * 10_000,
                stats: stats(10, 10),
            });
        }
        // Every other bucket was missing: the baseline is 5 per bucket, 30 per window.
        assert!(
            (d.baseline_rate_per_min() - 60.0 * 10.0 / 10.0).abs() < 15.0,
            "{}",
            d.baseline_rate_per_min()
        );
        assert!(d
            .on_bucket(&Bucket {
                start_ms: 0,
                stats: stats(500, 500)
            })
            .is_empty());
        assert_eq!(d.late_buckets(), 1);
        let json = serde_json::to_string(&d).unwrap();
        let back: SpikeDetector = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn causes_in_priority_order_and_a_sentence() {
        let base = steady(20, 60);
        let burst = |extra: BucketStats| {
            let mut d = SpikeDetector::new("chan", SpikeConfig::default());
            let mut events = Vec::new();
            for (i, c) in base.iter().enumerate() {
                events.extend(d.on_bucket(&Bucket {
                    start_ms: i as i64 * 5_000,
                    stats: stats(*c, *c),
                }));
            }
            for i in 0..8 {
                let mut s = stats(150, 150);
                if i == 0 {
                    s.raid_viewers = extra.raid_viewers;
                    s.gifted_subs = extra.gifted_subs;
                    s.subs = extra.subs;
                }
                s.hype_messages = extra.hype_messages;
                s.terms = extra.terms.clone();
                events.extend(d.on_bucket(&Bucket {
                    start_ms: (60 + i) * 5_000,
                    stats: s,
                }));
            }
            events.extend(d.finish());
            ends(&events)[0].clone()
        };
        let with = |f: fn(&mut BucketStats)| {
            let mut s = BucketStats::default();
            f(&mut s);
            s
        };
        let raid = burst(with(|s| {
            s.raid_viewers = 2000;
            s.gifted_subs = 50;
        }));
        assert_eq!(raid.cause, Some(Cause::Raid { viewers: 2000 }));
        let bomb = burst(with(|s| s.gifted_subs = 50));
        assert_eq!(bomb.cause, Some(Cause::GiftBomb { gifts: 50 }));
        let subs = burst(with(|s| s.subs = 6));
        assert_eq!(subs.cause, Some(Cause::SubBurst { subs: 6 }));
        let hype = burst(with(|s| {
            s.hype_messages = 100;
            s.terms = vec![("LUL".into(), 120), ("PogChamp".into(), 100)];
        }));
        assert_eq!(
            hype.cause,
            Some(Cause::HypeEmote {
                emote: "PogChamp".into()
            })
        );
        assert_eq!(hype.top_terms[0], ("LUL".into(), 960));
        assert_eq!(burst(BucketStats::default()).cause, None);

        let text = raid.describe();
        assert!(
            text.starts_with("Chat in #chan spiked at 00:05:00 UTC: "),
            "{text}"
        );
        assert!(
            text.contains("Likely cause: a raid that brought 2,000 viewers."),
            "{text}"
        );
        assert!(text.ends_with('.'));
    }

    #[test]
    fn config_validation_names_every_problem() {
        let bad = SpikeConfig {
            window_ms: 7_000,
            k_off: 3.0,
            alpha: 0.0,
            ..SpikeConfig::default()
        };
        let errors = bad.validate();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(SpikeConfig::default().validate().is_empty());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(45_000), "45 s");
        assert_eq!(duration(185_000), "3 min 5 s");
    }
}
