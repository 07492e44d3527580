//! Rising channels: a channel's figure in a period against the mean of its own previous periods
//! ([`History`]: the last [`HISTORY`] periods in which it had the figure, fewer when fewer are
//! known, at least one). Growth is `value / baseline − 1`; a baseline under a minimum is not judged,
//! so tiny channels doubling from 3 viewers do not crowd the board.

use serde::{Deserialize, Serialize};

use super::board::Board;
use super::period::Period;

/// Previous periods a baseline is the mean of.
pub const HISTORY: usize = 4;

/// A channel's figure in its last periods with one, oldest first, at most [`HISTORY`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The values.
    pub values: Vec<f64>,
}

impl History {
    /// The mean of the values, `None` without any.
    pub fn baseline(&self) -> Option<f64> {
        (!self.values.is_empty())
            .then(|| self.values.iter().sum::<f64>() / self.values.len() as f64)
    }

    /// Remembers `value` as the newest, forgetting the oldest beyond [`HISTORY`].
    pub fn push(&mut self, value: f64) {
        self.values.push(value);
        if self.values.len() > HISTORY {
            self.values.remove(0);
        }
    }
}

/// How a figure compares with its history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// The mean of the history.
    pub baseline: f64,
    /// `value / baseline − 1`.
    pub growth: f64,
    /// Periods the baseline is the mean of.
    pub periods: usize,
}

/// `value` against `history`: `None` without history, with a baseline under `min_baseline`, or
/// when the value did not grow.
pub fn growth(value: f64, history: &History, min_baseline: f64) -> Option<Growth> {
    let baseline = history.baseline()?;
    if baseline < min_baseline || baseline <= 0.0 {
        return None;
    }
    let growth = value / baseline - 1.0;
    (growth > 0.0).then_some(Growth {
        baseline,
        growth,
        periods: history.values.len(),
    })
}

/// A whole number with thousands separators: `5,200`.
pub fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// The sentence a rising record gives: "nymn averaged 5,200 viewers on 2024-01-06, 2.1× its
/// previous 4 days' mean of 2,480".
pub fn reason(channel: &str, metric: Board, period: Period, value: f64, g: &Growth) -> String {
    let did = match metric {
        Board::FollowersGained => format!("gained {} followers", thousands(value)),
        _ => format!("averaged {} viewers", thousands(value)),
    };
    let kind = period.kind;
    let before = if g.periods == 1 {
        format!("its previous {}'s {}", kind.as_str(), thousands(g.baseline))
    } else {
        format!(
            "its previous {} {}' mean of {}",
            g.periods,
            kind.plural(),
            thousands(g.baseline)
        )
    };
    format!(
        "{channel} {did} {period}, {:.1}× {before}",
        value / g.baseline
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audience::boards::period::PeriodKind;
    use crate::time::civil::parse_timestamp_ms;

    #[test]
    fn the_baseline_is_the_mean_of_the_last_four_known_periods() {
        let mut h = History::default();
        assert_eq!(h.baseline(), None);
        assert_eq!(growth(10.0, &h, 0.0), None);
        for v in [1_000.0, 2_000.0, 2_400.0, 2_520.0, 3_000.0] {
            h.push(v);
        }
        assert_eq!(h.values, [2_000.0, 2_400.0, 2_520.0, 3_000.0]);
        assert_eq!(h.baseline(), Some(2_480.0));
        let g = growth(5_208.0, &h, 50.0).unwrap();
        assert_eq!((g.baseline, g.periods), (2_480.0, 4));
        assert!((g.growth - 1.1).abs() < 1e-12);
        assert_eq!(growth(2_480.0, &h, 50.0), None, "no growth");
        assert_eq!(growth(9e9, &h, 3_000.0), None, "baseline under the minimum");
    }

    #[test]
    fn reasons_read_as_sentences() {
        let day = Period::of(
            PeriodKind::Day,
            parse_timestamp_ms("2024-01-06T20:00:00Z", 0).unwrap(),
        );
        let g = Growth {
            baseline: 2_480.0,
            growth: 5_200.0 / 2_480.0 - 1.0,
            periods: 4,
        };
        assert_eq!(
            reason("nymn", Board::AvgViewers, day, 5_200.0, &g),
            "nymn averaged 5,200 viewers on 2024-01-06, 2.1× its previous 4 days' mean of 2,480"
        );
        let week = Period::of(PeriodKind::Week, day.start_ms);
        let g = Growth {
            baseline: 400.0,
            growth: 2.0,
            periods: 1,
        };
        assert_eq!(
            reason("nymn", Board::FollowersGained, week, 1_200.0, &g),
            "nymn gained 1,200 followers in the week of 2024-01-01, 3.0× its previous week's 400"
        );
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.5), "1,000");
        assert_eq!(thousands(-1_500.0), "-1,500");
        assert_eq!(thousands(0.2), "0");
    }
}
