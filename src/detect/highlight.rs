//! Highlight candidates: the moments of a stream worth clipping, found from chat alone. A
//! [`HighlightDetector`] per channel bins messages (5 s), finds peaks of the smoothed count curve
//! against a local baseline, scores them from peak features and ranks them per hour and per session.
//!
//! # Method
//!
//! - **Curve.** Messages per 5 s bin; the curve is the sum over the last `smooth_bins` bins (15 s).
//! - **Baseline.** A winsorised EWMA ([`Baseline`]) of the curve, half-life `half_life_ms` (5 min);
//!   it learns every bin, clipped at 4 sd, so a plateau becomes the new level within minutes.
//! - **Peak.** A peak starts when the curve reaches `min_messages`, `k_on` (1.5) times the baseline
//!   and `z_on` (2.5) spreads above it; it ends when the curve falls below `k_off` (1.3) times the
//!   baseline or after `max_peak_ms` (90 s). Its chat peak is the middle of its highest 15 s.
//! - **Features and score** ([`Features::score`]): the log lift of the peak over the baseline, the
//!   excess messages, and the shares of emote, laughter and repeated messages, less a penalty for long
//!   messages (hype is short). Weights are set by hand from the literature, lightly checked on the
//!   project's own labels (`data/labels/`).
//! - **Moment.** `moment = chat peak - lag`. The lag is `latency_ms` (5 s of stream delay) plus the
//!   channel's reaction time, an EWMA of chat peak minus rise onset over its peaks (10 s before any), so
//!   the default lag is 15 s. The EWMA weighs each new peak 0.5, its rise time clamped to 2-60 s. The clip runs from `moment - pre_roll_ms` to `chat peak + post_roll_ms`.
//! - **Ranking.** Per hour of the moment, at most `per_hour` (20) candidates, greedily by score and at
//!   least `min_gap_ms` (120 s) apart, emitted final when the hour has closed. At the session's end
//!   (no chat for `session_gap_ms`, 10 min, or the end of input) the session's kept candidates are
//!   emitted again, ranked over the session.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::analysis::chatter_hash;
use crate::analysis::sentiment::Lexicon;
use crate::detect::baseline::Baseline;
use crate::word_hash::WordMap;

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// Distinct texts and words a bin remembers; beyond that, new ones are counted but not kept.
const BIN_DISTINCT: usize = 64;
/// Texts and words a closed bin keeps.
const KEEP_TEXTS: usize = 5;
const KEEP_WORDS: usize = 8;

/// The detector's settings; defaults in the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HighlightConfig {
    /// Width of a bin.
    pub bin_ms: i64,
    /// Bins summed into the curve.
    pub smooth_bins: usize,
    /// Half-life of the baseline.
    pub half_life_ms: i64,
    /// Event time of learning before peaks are judged.
    pub warmup_ms: i64,
    /// Curve over baseline that starts a peak.
    pub k_on: f64,
    /// Curve over baseline below which a peak ends.
    pub k_off: f64,
    /// Spreads above the baseline a peak needs.
    pub z_on: f64,
    /// Messages in the curve a peak needs.
    pub min_messages: u64,
    /// Longest peak.
    pub max_peak_ms: i64,
    /// Stream delay part of the lag.
    pub latency_ms: i64,
    /// Reaction time assumed before a channel has peaks of its own.
    pub reaction_ms: i64,
    /// Clip start before the moment.
    pub pre_roll_ms: i64,
    /// Clip end after the chat peak.
    pub post_roll_ms: i64,
    /// Candidates kept per hour.
    pub per_hour: usize,
    /// Least distance between kept candidates.
    pub min_gap_ms: i64,
    /// Chat silence that ends a session.
    pub session_gap_ms: i64,
    /// Top messages per candidate.
    pub top_messages: usize,
    /// Top terms per candidate.
    pub top_terms: usize,
}

impl Default for HighlightConfig {
    fn default() -> Self {
        HighlightConfig {
            bin_ms: 5_000,
            smooth_bins: 3,
            half_life_ms: 300_000,
            warmup_ms: 120_000,
            k_on: 1.5,
            k_off: 1.3,
            z_on: 2.5,
            min_messages: 10,
            max_peak_ms: 90_000,
            latency_ms: 5_000,
            reaction_ms: 10_000,
            pre_roll_ms: 20_000,
            post_roll_ms: 10_000,
            per_hour: 20,
            min_gap_ms: 120_000,
            session_gap_ms: 600_000,
            top_messages: 3,
            top_terms: 5,
        }
    }
}

impl HighlightConfig {
    /// Every problem with the settings, each saying what to change.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.bin_ms <= 0 || self.smooth_bins == 0 {
            e.push("bin must be positive and smooth_bins at least 1 (5s and 3 are usual)".into());
        }
        if !(self.k_off > 0.0 && self.k_off <= self.k_on) {
            e.push(format!(
                "k_off {} must be positive and at most k_on {}",
                self.k_off, self.k_on
            ));
        }
        if self.per_hour == 0 {
            e.push("per_hour must be at least 1 (20 is usual)".into());
        }
        if self.half_life_ms <= 0 || self.min_gap_ms < 0 || self.session_gap_ms <= 0 {
            e.push("half_life and session_gap must be positive, min_gap not negative".into());
        }
        e
    }
}

/// What one message shows, read cheaply from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageFeatures {
    /// Bytes of text.
    pub len: u32,
    /// It uses a known emote.
    pub emote: bool,
    /// It laughs (lol, LUL, KEKW, haha...).
    pub laughter: bool,
    /// Hash of the text, case folded, for repetition.
    pub text_hash: u64,
}

fn fold_hash(bytes: impl Iterator<Item = u8>) -> u64 {
    // FNV-1a over ASCII-lowercased bytes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn is_laughter(word: &str) -> bool {
    const LAUGH: [&str; 14] = [
        "lol",
        "lul",
        "lmao",
        "lmfao",
        "kekw",
        "kek",
        "omegalul",
        "lulw",
        "xd",
        "rofl",
        "pepelaugh",
        "icant",
        "kekl",
        "lolw",
    ];
    let n = word.len();
    if !(2..=12).contains(&n) {
        return false;
    }
    let mut buf = [0u8; 12];
    for (d, s) in buf.iter_mut().zip(word.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    let w = &buf[..n];
    w.starts_with(b"haha") || w.starts_with(b"lool") || LAUGH.iter().any(|l| l.as_bytes() == w)
}

impl MessageFeatures {
    /// The features of `text`.
    pub fn of(text: &str) -> Self {
        let lexicon = Lexicon::builtin();
        let mut f = MessageFeatures {
            len: text.len().min(u32::MAX as usize) as u32,
            text_hash: fold_hash(text.trim().bytes().take(64)),
            ..MessageFeatures::default()
        };
        for word in text.split_ascii_whitespace() {
            f.laughter = f.laughter || is_laughter(word);
            f.emote = f.emote || lexicon.is_known_emote(word);
            if f.emote && f.laughter {
                break;
            }
        }
        f
    }
}

/// One bin being filled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Bin {
    start_ms: i64,
    messages: u64,
    chatters: Vec<u64>,
    emote: u64,
    laughter: u64,
    bytes: u64,
    /// Messages whose text was already seen in the bin.
    repeats: u64,
    /// Text hash -> (messages, first text), at most [`BIN_DISTINCT`].
    texts: WordMap<u64, (u64, String)>,
    /// Word -> messages, at most [`BIN_DISTINCT`].
    words: WordMap<String, u64>,
}

impl Bin {
    fn new(start_ms: i64) -> Self {
        Bin {
            start_ms,
            ..Bin::default()
        }
    }

    fn add(&mut self, chatter: u64, text: &str, f: &MessageFeatures) {
        self.messages += 1;
        self.chatters.push(chatter);
        self.emote += u64::from(f.emote);
        self.laughter += u64::from(f.laughter);
        self.bytes += u64::from(f.len);
        let distinct = self.texts.len();
        match self.texts.get_mut(&f.text_hash) {
            Some(e) => {
                e.0 += 1;
                self.repeats += 1;
            }
            None if distinct < BIN_DISTINCT => {
                self.texts.insert(f.text_hash, (1, text.trim().to_owned()));
            }
            None => {}
        }
        // Terms: the first words of the message (three are enough to name a wave).
        for word in text.split_ascii_whitespace().take(3) {
            if word.len() < 2 || word.len() > 25 {
                continue;
            }
            let distinct = self.words.len();
            match self.words.get_mut(word) {
                Some(n) => *n += 1,
                None if distinct < BIN_DISTINCT => {
                    self.words.insert(word.to_owned(), 1);
                }
                None => {}
            }
        }
    }

    /// Sorts the chatters and keeps only the top texts and words, so closed bins stay small.
    fn close(&mut self) {
        self.chatters.sort_unstable();
        self.chatters.dedup();
        if self.texts.len() > KEEP_TEXTS {
            let mut v: Vec<_> = self.texts.drain().collect();
            v.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
            v.truncate(KEEP_TEXTS);
            self.texts = v.into_iter().collect();
        }
        if self.words.len() > KEEP_WORDS {
            let mut v: Vec<_> = self.words.drain().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(KEEP_WORDS);
            self.words = v.into_iter().collect();
        }
    }
}

/// The features behind a candidate's score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Peak curve over the local baseline.
    pub rate_lift: f64,
    /// Messages in the peak's bins.
    pub messages: u64,
    /// Baseline messages expected over the same bins.
    pub expected: f64,
    /// Distinct chatters in the peak's bins.
    pub unique_chatters: u64,
    /// Share of messages with a known emote.
    pub emote_share: f64,
    /// Share of messages that laugh.
    pub laughter_share: f64,
    /// Share of messages repeating a text already sent in the same bin.
    pub repetition: f64,
    /// Mean message length in bytes.
    pub mean_length: f64,
}

impl Features {
    /// The score: log lift, log excess messages, emote, laughter and repetition shares, less a
    /// penalty for long messages.
    pub fn score(&self) -> f64 {
        let excess = (self.messages as f64 - self.expected).max(0.0);
        let long = (self.mean_length / 40.0).max(1.0).ln();
        self.rate_lift.max(1.0).ln()
            + 0.35 * (1.0 + excess / 10.0).ln()
            + 0.4 * self.emote_share
            + 0.6 * self.laughter_share
            + 0.6 * self.repetition
            + 0.2 * (self.unique_chatters as f64 / self.messages.max(1) as f64)
            - 0.3 * long
    }
}

/// A highlight candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The channel.
    pub channel: String,
    /// The estimated on-stream moment: chat peak minus the lag.
    pub moment: i64,
    /// When chat started to rise.
    pub onset_ms: i64,
    /// The chat peak.
    pub peak_ms: i64,
    /// The lag used, ms.
    pub lag_ms: i64,
    /// Suggested clip start.
    pub clip_start: i64,
    /// Suggested clip end.
    pub clip_end: i64,
    /// Score.
    pub score: f64,
    /// The features behind it.
    pub features: Features,
    /// The most repeated messages, with counts.
    pub top_messages: Vec<(String, u64)>,
    /// The most used words, with counts.
    pub top_terms: Vec<(String, u64)>,
    /// Rank within its hour (1 is best), once ranked.
    pub rank_hour: usize,
    /// Rank within its session so far (1 is best).
    pub rank_session: usize,
    /// Offset into the VOD, when the session's start is known.
    pub vod_offset_ms: Option<i64>,
}

/// What the detector emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Phase {
    /// The final ranking of one hour.
    Hour,
    /// The ranking of a session at its end.
    Session,
}

/// One emitted highlight: a candidate, why it is emitted, and whether it is final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Highlight {
    /// The candidate, ranked.
    pub candidate: Candidate,
    /// Hour or session ranking.
    pub phase: Phase,
    /// Start of the hour (phase hour) or of the session (phase session).
    pub period_start: i64,
}

/// A peak in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Peak {
    onset_ms: i64,
    first_bin: i64,
    peak_count: u64,
    peak_ms: i64,
    baseline: f64,
}

/// The highlight detector of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HighlightDetector {
    channel: String,
    config: HighlightConfig,
    baseline: Baseline,
    open: Option<Bin>,
    history: VecDeque<Bin>,
    peak: Option<Peak>,
    reaction_ms: f64,
    /// Candidates by hour of their moment, not yet emitted.
    pending: Vec<Candidate>,
    /// The session's candidates kept by the hour rankings.
    session: Vec<Candidate>,
    session_start: Option<i64>,
    last_message_ms: Option<i64>,
    /// Start of the VOD (stream), when known.
    vod_start: Option<i64>,
}

impl HighlightDetector {
    /// A detector for `channel`; check `config` with [`HighlightConfig::validate`] first.
    pub fn new(channel: &str, config: HighlightConfig) -> Self {
        let bin = config.bin_ms.max(1);
        let baseline = Baseline::new(
            config.half_life_ms as f64 / bin as f64,
            (config.warmup_ms.max(0) / bin) as u64,
            4.0,
        );
        HighlightDetector {
            channel: channel.to_owned(),
            reaction_ms: config.reaction_ms as f64,
            config,
            baseline,
            open: None,
            history: VecDeque::new(),
            peak: None,
            pending: Vec::new(),
            session: Vec::new(),
            session_start: None,
            last_message_ms: None,
            vod_start: None,
        }
    }

    /// The channel's current lag estimate, ms.
    pub fn lag_ms(&self) -> i64 {
        self.config.latency_ms + self.reaction_ms.round() as i64
    }

    /// Sets when the stream (its VOD) started, so candidates carry `vod_offset_ms`.
    pub fn set_vod_start(&mut self, start_ms: i64) {
        self.vod_start = Some(start_ms);
    }

    /// One chat message at `ts_ms` by `login`. A message older than the open bin counts in it.
    pub fn message(&mut self, ts_ms: i64, login: &str, text: &str, out: &mut Vec<Highlight>) {
        if let Some(last) = self.last_message_ms {
            if ts_ms - last > self.config.session_gap_ms {
                self.end_session(out);
            }
        }
        self.advance(ts_ms, out);
        let bin = self.config.bin_ms;
        let open = self
            .open
            .get_or_insert_with(|| Bin::new(ts_ms.div_euclid(bin) * bin));
        open.add(chatter_hash(login), text, &MessageFeatures::of(text));
        self.session_start.get_or_insert(ts_ms);
        self.last_message_ms = Some(self.last_message_ms.map_or(ts_ms, |l| l.max(ts_ms)));
    }

    /// Event time reached `now_ms`: closes the bins that ended, and the hours and session that did.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<Highlight>) {
        let bin = self.config.bin_ms;
        let Some(open_start) = self.open.as_ref().map(|b| b.start_ms) else {
            return;
        };
        if now_ms < open_start + bin {
            return;
        }
        if self
            .last_message_ms
            .is_some_and(|l| now_ms - l > self.config.session_gap_ms)
        {
            self.end_session(out);
            return;
        }
        let mut closed = self.open.take().expect("open");
        closed.close();
        self.close_bin(closed, out);
        // Empty bins up to `now_ms` (bounded by the session gap).
        let mut next = open_start + bin;
        while next + bin <= now_ms {
            self.close_bin(Bin::new(next), out);
            next += bin;
        }
        self.open = Some(Bin::new(next));
        self.close_hours(next, out);
    }

    fn close_bin(&mut self, bin: Bin, out: &mut Vec<Highlight>) {
        let c = &self.config;
        let end_ms = bin.start_ms + c.bin_ms;
        self.history.push_back(bin);
        let keep = (c.max_peak_ms / c.bin_ms.max(1)) as usize + c.smooth_bins + 2;
        while self.history.len() > keep {
            self.history.pop_front();
        }
        let n = self.history.len();
        if n < c.smooth_bins {
            return;
        }
        let curve: u64 = self
            .history
            .range(n - c.smooth_bins..)
            .map(|b| b.messages)
            .sum();
        let mean = self.baseline.mean();
        let warm = self.baseline.is_warm();
        let window_ms = c.smooth_bins as i64 * c.bin_ms;
        match &mut self.peak {
            None => {
                if warm
                    && curve >= c.min_messages
                    && curve as f64 >= c.k_on * mean.max(1.0)
                    && self.baseline.z(curve as f64) >= c.z_on
                {
                    let per_bin = mean / c.smooth_bins as f64;
                    let onset = self
                        .history
                        .range(n - c.smooth_bins..)
                        .find(|b| b.messages as f64 > per_bin * c.k_off)
                        .map_or(end_ms - window_ms, |b| b.start_ms);
                    self.peak = Some(Peak {
                        onset_ms: onset,
                        first_bin: end_ms - window_ms,
                        peak_count: curve,
                        peak_ms: end_ms - window_ms / 2,
                        baseline: mean,
                    });
                }
            }
            Some(p) => {
                if curve > p.peak_count {
                    p.peak_count = curve;
                    p.peak_ms = end_ms - window_ms / 2;
                }
                let ended = (curve as f64) < c.k_off * p.baseline.max(1.0)
                    || end_ms - p.onset_ms >= c.max_peak_ms;
                if ended {
                    let p = self.peak.take().expect("peak");
                    let cand = self.candidate(&p, end_ms);
                    self.pending.push(cand);
                }
            }
        }
        self.baseline.learn(curve as f64);
        let _ = out;
    }

    fn candidate(&mut self, p: &Peak, end_ms: i64) -> Candidate {
        let c = &self.config;
        let mut f = Features::default();
        let mut chatters: Vec<u64> = Vec::new();
        let mut texts: WordMap<u64, (u64, String)> = WordMap::default();
        let mut words: WordMap<String, u64> = WordMap::default();
        let (mut emote, mut laugh, mut bytes, mut repeats, mut bins) = (0, 0, 0, 0, 0u64);
        for b in self
            .history
            .iter()
            .filter(|b| b.start_ms >= p.first_bin && b.start_ms < end_ms)
        {
            bins += 1;
            f.messages += b.messages;
            chatters.extend_from_slice(&b.chatters);
            emote += b.emote;
            laugh += b.laughter;
            bytes += b.bytes;
            repeats += b.repeats;
            for (h, (n, t)) in &b.texts {
                let e = texts.entry(*h).or_insert_with(|| (0, t.clone()));
                e.0 += n;
            }
            for (w, n) in &b.words {
                *words.entry(w.clone()).or_default() += n;
            }
        }
        chatters.sort_unstable();
        chatters.dedup();
        let m = f.messages.max(1) as f64;
        f.rate_lift = p.peak_count as f64 / p.baseline.max(1.0);
        f.expected = p.baseline / c.smooth_bins as f64 * bins as f64;
        f.unique_chatters = chatters.len() as u64;
        f.emote_share = emote as f64 / m;
        f.laughter_share = laugh as f64 / m;
        f.repetition = repeats as f64 / m;
        f.mean_length = bytes as f64 / m;
        let top = |mut v: Vec<(String, u64)>, k: usize| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(k);
            v
        };
        let top_messages = top(
            texts.into_values().map(|(n, t)| (t, n)).collect(),
            c.top_messages,
        );
        let top_terms = top(words.into_iter().collect(), c.top_terms);
        // The channel's reaction time learns from its own peaks (bounded to 2-60 s).
        let reaction = (p.peak_ms - p.onset_ms).clamp(2_000, 60_000) as f64;
        self.reaction_ms += 0.5 * (reaction - self.reaction_ms);
        let lag = self.lag_ms();
        let moment = p.peak_ms - lag;
        Candidate {
            channel: self.channel.clone(),
            moment,
            onset_ms: p.onset_ms,
            peak_ms: p.peak_ms,
            lag_ms: lag,
            clip_start: moment - c.pre_roll_ms,
            clip_end: p.peak_ms + c.post_roll_ms,
            score: (f.score() * 1000.0).round() / 1000.0,
            features: f,
            top_messages,
            top_terms,
            rank_hour: 0,
            rank_session: 0,
            vod_offset_ms: self.vod_start.map(|s| moment - s),
        }
    }

    /// Emits the hours whose candidates can no longer change: the hour ended, and any peak that
    /// could put a moment in it has ended too.
    fn close_hours(&mut self, now_ms: i64, out: &mut Vec<Highlight>) {
        let settle = self.config.max_peak_ms + self.config.bin_ms * self.config.smooth_bins as i64;
        let open_from = self
            .peak
            .as_ref()
            .map_or(now_ms - settle, |p| p.onset_ms - self.lag_ms() - settle);
        loop {
            let Some(first) = self.pending.iter().map(|c| c.moment).min() else {
                return;
            };
            let hour = first.div_euclid(HOUR_MS) * HOUR_MS;
            if hour + HOUR_MS > open_from.min(now_ms - settle) {
                return;
            }
            self.emit_hour(hour, out);
        }
    }

    fn emit_hour(&mut self, hour: i64, out: &mut Vec<Highlight>) {
        let (mut this, rest): (Vec<Candidate>, Vec<Candidate>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|c| c.moment.div_euclid(HOUR_MS) * HOUR_MS == hour);
        self.pending = rest;
        // Spacing also holds against the kept candidates of the session's other hours.
        this.retain(|c| {
            self.session
                .iter()
                .all(|k| (k.moment - c.moment).abs() >= self.config.min_gap_ms)
        });
        let kept = keep_spaced(this, self.config.per_hour, self.config.min_gap_ms);
        let first = self.session.len();
        for (i, mut c) in kept.into_iter().enumerate() {
            c.rank_hour = i + 1;
            self.session.push(c);
        }
        rank_session(&mut self.session);
        for c in &self.session[first..] {
            out.push(Highlight {
                candidate: c.clone(),
                phase: Phase::Hour,
                period_start: hour,
            });
        }
    }

    /// Ends the session: closes what is open, emits every remaining hour and the session ranking.
    pub fn end_session(&mut self, out: &mut Vec<Highlight>) {
        if let Some(mut b) = self.open.take() {
            b.close();
            self.close_bin(b, out);
        }
        if let Some(p) = self.peak.take() {
            let end = self
                .history
                .back()
                .map_or(p.peak_ms, |b| b.start_ms + self.config.bin_ms);
            let cand = self.candidate(&p, end);
            self.pending.push(cand);
        }
        while let Some(first) = self.pending.iter().map(|c| c.moment).min() {
            self.emit_hour(first.div_euclid(HOUR_MS) * HOUR_MS, out);
        }
        let start = self.session_start.take().unwrap_or(0);
        let mut session = std::mem::take(&mut self.session);
        rank_session(&mut session);
        session.sort_by_key(|c| c.rank_session);
        for c in session {
            out.push(Highlight {
                candidate: c,
                phase: Phase::Session,
                period_start: start,
            });
        }
        self.history.clear();
        self.last_message_ms = None;
        let bin = self.config.bin_ms;
        self.baseline = Baseline::new(
            self.config.half_life_ms as f64 / bin as f64,
            (self.config.warmup_ms.max(0) / bin) as u64,
            4.0,
        );
    }

    /// Whether event time `now_ms` closes the open bin (work for [`HighlightDetector::advance`]).
    pub fn due(&self, now_ms: i64) -> bool {
        self.open
            .as_ref()
            .is_some_and(|b| now_ms >= b.start_ms + self.config.bin_ms)
    }

    /// Candidates waiting for their hour to close, and kept in the session.
    pub fn held(&self) -> usize {
        self.pending.len() + self.session.len()
    }
}

/// Sets `rank_session` by score (ties by moment).
fn rank_session(session: &mut [Candidate]) {
    let mut order: Vec<usize> = (0..session.len()).collect();
    order.sort_by(|&a, &b| by_score(&session[a], &session[b]));
    for (rank, i) in order.into_iter().enumerate() {
        session[i].rank_session = rank + 1;
    }
}

fn by_score(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| a.moment.cmp(&b.moment))
}

/// The best `n` candidates by score, greedily, each at least `gap_ms` from every one kept before.
pub fn keep_spaced(mut candidates: Vec<Candidate>, n: usize, gap_ms: i64) -> Vec<Candidate> {
    candidates.sort_by(by_score);
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.len() == n {
            break;
        }
        if kept.iter().all(|k| (k.moment - c.moment).abs() >= gap_ms) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000 / HOUR_MS * HOUR_MS;

    /// `per_bin` messages every 5 s for `mins` minutes from `from`, from 20 chatters.
    fn steady(
        d: &mut HighlightDetector,
        from: i64,
        secs: i64,
        per_bin: usize,
        out: &mut Vec<Highlight>,
    ) {
        let mut t = from;
        while t < from + secs * 1000 {
            for i in 0..per_bin {
                d.message(
                    t + i as i64,
                    &format!("u{}", i % 20),
                    &format!("hello {i}"),
                    out,
                );
            }
            t += 5_000;
        }
    }

    fn burst(d: &mut HighlightDetector, at: i64, n: usize, out: &mut Vec<Highlight>) {
        for i in 0..n {
            let t = at + (i as i64 * 15_000) / n as i64;
            d.message(t, &format!("fan{i}"), "KEKW KEKW", out);
        }
    }

    #[test]
    fn message_features_read_laughter_emotes_and_repetition() {
        let a = MessageFeatures::of("KEKW that was great");
        assert!(a.laughter && a.emote, "{a:?}");
        assert!(MessageFeatures::of("hahaha").laughter);
        assert!(!MessageFeatures::of("hello there").laughter);
        assert_eq!(
            MessageFeatures::of("Clip It").text_hash,
            MessageFeatures::of("clip it ").text_hash
        );
        assert_eq!(MessageFeatures::of("abc").len, 3);
    }

    #[test]
    fn one_burst_is_one_candidate_with_its_moment_before_the_peak() {
        let mut d = HighlightDetector::new("c", HighlightConfig::default());
        let mut out = Vec::new();
        steady(&mut d, T0, 600, 2, &mut out);
        burst(&mut d, T0 + 600_000, 120, &mut out);
        steady(&mut d, T0 + 615_000, 600, 2, &mut out);
        d.end_session(&mut out);
        let hour: Vec<_> = out.iter().filter(|h| h.phase == Phase::Hour).collect();
        let session: Vec<_> = out.iter().filter(|h| h.phase == Phase::Session).collect();
        assert_eq!(hour.len(), 1, "{out:#?}");
        assert_eq!(session.len(), 1);
        let c = &hour[0].candidate;
        assert!(
            c.peak_ms >= T0 + 600_000 && c.peak_ms <= T0 + 620_000,
            "{c:?}"
        );
        assert_eq!(c.moment, c.peak_ms - c.lag_ms);
        assert!(c.clip_start < c.moment && c.moment < c.clip_end);
        assert!(
            c.features.laughter_share > 0.5 && c.features.repetition > 0.5,
            "{c:?}"
        );
        assert_eq!((c.rank_hour, c.rank_session), (1, 1));
        assert_eq!(c.top_messages[0].0, "KEKW KEKW");
    }

    #[test]
    fn hours_keep_at_most_n_spaced_candidates_against_a_brute_force() {
        let config = HighlightConfig {
            per_hour: 3,
            ..HighlightConfig::default()
        };
        let mut d = HighlightDetector::new("c", config.clone());
        let mut out = Vec::new();
        let mut t = T0;
        // Ten bursts of growing size, 3 minutes apart, over calm chat.
        steady(&mut d, t, 300, 2, &mut out);
        t += 300_000;
        for k in 0..10 {
            burst(&mut d, t, 40 + 10 * k, &mut out);
            steady(&mut d, t + 15_000, 165, 2, &mut out);
            t += 180_000;
        }
        d.end_session(&mut out);
        let hour: Vec<&Candidate> = out
            .iter()
            .filter(|h| h.phase == Phase::Hour)
            .map(|h| &h.candidate)
            .collect();
        assert!(!hour.is_empty());
        let mut per_hour: std::collections::HashMap<i64, usize> = Default::default();
        for c in &hour {
            *per_hour.entry(c.moment.div_euclid(HOUR_MS)).or_default() += 1;
        }
        assert!(per_hour.values().all(|&n| n <= 3), "{per_hour:?}");
        for (i, a) in hour.iter().enumerate() {
            for b in &hour[i + 1..] {
                assert!((a.moment - b.moment).abs() >= config.min_gap_ms);
            }
        }
        // The session ranking orders every kept candidate by score.
        let session: Vec<&Candidate> = out
            .iter()
            .filter(|h| h.phase == Phase::Session)
            .map(|h| &h.candidate)
            .collect();
        assert_eq!(session.len(), hour.len());
        assert!(session.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(session
            .iter()
            .enumerate()
            .all(|(i, c)| c.rank_session == i + 1));
    }

    #[test]
    fn keep_spaced_equals_a_brute_force_greedy() {
        let mk = |moment: i64, score: f64| Candidate {
            channel: "c".into(),
            moment,
            onset_ms: moment,
            peak_ms: moment,
            lag_ms: 0,
            clip_start: moment,
            clip_end: moment,
            score,
            features: Features::default(),
            top_messages: vec![],
            top_terms: vec![],
            rank_hour: 0,
            rank_session: 0,
            vod_offset_ms: None,
        };
        let cands: Vec<Candidate> = (0..30)
            .map(|i| mk(i * 50_000, ((i * 7919) % 31) as f64))
            .collect();
        let kept = keep_spaced(cands.clone(), 5, 120_000);
        // Brute force: walk scores high to low and take what is far from everything taken.
        let mut sorted = cands.clone();
        sorted.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.moment.cmp(&b.moment)));
        let mut want: Vec<i64> = Vec::new();
        for c in sorted {
            if want.len() < 5 && want.iter().all(|m| (m - c.moment).abs() >= 120_000) {
                want.push(c.moment);
            }
        }
        assert_eq!(kept.iter().map(|c| c.moment).collect::<Vec<_>>(), want);
    }
}
