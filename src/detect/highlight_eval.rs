//! Scoring highlight predictions against labelled moments: precision at K and recall per channel,
//! averaged over channels, with the hit rule of issue 19. Also the naive baseline it is compared
//! with: the top 5-second message counts, shifted back by a fixed lag.
//!
//! **Hit rule.** A predicted start `s` hits a labelled moment `[a, b]` when `a - 10 s <= s <= b`.
//! Per channel, predictions are ranked by score and kept greedily at least 120 s apart; P@K is the
//! number of the first K kept that hit some label, over K (a channel with fewer than K predictions
//! still divides by K). Recall is the share of the channel's labels hit by one of its first `max(K)`
//! kept predictions. Channels without labels are not scored.

use std::collections::BTreeMap;

/// Tolerance before a label's start, ms.
pub const EARLY_MS: i64 = 10_000;
/// Least distance between scored predictions, ms.
pub const MIN_GAP_MS: i64 = 120_000;

/// A labelled highlight: `[start, end]` in epoch ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Channel login.
    pub channel: String,
    /// First ms of the moment.
    pub start: i64,
    /// Last ms.
    pub end: i64,
}

/// A predicted highlight: its start and score.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Channel login.
    pub channel: String,
    /// Predicted start, epoch ms.
    pub start: i64,
    /// Higher is better.
    pub score: f64,
}

/// Why a labels file could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelError {
    /// The header is not `channel,start,end`.
    #[error("line 1: the header must be `channel,start,end`, not {0:?}")]
    Header(String),
    /// A row does not parse.
    #[error("line {line}: {reason} (rows are `channel,start_ms,end_ms` with start <= end)")]
    Row {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a labels CSV: header `channel,start,end`, then one row per moment (epoch ms); blank lines
/// and lines starting with `#` are skipped.
pub fn parse_labels(text: &str) -> Result<Vec<Label>, LabelError> {
    let mut rows = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    match rows.next() {
        Some((_, h)) if h.trim().replace(' ', "") == "channel,start,end" => {}
        Some((_, h)) => return Err(LabelError::Header(h.to_owned())),
        None => return Ok(Vec::new()),
    }
    rows.map(|(i, l)| {
        let row = |reason: &str| LabelError::Row {
            line: i + 1,
            reason: reason.to_owned(),
        };
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let [channel, start, end] = f[..] else {
            return Err(row("expected 3 fields"));
        };
        let start: i64 = start.parse().map_err(|_| row("start is not an integer"))?;
        let end: i64 = end.parse().map_err(|_| row("end is not an integer"))?;
        if channel.is_empty() || start > end {
            return Err(row("empty channel or start after end"));
        }
        Ok(Label {
            channel: channel.to_lowercase(),
            start,
            end,
        })
    })
    .collect()
}

/// A prediction from one JSON record (a `twitch.highlights` record, or a `tail` line whose `value`
/// is one): `channel`, the start read from `field` (`moment` for highlights) and `score`. `None`
/// when the record lacks them, or when `phase` is given and the record's `phase` differs.
pub fn prediction_of(
    record: &serde_json::Value,
    field: &str,
    phase: Option<&str>,
) -> Option<Prediction> {
    let r = record
        .get("value")
        .filter(|v| v.is_object())
        .unwrap_or(record);
    if let Some(phase) = phase {
        if r.get("phase").and_then(|p| p.as_str()) != Some(phase) {
            return None;
        }
    }
    Some(Prediction {
        channel: r.get("channel")?.as_str()?.to_lowercase(),
        start: r.get(field)?.as_i64()?,
        score: r.get("score")?.as_f64()?,
    })
}

/// Whether `start` hits `label`.
pub fn hits(start: i64, label: &Label) -> bool {
    label.start - EARLY_MS <= start && start <= label.end
}

/// The scores at each K and the recall.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// `(K, P@K)`, averaged over the scored channels.
    pub precision: Vec<(usize, f64)>,
    /// Recall at `max(K)`, averaged over the scored channels.
    pub recall: f64,
    /// Channels scored (those with labels).
    pub channels: usize,
    /// Labels over those channels.
    pub labels: usize,
}

/// Ranks one channel's predictions by score (ties by time) and keeps them `MIN_GAP_MS` apart.
pub fn spaced(mut preds: Vec<&Prediction>) -> Vec<&Prediction> {
    preds.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.start.cmp(&b.start)));
    let mut kept: Vec<&Prediction> = Vec::new();
    for p in preds {
        if kept.iter().all(|k| (k.start - p.start).abs() >= MIN_GAP_MS) {
            kept.push(p);
        }
    }
    kept
}

/// Scores `predictions` against `labels` at each of `ks` (see the module docs).
pub fn score(labels: &[Label], predictions: &[Prediction], ks: &[usize]) -> Scores {
    let mut by_channel: BTreeMap<&str, Vec<&Label>> = BTreeMap::new();
    for l in labels {
        by_channel.entry(&l.channel).or_default().push(l);
    }
    let kmax = ks.iter().copied().max().unwrap_or(0);
    let mut precision = vec![0.0; ks.len()];
    let mut recall = 0.0;
    for (channel, labels) in &by_channel {
        let kept = spaced(
            predictions
                .iter()
                .filter(|p| p.channel == *channel)
                .collect(),
        );
        let hit: Vec<bool> = kept
            .iter()
            .map(|p| labels.iter().any(|l| hits(p.start, l)))
            .collect();
        for (i, &k) in ks.iter().enumerate() {
            let n = hit.iter().take(k).filter(|h| **h).count();
            precision[i] += n as f64 / k.max(1) as f64;
        }
        let found = labels
            .iter()
            .filter(|l| kept.iter().take(kmax).any(|p| hits(p.start, l)))
            .count();
        recall += found as f64 / labels.len() as f64;
    }
    let n = by_channel.len().max(1) as f64;
    Scores {
        precision: ks.iter().zip(precision).map(|(&k, p)| (k, p / n)).collect(),
        recall: recall / n,
        channels: by_channel.len(),
        labels: labels.len(),
    }
}

/// The best P@K any ranking could reach on `labels`: min(labels of the channel, K) / K, averaged.
pub fn oracle_precision(labels: &[Label], k: usize) -> f64 {
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for l in labels {
        *per.entry(&l.channel).or_default() += 1;
    }
    let n = per.len().max(1) as f64;
    per.values()
        .map(|&c| c.min(k) as f64 / k.max(1) as f64)
        .sum::<f64>()
        / n
}

/// The naive rule: message counts per channel in 5 s bins (`bin_ms`), each bin a prediction scored by
/// its count and starting `lag_ms` before the bin. `messages` are `(channel, ts_ms)`.
pub fn naive_predictions(messages: &[(String, i64)], bin_ms: i64, lag_ms: i64) -> Vec<Prediction> {
    let mut counts: BTreeMap<(&str, i64), u64> = BTreeMap::new();
    for (c, ts) in messages {
        *counts
            .entry((c, ts.div_euclid(bin_ms) * bin_ms))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((c, bin), n)| Prediction {
            channel: c.to_owned(),
            start: bin - lag_ms,
            score: n as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(c: &str, a: i64, b: i64) -> Label {
        Label {
            channel: c.into(),
            start: a,
            end: b,
        }
    }

    fn p(c: &str, s: i64, score: f64) -> Prediction {
        Prediction {
            channel: c.into(),
            start: s,
            score,
        }
    }

    #[test]
    fn labels_parse_and_refuse_what_is_not_the_format() {
        let ls = parse_labels("channel,start,end\n# a comment\nNymn,1000,2000\n\n").unwrap();
        assert_eq!(ls, [l("nymn", 1000, 2000)]);
        assert!(matches!(parse_labels("a,b\n"), Err(LabelError::Header(_))));
        assert_eq!(
            parse_labels("channel,start,end\nx,5,1\n"),
            Err(LabelError::Row {
                line: 2,
                reason: "empty channel or start after end".into()
            })
        );
    }

    #[test]
    fn the_hit_rule_allows_ten_seconds_early_and_nothing_late() {
        let label = l("c", 100_000, 160_000);
        assert!(hits(90_000, &label));
        assert!(!hits(89_999, &label));
        assert!(hits(160_000, &label));
        assert!(!hits(160_001, &label));
    }

    #[test]
    fn precision_and_recall_equal_a_hand_computed_example() {
        // Channel a: labels at [100 s, 130 s] and [1000 s, 1010 s]. Predictions by score:
        // 1005 s (hit), 110 s (hit), 150 s (within 120 s of 110 s: dropped), 500 s (miss).
        // Channel b: one label at [0, 20 s]; one prediction at 300 s (miss).
        let labels = [
            l("a", 100_000, 130_000),
            l("a", 1_000_000, 1_010_000),
            l("b", 0, 20_000),
        ];
        let preds = [
            p("a", 1_005_000, 9.0),
            p("a", 110_000, 8.0),
            p("a", 150_000, 7.0),
            p("a", 500_000, 6.0),
            p("b", 300_000, 5.0),
            p("z", 0, 99.0),
        ];
        let s = score(&labels, &preds, &[1, 5]);
        // a: P@1 = 1, P@5 = 2/5, recall 2/2. b: P@1 = 0, P@5 = 0, recall 0. Means over 2 channels.
        assert_eq!(s.precision, vec![(1, 0.5), (5, 0.2)]);
        assert_eq!(s.recall, 0.5);
        assert_eq!((s.channels, s.labels), (2, 3));
        assert_eq!(oracle_precision(&labels, 5), (2.0 / 5.0 + 1.0 / 5.0) / 2.0);
    }

    #[test]
    fn predictions_read_records_and_tail_lines_of_one_phase() {
        let r = serde_json::json!({"channel": "C", "moment": 5, "score": 1.5, "phase": "session"});
        assert_eq!(prediction_of(&r, "moment", None), Some(p("c", 5, 1.5)));
        assert_eq!(prediction_of(&r, "moment", Some("hour")), None);
        let tail = serde_json::json!({"offset": 3, "value": r});
        assert_eq!(
            prediction_of(&tail, "moment", Some("session")),
            Some(p("c", 5, 1.5))
        );
        assert_eq!(prediction_of(&tail, "start", None), None);
    }

    #[test]
    fn the_naive_rule_counts_bins_and_shifts_them_back() {
        let msgs: Vec<(String, i64)> = [1_000, 2_000, 4_999, 5_000, 12_000]
            .iter()
            .map(|&t| ("c".to_owned(), t + 100_000))
            .collect();
        let preds = naive_predictions(&msgs, 5_000, 15_000);
        assert_eq!(
            preds,
            [
                p("c", 85_000, 3.0),
                p("c", 90_000, 1.0),
                p("c", 95_000, 1.0)
            ]
        );
    }
}
